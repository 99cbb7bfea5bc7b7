"""Schema migrations (SPEC S2.5): one Alembic tree, run by the program on open.

What is guarded here:

* ``schema.py`` and the revisions never drift apart (autogenerate finds nothing at the
  head), and that check is able to fail;
* every revision upgrades and downgrades on both engines;
* a SQLite file that holds data is backed up before a migration and restored from the
  backup when a revision fails halfway; on PostgreSQL the failed migration rolls back;
* a fresh database is migrated without a pointless backup;
* two processes opening one fresh database together both succeed, and the migration
  runs once.

Extra revisions are written to a temporary folder and passed as
``extra_version_locations``, on top of the packaged head.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from tests.db.sqlite_files import conversation_titles, integrity, revision_of, table_names
from threadkeep import ConversationStore, Settings, StoreUnavailable, open_store
from threadkeep.db import migrate
from threadkeep.db.engine import Database, open_database
from threadkeep.db.schema import is_search_object, metadata
from threadkeep.events import InProcessBroker

HEAD = migrate.head_revision()
EXTRA = "0900_test_extra"


def _revisions_bottom_up() -> list[Script]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _drift(conn: Connection, target: sa.MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"include_name": lambda name, *_: not is_search_object(name)}
    )
    diff: list[Any] = compare_metadata(context, target)
    return diff


def _flatten(diff: list[Any]) -> list[tuple[Any, ...]]:
    """compare_metadata nests column modifications in lists; flatten to tuples."""
    flat: list[tuple[Any, ...]] = []
    for entry in diff:
        flat.extend(entry if isinstance(entry, list) else [entry])
    return flat


def _fill(store: ConversationStore) -> tuple[str, list[str]]:
    """Two conversations with messages; returns one id and the sorted titles."""
    first = store.create_conversation(title="alpha", context={"root": "/src"})
    store.append_message(first.id, "user", "hello")
    store.append_message(first.id, "assistant", "hi there")
    second = store.create_conversation(title="beta")
    store.append_message(second.id, "user", "second")
    return first.id, ["alpha", "beta"]


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.pre-*.bak"))


def _tables(db: Database) -> set[str]:
    with db.read() as conn:
        return set(sa.inspect(conn).get_table_names())


# ------------------------------------------------------------------ drift


def test_autogenerate_finds_no_drift_at_head(store: ConversationStore) -> None:
    """Guards against schema.py and the revision files disagreeing (STYLE 3): a store
    migrated to the head compares equal to the metadata, types and indexes included."""
    assert store.schema_revision() == HEAD
    with store.database.engine.connect() as conn:
        assert _drift(conn) == []


def test_drift_check_notices_a_missing_index(store: ConversationStore) -> None:
    """Guards the drift test itself: a database missing the listing index must show up
    as a difference, or the no-drift test could never fail."""
    with store.database.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_conversations_listing"))
    with store.database.engine.connect() as conn:
        diff = _flatten(_drift(conn))
    assert ("add_index", "ix_conversations_listing") in [(d[0], d[1].name) for d in diff]


def test_drift_check_compares_column_types(store: ConversationStore) -> None:
    """Guards the drift test itself: a column whose type differs between the metadata
    and the database must be reported (compare_type is on)."""
    changed = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["conversations"].c.mode.type = sa.Integer()
    with store.database.engine.connect() as conn:
        diff = _flatten(_drift(conn, changed))
    assert [(d[0], d[2], d[3]) for d in diff] == [("modify_type", "conversations", "mode")]


# ------------------------------------------------------------------ up and down


def test_every_revision_upgrades_and_downgrades(database: Database) -> None:
    """Guards against a revision whose downgrade is broken or incomplete: each step is
    taken up, down and up again; the walk ends at the head with no drift, and going
    down to base leaves nothing but alembic_version."""
    revisions = _revisions_bottom_up()
    assert revisions
    assert revisions[-1].revision == HEAD
    for script in revisions:
        below = script.down_revision
        assert below is None or isinstance(below, str), "the tree must stay linear"
        migrate.upgrade(database, revision=script.revision, backup=False)
        assert migrate.current_revision(database) == script.revision
        migrate.downgrade(database, "-1")
        assert migrate.current_revision(database) == below
        migrate.upgrade(database, revision=script.revision, backup=False)
        assert migrate.current_revision(database) == script.revision
    assert migrate.current_revision(database) == HEAD
    with database.engine.connect() as conn:
        assert _drift(conn) == []

    report = migrate.downgrade(database, "base")
    assert report.to_revision is None
    assert migrate.current_revision(database) is None
    assert _tables(database) == {"alembic_version"}


def test_downgrading_0002_keeps_the_data(database: Database) -> None:
    """Guards against a downgrade that copies ``conversations`` (a SQLite batch
    operation) and so cascades a delete to every message: data written at the head
    survives the step down to 0001 and the step back up, and search finds it again."""
    migrate.upgrade(database, backup=False)
    store = ConversationStore(database, Settings(), owner="local", broker=InProcessBroker())
    conversation = store.create_conversation(title="kept")
    store.append_message(conversation.id, "user", "a durable wombat")
    migrate.downgrade(database, "0001")
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM conversations")).scalar() == 1
    migrate.upgrade(database, backup=False)
    assert [h.seq for h in store.search("wombat")] == [1]
    assert [h.message_id for h in store.search("kept")] == [None]


# ------------------------------------------------------------------ backup and restore


def test_migrating_a_sqlite_file_with_data_backs_it_up_first(
    sqlite_path: Path, write_revision: Callable[..., Path]
) -> None:
    """Guards SPEC S2.5's safety net: before a SQLite file holding data is migrated, an
    online backup (0600, a sound SQLite file at the old revision, with the data) is
    left next to it; the migrated file keeps its data."""
    with open_store(sqlite_path) as store:
        _, titles = _fill(store)
    folder = write_revision(
        EXTRA,
        'op.create_table("extra_notes", sa.Column("id", sa.Integer(), primary_key=True))',
        'op.drop_table("extra_notes")',
    )
    db = open_database(str(sqlite_path), Settings.load())
    try:
        report = migrate.upgrade(db, extra_version_locations=[str(folder)])
    finally:
        db.dispose()

    assert (report.from_revision, report.to_revision) == (HEAD, EXTRA)
    assert report.applied == [EXTRA]
    assert report.backup_path is not None
    assert _backups(sqlite_path) == [report.backup_path]
    assert report.backup_path.parent == sqlite_path.parent
    assert report.backup_path.name.startswith(f"{sqlite_path.name}.pre-{HEAD}-")
    assert stat.S_IMODE(report.backup_path.stat().st_mode) == 0o600
    assert integrity(report.backup_path) == "ok"
    assert revision_of(report.backup_path) == HEAD
    assert "extra_notes" not in table_names(report.backup_path)
    assert conversation_titles(report.backup_path) == titles

    assert revision_of(sqlite_path) == EXTRA
    assert "extra_notes" in table_names(sqlite_path)
    assert conversation_titles(sqlite_path) == titles


FAILING_UPGRADES = {
    "raises": """
        op.create_table("half_made", sa.Column("x", sa.Integer()))
        op.execute("INSERT INTO half_made (x) VALUES (1)")
        op.execute("UPDATE conversations SET title = 'clobbered'")
        raise RuntimeError("boom halfway through the revision")
    """,
    "bad_statement": """
        op.create_table("half_made", sa.Column("x", sa.Integer()))
        op.execute("INSERT INTO half_made (x) VALUES (1)")
        op.execute("UPDATE conversations SET title = 'clobbered'")
        op.execute("INSERT INTO no_such_table (x) VALUES (1)")
    """,
}


@pytest.mark.parametrize("failure", sorted(FAILING_UPGRADES))
def test_failed_migration_restores_the_sqlite_file_from_its_backup(
    sqlite_path: Path, write_revision: Callable[..., Path], failure: str
) -> None:
    """Guards against a revision failing halfway leaving a SQLite file half-migrated:
    the error names the failing revision and the backup, the backup is kept (0600),
    and the file is back at the old revision with its data and no half-made table."""
    with open_store(sqlite_path) as store:
        conversation_id, titles = _fill(store)
    folder = write_revision(EXTRA, FAILING_UPGRADES[failure], 'op.drop_table("half_made")')
    db = open_database(str(sqlite_path), Settings.load())
    try:
        with pytest.raises(StoreUnavailable) as caught:
            migrate.upgrade(db, extra_version_locations=[str(folder)])
        assert migrate.current_revision(db) == HEAD
    finally:
        db.dispose()

    [backup] = _backups(sqlite_path)
    message = caught.value.message
    assert EXTRA in message
    assert str(backup) in message
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert integrity(backup) == "ok"
    assert revision_of(backup) == HEAD

    assert integrity(sqlite_path) == "ok"
    assert revision_of(sqlite_path) == HEAD
    assert "half_made" not in table_names(sqlite_path)
    assert conversation_titles(sqlite_path) == titles
    with open_store(sqlite_path) as store:
        assert [m.content for m in store.get_messages(conversation_id)] == ["hello", "hi there"]


@pytest.mark.postgres
def test_failed_migration_leaves_the_postgres_schema_unchanged(
    postgres_url: str, write_revision: Callable[..., Path]
) -> None:
    """Guards against a failing revision leaving PostgreSQL half-migrated: DDL is
    transactional there, so the schema, the revision and the data are as before."""
    with open_store(postgres_url) as store:
        conversation_id, titles = _fill(store)
    folder = write_revision(EXTRA, FAILING_UPGRADES["raises"], 'op.drop_table("half_made")')
    db = open_database(postgres_url, Settings.load())
    try:
        tables_before = _tables(db)
        with pytest.raises(StoreUnavailable) as caught:
            migrate.upgrade(db, extra_version_locations=[str(folder)])
        assert EXTRA in caught.value.message
        assert migrate.current_revision(db) == HEAD
        assert _tables(db) == tables_before
        assert "half_made" not in tables_before
    finally:
        db.dispose()
    with open_store(postgres_url) as store:
        assert sorted(str(c.title) for c in store.list_conversations().items) == titles
        assert [m.content for m in store.get_messages(conversation_id)] == ["hello", "hi there"]


def test_backup_before_migrate_can_be_turned_off(
    sqlite_path: Path, write_revision: Callable[..., Path]
) -> None:
    """Guards the ``backup_before_migrate`` setting: with it off, no copy is made."""
    with open_store(sqlite_path) as store:
        _fill(store)
    folder = write_revision(EXTRA, "pass")
    db = open_database(str(sqlite_path), Settings.load(backup_before_migrate=False))
    try:
        report = migrate.upgrade(db, backup=False, extra_version_locations=[str(folder)])
    finally:
        db.dispose()
    assert report.applied == [EXTRA]
    assert report.backup_path is None
    assert _backups(sqlite_path) == []


@pytest.mark.parametrize("start", ["missing", "empty_file"])
def test_fresh_database_is_migrated_without_a_backup(sqlite_path: Path, start: str) -> None:
    """Guards against copying a database that holds nothing: a new (or zero-byte) file
    is migrated straight to the head and no backup appears."""
    if start == "empty_file":
        sqlite_path.touch(mode=0o600)
    db = open_database(str(sqlite_path), Settings.load())
    try:
        report = migrate.upgrade(db)
    finally:
        db.dispose()
    assert report.from_revision is None
    assert report.to_revision == HEAD
    assert report.applied == [s.revision for s in _revisions_bottom_up()]
    assert report.backup_path is None
    assert list(sqlite_path.parent.glob("*.bak")) == []


def test_opening_an_up_to_date_database_does_nothing(sqlite_path: Path) -> None:
    """Guards against a migration (or backup) on every open of a current database."""
    with open_store(sqlite_path) as store:
        _fill(store)
    db = open_database(str(sqlite_path), Settings.load())
    try:
        report = migrate.upgrade(db)
    finally:
        db.dispose()
    assert (report.from_revision, report.to_revision, report.applied) == (HEAD, HEAD, [])
    assert report.backup_path is None
    assert _backups(sqlite_path) == []


# ------------------------------------------------------------------ racing processes

_OPENER = r"""
import json, sys, time
from pathlib import Path

from threadkeep import Settings, open_store
from threadkeep.db import migrate
from threadkeep.db.engine import open_database

url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the test never said go")
    time.sleep(0.001)
db = open_database(url, Settings.load())
try:
    report = migrate.upgrade(db)
finally:
    db.dispose()
with open_store(url) as store:
    store.create_conversation(title="opened concurrently")
    print(json.dumps({"applied": report.applied, "revision": store.schema_revision()}))
"""


def _open_together(url: str, workdir: Path, count: int = 2) -> list[dict[str, Any]]:
    """Start ``count`` processes that open ``url`` at the same moment; their reports."""
    go = workdir / "go"
    ready = [workdir / f"ready-{i}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, url, str(flag), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


@pytest.mark.slow
def test_two_processes_opening_a_fresh_database_migrate_it_once(
    db_url: str, tmp_path: Path
) -> None:
    """Guards against two processes racing on a new database (a SQLite file not yet
    created, or an empty PostgreSQL schema): both open it, exactly one of them applies
    the revisions, and the result is one consistent database at the head."""
    reports = _open_together(db_url, tmp_path)
    applied = sorted((r["applied"] for r in reports), key=len)
    assert applied == [[], [s.revision for s in _revisions_bottom_up()]]
    assert [r["revision"] for r in reports] == [HEAD, HEAD]
    with open_store(db_url) as store:
        assert store.schema_revision() == HEAD
        assert len(store.list_conversations().items) == 2
        with store.database.engine.connect() as conn:
            assert _drift(conn) == []


def test_every_revision_commits_at_once_on_sqlite(sqlite_path: Path) -> None:
    """Guards against Alembic committing after each revision on SQLite (it treats SQLite
    DDL as non-transactional): each commit released the write lock, so a second process
    opening the same new file could run the next revision at the same time and fail
    with "duplicate column name" (seen in tests/durability/test_concurrent_open.py).
    Migrating a new file from nothing to the head is one transaction: one commit."""
    db = open_database(str(sqlite_path), Settings.load())
    commits: list[object] = []
    sa.event.listen(db.engine, "commit", commits.append)
    try:
        report = migrate.upgrade(db, backup=False)
    finally:
        db.dispose()
    assert len(report.applied) == len(_revisions_bottom_up()) > 1
    assert len(commits) == 1
