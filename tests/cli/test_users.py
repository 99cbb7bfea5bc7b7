"""``threadkeep users add|ls|revoke`` (SPEC S8.2, S9), on SQLite and PostgreSQL.

What is guarded here:

* ``users add`` prints the new key alone on the last line of stdout (scripts take it
  with ``tail -1``), and that key authenticates as the user — also through the
  installed console script in a subprocess;
* ``users ls`` never prints a key, only its prefix; ``--json`` for scripts;
* ``users revoke`` asks first (refuses without a terminal unless ``--yes``, like
  ``rm``) and the revoked key stops authenticating;
* the documented exit codes for bad names, unknown targets and a missing database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import (
    EXIT_FAILED,
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    EXIT_STORE_UNAVAILABLE,
    Cli,
    assert_error,
    invoke,
    script,
)
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.accounts import Accounts
from threadkeep.cli import output


def _accounts(store: ConversationStore) -> Accounts:
    return Accounts(store.database, store.settings)


def test_add_prints_the_key_alone_on_the_last_line(cli: Cli, cli_store: ConversationStore) -> None:
    result = cli("users", "add", "alice")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    assert result.stdout == key + "\n"
    assert key.startswith("tk_") and " " not in key
    assert _accounts(cli_store).authenticate(key) == "alice"
    assert "shown only now" in result.stderr and key not in result.stderr
    # A second key for the same user: a different key, both valid.
    again = cli("users", "add", "alice").stdout.splitlines()[-1]
    assert again != key and _accounts(cli_store).authenticate(again) == "alice"


def test_add_through_the_console_script(sqlite_url: str) -> None:
    """As a deployment script would: ``KEY=$(threadkeep users add bot | tail -1)``."""
    result = script("--db", sqlite_url, "users", "add", "bot")
    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    with open_store(sqlite_url, settings=Settings.load()) as store:
        assert _accounts(store).authenticate(key) == "bot"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_add_refuses_a_bad_name(cli: Cli, name: str) -> None:
    assert_error(cli("users", "add", name), EXIT_INVALID_INPUT, "invalid_input")
    assert cli("users", "ls", "--json").stdout.strip() == json.dumps({"items": []}, indent=2)


def test_ls_shows_prefixes_never_keys(cli: Cli) -> None:
    empty = cli("users", "ls")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "no users" in empty.stderr
    alice = cli("users", "add", "alice").stdout.splitlines()[-1]
    bob = cli("users", "add", "bob").stdout.splitlines()[-1]
    table = cli("users", "ls")
    assert table.exit_code == 0, table.stderr
    for key, name in ((alice, "alice"), (bob, "bob")):
        prefix = key[: len("tk_") + 17]
        [row] = [line for line in table.stdout.splitlines() if prefix in line]
        assert name in row and "never" in row and "active" in row
        assert key not in table.stdout and key[len(prefix) :] not in table.stdout
    items = json.loads(cli("users", "ls", "--json").stdout)["items"]
    assert [(item["user"], item["revoked_at"]) for item in items] == [
        ("alice", None),
        ("bob", None),
    ]
    assert alice.startswith(items[0]["prefix"])
    assert alice not in json.dumps(items)


def test_revoke_needs_yes_without_a_terminal(cli: Cli, cli_store: ConversationStore) -> None:
    key = cli("users", "add", "alice").stdout.splitlines()[-1]
    refused = cli("users", "revoke", "alice")
    assert_error(refused, EXIT_INVALID_INPUT, "invalid_input")
    assert _accounts(cli_store).authenticate(key) == "alice"
    done = cli("users", "revoke", "alice", "--yes")
    assert done.exit_code == 0, done.stderr
    assert done.stdout == "revoked 1 API key\n"
    assert _accounts(cli_store).authenticate(key) is None
    table = cli("users", "ls").stdout
    assert "revoked" in table
    again = cli("users", "revoke", "alice", "--yes")
    assert again.exit_code == 0 and "nothing to revoke" in again.stdout


def test_revoke_asks_on_a_terminal(
    cli: Cli, cli_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "stdin_is_terminal", lambda: True)
    first = cli("users", "add", "alice").stdout.splitlines()[-1]
    second = cli("users", "add", "alice").stdout.splitlines()[-1]
    declined = cli("users", "revoke", "alice", input="n\n")
    assert declined.exit_code == EXIT_FAILED
    assert "Revoke 2 API keys?" in declined.stderr and "nothing revoked" in declined.stderr
    assert _accounts(cli_store).authenticate(first) == "alice"
    key_id = second.split("_")[1]
    accepted = cli("users", "revoke", key_id, input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    # (The runner echoes the answer typed on stdin into stdout.)
    assert accepted.stdout.splitlines()[-1] == "revoked 1 API key"
    assert _accounts(cli_store).authenticate(first) == "alice"
    assert _accounts(cli_store).authenticate(second) is None


def test_revoke_unknown_is_not_found(cli: Cli) -> None:
    cli("users", "add", "alice")
    assert_error(cli("users", "revoke", "nobody", "--yes"), EXIT_NOT_FOUND, "not_found")
    assert_error(
        cli("users", "revoke", "tk_0123456789abcdef_", "--yes"), EXIT_NOT_FOUND, "not_found"
    )


def test_reading_commands_do_not_create_a_database(db_file: Path) -> None:
    for args in (("users", "ls"), ("users", "revoke", "alice", "--yes")):
        result = invoke("--db", str(db_file), *args)
        assert_error(result, EXIT_STORE_UNAVAILABLE, "store_unavailable")
    assert not db_file.exists()
