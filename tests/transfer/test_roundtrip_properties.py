"""Property: export then import is the identity, for any content (STYLE 8).

Hypothesis builds arbitrary conversations through the public store API — any Unicode
text, any JSON metadata and context, every role, kind and status, tags, pins, archived
ones — exports them (JSON and JSON Lines, no redaction), deletes them, imports the
document, and requires the store to hold exactly what it held: every field of every
conversation and message, on both engines.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transfer.helpers import comparable, snapshot
from threadkeep import ConversationStore, MessageDraft
from threadkeep.models import MESSAGE_KINDS, MESSAGE_ROLES, MESSAGE_STATUSES
from threadkeep.transfer.exporter import export_conversations
from threadkeep.transfer.importer import import_paths

# Text the store accepts: any code point but NUL and lone surrogates.
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
TEXT = st.text(CHARACTERS)
SHORT = st.text(
    CHARACTERS,
    min_size=1,
    max_size=12,
).filter(lambda text: text.strip() != "")
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)

MESSAGE = st.builds(
    MessageDraft,
    role=st.sampled_from(sorted(MESSAGE_ROLES)),
    content=TEXT,
    kind=st.sampled_from(sorted(MESSAGE_KINDS)),
    metadata=JSON,
    tokens=st.none() | st.integers(min_value=0, max_value=100_000),
    status=st.sampled_from(sorted(MESSAGE_STATUSES)),
)

CONVERSATION = st.fixed_dictionaries(
    {
        "title": st.none() | TEXT.filter(lambda t: len(t) <= 1000),
        "mode": st.sampled_from(["chat", "batch", "interactive"]),
        "context": st.dictionaries(TEXT, JSON, max_size=3),
        "tags": st.lists(SHORT, max_size=3, unique=True),
        "pinned": st.booleans(),
        "archived": st.booleans(),
        "messages": st.lists(MESSAGE, max_size=6),
    }
)


def _build(store: ConversationStore, specs: list[dict[str, Any]]) -> None:
    for spec in specs:
        conversation = store.create_conversation(
            title=spec["title"],
            mode=spec["mode"],
            context=spec["context"],
            tags=spec["tags"],
            pinned=spec["pinned"],
        )
        if spec["messages"]:
            store.append_messages(conversation.id, spec["messages"])
        if spec["archived"]:
            store.archive_conversation(conversation.id)


def _clear(store: ConversationStore) -> None:
    for conversation_id in snapshot(store):
        store.delete_conversation(conversation_id)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(CONVERSATION, max_size=3))
def test_export_then_import_is_the_identity(
    store: ConversationStore, tmp_path: Path, fmt: str, specs: list[dict[str, Any]]
) -> None:
    """Guards against any value — odd Unicode, big or negative numbers, nested JSON,
    empty strings, every role/kind/status — changing on its way through a document."""
    _clear(store)
    _build(store, specs)
    before = comparable(snapshot(store))
    out = io.BytesIO()
    export_conversations(store, out, format=fmt, redact=False)  # type: ignore[arg-type]
    path = tmp_path / f"roundtrip.{fmt}"
    path.write_bytes(out.getvalue())
    _clear(store)

    report = import_paths(store, [path])

    assert report.conversations_imported == len(specs)
    assert comparable(snapshot(store)) == before
