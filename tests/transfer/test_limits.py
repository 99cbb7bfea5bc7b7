"""The bounded readers of ``transfer/limits.py``, at their edges."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.limits import (
    ImportLimits,
    _Bounded,
    check_depth,
    iter_lines,
    load_json,
    zip_entries,
)


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


class _Endless(io.RawIOBase):
    """A stream of spaces that never ends, counting what was asked of it."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        size = 1 << 16 if size < 0 else size
        self.given += size
        return b" " * size


def test_the_bounded_reader_stops_at_the_limit() -> None:
    """Guards the second guard (headers that lie, gzip): decompressed data is counted
    as it is read, and reading stops at the limit, not after reading on."""
    endless = _Endless()
    stream = io.BufferedReader(_Bounded(endless, 1_000_000, "x.gz"), 1 << 16)
    with pytest.raises(TooLarge, match=r"x\.gz: unpacks to more than 1,000,000 bytes"):
        stream.read()
    assert endless.given == 1_000_001


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _wanted(name: str) -> bool:
    return name.endswith(".json")


def test_declared_sizes_are_judged_before_reading(tmp_path: Path) -> None:
    """Guards: the members to read are refused from their declared sizes — together
    against import_max_unpacked_bytes, each against import_max_bytes — while members
    that are never read (a ChatGPT export's images) do not count."""
    path = _zip(
        tmp_path / "export.zip",
        {"a.json": b" " * 6_000, "b.json": b" " * 6_000, "image.png": b"\0" * 50_000},
    )
    assert path.stat().st_size < 2_000
    assert len(zip_entries(path, ImportLimits(max_unpacked_bytes=12_000), _wanted)) == 2
    with pytest.raises(TooLarge, match=r"export\.zip: unpacks to 12,000 bytes \(as its directory"):
        zip_entries(path, ImportLimits(max_unpacked_bytes=11_999), _wanted)
    with pytest.raises(TooLarge, match=r"export\.zip/a\.json: declares 6,000 bytes unpacked"):
        zip_entries(path, ImportLimits(max_bytes=5_999, max_unpacked_bytes=10**9), _wanted)


def test_members_stream_within_the_archive_limit(tmp_path: Path) -> None:
    """Guards: members are read as streams that count against one total for the archive."""
    path = _zip(tmp_path / "export.zip", {"a.json": b"[1]", "b.json": b"[22]"})
    (_, first), (_, second) = zip_entries(path, ImportLimits(), _wanted)
    with first() as stream:
        assert stream.read() == b"[1]"
    with second() as stream:
        assert stream.read() == b"[22]"


def test_members_compressed_otherwise_than_deflate_are_refused(tmp_path: Path) -> None:
    """Guards against bzip2 or LZMA members, which zipfile decompresses a whole input
    chunk at a time, without a bound on what comes out."""
    path = _zip(tmp_path / "export.zip", {"a.json": b"[]"}, method=zipfile.ZIP_BZIP2)
    with pytest.raises(InvalidInput, match=r"export\.zip/a\.json: compressed with method 12"):
        zip_entries(path, ImportLimits(), _wanted)
