"""The streaming JSON reader (``json_stream.py``): the same values and the same errors as
``json.loads``, however the input is cut into reads."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transfer.helpers import snapshot
from threadkeep import ConversationStore
from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.exporter import export_to_path
from threadkeep.transfer.importer import import_paths
from threadkeep.transfer.json_stream import JsonStream
from threadkeep.transfer.limits import ImportLimits

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


class _Trickle(io.RawIOBase):
    """Gives at most ``step`` bytes per read, so values are cut at every possible place."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    @property
    def position(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def _walk(doc: JsonStream, depth: int = 0) -> Any:
    """Read the next value by walking every container (the outer-structure path)."""
    char = doc.peek()
    if char == "{":
        return {key: _walk(doc, depth + 1) for key in doc.members("x")}
    if char == "[":
        return [_walk(doc, depth + 1) for _ in doc.elements("x")]
    return doc.value("x", depth=depth)


def _stream(data: bytes, step: int, **limits: Any) -> JsonStream:
    return JsonStream(_Trickle(data, step), "f.json", ImportLimits(**limits))


@settings(max_examples=300, deadline=None)
@given(value=JSON, indent=st.sampled_from([None, 0, 2]), step=st.integers(1, 9))
def test_values_read_as_json_loads_reads_them(value: Any, indent: int | None, step: int) -> None:
    """Guards against a value cut by a read boundary (inside a string, a number, an
    escape, a surrogate pair) being read wrong: walked or decoded whole, any value
    comes out as json.loads gives it."""
    data = json.dumps(value, indent=indent).encode()
    walked = _stream(data, step, max_depth=1_000)
    assert _walk(walked) == json.loads(data)
    walked.end()
    whole = _stream(data, step, max_depth=1_000)
    assert whole.value("x", depth=0) == json.loads(data)
    whole.end()


@settings(max_examples=300, deadline=None)
@given(
    value=JSON,
    cut=st.integers(0, 10_000),
    junk=st.sampled_from(["", "]", "}", ",", '"', "x", "\n", "1e"]),
    step=st.integers(1, 9),
)
def test_broken_json_is_refused_where_json_loads_refuses_it(
    value: Any, cut: int, junk: str, step: int
) -> None:
    """Guards against truncated or damaged JSON being read as whole, and against errors
    that point somewhere else than json.loads would (line and column)."""
    text = json.dumps({"a": value, "b": [value]}, indent=1)
    cut = cut % (len(text) + 1)
    broken = text[:cut] + junk
    try:
        json.loads(broken)
    except json.JSONDecodeError as exc:
        expected = f"line {exc.lineno} column {exc.colno}"
    else:
        return  # the damage left valid JSON
    with pytest.raises(InvalidInput) as caught:
        doc = _stream(broken.encode(), step, max_depth=1_000)
        _walk(doc)
        doc.end()
    found = re.search(r"line \d+ column \d+", str(caught.value))
    assert found is not None and found.group() == expected, str(caught.value)


def test_a_value_past_its_limit_is_refused_after_reading_the_limit() -> None:
    """Guards against buffering a 100 MB value to refuse it: reading stops a chunk or
    so past the limit."""
    data = b'["' + b"a" * 10_000_000 + b'"]'
    raw = _Trickle(data, 1 << 20)
    doc = JsonStream(raw, "f.json", ImportLimits())
    with pytest.raises(TooLarge, match=r"where: over 100,000 characters of JSON"):
        for _ in doc.elements("f.json"):
            doc.value("where", depth=1, limit=100_000)
    assert raw.position < 300_000  # of 10 MB


def test_not_utf8_and_nesting_are_refused() -> None:
    """Guards: bad UTF-8 names the file; nesting counts the containers around a value."""
    with pytest.raises(InvalidInput, match=r"f\.json: not UTF-8"):
        _stream(b'["\xff"]', 1).value("x", depth=0)
    nested = json.dumps({"a": [[[1]]]}).encode()
    assert _stream(nested, 3, max_depth=4).value("x", depth=0) == {"a": [[[1]]]}
    with pytest.raises(InvalidInput, match=r"x: JSON nested deeper than 4 levels"):
        _stream(nested, 3, max_depth=4).value("x", depth=1)


def test_a_document_naming_its_format_last_is_still_read(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against refusing a valid threadkeep document whose keys come in another
    order than threadkeep writes them (hand-made or re-serialised): header fields after
    the conversations (read whole instead), messages before a conversation's fields."""
    conversation = store.create_conversation(title="reordered")
    store.append_message(conversation.id, "user", "hello")
    path = tmp_path / "doc.json"
    export_to_path(store, path, redact=False)
    before = snapshot(store)
    store.delete_conversation(conversation.id)
    document = json.loads(path.read_text())
    conversations = document.pop("conversations")
    reordered = {"conversations": conversations, **document}
    path.write_text(json.dumps(reordered, indent=2))
    report = import_paths(store, [path], format="threadkeep")
    assert report.conversations_imported == 1
    assert snapshot(store) == before
    # Messages before a conversation's fields stream too (the checksum waits for them).
    store.delete_conversation(conversation.id)
    messages_first = [
        {"messages": c["messages"], **{k: v for k, v in c.items() if k != "messages"}}
        for c in conversations
    ]
    path.write_text(json.dumps({**document, "conversations": messages_first}))
    assert import_paths(store, [path], format="threadkeep").conversations_imported == 1
    assert snapshot(store) == before
