"""Fixtures and helpers of the command-line tests.

Commands run in-process through Typer's ``CliRunner`` on ``threadkeep.cli.main.app``
(``cli``), and a few through the installed console script in a real subprocess
(``script``), as a shell script would call them. The documented exit codes are in
``threadkeep.cli.output``; these tests hold the commands to them.

Rich wraps and styles what it prints for a terminal; under the runner stdout is not a
terminal, so output is plain, and tables are printed one row per line. Prose is still
compared with whitespace collapsed (``prose``), and databases live under short paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from threadkeep import ConversationStore, MessageDraft, Settings, open_store
from threadkeep.cli.main import app

CONSOLE_SCRIPT = Path(sys.executable).with_name("threadkeep")

# Exit codes as documented in src/threadkeep/cli/output.py.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_TOO_LARGE = 5
EXIT_STORE_UNAVAILABLE = 6

UNKNOWN_ID = "01930000-0000-7000-8000-000000000000"


def prose(text: str) -> str:
    return " ".join(text.split())


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``threadkeep ARGS`` in-process."""
    return CliRunner().invoke(app, list(args), input=input)


def assert_error(result: Result, code: int, kind: str) -> str:
    """The command failed with ``code``: nothing on stdout, one ``error (kind)`` line on
    stderr (returned)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error ({kind}): "), lines[0]
    return lines[0]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temporary directory with a short path, so Rich has no reason to wrap it."""
    path = Path(tempfile.mkdtemp(prefix="tk")).resolve()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def db_file(short_dir: Path) -> Path:
    return short_dir / "t.db"


Cli = Callable[..., Result]


def create_database(url: str) -> None:
    """Make the database at ``url`` exist, empty: commands that only read refuse a
    SQLite file that does not."""
    open_store(url, settings=Settings.load()).close()


@pytest.fixture
def cli(db_url: str) -> Cli:
    """``threadkeep --db <fresh, empty database> ARGS``, on SQLite and on PostgreSQL."""
    create_database(db_url)

    def run(*args: str, input: str | None = None) -> Result:
        return invoke("--db", db_url, *args, input=input)

    return run


@pytest.fixture
def sqlite_cli(sqlite_url: str) -> Cli:
    """``threadkeep --db <fresh, empty SQLite file> ARGS``, for what does not depend on
    the engine."""
    create_database(sqlite_url)

    def run(*args: str, input: str | None = None) -> Result:
        return invoke("--db", sqlite_url, *args, input=input)

    return run


@pytest.fixture
def cli_store(db_url: str) -> Iterator[ConversationStore]:
    """The store behind ``cli``, to arrange data and check what commands did."""
    with open_store(db_url, settings=Settings.load()) as store:
        yield store


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[ConversationStore]:
    """The store behind ``sqlite_cli``."""
    with open_store(sqlite_url, settings=Settings.load()) as store:
        yield store


@dataclass(frozen=True)
class Seeded:
    """Ids of the conversations ``seed`` made, in creation order."""

    lisbon: str
    kyoto: str
    notes: str

    @property
    def all(self) -> Sequence[str]:
        return (self.lisbon, self.kyoto, self.notes)


def seed(store: ConversationStore) -> Seeded:
    """Three conversations: two titled trips with messages (one tagged) and an untitled
    one. The last made is the most recently updated."""
    lisbon = store.create_conversation(title="Trip to Lisbon", tags=["travel"])
    store.append_messages(
        lisbon.id,
        [
            MessageDraft(role="user", content="Three days in Lisbon: what should I see?"),
            MessageDraft(role="assistant", content="Alfama, Belém and a day in Sintra."),
        ],
    )
    kyoto = store.create_conversation(title="Kyoto in autumn", mode="batch")
    store.append_message(kyoto.id, "user", "When do the maples turn red in Kyoto?")
    notes = store.create_conversation()
    store.append_message(notes.id, "user", "remember the milk")
    return Seeded(lisbon=lisbon.id, kyoto=kyoto.id, notes=notes.id)


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``threadkeep`` console script, as a shell script would."""
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environment.update(env or {})
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,  # never the terminal pytest may have been started from
        timeout=120,
        check=False,
    )
