"""Settings (SPEC S7.4): one validated model, from keyword arguments (command-line flags)
> ``THREADKEEP_*`` environment variables > ``threadkeep.toml`` in the data directory >
defaults, checked at start with errors that name the setting.

The autouse ``_isolated_environment`` fixture points ``THREADKEEP_HOME`` at a fresh
directory and clears every other ``THREADKEEP_*`` variable, so these tests see only what
they set.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from threadkeep import InvalidInput, Settings, open_store
from threadkeep.settings import data_dir


def _write_toml(home: Path, text: str) -> Path:
    path = home / "threadkeep.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(_isolated_environment: Path) -> Path:
    return _isolated_environment


def test_defaults(home: Path) -> None:
    """Guards the documented defaults (durable SQLite, 1 MiB messages, migrate and back
    up on open) and the default database: ``threadkeep.db`` in the data directory."""
    settings = Settings.load()
    assert settings.database_url is None
    assert settings.sqlite_synchronous == "FULL"
    assert settings.sqlite_busy_timeout_ms == 30_000
    assert settings.sqlite_driver == "auto"
    assert settings.max_message_bytes == 1_048_576
    assert settings.migrate_on_open is True
    assert settings.backup_before_migrate is True
    assert settings.pool_size == 5
    assert settings.preview_chars == 120
    assert data_dir() == home
    assert settings.resolved_database_url() == str(home / "threadkeep.db")


def test_precedence_keyword_over_env_over_toml_over_default(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the order of sources: each setting comes from the strongest source that
    sets it — a flag over the environment over the settings file over the default."""
    _write_toml(
        home,
        'max_message_bytes = 100\npreview_chars = 10\nsqlite_synchronous = "NORMAL"\n'
        "pool_size = 2\n",
    )
    monkeypatch.setenv("THREADKEEP_MAX_MESSAGE_BYTES", "200")
    monkeypatch.setenv("THREADKEEP_PREVIEW_CHARS", "20")
    monkeypatch.setenv("THREADKEEP_SQLITE_BUSY_TIMEOUT_MS", "1234")

    settings = Settings.load(preview_chars=30)

    assert settings.preview_chars == 30  # keyword > env > toml
    assert settings.max_message_bytes == 200  # env > toml
    assert settings.sqlite_busy_timeout_ms == 1234  # env > default
    assert settings.sqlite_synchronous == "NORMAL"  # toml > default
    assert settings.pool_size == 2  # toml > default
    assert settings.migrate_on_open is True  # default


def test_values_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the forgiving spellings a person types: lowercase synchronous modes and
    the usual words for booleans."""
    monkeypatch.setenv("THREADKEEP_SQLITE_SYNCHRONOUS", "normal")
    monkeypatch.setenv("THREADKEEP_MIGRATE_ON_OPEN", "false")
    settings = Settings.load()
    assert settings.sqlite_synchronous == "NORMAL"
    assert settings.migrate_on_open is False


def test_threadkeep_home_moves_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards THREADKEEP_HOME: the default database and the settings file follow it, and
    the first open creates the directory 0700 and the file 0600 there."""
    elsewhere = tmp_path / "elsewhere" / "data"
    monkeypatch.setenv("THREADKEEP_HOME", str(elsewhere))
    settings = Settings.load()
    assert settings.resolved_database_url() == str(elsewhere / "threadkeep.db")

    with open_store() as store:
        assert store.database.sqlite_path == (elsewhere / "threadkeep.db").resolve()
        store.create_conversation(title="lives in the new home")
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    assert stat.S_IMODE((elsewhere / "threadkeep.db").stat().st_mode) == 0o600

    elsewhere.joinpath("threadkeep.toml").write_text("preview_chars = 7\n", encoding="utf-8")
    assert Settings.load().preview_chars == 7


def test_database_url_from_env_wins_over_the_home_default(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards THREADKEEP_DATABASE_URL: it replaces the default file in the data dir."""
    target = tmp_path / "chosen.db"
    monkeypatch.setenv("THREADKEEP_DATABASE_URL", str(target))
    assert Settings.load().resolved_database_url() == str(target)
    with open_store() as store:
        assert store.database.sqlite_path == target.resolve()
    assert not (home / "threadkeep.db").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sqlite_synchronous", "sometimes"),
        ("max_message_bytes", "-1"),
        ("max_message_bytes", "lots"),
        ("pool_size", "0"),
        ("sqlite_busy_timeout_ms", "-5"),
        ("sqlite_driver", "mysql"),
        ("migrate_on_open", "maybe"),
        ("preview_chars", "100000"),
    ],
)
def test_invalid_env_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Guards against a bad environment variable failing late or vaguely: it is
    InvalidInput at load, naming the setting and its variable."""
    monkeypatch.setenv(f"THREADKEEP_{name.upper()}", value)
    with pytest.raises(InvalidInput) as caught:
        Settings.load()
    assert name in caught.value.message
    assert f"THREADKEEP_{name.upper()}" in caught.value.message


def test_invalid_keyword_value_names_the_setting() -> None:
    """Guards flags passed as keyword arguments: validated like every other source."""
    with pytest.raises(InvalidInput, match="pool_size"):
        Settings.load(pool_size=0)
    with pytest.raises(InvalidInput, match="no_such_setting"):
        Settings.load(no_such_setting=1)


def test_invalid_toml_value_names_the_setting_and_the_file(home: Path) -> None:
    """Guards against an error that sends a person to the wrong place: a bad value from
    threadkeep.toml must be reported as coming from that file (the module docstring:
    "naming the setting, the source it came from (environment variable or TOML
    key)"), not as if an environment variable had been set."""
    path = _write_toml(home, "max_message_bytes = -1\n")
    with pytest.raises(InvalidInput) as caught:
        Settings.load()
    message = caught.value.message
    assert "max_message_bytes" in message
    assert str(path) in message or "threadkeep.toml" in message, message
    assert "THREADKEEP_MAX_MESSAGE_BYTES" not in message, message


def test_malformed_toml_file_names_the_file(home: Path) -> None:
    """Guards against a settings file that is not TOML being ignored or crashing with
    a parser traceback: InvalidInput naming the file."""
    path = _write_toml(home, 'sqlite_synchronous = "FULL\n')
    with pytest.raises(InvalidInput) as caught:
        Settings.load()
    assert str(path) in caught.value.message
    assert "TOML" in caught.value.message


def test_unknown_toml_key_names_the_key(home: Path) -> None:
    """Guards against a typo in the settings file being silently ignored (the setting
    the person meant would keep its default): InvalidInput naming the unknown key."""
    _write_toml(home, "max_mesage_bytes = 10\n")
    with pytest.raises(InvalidInput) as caught:
        Settings.load()
    assert "max_mesage_bytes" in caught.value.message
    assert "max_message_bytes" in caught.value.message  # the known ones are listed


def test_open_store_with_bad_env_fails_at_start(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards S7.4's "validated at start": open_store() with a bad setting raises
    InvalidInput naming it before anything is created on disk."""
    monkeypatch.setenv("THREADKEEP_SQLITE_SYNCHRONOUS", "sometimes")
    with pytest.raises(InvalidInput, match="sqlite_synchronous"):
        open_store()
    assert not (home / "threadkeep.db").exists()
    assert os.listdir(home) == []
