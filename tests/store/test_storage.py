"""Contract: the database's size and the storage warning (SPEC S7.3).

``database_size`` counts the SQLite file and its write-ahead log, or threadkeep's own
tables on PostgreSQL; ``storage_warning`` is a sentence naming the size, the limit and
the setting once the size passes ``storage_warning_bytes``, and ``None`` otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.store.custom_stores import Stores
from threadkeep import MessageDraft


def test_size_grows_with_the_data(stores: Stores) -> None:
    """Guards against a size that ignores where the data is (e.g. only the main file
    while the WAL holds the recent writes, or another schema's tables)."""
    store = stores.open()
    empty = store.database_size()
    assert empty > 0
    conv = store.create_conversation()
    # Text that does not compress (PostgreSQL TOASTs long values compressed).
    chunk = "".join(f"{i * 7919 % 100_003:05d}" for i in range(20_000))
    store.append_messages(conv.id, [MessageDraft("user", chunk) for _ in range(20)])
    assert store.database_size() >= empty + 20 * len(chunk) // 2


def test_sqlite_size_is_file_plus_wal(sqlite_url: str) -> None:
    """On SQLite the size is exactly the database file plus its -wal file."""
    with Stores(sqlite_url, "sync") as stores:
        store = stores.open()
        conv = store.create_conversation()
        store.append_message(conv.id, "user", "x" * 10_000)
        path = Path(sqlite_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        expected = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        assert store.database_size() == expected


def test_no_warning_unless_configured_and_exceeded(stores: Stores) -> None:
    """Off by default; within the limit, silent."""
    assert stores.open().storage_warning() is None
    assert stores.open(storage_warning_bytes=10**12).storage_warning() is None


def test_warning_names_size_limit_and_setting(stores: Stores) -> None:
    """Past the limit, one sentence a person can act on."""
    store = stores.open(storage_warning_bytes=4096)
    warning = store.storage_warning()
    assert warning is not None
    assert "storage_warning_bytes" in warning
    assert "4.0 KiB (4,096 bytes)" in warning
    assert re.search(r"is \d+\.\d (KiB|MiB)", warning)
    assert "threadkeep cleanup --dry-run" in warning
