"""``threadkeep config show|set|unset``: the settings in force and the settings file.

Settings come from (highest first) command-line flags (``--db``), ``THREADKEEP_*``
environment variables, ``threadkeep.toml`` in the data directory, and defaults (SPEC
S7.4). ``show`` prints each one with where it came from. ``set`` validates the value
through :class:`~threadkeep.settings.Settings` — the same checks as at start — and
writes the file atomically: a new file is written beside it and renamed over it, so a
crash leaves the old file or the new one, never half of one. The edit replaces the one
line that holds the setting, so comments and the other lines stay as they were.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr, ValidationError
from rich.text import Text

from threadkeep.cli._context import DbOption, cli_settings
from threadkeep.cli.output import (
    JsonOption,
    emit_json,
    errors_to_exit_codes,
    masked_url,
    new_table,
    note,
    say,
    show_table,
)
from threadkeep.errors import InvalidInput
from threadkeep.settings import SECRET_SETTINGS, SETTINGS_FILE, Settings, data_dir

__all__ = ["app", "setting_sources", "write_setting"]

app = typer.Typer(
    help="Show the settings in force; set them in threadkeep.toml.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

NameArgument = Annotated[
    str,
    typer.Argument(
        help="The setting's name, e.g. cleanup_inactive_days.", metavar="NAME", show_default=False
    ),
]


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


def _env_name(name: str) -> str:
    return f"THREADKEEP_{name.upper()}"


def _file_values(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"settings file {path} is not valid TOML: {error}") from None


def setting_sources(flags: dict[str, Any]) -> dict[str, str]:
    """Where each setting's value comes from, in the order Settings consults them."""
    environment = {key.upper() for key in os.environ}
    in_file = _file_values(settings_path())
    sources = {}
    for name in Settings.model_fields:
        if name in flags:
            sources[name] = "flag --db" if name == "database_url" else "flag"
        elif _env_name(name) in environment:
            sources[name] = f"env {_env_name(name)}"
        elif name in in_file:
            sources[name] = SETTINGS_FILE
        else:
            sources[name] = "default"
    return sources


def _shown(name: str, value: Any) -> Any:
    """A value as ``show`` prints it: the password in the database URL masked, in the
    form every command shows (``output.masked_url``)."""
    if isinstance(value, str) and name == "database_url":
        return masked_url(value)
    return value


def _text(value: Any) -> str:
    if value is None:
        return "off (unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@app.command()
def show(
    ctx: typer.Context,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Every setting with its value and where that value came from.

    Examples:

        threadkeep config show
        threadkeep config show --json | jq .settings.database_url
    """
    with errors_to_exit_codes():
        flag = db if db is not None else ctx.find_root().params.get("db")
        flags = {} if flag is None else {"database_url": flag}
        settings = cli_settings(ctx, db)
        sources = setting_sources(flags)
    values = {name: _shown(name, getattr(settings, name)) for name in Settings.model_fields}
    database = _shown("database_url", settings.resolved_database_url())
    if json_output:
        emit_json(
            {
                "settings": {
                    name: {"value": value, "source": sources[name], "env": _env_name(name)}
                    for name, value in values.items()
                },
                "database": database,
                "data_dir": str(data_dir()),
                "settings_file": str(settings_path()),
            }
        )
        return
    table = new_table("Setting", "Value", "Source")
    for name, value in values.items():
        shown = _text(value)
        if name == "database_url" and value is None:
            shown = f"{database} (default)"
        style = "dim" if sources[name] == "default" else ""
        table.add_row(name, Text(shown, style=style), Text(sources[name], style=style))
    show_table(table)
    note(f"settings file: {settings_path()}")


# A value may start with a dash (``-5``): it is the value, checked as any other, not an
# unknown option.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_command(
    name: NameArgument,
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help="The value, checked as at start (JSON for redact_patterns).",
            show_default=False,
        ),
    ],
) -> None:
    """Set a setting in threadkeep.toml in the data directory.

    The value is validated first; an unknown setting or a bad value exits 2 and names
    the setting. An environment variable of the same setting still wins over the file.

    Examples:

        threadkeep config set cleanup_inactive_days 180
        threadkeep config set sqlite_synchronous NORMAL
        threadkeep config set redact_patterns '{"ticket": "TKT-[0-9]{6}"}'
    """
    with errors_to_exit_codes():
        checked = _validated(name, value)
        path = write_setting(name, checked)
        # A secret goes into the file (mode 0600), never onto the terminal.
        shown = "**********" if name in SECRET_SETTINGS else _toml_value(checked)
        say(f"set {name} = {shown} in {path}")
        _warn_if_overridden(name)


@app.command()
def unset(name: NameArgument) -> None:
    """Remove a setting from threadkeep.toml, so its default applies again.

    Example:

        threadkeep config unset cleanup_inactive_days
    """
    with errors_to_exit_codes():
        _check_name(name)
        path = write_setting(name, None)
        say(f"unset {name} in {path}")
        _warn_if_overridden(name)


def _warn_if_overridden(name: str) -> None:
    if any(key.upper() == _env_name(name) for key in os.environ):
        note(f"note: {_env_name(name)} is set in the environment and wins over the file")


def _check_name(name: str) -> None:
    if name not in Settings.model_fields:
        raise InvalidInput(
            f"unknown setting {name!r:.60}; known: {', '.join(Settings.model_fields)}"
        )


def _validated(name: str, raw: str) -> Any:
    """``raw`` as the setting's type, through the model's own checks (env and file are
    not consulted: ``model_validate`` skips the settings sources)."""
    _check_name(name)
    candidate: Any = raw
    annotation = Settings.model_fields[name].annotation
    if typing.get_origin(annotation) is dict:
        try:
            candidate = json.loads(raw)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"setting {name!r}: {raw!r:.60} is not JSON ({error})") from None
    try:
        checked = Settings.model_validate({name: candidate})
    except ValidationError as error:
        problems = "; ".join(problem["msg"] for problem in error.errors())
        raise InvalidInput(f"setting {name!r}: {problems} (got {raw!r:.60})") from None
    return getattr(checked, name)


# ------------------------------------------------------------------ the TOML file


def _toml_string(text: str) -> str:
    # JSON string escapes are TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return _toml_string(value.get_secret_value())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dict):
        pairs = ", ".join(f"{_toml_string(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    raise InvalidInput(f"cannot write {value!r:.60} to {SETTINGS_FILE}")  # pragma: no cover


def _render(values: dict[str, Any]) -> str:
    lines = ["# threadkeep settings (see `threadkeep config show`)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _edited(text: str, name: str, line: str | None) -> str:
    """``text`` with the one line that sets ``name`` replaced by ``line`` (``None``:
    removed), or ``line`` appended when no line sets it."""
    key = re.escape(name)
    pattern = re.compile(rf"""^\s*(?:{key}|"{key}"|'{key}')\s*=""")
    lines = text.splitlines(keepends=True)
    matches = [index for index, current in enumerate(lines) if pattern.match(current)]
    if len(matches) == 1:
        lines[matches[0] : matches[0] + 1] = [] if line is None else [line + "\n"]
    elif line is not None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(line + "\n")
    return "".join(lines)


def write_setting(name: str, value: Any) -> Path:
    """Set ``name`` to ``value`` (``None``: remove it) in the settings file, atomically."""
    path = settings_path()
    values = _file_values(path)
    expected = {key: item for key, item in values.items() if key != name}
    if value is not None:
        expected[name] = value
    old_text = path.read_text(encoding="utf-8") if path.is_file() else ""
    line = None if value is None else f"{name} = {_toml_value(value)}"
    new_text = _edited(old_text, name, line)
    try:
        kept = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        kept = False
    if not kept:
        # A layout the one-line edit cannot handle (a value over several lines, a
        # table): write the values afresh rather than risk a wrong file.
        new_text = _render(expected)
    _replace_file(path, new_text)
    return path


def _replace_file(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
