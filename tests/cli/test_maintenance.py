"""``threadkeep stats|cleanup|doctor`` and the storage warning (SPEC S2.7, S7.2, S7.3, S9).

The guarded failures: totals counted wrong or from another owner; cleanup changing
anything on ``--dry-run``; a failed doctor check exiting 0; doctor creating the file it
was asked to examine; the storage warning missing, or mixed into stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import (
    EXIT_FAILED,
    EXIT_STORE_UNAVAILABLE,
    Cli,
    assert_error,
    invoke,
    prose,
    seed,
)
from tests.db.sqlite_files import raw_sqlite
from threadkeep import ConversationStore, open_store

# ------------------------------------------------------------------ stats


def test_stats_of_one_conversation(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards `stats ID`: counts and activity from the store, as a table and as JSON."""
    ids = seed(cli_store)
    result = cli("stats", ids.lisbon, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["conversation_id"] == ids.lisbon
    assert (stats["message_count"], stats["last_seq"]) == (2, 2)
    assert stats["first_message_at"] is not None
    assert stats["age_seconds"] >= 0
    text = cli("stats", ids.lisbon).stdout
    assert ids.lisbon in text and "first message" in text


def test_stats_totals(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards `stats` without an id: conversations by status (zeros included), messages
    and the database size, for this owner only."""
    ids = seed(cli_store)
    cli_store.archive_conversation(ids.kyoto)
    other = cli_store.as_owner("someone-else")
    stranger = other.create_conversation(title="not yours")
    other.append_message(stranger.id, "user", "hidden")

    result = cli("stats", "--json")
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)
    assert totals["owner"] == "local"
    assert totals["conversations"] == {"active": 2, "archived": 1, "trash": 0}
    assert totals["messages"] == 4
    assert totals["database_bytes"] > 0

    text = cli("stats").stdout
    assert "3 (2 active, 1 archived, 0 trash)" in " ".join(text.split())


# ------------------------------------------------------------------ cleanup


def test_cleanup_off_by_default(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards the default: cleanup is off, says how to turn it on, and changes nothing."""
    seed(sqlite_store)
    result = sqlite_cli("cleanup")
    assert result.exit_code == 0, result.output
    assert "cleanup is off" in result.stdout
    assert len(sqlite_store.list_conversations().items) == 3


def test_cleanup_dry_run_then_apply(
    cli: Cli, cli_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards plan → apply: with at most one conversation kept per owner, the dry run
    lists the two oldest and changes nothing; the real run moves exactly what its plan
    holds to the trash, never a pinned one; unarchive brings one back."""
    ids = seed(cli_store)
    monkeypatch.setenv("THREADKEEP_CLEANUP_MAX_PER_OWNER", "1")

    plan = json.loads(cli("cleanup", "--dry-run", "--json").stdout)
    assert plan["enabled"] is True
    assert sorted(item["conversation_id"] for item in plan["trash"]) == sorted(
        [ids.lisbon, ids.kyoto]
    )
    assert cli_store.get_conversation(ids.lisbon).status == "active"

    text = cli("cleanup", "--dry-run")
    assert text.exit_code == 0
    assert "would move to the trash" in text.stdout and ids.kyoto in text.stdout

    # Pinned conversations are never moved, and count toward the limit.
    cli_store.update_conversation(ids.kyoto, pinned=True)
    monkeypatch.setenv("THREADKEEP_CLEANUP_MAX_PER_OWNER", "2")
    report = json.loads(cli("cleanup", "--json").stdout)
    assert [item["conversation_id"] for item in report["trashed"]] == [ids.lisbon]
    assert cli_store.get_conversation(ids.lisbon).status == "trash"
    assert cli_store.get_conversation(ids.kyoto).status == "active"

    listed = json.loads(cli("ls", "--status", "trash", "--json").stdout)["items"]
    assert [item["id"] for item in listed] == [ids.lisbon]
    assert cli("unarchive", ids.lisbon).exit_code == 0
    assert cli_store.get_conversation(ids.lisbon).status == "active"


def test_cleanup_all_owners(
    sqlite_cli: Cli, sqlite_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards --all-owners: without it cleanup plans for the CLI's owner only; with it,
    for every owner (the server's daily run)."""
    stranger = sqlite_store.as_owner("stranger")
    old = stranger.create_conversation(title="old")
    stranger.create_conversation(title="new")
    monkeypatch.setenv("THREADKEEP_CLEANUP_MAX_PER_OWNER", "1")
    mine = json.loads(sqlite_cli("cleanup", "--dry-run", "--json").stdout)
    assert mine["trash"] == []
    everyone = json.loads(sqlite_cli("cleanup", "--dry-run", "--json", "--all-owners").stdout)
    assert [(item["owner"], item["conversation_id"]) for item in everyone["trash"]] == [
        ("stranger", old.id)
    ]


# ------------------------------------------------------------------ doctor


def test_doctor_healthy_database(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards a clean bill of health: every check listed, exit 0, JSON with ok=true."""
    seed(cli_store)
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert "integrity" in result.stdout
    assert "all checks passed" in result.stdout
    report = json.loads(cli("doctor", "--json").stdout)
    assert report["ok"] is True
    assert {check["name"] for check in report["checks"]} >= {"schema", "integrity"}


def test_doctor_repair(sqlite_url: str, sqlite_store: ConversationStore) -> None:
    """Guards --repair through the CLI: a message with unreadable metadata fails the
    check (exit 1); --repair quarantines it and succeeds with a warning; afterwards the
    database is clean (exit 0)."""
    ids = seed(sqlite_store)
    with raw_sqlite(Path(sqlite_url.removeprefix("sqlite:///"))) as connection:
        connection.execute("UPDATE messages SET metadata = '{broken' WHERE seq = 1")
        connection.commit()
    found = invoke("--db", sqlite_url, "doctor")
    assert found.exit_code == EXIT_FAILED, found.output
    assert "some checks failed" in found.stdout
    assert "doctor --repair" in prose(found.stdout)

    repaired = invoke("--db", sqlite_url, "doctor", "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    assert len(json.loads(repaired.stdout)["quarantined"]) == 3  # one per conversation
    after = invoke("--db", sqlite_url, "doctor")
    assert after.exit_code == 0, after.output
    assert "all checks passed" in after.stdout
    assert [m.seq for m in sqlite_store.get_messages(ids.lisbon)] == [1, 2]


def test_doctor_failing_check_exits_1(db_file: Path) -> None:
    """Guards what cron jobs rely on: a database without threadkeep's schema fails the
    schema check, and doctor exits 1 (and does not migrate it behind our back)."""
    with raw_sqlite(db_file, create=True) as connection:
        connection.execute("CREATE TABLE unrelated (x INTEGER)")
        connection.commit()
    result = invoke("--db", str(db_file), "doctor", "--json")
    assert result.exit_code == EXIT_FAILED, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    [schema] = [check for check in report["checks"] if check["name"] == "schema"]
    assert schema["status"] == "error"
    with raw_sqlite(db_file) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "conversations" not in tables


def test_doctor_does_not_create_a_missing_file(db_file: Path) -> None:
    """Guards the examiner: a missing database file is reported (exit 6), not created."""
    line = assert_error(
        invoke("--db", str(db_file), "doctor"), EXIT_STORE_UNAVAILABLE, "store_unavailable"
    )
    assert str(db_file) in line
    assert not db_file.exists()


# ------------------------------------------------------------------ storage warning


@pytest.mark.parametrize("command", [["ls"], ["stats"], ["ls", "--json"]])
def test_storage_warning_after_a_command(
    sqlite_url: str,
    sqlite_cli: Cli,
    sqlite_store: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """Guards SPEC S7.3 on the CLI: past the configured size, every command ends with
    the store's warning on stderr — never in stdout, so --json stays parseable."""
    seed(sqlite_store)
    monkeypatch.setenv("THREADKEEP_STORAGE_WARNING_BYTES", "1024")
    result = sqlite_cli(*command)
    assert result.exit_code == 0, result.output
    with open_store(sqlite_url) as configured:
        warning = configured.storage_warning()
    assert warning is not None
    assert prose(result.stderr.splitlines()[-1]) == f"warning: {prose(warning)}"
    assert "storage_warning_bytes" not in result.stdout
    if "--json" in command:
        json.loads(result.stdout)


def test_no_storage_warning_below_the_limit(
    sqlite_cli: Cli, sqlite_store: ConversationStore
) -> None:
    """Guards the quiet default: no limit configured, no warning."""
    seed(sqlite_store)
    assert "warning" not in sqlite_cli("ls").stderr
