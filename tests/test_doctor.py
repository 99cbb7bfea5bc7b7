"""``run_doctor`` (SPEC S2.7) on real databases of both engines.

Damage is done behind the store's back with raw SQL or by writing the file, then the
report is checked for what a person needs: which check failed, on which row, what to
do; ``repair`` is checked for what it leaves behind (readable rows, a matching search
index, the raw values kept) and a second run for being clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from threadkeep import ConversationStore, Settings, StoreUnavailable, open_store
from threadkeep.db import migrate
from threadkeep.doctor import Check, DoctorReport, check_database_file, run_doctor

SECRET = "sk-live-doctor-secret-value"  # noqa: S105 - a fake secret that must stay out of reports
CHECKS = [
    "engine",
    "settings",
    "schema",
    "size",
    "integrity",
    "search index",
    "damaged rows",
]


def _sql(store: ConversationStore, sql: str, **params: Any) -> Any:
    with store.database.engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _by_name(report: DoctorReport) -> dict[str, Check]:
    assert [c.name for c in report.checks] == CHECKS
    return {c.name: c for c in report.checks}


def _statuses(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def _all_ok(report: DoctorReport) -> bool:
    return all(c.status == "ok" for c in report.checks)


def _fill(store: ConversationStore) -> str:
    conversation = store.create_conversation(title="Quarterly planning notes")
    for i in range(1, 4):
        store.append_message(
            conversation.id, "user", f"budget line {i} holds {SECRET}", metadata={"k": SECRET}
        )
    return conversation.id


def test_a_healthy_database_passes_every_check(store: ConversationStore) -> None:
    """Guards against false alarms on a fresh, healthy database of either engine, and
    against a report the CLI cannot print as JSON or act on."""
    _fill(store)
    report = run_doctor(store)
    checks = _by_name(report)
    assert _all_ok(report), report.checks
    assert report.ok and all(c.ok for c in report.checks)
    assert checks["schema"].detail == f"revision {migrate.head_revision()} (the newest)"
    assert "1 conversation, 3 messages, 0 runs" in checks["size"].detail
    if store.database.dialect == "sqlite":
        assert "includes the WAL-reset fix" in checks["engine"].detail
        assert str(store.database.sqlite_path) in checks["engine"].detail
        assert checks["settings"].detail == (
            "journal_mode=wal, synchronous=FULL, foreign_keys=on, busy_timeout=30000 ms"
        )
        assert checks["integrity"].detail == "PRAGMA integrity_check: ok"
    else:
        assert checks["engine"].detail.startswith("PostgreSQL ")
        assert "fsync=on" in checks["settings"].detail
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["ok"] is True
    assert [c["name"] for c in as_json["checks"]] == CHECKS
    assert as_json["damaged"] == [] and as_json["quarantined"] == []
    assert as_json["facts"]["row_counts"] == {"conversations": 1, "messages": 3, "runs": 0}


def test_settings_are_read_back_from_the_live_connection(sqlite_url: str) -> None:
    """Guards against doctor echoing the configuration instead of what the connection
    really runs with: a connection hook that turns foreign keys off and synchronous
    down is reported, as an error and a warning."""
    with open_store(sqlite_url, settings=Settings.load(sqlite_synchronous="NORMAL")) as store:
        assert "synchronous=NORMAL" in _by_name(run_doctor(store))["settings"].detail

        @event.listens_for(store.database.engine, "connect")
        def _weaken(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA foreign_keys=OFF")
            dbapi_conn.execute("PRAGMA busy_timeout=5")

        store.database.dispose()
        report = run_doctor(store)
        settings = _by_name(report)["settings"]
        assert settings.status == "error" and not report.ok
        assert "foreign_keys is off" in settings.detail
        assert "busy_timeout is 5 ms, the setting asks for 30000 ms" in settings.detail


def test_damaged_rows_are_reported_then_quarantined_and_the_next_run_is_clean(
    store: ConversationStore,
) -> None:
    """Guards against damage that doctor misses or a repair that loses data: each bad
    value is reported by table, row and column (never its content) with exit status
    error; the rows stay readable around it; repair keeps the raw value in the
    quarantine, makes the rows read again with seqs 1..n, and a second run is clean."""
    cid = _fill(store)
    run = store.start_run(cid, provider="echo")
    if store.database.dialect == "postgresql":
        # PostgreSQL validates json on write: the damage it can hold is JSON Python
        # cannot read, and JSON of the wrong shape.
        _sql(
            store,
            "UPDATE messages SET metadata = CAST(:v AS json) WHERE seq = 2",
            v='{"k": "' + SECRET + '", "n": ' + "9" * 5000 + "}",
        )
        _sql(store, "UPDATE conversations SET tags = CAST('{\"a\": 1}' AS jsonb)")
    else:
        _sql(store, "UPDATE messages SET metadata = :v WHERE seq = 2", v='{"k": "' + SECRET)
        _sql(store, "UPDATE conversations SET tags = '[oops'")
    _sql(store, "UPDATE runs SET status = 'exploded'")

    # Readers read the damaged values as safe defaults instead of failing.
    assert [(m.seq, m.metadata) for m in store.get_messages(cid)][1] == (2, None)
    assert [m.seq for m in store.tail_messages(cid, 10)] == [1, 2, 3]
    assert [c.tags for c in store.list_conversations().items] == [()]

    report = run_doctor(store)
    damaged = _by_name(report)["damaged rows"]
    assert damaged.status == "error" and not report.ok
    assert "3 damaged values" in damaged.detail and "--repair" in damaged.detail
    assert [(v.table, v.row_key, v.column) for v in report.damaged] == [
        ("conversations", cid, "tags"),
        ("messages", f"{cid}/2", "metadata"),
        ("runs", run.id, "status"),
    ]
    assert SECRET not in json.dumps(report.to_dict())
    assert "exploded" not in json.dumps(report.to_dict())

    repaired = run_doctor(store, repair=True)
    damaged = _by_name(repaired)["damaged rows"]
    assert damaged.status == "warning" and repaired.ok
    assert damaged.detail.startswith("quarantined 3 values: ")
    assert [(v.table, v.column, v.replacement) for v in repaired.quarantined] == [
        ("conversations", "tags", "[]"),
        ("messages", "metadata", "NULL"),
        ("runs", "status", "'interrupted'"),
    ]
    assert [m.seq for m in store.get_messages(cid)] == [1, 2, 3]
    [listed] = store.list_conversations().items
    assert (listed.message_count, listed.last_seq) == (3, 3)
    with store.database.engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT raw_value FROM quarantine WHERE column_name = 'metadata'")
        ).scalar()
    assert isinstance(raw, str) and SECRET in raw  # kept for the operator, only there

    again = run_doctor(store)
    assert _all_ok(again), again.checks
    assert "3 values quarantined earlier" in _by_name(again)["damaged rows"].detail


def _search_sqlite(store: ConversationStore) -> Iterator[Any]:
    with store.database.engine.connect() as conn:
        yield from conn.execute(
            sa.text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'budget'")
        )


def test_sqlite_search_index_out_of_step_is_found_and_rebuilt(sqlite_url: str) -> None:
    """Guards against a search index that silently misses messages (FTS5's default
    integrity-check passes it): an entry removed from the index and a title table out
    of step are errors; repair rebuilds both and the next run is clean."""
    with open_store(sqlite_url) as store:
        cid = _fill(store)
        pk, content = (
            store.database.engine.connect()
            .execute(sa.text("SELECT pk, content FROM messages WHERE seq = 2"))
            .one()
        )
        _sql(
            store,
            "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES('delete', :p, :c)",
            p=pk,
            c=content,
        )
        _sql(store, "UPDATE conversation_titles SET title = 'something else'")
        assert len(list(_search_sqlite(store))) == 2

        search = _by_name(run_doctor(store))["search index"]
        assert search.status == "error"
        assert "3 messages but 2 in the search index" in search.detail
        assert "1 conversation title differs" in search.detail
        assert "messages_fts does not match the rows it indexes" in search.detail

        repaired = _by_name(run_doctor(store, repair=True))["search index"]
        assert repaired.status == "warning"
        assert "rebuilt messages_fts, conversation_titles_fts" in repaired.detail
        assert len(list(_search_sqlite(store))) == 3
        with store.database.engine.connect() as conn:
            titles = conn.execute(sa.text("SELECT conversation_id, title FROM conversation_titles"))
            assert list(titles) == [(cid, "Quarterly planning notes")]
        assert _all_ok(run_doctor(store))


def test_sqlite_missing_search_trigger_is_an_error_repair_cannot_hide(sqlite_url: str) -> None:
    """Guards against a dropped trigger (writes stop reaching the index) being
    'repaired' into a clean report: the rebuild catches up the index, but the check
    stays an error naming the trigger."""
    with open_store(sqlite_url) as store:
        cid = _fill(store)
        _sql(store, "DROP TRIGGER messages_fts_insert")
        store.append_message(cid, "user", "budget written without the trigger")
        report = run_doctor(store)
        search = _by_name(report)["search index"]
        assert search.status == "error"
        assert "trigger messages_fts_insert is missing" in search.detail
        assert "4 messages but 3 in the search index" in search.detail

        after = _by_name(run_doctor(store, repair=True))["search index"]
        assert after.status == "error"
        assert "trigger messages_fts_insert is missing" in after.detail
        assert "in the search index" not in after.detail
        assert len(list(_search_sqlite(store))) == 4


def test_postgres_missing_search_index_is_an_error(postgres_url: str) -> None:
    """Guards against a dropped GIN index (search degrades to scans) going unnoticed."""
    with open_store(postgres_url) as store:
        _fill(store)
        _sql(store, "DROP INDEX ix_messages_search_vector")
        search = _by_name(run_doctor(store))["search index"]
        assert search.status == "error"
        assert "search index ix_messages_search_vector is missing" in search.detail


def test_postgres_repair_reindexes_the_search_indexes(postgres_url: str) -> None:
    """Guards against the PostgreSQL repair path failing (REINDEX inside the
    transaction): a search vector nulled behind the store's back cannot be stored
    (generated column), so repair on a healthy index is a no-op that stays clean."""
    with open_store(postgres_url) as store:
        _fill(store)
        assert store.rebuild_search_index() == [
            "ix_messages_search_vector",
            "ix_conversations_title_vector",
        ]
        assert _all_ok(run_doctor(store, repair=True))


def test_postgres_amcheck_verifies_indexes_when_installed(postgres_url: str) -> None:
    """Guards against the optional amcheck path breaking: with the extension in the
    schema, doctor runs bt_index_check on threadkeep's B-tree indexes."""
    schema = make_url(postgres_url).query["options"]
    assert isinstance(schema, str)
    with open_store(postgres_url) as store:
        _fill(store)
        plain = _by_name(run_doctor(store))["integrity"]
        assert plain.status == "ok" and "CREATE EXTENSION amcheck" in plain.detail
        try:
            _sql(store, f'CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA "{schema.split("=")[1]}"')
        except sa.exc.DBAPIError as error:
            pytest.skip(f"amcheck cannot be installed here: {error.orig}")
        checked = _by_name(run_doctor(store))["integrity"]
        assert checked.status == "ok", checked.detail
        assert checked.detail.startswith("amcheck: ok")
        assert "B-tree indexes checked" in checked.detail


def test_corrupt_pages_fail_the_integrity_check(sqlite_url: str) -> None:
    """Guards against doctor trusting a file whose pages are damaged (a disk error, a
    bad copy): PRAGMA integrity_check's findings are an error with what to do."""
    path = Path(str(make_url(sqlite_url).database))
    with open_store(sqlite_url) as store:
        cid = _fill(store)
        for i in range(300):
            store.append_message(cid, "assistant", f"filler {i} " + "x" * 200)
        with store.database.engine.connect() as conn:
            root = conn.execute(
                sa.text("SELECT rootpage FROM sqlite_master WHERE name = :n"),
                {"n": "ix_messages_idempotency"},
            ).scalar()
            page_size = conn.execute(sa.text("PRAGMA page_size")).scalar()
    assert isinstance(root, int) and isinstance(page_size, int)
    # The store closed and checkpointed the WAL; now scribble over an index page.
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\x0d" + b"\xff" * 64)
    with open_store(sqlite_url, settings=Settings.load(migrate_on_open=False)) as store:
        report = run_doctor(store)
        integrity = _by_name(report)["integrity"]
        assert integrity.status == "error" and not report.ok
        assert integrity.detail.startswith("PRAGMA integrity_check found: ")
        assert "threadkeep db restore" in integrity.detail
        _sql(store, "UPDATE messages SET role = 'wizard' WHERE seq = 1")
        repaired = run_doctor(store, repair=True)
        damaged = _by_name(repaired)["damaged rows"]
        assert damaged.status == "error" and repaired.quarantined == []
        assert "repairs would write into a damaged database" in damaged.detail


def test_an_old_schema_is_reported_and_repairs_wait_for_the_upgrade(
    store: ConversationStore,
) -> None:
    """Guards against doctor failing or repairing against a schema it does not know
    (the CLI examines the database without migrating): the revision is a warning, the
    missing search tables an error, and repair says to upgrade first."""
    cid = _fill(store)
    _sql(store, "UPDATE conversations SET mode = ''")
    migrate.downgrade(store.database, "0001")
    report = run_doctor(store, repair=True)
    checks = _by_name(report)
    head = migrate.head_revision()
    assert checks["schema"].status == "warning"
    assert (
        checks["schema"].detail == f"revision 0001, newest is {head}: run `threadkeep db upgrade`"
    )
    assert checks["search index"].status == "error"
    assert "run `threadkeep db upgrade` first" in checks["search index"].detail
    assert checks["damaged rows"].status == "error"
    assert "1 damaged value," in checks["damaged rows"].detail
    assert "run `threadkeep db upgrade` first" in checks["damaged rows"].detail
    assert report.quarantined == []
    with store.database.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, mode FROM conversations")).all()
    assert [(str(row[0]), row[1]) for row in rows] == [(cid, "")]


def test_a_revision_from_a_newer_threadkeep_is_an_error(store: ConversationStore) -> None:
    """Guards against doctor calling a database written by a newer threadkeep healthy."""
    _sql(store, "UPDATE alembic_version SET version_num = '0999'")
    schema = _by_name(run_doctor(store))["schema"]
    assert schema.status == "error"
    assert "revision 0999 is unknown to this threadkeep" in schema.detail


def test_storage_warning_is_part_of_the_size_check(db_url: str) -> None:
    """Guards against the configured storage warning (SPEC S7.3) missing from doctor."""
    with open_store(db_url, settings=Settings.load(storage_warning_bytes=1)) as store:
        size = _by_name(run_doctor(store))["size"]
        assert size.status == "warning"
        assert "storage_warning_bytes" in size.detail


def test_missing_or_foreign_files_are_named(tmp_path: Path, sqlite_url: str) -> None:
    """Guards against doctor creating a database where none was (opening a store does,
    for the embedded default) or stumbling over a file that is not one: each gives
    StoreUnavailable naming the file."""
    missing = tmp_path / "nowhere" / "threadkeep.db"
    with pytest.raises(StoreUnavailable, match=rf"{missing}: no such file"):
        check_database_file(str(missing))
    assert not missing.parent.exists()

    foreign = tmp_path / "notes.db"
    foreign.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreUnavailable, match=rf"{foreign}: not a SQLite database"):
        check_database_file(f"sqlite:///{foreign}")
    # Opening it as a store fails just as clearly (and leaves the file alone).
    with pytest.raises(StoreUnavailable, match=rf"database {foreign}: the file is corrupt"):
        open_store(foreign)
    assert foreign.read_text().startswith("these are my notes")

    with pytest.raises(StoreUnavailable, match="not a file"):
        check_database_file(str(tmp_path))

    open_store(sqlite_url).close()
    check_database_file(sqlite_url)  # a real database passes
    empty = tmp_path / "empty.db"
    empty.touch()
    check_database_file(str(empty))  # SQLite treats an empty file as an empty database
    check_database_file("postgresql+psycopg://user@127.0.0.1/db")  # not a file: no-op
