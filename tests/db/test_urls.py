"""Database URLs: a bad one is a clear error that never repeats its password."""

from __future__ import annotations

import pytest

from threadkeep import InvalidInput
from threadkeep.db.engine import normalize_url


def test_an_unparseable_url_is_invalid_input_without_its_password() -> None:
    """Guards against an error message (shown on a terminal, written to logs) that
    quotes the database URL with its password in clear."""
    with pytest.raises(InvalidInput, match="not a valid URL") as caught:
        normalize_url("post gres://bob:hunter2secret@db.example/x")
    assert "hunter2secret" not in str(caught.value)
    assert "[REDACTED:url_password]" in str(caught.value)


def test_a_plain_path_becomes_a_sqlite_url(tmp_path: object) -> None:
    """A path without a scheme is a SQLite file, made absolute."""
    assert normalize_url("chats.db").startswith("sqlite:////")
