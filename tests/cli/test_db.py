"""``threadkeep --version`` and ``threadkeep db current|upgrade|backup|restore`` (SPEC S9).

Commands run in-process through Typer's ``CliRunner`` on ``threadkeep.cli.main.app``,
and a few through the installed console script in a real subprocess, as a script would
call it. Errors must give the exit code documented in ``cli/output.py`` and a single
line on stderr naming the problem.

Fixtures and helpers (``short_dir``, ``db_file``, ``script``, ``prose``) are in
``tests/cli/conftest.py``.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner, Result

from tests.cli.conftest import (
    EXIT_INVALID_INPUT,
    EXIT_STORE_UNAVAILABLE,
    assert_error,
    prose,
    script,
)
from threadkeep import open_store
from threadkeep.cli.main import app
from threadkeep.db import migrate
from threadkeep.db.engine import open_database
from threadkeep.db.sqlite_driver import sqlite_module
from threadkeep.settings import Settings

HEAD = migrate.head_revision()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _one_conversation(path: Path) -> str:
    with open_store(path) as store:
        conversation = store.create_conversation(title="to keep")
        store.append_message(conversation.id, "user", "hello")
        return conversation.id


# ------------------------------------------------------------------ success paths


def test_version_shows_the_sqlite_library() -> None:
    """Guards `--version`: it names threadkeep's version and the SQLite in use (whether
    it has the WAL-reset fix is what an operator needs to know)."""
    result = run("--version")
    assert result.exit_code == 0, result.output
    library = sqlite_module()
    assert prose(result.stdout).startswith("threadkeep ")
    assert f"SQLite {library.version} via {library.name}" in prose(result.stdout)


def test_db_current_reports_the_revision(db_file: Path) -> None:
    """Guards `db current`: it does not migrate, and says whether an upgrade is due (an
    empty file: revision None). It only reads, so a missing file is exit 6, not made."""
    result = run("db", "current", "--db", str(db_file))
    assert result.exit_code == EXIT_STORE_UNAVAILABLE, result.output
    assert not db_file.exists()
    db_file.touch()
    result = run("db", "current", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert f"revision None (latest {HEAD}, needs `threadkeep db upgrade`)" in prose(result.stdout)
    with open_store(db_file):
        pass
    result = run("db", "current", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert f"{db_file}: revision {HEAD} (latest {HEAD}, up to date)" in prose(result.stdout)


def test_db_current_json(db_file: Path) -> None:
    """Guards `db current --json`: machine-readable, with the database, its revision and
    the head; the database is not migrated by asking."""
    db_file.touch()
    result = run("db", "current", "--json", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"database": str(db_file), "revision": None, "head": HEAD}
    with open_store(db_file):
        pass
    result = run("db", "current", "--json", "--db", str(db_file))
    assert json.loads(result.stdout) == {"database": str(db_file), "revision": HEAD, "head": HEAD}


def test_db_current_uses_the_database_url_setting(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the --db default: without the flag, THREADKEEP_DATABASE_URL is used."""
    db_file.touch()
    monkeypatch.setenv("THREADKEEP_DATABASE_URL", str(db_file))
    result = run("db", "current", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["database"] == str(db_file)


def test_db_upgrade_migrates_once(short_dir: Path) -> None:
    """Guards `db upgrade`: a new file (in a new directory) is created at the head and
    says so — not "upgraded from None" — with no backup of an empty file; a second run
    says there is nothing to do."""
    db_file = short_dir / "new" / "t.db"
    result = run("db", "upgrade", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert prose(result.stdout) == f"created the schema at revision {HEAD}"
    assert "backup" not in result.stdout
    assert list(db_file.parent.glob("*.bak")) == []

    result = run("db", "upgrade", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert f"already at revision {HEAD}" in prose(result.stdout)


def _previous_revision() -> str:
    """The revision before the head (what an upgrade comes "from")."""
    assert HEAD is not None
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(HEAD)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


PREVIOUS = _previous_revision()


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("base", f"created the schema at revision {HEAD}"),
        (PREVIOUS, f"upgraded from {PREVIOUS} to {HEAD}"),
    ],
)
def test_db_upgrade_reports_the_backup_it_made(db_file: Path, target: str, said: str) -> None:
    """Guards `db upgrade` on a file that holds tables: what it did (from no schema:
    created it; from an older revision: upgraded from it) and the backup taken first,
    which exists."""
    with open_store(db_file):
        pass
    db = open_database(str(db_file), Settings.load())
    try:
        migrate.downgrade(db, target)  # "base" leaves alembic_version: a file with tables
    finally:
        db.dispose()
    result = run("db", "upgrade", "--db", str(db_file))
    assert result.exit_code == 0, result.output
    [backup] = db_file.parent.glob(f"{db_file.name}.pre-*.bak")
    assert prose(result.stdout) == f"{said} backup of the previous state: {backup}"


def test_db_backup_then_restore(db_file: Path, short_dir: Path) -> None:
    """Guards the operator's round trip: `db backup PATH` writes a 0600 copy; after the
    data is deleted, `db restore PATH` brings it back."""
    conversation_id = _one_conversation(db_file)
    copy = short_dir / "c.db"

    result = run("db", "backup", str(copy), "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert f"backed up to {copy}" in prose(result.stdout)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    with open_store(db_file) as store:
        store.delete_conversation(conversation_id)

    result = run("db", "restore", str(copy), "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert f"restored {db_file} from {copy}" in prose(result.stdout)
    with open_store(db_file) as store:
        assert [m.content for m in store.get_messages(conversation_id)] == ["hello"]


# ------------------------------------------------------------------ errors


def test_missing_backup_is_invalid_input(db_file: Path, short_dir: Path) -> None:
    """Guards the exit code of a bad argument: restoring from a missing file exits 2
    with an `error (invalid_input)` line naming the file, and nothing on stdout."""
    _one_conversation(db_file)
    missing = short_dir / "m.db"
    result = run("db", "restore", str(missing), "--db", str(db_file))
    assert result.exit_code == EXIT_INVALID_INPUT
    assert result.stdout == ""
    assert prose(result.stderr).startswith("error (invalid_input): ")
    assert str(missing) in prose(result.stderr)


def test_unusable_database_is_store_unavailable(short_dir: Path) -> None:
    """Guards the exit code of a database that cannot be used: a file that is not a
    database exits 6 with an `error (store_unavailable)` line naming it."""
    junk = short_dir / "j.db"
    junk.write_bytes(b"not a database at all\n" * 100)
    result = run("db", "current", "--db", str(junk))
    assert result.exit_code == EXIT_STORE_UNAVAILABLE
    assert prose(result.stderr).startswith("error (store_unavailable): ")
    assert str(junk) in prose(result.stderr)


@pytest.mark.parametrize(
    "case", ["bad_setting", "in_memory_url", "backup_onto_itself", "missing_argument"]
)
def test_invalid_input_exits_2(db_file: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Guards exit code 2 for everything that is the caller's mistake: a bad setting,
    an unsupported URL, a backup onto the database itself, a usage error."""
    if case == "bad_setting":
        monkeypatch.setenv("THREADKEEP_SQLITE_SYNCHRONOUS", "sometimes")
        result = run("db", "current", "--db", str(db_file))
    elif case == "in_memory_url":
        result = run("db", "current", "--db", "sqlite://")
    elif case == "backup_onto_itself":
        _one_conversation(db_file)
        result = run("db", "backup", str(db_file), "--db", str(db_file))
    else:
        result = run("db", "backup")
    assert_error(result, EXIT_INVALID_INPUT, "invalid_input")


@pytest.mark.postgres
def test_backup_of_postgres_points_to_pg_dump(postgres_url: str, short_dir: Path) -> None:
    """Guards `db backup` on PostgreSQL: InvalidInput (exit 2) naming pg_dump."""
    result = run("db", "backup", str(short_dir / "pg.db"), "--db", postgres_url)
    assert result.exit_code == EXIT_INVALID_INPUT
    assert "pg_dump" in prose(result.stderr)


@pytest.mark.parametrize("odd", ["[old]", "x[/]y"], ids=["style_like", "closing_tag"])
def test_paths_with_brackets_are_printed_verbatim(db_file: Path, short_dir: Path, odd: str) -> None:
    """Guards against Rich reading file names as markup: a directory called `[old]`
    vanished from the error (which then named a different file), and `[/]` crashed the
    command with a MarkupError traceback (exit 1 instead of 2). Messages must print
    user-supplied text literally."""
    _one_conversation(db_file)
    missing = short_dir / odd / "m.db"
    result = run("db", "restore", str(missing), "--db", str(db_file))
    assert result.exit_code == EXIT_INVALID_INPUT, result.output
    assert str(missing) in prose(result.stderr)

    target = short_dir / odd / "c.db"
    result = run("db", "backup", str(target), "--db", str(db_file))
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert f"backed up to {target}" in prose(result.stdout)


# ------------------------------------------------------------------ the console script


def test_console_script_version() -> None:
    """Guards the installed entry point: `threadkeep --version` runs as a program and
    names the SQLite version."""
    done = script("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("threadkeep ")
    assert f"SQLite {sqlite_module().version}" in done.stdout


def test_console_script_error_is_one_line(tmp_path: Path) -> None:
    """Guards what scripts parse: an error is exactly one line on stderr (not wrapped
    at the 80 columns Rich assumes without a terminal) with the documented exit code."""
    db = tmp_path / "threadkeep.db"
    missing = tmp_path / "no-such-backup-file-with-a-fairly-long-name.db"
    done = script("db", "restore", str(missing), "--db", str(db))
    assert done.returncode == EXIT_INVALID_INPUT
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error (invalid_input): ")
    assert str(missing) in lines[0]


def test_global_db_option_before_the_command(tmp_path: Path) -> None:
    """``threadkeep --db PATH db current`` uses PATH; a command's own --db wins over it."""
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    open_store(first).close()
    open_store(second).close()
    runner = CliRunner()
    result = runner.invoke(app, ["--db", str(first), "db", "current", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["database"] == str(first)
    result = runner.invoke(
        app, ["--db", str(first), "db", "current", "--json", "--db", str(second)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["database"] == str(second)
