"""``threadkeep config show|set|unset`` (SPEC S7.4, S9).

The guarded failures: a source reported wrong (the env var wins over the file, the
--db flag over both); a bad value or unknown name written to the file (then every
later command fails at start); the file rewritten without its comments, non-atomically
or readable by others; a password printed from a database URL.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.cli.conftest import EXIT_INVALID_INPUT, assert_error, invoke
from threadkeep import Settings
from threadkeep.cli.output import masked_url


@pytest.fixture
def settings_file(_isolated_environment: Path) -> Path:
    """``threadkeep.toml`` in this test's data directory (THREADKEEP_HOME)."""
    return _isolated_environment / "threadkeep.toml"


def shown(*args: str) -> dict[str, Any]:
    result = invoke(*args, "config", "show", "--json")
    assert result.exit_code == 0, result.output
    settings: dict[str, Any] = json.loads(result.stdout)["settings"]
    return settings


def test_show_every_setting_with_its_source(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards `config show`: every setting is listed; the source is the flag, the env
    var, the file or the default, in that order of precedence."""
    settings_file.write_text("pool_size = 7\npreview_chars = 80\n", encoding="utf-8")
    monkeypatch.setenv("THREADKEEP_PREVIEW_CHARS", "60")
    settings = shown("--db", "x.db")
    assert set(settings) == set(Settings.model_fields)
    assert settings["database_url"] == {
        "value": "x.db",
        "source": "flag --db",
        "env": "THREADKEEP_DATABASE_URL",
    }
    assert settings["pool_size"]["value"] == 7
    assert settings["pool_size"]["source"] == "threadkeep.toml"
    assert settings["preview_chars"]["value"] == 60
    assert settings["preview_chars"]["source"] == "env THREADKEEP_PREVIEW_CHARS"
    assert settings["sqlite_synchronous"] == {
        "value": "FULL",
        "source": "default",
        "env": "THREADKEEP_SQLITE_SYNCHRONOUS",
    }

    table = invoke("config", "show")
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith("pool_size"))
    assert row.split() == ["pool_size", "7", "threadkeep.toml"]
    assert str(settings_file) in table.stderr


def test_show_masks_a_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards against printing secrets: the password in a database URL is masked — as
    `***`, the form stats, doctor and db current print (QA: config show alone said
    [REDACTED:url_password]), in the table and in the JSON."""
    url = "postgresql+psycopg://me:hunter2@db/x"
    monkeypatch.setenv("THREADKEEP_DATABASE_URL", url)
    result = invoke("config", "show")
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.stdout
    assert "postgresql+psycopg://me:***@db/x" in result.stdout
    assert "REDACTED" not in result.stdout
    settings = shown()
    assert settings["database_url"]["value"] == "postgresql+psycopg://me:***@db/x"
    assert "hunter2" not in json.dumps(settings)
    # The one form: what the store's own description of a database gives.
    assert masked_url(url) == make_url(url).render_as_string(hide_password=True)


def test_masked_url_forms() -> None:
    """Guards the helper on what is not a clean URL: a path is left alone, a URL
    SQLAlchemy cannot parse still has its password masked."""
    assert masked_url("/home/me/chats.db") == "/home/me/chats.db"
    assert masked_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert masked_url("postgresql://me:pw@db:notaport/x") == "postgresql://me:***@db:notaport/x"


def test_show_with_a_bad_setting_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards validation at start: a bad env value exits 2 naming the setting."""
    monkeypatch.setenv("THREADKEEP_POOL_SIZE", "lots")
    line = assert_error(invoke("config", "show"), EXIT_INVALID_INPUT, "invalid_input")
    assert "pool_size" in line


def test_set_writes_the_file(settings_file: Path) -> None:
    """Guards `config set`: the value is written typed (an int, a bool, a normalised
    string, a table), the file is private (0600), and the next command sees it."""
    for name, value in [
        ("cleanup_inactive_days", "180"),
        ("redact_on_write", "true"),
        ("sqlite_synchronous", "normal"),
        ("redact_patterns", '{"ticket": "TKT-[0-9]{6}"}'),
        ("database_url", 'C:\\odd "path".db'),
    ]:
        result = invoke("config", "set", name, value)
        assert result.exit_code == 0, result.output
        assert str(settings_file) in " ".join(result.stdout.split())
    written = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert written == {
        "cleanup_inactive_days": 180,
        "redact_on_write": True,
        "sqlite_synchronous": "NORMAL",
        "redact_patterns": {"ticket": "TKT-[0-9]{6}"},
        "database_url": 'C:\\odd "path".db',
    }
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert shown()["cleanup_inactive_days"] == {
        "value": 180,
        "source": "threadkeep.toml",
        "env": "THREADKEEP_CLEANUP_INACTIVE_DAYS",
    }


def test_a_secret_is_written_to_the_file_but_never_shown(settings_file: Path) -> None:
    """Guards the API key: `config set` stores it (0600) for the next command, and no
    output — the confirmation, `config show` — prints it."""
    key = "sk-test-not-a-real-key-0123456789"
    result = invoke("config", "set", "openai_api_key", key)
    assert result.exit_code == 0, result.output
    assert key not in result.output and "**********" in result.stdout
    assert tomllib.loads(settings_file.read_text(encoding="utf-8")) == {"openai_api_key": key}
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert key not in invoke("config", "show").output
    assert shown()["openai_api_key"]["source"] == "threadkeep.toml"
    loaded = Settings.load().openai_api_key
    assert loaded is not None and loaded.get_secret_value() == key


def test_set_keeps_comments_and_other_lines(settings_file: Path) -> None:
    """Guards the one-line edit: comments and other settings survive; the setting's own
    line is replaced in place, not duplicated."""
    settings_file.write_text(
        "# my settings\npool_size = 3  # small machine\n\n# audit\naudit_log = false\n",
        encoding="utf-8",
    )
    assert invoke("config", "set", "audit_log", "yes").exit_code == 0
    assert settings_file.read_text(encoding="utf-8") == (
        "# my settings\npool_size = 3  # small machine\n\n# audit\naudit_log = true\n"
    )
    assert invoke("config", "unset", "pool_size").exit_code == 0
    assert (
        settings_file.read_text(encoding="utf-8") == "# my settings\n\n# audit\naudit_log = true\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("no_such_setting", "1", "unknown setting 'no_such_setting'"),
        ("pool_size", "0", "setting 'pool_size'"),
        ("pool_size", "many", "setting 'pool_size'"),
        ("sqlite_synchronous", "sometimes", "setting 'sqlite_synchronous'"),
        ("redact_patterns", "not json", "setting 'redact_patterns'"),
        ("redact_patterns", '{"x": "("}', "setting 'redact_patterns'"),
    ],
)
def test_set_rejects_bad_names_and_values(
    settings_file: Path, name: str, value: str, expected: str
) -> None:
    """Guards the file against values that would break every later start: exit 2, one
    line naming the setting, and the file untouched."""
    settings_file.write_text("pool_size = 3\n", encoding="utf-8")
    line = assert_error(invoke("config", "set", name, value), EXIT_INVALID_INPUT, "invalid_input")
    assert expected in line
    assert settings_file.read_text(encoding="utf-8") == "pool_size = 3\n"


def test_set_says_when_the_environment_wins(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards a silent surprise: setting what an env var overrides says so."""
    monkeypatch.setenv("THREADKEEP_POOL_SIZE", "9")
    result = invoke("config", "set", "pool_size", "4")
    assert result.exit_code == 0, result.output
    assert "THREADKEEP_POOL_SIZE" in result.stderr
    assert tomllib.loads(settings_file.read_text(encoding="utf-8")) == {"pool_size": 4}


def test_set_rewrites_a_layout_it_cannot_edit(settings_file: Path) -> None:
    """Guards the fallback: a value spread over several lines cannot be replaced line by
    line, so the file is written afresh with the same values plus the new one."""
    settings_file.write_text(
        'redact_patterns = { a = "x" }\ndatabase_url = """\nmulti"""\n', encoding="utf-8"
    )
    assert invoke("config", "set", "database_url", "y.db").exit_code == 0
    assert tomllib.loads(settings_file.read_text(encoding="utf-8")) == {
        "redact_patterns": {"a": "x"},
        "database_url": "y.db",
    }


def test_set_refuses_an_unreadable_file(settings_file: Path) -> None:
    """Guards against clobbering a file threadkeep cannot read: exit 2 naming it."""
    settings_file.write_text("this is = = not toml\n", encoding="utf-8")
    line = assert_error(
        invoke("config", "set", "pool_size", "4"), EXIT_INVALID_INPUT, "invalid_input"
    )
    assert str(settings_file) in line
    assert settings_file.read_text(encoding="utf-8") == "this is = = not toml\n"
