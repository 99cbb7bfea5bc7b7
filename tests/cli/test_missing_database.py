"""A command that only reads never creates a database (QA: ``threadkeep --db
/nonexistent/x.db ls`` exited 0 and left a new empty database, and its directories,
behind — a mistyped path answered "no conversations" as if all were well).

Reading commands refuse a SQLite file that does not exist: exit 6, one line naming the
path and how to create a database, and nothing on disk. Writing commands still create
one, the default in the data directory included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import (
    EXIT_NOT_FOUND,
    EXIT_STORE_UNAVAILABLE,
    UNKNOWN_ID,
    assert_error,
    invoke,
    script,
)

READING_COMMANDS = [
    ["ls"],
    ["ls", "--json"],
    ["show", UNKNOWN_ID],
    ["search", "lisbon"],
    ["stats"],
    ["stats", UNKNOWN_ID],
    ["export"],
    ["export", "--id", UNKNOWN_ID],
    ["doctor"],
    ["cleanup", "--dry-run"],
    ["db", "current"],
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_reading_a_mistyped_path_creates_nothing(short_dir: Path, command: list[str]) -> None:
    """Guards the QA finding: `--db` naming a file in a directory that does not exist
    is exit 6 with one line naming the path and `db upgrade`; neither the file nor
    its directories appear, and stdout is empty (a `--json` reader gets no document)."""
    missing = short_dir / "nonexistent" / "x.db"
    line = assert_error(
        invoke("--db", str(missing), *command), EXIT_STORE_UNAVAILABLE, "store_unavailable"
    )
    assert f"no database at {missing}" in line
    assert f"threadkeep --db {missing} db upgrade" in line
    assert list(short_dir.iterdir()) == []


def test_reading_a_missing_file_in_an_existing_directory(short_dir: Path) -> None:
    """Guards the same for a file next to others: the directory exists, the file is
    not made, and a `db backup` of it makes no copy either."""
    missing = short_dir / "typo.db"
    copy = short_dir / "copy.db"
    for command in (["ls"], ["db", "backup", str(copy)]):
        assert_error(
            invoke("--db", str(missing), *command), EXIT_STORE_UNAVAILABLE, "store_unavailable"
        )
    assert list(short_dir.iterdir()) == []


def test_the_default_database_before_anything_was_stored(
    _isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards a brand-new user's `threadkeep ls` (no --db, nothing stored yet): one line
    saying there is no database yet and what creates it, exit 6, and the data
    directory is not created behind their back."""
    home = _isolated_environment / "fresh"
    monkeypatch.setenv("THREADKEEP_HOME", str(home))
    line = assert_error(invoke("ls"), EXIT_STORE_UNAVAILABLE, "store_unavailable")
    assert f"no database yet at {home / 'threadkeep.db'}" in line
    assert "threadkeep import FILE" in line and "threadkeep db upgrade" in line
    assert not home.exists()


def test_writing_commands_still_create_the_default_database(
    _isolated_environment: Path, monkeypatch: pytest.MonkeyPatch, short_dir: Path
) -> None:
    """Guards the other half: a command that writes creates the default database (and
    its directory) as before — `import` on a fresh machine just works, and so does a
    `rename` that then finds no such conversation; after that, `ls` reads it."""
    home = _isolated_environment / "fresh"
    monkeypatch.setenv("THREADKEEP_HOME", str(home))
    assert_error(invoke("rename", UNKNOWN_ID, "x"), EXIT_NOT_FOUND, "not_found")
    assert (home / "threadkeep.db").is_file()

    chat = short_dir / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "hello"}]), encoding="utf-8")
    assert invoke("import", str(chat)).exit_code == 0
    listing = invoke("ls", "--json")
    assert listing.exit_code == 0, listing.output
    assert len(json.loads(listing.stdout)["items"]) == 1


def test_console_script_refuses_a_mistyped_path(tmp_path: Path) -> None:
    """Guards the finding as reported, in a real process: exit 6, one line on stderr,
    nothing on stdout, nothing created."""
    missing = tmp_path / "nonexistent" / "x.db"
    done = script("--db", str(missing), "ls")
    assert done.returncode == EXIT_STORE_UNAVAILABLE, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error (store_unavailable): no database at {missing}")
    assert not missing.parent.exists()
