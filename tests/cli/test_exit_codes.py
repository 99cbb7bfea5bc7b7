"""The documented exit codes, through the installed console script in a real process.

What a shell script sees: the exit status, one ``error (<code>): …`` line on stderr
(not wrapped at the 80 columns Rich assumes without a terminal, no traceback) and
nothing on stdout. The in-process tests of each command check the same codes through
``CliRunner``; these check that nothing between the console script and the command
(Typer's own error handling, Rich, the interpreter) changes them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import (
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    EXIT_STORE_UNAVAILABLE,
    EXIT_TOO_LARGE,
    UNKNOWN_ID,
    script,
    seed,
)
from threadkeep import open_store


def one_error_line(done: subprocess.CompletedProcess[str], code: int, kind: str) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error ({kind}): ")
    return lines[0]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "threadkeep.db"
    with open_store(path) as store:
        seed(store)
    return path


def test_success_and_the_database_url_setting(database: Path) -> None:
    """Guards the happy path of a script: exit 0 and parseable JSON, with the database
    chosen by THREADKEEP_DATABASE_URL instead of --db."""
    done = script("ls", "--json", env={"THREADKEEP_DATABASE_URL": str(database)})
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["items"]) == 3


def test_not_found_is_3(database: Path) -> None:
    """Guards NotFound → 3 in a real process."""
    line = one_error_line(
        script("--db", str(database), "show", UNKNOWN_ID), EXIT_NOT_FOUND, "not_found"
    )
    assert UNKNOWN_ID in line


def test_bad_date_is_2_on_one_line(database: Path) -> None:
    """Guards the brief's example: a bad --updated-after is exit 2 and exactly one line,
    however long the message."""
    one_error_line(
        script("--db", str(database), "ls", "--updated-after", "the day before yesterday"),
        EXIT_INVALID_INPUT,
        "invalid_input",
    )


@pytest.mark.parametrize("target", ["directory", "not_a_database"])
def test_unusable_database_is_6(tmp_path: Path, target: str) -> None:
    """Guards StoreUnavailable → 6: --db pointing at a directory, or at a file that is
    not a database; the message names the path."""
    path = tmp_path / target
    if target == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"PK\x03\x04 this is a zip, not a database" * 50)
    line = one_error_line(
        script("--db", str(path), "ls"), EXIT_STORE_UNAVAILABLE, "store_unavailable"
    )
    assert str(path) in line


def test_too_large_is_5(database: Path, tmp_path: Path) -> None:
    """Guards TooLarge → 5: an import over import_max_bytes."""
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"role": "user", "content": "x" * 2000}]), encoding="utf-8")
    line = one_error_line(
        script(
            "--db", str(database), "import", str(big), env={"THREADKEEP_IMPORT_MAX_BYTES": "1000"}
        ),
        EXIT_TOO_LARGE,
        "too_large",
    )
    assert "import_max_bytes" in line


def test_rm_without_terminal_is_2(database: Path) -> None:
    """Guards a script that forgot --yes: stdin is not a terminal, so rm refuses with
    exit 2 instead of waiting for an answer that never comes."""
    with open_store(database) as store:
        victim = store.list_conversations().items[0].id
    one_error_line(script("--db", str(database), "rm", victim), EXIT_INVALID_INPUT, "invalid_input")
    with open_store(database) as store:
        assert store.get_conversation(victim).id == victim
