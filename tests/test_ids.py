"""Ids: generated UUIDv7s sort by creation, across threads; checks accept what they say."""

from __future__ import annotations

import threading
import uuid

import pytest

from threadkeep import InvalidInput
from threadkeep.ids import check_message_id, check_uuid, new_id


def test_new_ids_are_uuid7_and_strictly_increasing() -> None:
    """Time-ordered ids index well and give listings a stable tie-break."""
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == ids[0]


def test_new_ids_from_many_threads_are_unique_and_ordered_per_thread() -> None:
    """The generator's state is shared: threads must not hand out the same id."""
    results: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for out in results for i in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in results)


def test_check_uuid_canonicalises_and_refuses() -> None:
    """Any UUID spelling is accepted as the canonical form; anything else is refused."""
    value = "0192F0C4-8A5E-7CC1-9A3B-2F6D1E0A4B7C"
    assert check_uuid(value) == value.lower()
    assert check_uuid("{" + value + "}") == value.lower()
    assert check_uuid(uuid.UUID(value)) == value.lower()
    for bad in ("", "not-a-uuid", "0192f0c4", 42, None):
        with pytest.raises(InvalidInput, match="must be a UUID"):
            check_uuid(bad)


def test_message_ids_keep_a_callers_string_verbatim() -> None:
    """A framework's item id comes back exactly as it was given."""
    assert check_message_id("msg_ABC123") == "msg_ABC123"
    assert (
        check_message_id("0192F0C48A5E7CC19A3B2F6D1E0A4B7C") == "0192F0C48A5E7CC19A3B2F6D1E0A4B7C"
    )
    for bad in ("", "has space", "x" * 201, "tab\there", 7):
        with pytest.raises(InvalidInput, match="message id"):
            check_message_id(bad)
