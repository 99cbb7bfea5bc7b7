"""Online backup and restore of a SQLite database (SPEC S2.6).

What is guarded here: a backup taken while a writer keeps appending is a sound, openable
threadkeep database holding a prefix of the appends; restore brings the data back; a
restore source that is missing or is not a threadkeep backup is refused with a typed
error and the live data untouched; PostgreSQL is sent to its own tools.
"""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.sqlite_files import integrity, raw_sqlite, revision_of
from threadkeep import (
    ConversationStore,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    ThreadkeepError,
    open_store,
)
from threadkeep.db import migrate


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[ConversationStore]:
    with open_store(sqlite_url) as store:
        yield store


class Appender(threading.Thread):
    """Appends numbered messages to one conversation until told to stop."""

    def __init__(self, store: ConversationStore, conversation_id: str) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.conversation_id = conversation_id
        self.acknowledged = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                message = self.store.append_message(
                    self.conversation_id, "user", f"m{self.acknowledged + 1}"
                )
                assert message.seq == self.acknowledged + 1
                self.acknowledged += 1
        except BaseException as error:  # reported by the test
            self.error = error

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while self.acknowledged < count and self.error is None:
            assert time.monotonic() < deadline, "the appender stalled"
            time.sleep(0.001)
        assert self.error is None, self.error


def test_backup_while_appending_is_a_sound_prefix(sqlite_url: str, tmp_path: Path) -> None:
    """Guards against a torn or stale online backup: taken while another thread keeps
    appending, the copy passes integrity_check, opens as a threadkeep database at the
    head, and holds exactly the first k appends — at least every append acknowledged
    before the backup started — and the writer keeps going afterwards."""
    target = tmp_path / "copies" / "snapshot.db"
    with open_store(sqlite_url) as store:
        conversation = store.create_conversation(title="busy")
        appender = Appender(store, conversation.id)
        appender.start()
        try:
            appender.wait_for(20)
            acknowledged_before = appender.acknowledged
            written = store.backup(target)
            acknowledged_after_backup = appender.acknowledged
            appender.wait_for(acknowledged_after_backup + 10)
        finally:
            appender.stop.set()
            appender.join()
        assert appender.error is None, appender.error
        total = appender.acknowledged

    assert written == target.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert integrity(target) == "ok"
    assert revision_of(target) == migrate.head_revision()
    with raw_sqlite(target) as conn:
        rows = conn.execute(
            "SELECT seq, content FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation.id,),
        ).fetchall()
        counter = conn.execute(
            "SELECT last_seq, message_count FROM conversations WHERE id = ?",
            (conversation.id,),
        ).fetchone()
    k = len(rows)
    assert acknowledged_before <= k <= total
    assert [tuple(r) for r in rows] == [(i, f"m{i}") for i in range(1, k + 1)]
    assert tuple(counter) == (k, k)

    with open_store(target) as copy:
        assert copy.schema_revision() == migrate.head_revision()
        assert copy.get_conversation(conversation.id).message_count == k
        assert [m.content for m in copy.tail_messages(conversation.id, 3)] == [
            f"m{i}" for i in range(max(1, k - 2), k + 1)
        ]


def test_restore_brings_deleted_data_back(sqlite_store: ConversationStore, tmp_path: Path) -> None:
    """Guards the round trip: after a backup, deleted and newly made conversations are
    undone by restore — the store sees exactly the backed-up state, and keeps working
    (appends continue from the restored seqs)."""
    store = sqlite_store
    kept = store.create_conversation(title="kept")
    store.append_message(kept.id, "user", "one")
    store.append_message(kept.id, "assistant", "two")
    backup = store.backup(tmp_path / "before.db")

    store.delete_conversation(kept.id)
    later = store.create_conversation(title="made after the backup")
    with pytest.raises(NotFound):
        store.get_conversation(kept.id)

    store.restore(backup)

    assert [c.id for c in store.list_conversations().items] == [kept.id]
    with pytest.raises(NotFound):
        store.get_conversation(later.id)
    assert [m.content for m in store.get_messages(kept.id)] == ["one", "two"]
    assert store.append_message(kept.id, "user", "three").seq == 3
    assert store.schema_revision() == migrate.head_revision()


def _assert_refused_and_untouched(
    store: ConversationStore, source: Path, conversation_id: str
) -> ThreadkeepError:
    with pytest.raises(ThreadkeepError) as caught:
        store.restore(source)
    error = caught.value
    assert isinstance(error, InvalidInput | StoreUnavailable), repr(error)
    assert str(source) in error.message
    assert [c.id for c in store.list_conversations().items] == [conversation_id]
    assert [m.content for m in store.get_messages(conversation_id)] == ["precious"]
    return error


def test_restore_from_a_missing_file_is_refused(
    sqlite_store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against a typo in the backup path wiping the database: a missing file is
    ``InvalidInput`` naming it, and the live data stays."""
    store = sqlite_store
    conversation = store.create_conversation(title="live")
    store.append_message(conversation.id, "user", "precious")
    error = _assert_refused_and_untouched(store, tmp_path / "nope.db", conversation.id)
    assert isinstance(error, InvalidInput)


def test_restore_from_a_file_that_is_not_a_database_is_refused(
    sqlite_store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against restoring from an arbitrary file: bytes that are not SQLite give a
    typed error naming the file, and the live data stays."""
    store = sqlite_store
    conversation = store.create_conversation(title="live")
    store.append_message(conversation.id, "user", "precious")
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"these are not the pages you are looking for\n" * 200)
    _assert_refused_and_untouched(store, garbage, conversation.id)


def test_restore_from_an_empty_file_is_refused(
    sqlite_store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against a zero-byte file (touched by mistake, or the 0600 target that
    ``backup`` creates before copying, left behind when the copy fails) silently
    replacing the whole database with an empty one: SQLite reads a zero-byte file as a
    valid empty database, so restore must check that the source is a threadkeep
    database before copying it over live data."""
    store = sqlite_store
    conversation = store.create_conversation(title="live")
    store.append_message(conversation.id, "user", "precious")
    empty = tmp_path / "empty.db"
    empty.touch()
    _assert_refused_and_untouched(store, empty, conversation.id)


def test_restore_from_a_foreign_sqlite_database_is_refused(
    sqlite_store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against restoring some other application's SQLite file: it passes
    SQLite's own check, but holds no threadkeep schema; copying it over the store would
    drop every conversation. It must be refused, naming the file, data untouched."""
    store = sqlite_store
    conversation = store.create_conversation(title="live")
    store.append_message(conversation.id, "user", "precious")
    foreign = tmp_path / "bookmarks.sqlite"
    with raw_sqlite(foreign, create=True) as conn:
        conn.execute("CREATE TABLE bookmarks (url TEXT)")
        conn.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
        conn.commit()
    _assert_refused_and_untouched(store, foreign, conversation.id)


def test_backup_onto_the_database_itself_is_refused(sqlite_store: ConversationStore) -> None:
    """Guards against a backup that would overwrite the live file with itself."""
    store = sqlite_store
    assert store.database.sqlite_path is not None
    with pytest.raises(InvalidInput, match="is the database itself"):
        store.backup(store.database.sqlite_path)


@pytest.mark.postgres
def test_backup_and_restore_on_postgres_point_to_pg_dump(postgres_url: str, tmp_path: Path) -> None:
    """Guards against a silent no-op (or a half-made file) when asked to back up
    PostgreSQL: it is ``InvalidInput`` naming the right tool, and nothing is written."""
    with open_store(postgres_url) as store:
        with pytest.raises(InvalidInput, match="pg_dump"):
            store.backup(tmp_path / "pg.db")
        with pytest.raises(InvalidInput, match=r"pg_restore|pg_dump"):
            store.restore(tmp_path / "pg.db")
    assert not (tmp_path / "pg.db").exists()
