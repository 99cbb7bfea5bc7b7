"""``threadkeep ls|rename|archive|unarchive|rm|fork`` (SPEC S9), on SQLite and PostgreSQL.

Each command is checked for what it does to the store, what it prints for people and
for scripts (``--json``), and the exit code of each kind of mistake.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.cli.conftest import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    UNKNOWN_ID,
    Cli,
    assert_error,
    prose,
    seed,
)
from threadkeep import Conflict, ConversationStore
from threadkeep.cli import output
from threadkeep.cli.filters import parse_when

# ------------------------------------------------------------------ ls


def test_ls_table_lists_newest_first(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the people's listing: one row per conversation, most recently updated
    first, with id, title (a placeholder when untitled), message count and tags."""
    ids = seed(cli_store)
    result = cli("ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "Title", "Msgs", "Updated"]
    rows = [line for line in lines if line[:36] in ids.all]
    assert [row[:36] for row in rows] == [ids.notes, ids.kyoto, ids.lisbon]
    assert "(untitled)" in rows[0]
    assert "Trip to Lisbon" in rows[2] and prose(rows[2]).split()[-3] == "2"
    assert "#travel" in result.stdout
    assert "next page" not in result.stdout


def test_ls_json_is_one_object_with_items_and_cursor(
    cli: Cli, cli_store: ConversationStore
) -> None:
    """Guards the scripts' listing: one JSON object, every field of each conversation,
    datetimes as ISO 8601 strings, and a null next_cursor on the last page."""
    ids = seed(cli_store)
    result = cli("ls", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert set(listing) == {"items", "next_cursor"}
    assert listing["next_cursor"] is None
    assert [item["id"] for item in listing["items"]] == [ids.notes, ids.kyoto, ids.lisbon]
    lisbon = listing["items"][2]
    assert lisbon["title"] == "Trip to Lisbon"
    assert lisbon["tags"] == ["travel"]
    assert lisbon["message_count"] == 2
    assert lisbon["preview"] == "Alfama, Belém and a day in Sintra."
    assert dt.datetime.fromisoformat(lisbon["updated_at"]).tzinfo is not None


def test_ls_pages_with_the_printed_cursor(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards paging: --limit cuts the page, the cursor printed (table) or returned
    (JSON) continues it, and the pages together are the whole listing, once each."""
    ids = seed(cli_store)
    first = json.loads(cli("ls", "--json", "--limit", "2").stdout)
    assert len(first["items"]) == 2
    second = json.loads(
        cli("ls", "--json", "--limit", "2", "--cursor", first["next_cursor"]).stdout
    )
    assert second["next_cursor"] is None
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert seen == [ids.notes, ids.kyoto, ids.lisbon]

    table = cli("ls", "-n", "2")
    assert f"next page: --cursor {first['next_cursor']}" in table.stdout


def test_ls_filters(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards that each filter of list_conversations reaches the store: tag, mode,
    status, and the date range in its three spellings."""
    ids = seed(cli_store)
    cli_store.archive_conversation(ids.kyoto)

    def listed(*args: str) -> list[str]:
        result = cli("ls", "--json", *args)
        assert result.exit_code == 0, result.output
        return [item["id"] for item in json.loads(result.stdout)["items"]]

    assert listed("--tag", "travel") == [ids.lisbon]
    assert listed("--mode", "batch") == []  # the batch one is archived
    assert listed("--mode", "batch", "--status", "archived") == [ids.kyoto]
    assert listed("--status", "all") == [ids.notes, ids.kyoto, ids.lisbon]
    assert listed("--status", "trash") == []
    assert listed("--updated-after", "1h") == [ids.notes, ids.lisbon]
    assert listed("--updated-before", "2000-01-01") == []
    assert listed("--created-after", "2000-01-01T00:00:00Z") == [ids.notes, ids.lisbon]


def test_ls_empty_says_so_on_stderr(cli: Cli) -> None:
    """Guards the empty listing: nothing on stdout (a pipe gets no table header), a
    sentence on stderr, exit 0."""
    result = cli("ls")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no conversations" in result.stderr


def test_ls_pinned_first(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards --pinned-first: a pinned conversation leads however old it is."""
    ids = seed(cli_store)
    cli_store.update_conversation(ids.lisbon, pinned=True)
    listing = json.loads(cli("ls", "--json", "--pinned-first").stdout)
    assert [item["id"] for item in listing["items"]] == [ids.lisbon, ids.notes, ids.kyoto]


@pytest.mark.parametrize(
    "args",
    [
        ("--updated-after", "last tuesday"),
        ("--updated-before", "2026-13-45"),
        ("--created-after", "7 parsecs"),
    ],
)
def test_ls_bad_date_is_one_line_and_exit_2(sqlite_cli: Cli, args: tuple[str, str]) -> None:
    """Guards the user error the brief names: a date that does not parse exits 2 with
    one line naming the option and the accepted forms — no traceback, no usage box."""
    line = assert_error(sqlite_cli("ls", *args), EXIT_INVALID_INPUT, "invalid_input")
    assert args[0] in line
    assert "2026-11-01" in line and "7d" in line


def test_ls_bad_cursor_is_exit_2(sqlite_cli: Cli) -> None:
    """Guards a mangled --cursor: InvalidInput (exit 2), not a crash."""
    assert_error(sqlite_cli("ls", "--cursor", "garbage!"), EXIT_INVALID_INPUT, "invalid_input")


def test_ls_bad_status_is_a_usage_error(sqlite_cli: Cli) -> None:
    """Guards --status choices: anything else is a usage error, exit 2."""
    result = sqlite_cli("ls", "--status", "deleted")
    assert result.exit_code == EXIT_INVALID_INPUT
    assert result.stdout == ""


def test_parse_when_accepts_what_people_type() -> None:
    """Guards the date forms the help promises: a day, ISO times with and without an
    offset (naive is UTC), Z, relative amounts and today/yesterday."""
    now = dt.datetime(2026, 11, 21, 15, 30, tzinfo=dt.UTC)
    utc = dt.UTC
    assert parse_when("2026-11-01", "--x", now=now) == dt.datetime(2026, 11, 1, tzinfo=utc)
    assert parse_when("2026-11-01T09:30", "--x", now=now) == dt.datetime(
        2026, 11, 1, 9, 30, tzinfo=utc
    )
    assert parse_when("2026-11-01 09:30:00+02:00", "--x", now=now) == dt.datetime(
        2026, 11, 1, 7, 30, tzinfo=utc
    )
    assert parse_when("2026-11-01T09:30:00Z", "--x", now=now) == dt.datetime(
        2026, 11, 1, 9, 30, tzinfo=utc
    )
    assert parse_when("30m", "--x", now=now) == now - dt.timedelta(minutes=30)
    assert parse_when("12h", "--x", now=now) == now - dt.timedelta(hours=12)
    assert parse_when("7d", "--x", now=now) == now - dt.timedelta(days=7)
    assert parse_when("2w", "--x", now=now) == now - dt.timedelta(weeks=2)
    assert parse_when("today", "--x", now=now) == dt.datetime(2026, 11, 21, tzinfo=utc)
    assert parse_when("Yesterday", "--x", now=now) == dt.datetime(2026, 11, 20, tzinfo=utc)
    assert parse_when(None, "--x", now=now) is None


# ------------------------------------------------------------------ rename, archive


def test_rename(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards rename: the title changes in the store, and markup-like text is kept
    literally (Rich must not eat `[bold]`)."""
    ids = seed(cli_store)
    result = cli("rename", ids.kyoto, "Kyoto [bold]maples[/bold]")
    assert result.exit_code == 0, result.output
    assert prose(result.stdout) == f"renamed {ids.kyoto} to Kyoto [bold]maples[/bold]"
    assert cli_store.get_conversation(ids.kyoto).title == "Kyoto [bold]maples[/bold]"


def test_archive_and_unarchive(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the archive round trip through the CLI and its effect on ls."""
    ids = seed(cli_store)
    assert cli("archive", ids.lisbon).exit_code == 0
    assert cli_store.get_conversation(ids.lisbon).status == "archived"
    listed = json.loads(cli("ls", "--json").stdout)["items"]
    assert ids.lisbon not in [item["id"] for item in listed]
    result = cli("unarchive", ids.lisbon)
    assert result.exit_code == 0
    assert prose(result.stdout) == f"unarchived {ids.lisbon}"
    assert cli_store.get_conversation(ids.lisbon).status == "active"


@pytest.mark.parametrize("command", ["rename", "archive", "unarchive", "fork", "show", "stats"])
def test_unknown_conversation_is_exit_3(sqlite_cli: Cli, command: str) -> None:
    """Guards NotFound → 3 on every command that takes an id."""
    args = [command, UNKNOWN_ID] + (["new title"] if command == "rename" else [])
    line = assert_error(sqlite_cli(*args), EXIT_NOT_FOUND, "not_found")
    assert UNKNOWN_ID in line


@pytest.mark.parametrize("command", ["rename", "archive", "show", "rm"])
def test_malformed_id_is_exit_2(sqlite_cli: Cli, command: str) -> None:
    """Guards InvalidInput → 2 for an id that is not a UUID."""
    args = [command, "not-a-uuid"] + (["t"] if command == "rename" else [])
    args += ["--yes"] if command == "rm" else []
    assert_error(sqlite_cli(*args), EXIT_INVALID_INPUT, "invalid_input")


# ------------------------------------------------------------------ rm


def test_rm_with_yes_deletes_every_id(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards `rm --yes ID ID`: both are deleted for good, the third is kept."""
    ids = seed(cli_store)
    result = cli("rm", "--yes", ids.lisbon, ids.kyoto)
    assert result.exit_code == 0, result.output
    assert prose(result.stdout) == "deleted 2 conversations"
    remaining = [c.id for c in cli_store.list_conversations(status=None).items]
    assert remaining == [ids.notes]


def test_rm_checks_every_id_before_deleting(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards against half-done deletes: with one unknown id among them, rm exits 3 and
    deletes nothing."""
    ids = seed(cli_store)
    assert_error(cli("rm", "--yes", ids.lisbon, UNKNOWN_ID), EXIT_NOT_FOUND, "not_found")
    assert len(cli_store.list_conversations().items) == 3


def test_rm_without_a_terminal_refuses(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards scripts against a prompt they cannot answer: no TTY and no --yes → exit 2
    naming --yes, nothing deleted."""
    ids = seed(sqlite_store)
    line = assert_error(sqlite_cli("rm", ids.lisbon), EXIT_INVALID_INPUT, "invalid_input")
    assert "--yes" in line
    assert sqlite_store.get_conversation(ids.lisbon).title == "Trip to Lisbon"


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_rm_asks_on_a_terminal(
    sqlite_cli: Cli,
    sqlite_store: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    deleted: bool,
) -> None:
    """Guards the confirmation: the prompt (on stderr, stdout may be a pipe) names what
    will go; only a yes deletes (the default is no, exit 1)."""
    ids = seed(sqlite_store)
    monkeypatch.setattr(output, "stdin_is_terminal", lambda: True)
    result = sqlite_cli("rm", ids.lisbon, input=answer)
    assert "Trip to Lisbon" in result.stderr
    assert "Delete 1 conversation for good?" in result.stderr
    listed = [c.id for c in sqlite_store.list_conversations().items]
    if deleted:
        assert result.exit_code == 0, result.output
        assert ids.lisbon not in listed
    else:
        assert result.exit_code == EXIT_FAILED
        assert "nothing deleted" in result.stderr
        assert ids.lisbon in listed


# ------------------------------------------------------------------ fork


def test_fork(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards fork: the new conversation has the first N messages, the given title and
    records where it came from; --json gives it to a script."""
    ids = seed(cli_store)
    result = cli("fork", ids.lisbon, "--up-to-seq", "1", "--title", "Lisbon, plan B", "--json")
    assert result.exit_code == 0, result.output
    forked = json.loads(result.stdout)
    assert forked["title"] == "Lisbon, plan B"
    assert forked["forked_from"] == {"conversation_id": ids.lisbon, "seq": 1}
    messages = cli_store.get_messages(forked["id"])
    assert [m.content for m in messages] == ["Three days in Lisbon: what should I see?"]

    plain = cli("fork", ids.lisbon)
    assert plain.exit_code == 0
    assert prose(plain.stdout).startswith(f"forked {ids.lisbon} into ")
    assert prose(plain.stdout).endswith("(2 messages)")


def test_fork_past_the_end_is_exit_2(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards InvalidInput from the store: --up-to-seq past the last message exits 2
    with the store's explanation."""
    ids = seed(cli_store)
    line = assert_error(
        cli("fork", ids.lisbon, "--up-to-seq", "9"), EXIT_INVALID_INPUT, "invalid_input"
    )
    assert "past the last message" in line


def test_conflict_is_exit_4(
    sqlite_cli: Cli, sqlite_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the Conflict → 4 mapping inside a command: the store refusing a write
    because the state changed is reported as such, in one line."""
    ids = seed(sqlite_store)

    def refuse(self: ConversationStore, *args: object, **kwargs: object) -> None:
        raise Conflict("someone else wrote first; retry")

    monkeypatch.setattr(ConversationStore, "fork_conversation", refuse)
    line = assert_error(sqlite_cli("fork", ids.lisbon), EXIT_CONFLICT, "conflict")
    assert "retry" in line
