"""The SQLite file itself: where it lands, its permissions, its pragmas, bad files (S2).

Conversations are private: a new database file is 0600 in a 0700 directory whatever the
umask (these tests set the umask to 0, so only explicit modes can pass), and SQLite's
``-wal``/``-shm`` files inherit the file's mode. The pragmas that make appends durable
and concurrent writers safe are checked on a connection from the store's own engine.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadkeep import ConversationStore, Settings, StoreUnavailable, open_store


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0 for the test: files get exactly the mode threadkeep asks for, no less."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pragma(store: ConversationStore, name: str) -> object:
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def _write_something(store: ConversationStore) -> None:
    conversation = store.create_conversation(title="private")
    store.append_message(conversation.id, "user", "a secret")


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("form", ["path", "sqlite-url"])
def test_new_database_file_and_directory_are_private(tmp_path: Path, form: str) -> None:
    """Guards against other local users reading conversations from a new database.

    ``open_store`` on a file in a directory that does not exist yet, given as a plain
    path and as a ``sqlite:///`` URL, creates the directory 0700 and the file 0600; after
    a write the ``-wal`` and ``-shm`` files SQLite creates are 0600 too.
    """
    directory = tmp_path / "fresh"
    path = directory / "chats.db"
    target = str(path) if form == "path" else f"sqlite:///{path}"
    with open_store(target, settings=Settings.load()) as store:
        _write_something(store)
        assert store.database.sqlite_path == path.resolve()
        assert _mode(directory) == 0o700
        assert _mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists(), f"{side.name} missing: not in WAL mode?"
            assert _mode(side) == 0o600, f"{side.name} is {oct(_mode(side))}"


@pytest.mark.usefixtures("open_umask")
def test_embedded_default_lands_in_threadkeep_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against the default database landing outside the data directory.

    With no URL, ``open_store()`` uses ``$THREADKEEP_HOME/threadkeep.db``, creating the
    data directory (0700) and the file (0600) on first use.
    """
    home = tmp_path / "data-home"
    monkeypatch.setenv("THREADKEEP_HOME", str(home))
    with open_store() as store:
        _write_something(store)
        assert store.database.sqlite_path == (home / "threadkeep.db").resolve()
    assert (home / "threadkeep.db").is_file()
    assert _mode(home) == 0o700
    assert _mode(home / "threadkeep.db") == 0o600


def test_embedded_default_in_existing_home() -> None:
    """Guards against ignoring ``THREADKEEP_HOME`` when the directory already exists.

    (tests/conftest.py points ``THREADKEEP_HOME`` at a fresh directory for every test.)
    """
    home = Path(os.environ["THREADKEEP_HOME"])
    with open_store() as store:
        _write_something(store)
    assert (home / "threadkeep.db").is_file()
    assert _mode(home / "threadkeep.db") == 0o600


def test_database_url_environment_variable_overrides_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against ``THREADKEEP_DATABASE_URL`` being ignored (data in the wrong file)."""
    home = Path(os.environ["THREADKEEP_HOME"])
    elsewhere = tmp_path / "elsewhere" / "other.db"
    monkeypatch.setenv("THREADKEEP_DATABASE_URL", f"sqlite:///{elsewhere}")
    with open_store() as store:
        _write_something(store)
        assert store.database.sqlite_path == elsewhere.resolve()
    assert elsewhere.is_file()
    assert not (home / "threadkeep.db").exists()


def test_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    """Guards against a garbage file giving a raw driver error, or being overwritten.

    Opening a file that is not a SQLite database raises ``StoreUnavailable`` naming the
    file, and leaves its bytes as they were.
    """
    path = tmp_path / "not-a-db.db"
    garbage = bytes(range(256)) * 32
    path.write_bytes(garbage)
    with pytest.raises(StoreUnavailable) as raised:
        open_store(path, settings=Settings.load())
    assert str(path) in str(raised.value)
    assert "not a database" in str(raised.value) or "corrupt" in str(raised.value)
    assert path.read_bytes() == garbage


def test_durability_pragmas_by_default(sqlite_url: str) -> None:
    """Guards against losing acknowledged appends on power loss, or unchecked references.

    By default: ``synchronous=FULL`` (2), WAL, ``foreign_keys`` on, and a busy timeout,
    on a connection from the store's own engine.
    """
    with open_store(sqlite_url, settings=Settings.load()) as store:
        assert _pragma(store, "synchronous") == 2
        assert _pragma(store, "journal_mode") == "wal"
        assert _pragma(store, "foreign_keys") == 1
        assert _pragma(store, "busy_timeout") == 30_000


def test_synchronous_normal_when_asked(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards against the ``sqlite_synchronous`` setting being ignored (either way).

    ``NORMAL`` (1) from the settings object and from ``THREADKEEP_SQLITE_SYNCHRONOUS``;
    WAL and foreign keys stay on.
    """
    with open_store(sqlite_url, settings=Settings.load(sqlite_synchronous="NORMAL")) as store:
        assert _pragma(store, "synchronous") == 1
        assert _pragma(store, "journal_mode") == "wal"
        assert _pragma(store, "foreign_keys") == 1
    monkeypatch.setenv("THREADKEEP_SQLITE_SYNCHRONOUS", "normal")
    with open_store(sqlite_url) as store:
        assert _pragma(store, "synchronous") == 1
