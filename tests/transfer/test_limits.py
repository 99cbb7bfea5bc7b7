"""The bounded readers of ``transfer/limits.py``, at their edges."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.limits import ImportLimits, check_depth, iter_lines, load_json


def _nested(depth: int) -> Any:
    """``depth`` lists, one inside the other."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_limit_is_exact() -> None:
    """Guards against an off-by-one in the depth limit (a list of lists N deep)."""
    limits = ImportLimits(max_depth=8)
    assert load_json(json.dumps(_nested(8)), "x", limits) == _nested(8)
    with pytest.raises(InvalidInput, match="x: JSON nested deeper than 8 levels"):
        load_json(json.dumps(_nested(9)), "x", limits)
    with pytest.raises(InvalidInput):
        check_depth({"a": {"b": _nested(8)}}, 8, "y")


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    """Guards: text full of brackets is shallow, and passes (the quick count only
    decides whether to walk)."""
    text = json.dumps({"code": "[[[{{{" * 100})
    assert load_json(text, "x", ImportLimits(max_depth=4)) == {"code": "[[[{{{" * 100}


def test_lines_are_numbered_and_bounded() -> None:
    """Guards the line numbers errors report and the bounded read of a long line."""
    limits = ImportLimits(max_message_bytes=10)  # lines up to 80 + 65,536 bytes
    stream = io.BytesIO(b'{"a": 1}\n{"b": 2}\n' + b"x" * 70_000 + b"\n")
    lines = iter_lines(stream, "f.jsonl", limits, start=5)
    assert next(lines) == (5, '{"a": 1}\n')
    assert next(lines) == (6, '{"b": 2}\n')
    with pytest.raises(TooLarge, match=r"f\.jsonl:7: the line is over 65,616 bytes"):
        next(lines)
    with pytest.raises(InvalidInput, match=r"g\.jsonl:1: not UTF-8"):
        list(iter_lines(io.BytesIO(b"\xff\xfe\n"), "g.jsonl", limits))
