"""Reading foreign JSON safely: typed field checks that name the place, and times.

Every foreign-format parser reads data it does not control. These helpers turn a wrong
shape into an ``InvalidInput`` whose message names where it is (``file[3].mapping``,
``file:12``), so a person can find it; nothing here returns a half-guessed value.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from threadkeep.errors import InvalidInput
from threadkeep.transfer.limits import (
    DEFAULT_LIMITS,
    ImportLimits,
    iter_lines,
    load_json,
    open_input,
    read_input,
)

__all__ = [
    "decode_arguments",
    "expect_object",
    "is_model_name",
    "iso_time",
    "json_line",
    "load_jsonl",
    "or_empty",
    "read_json_file",
    "type_name",
    "unix_time",
]

T = TypeVar("T")

# The longest model name the store takes (its model column's length).
MODEL_NAME_LENGTH = 200


def type_name(value: Any) -> str:
    """How a JSON value's type reads in an error message."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def is_model_name(value: Any) -> TypeGuard[str]:
    """Whether a source's model field can be a conversation's ``model``: a string of 1
    to ``MODEL_NAME_LENGTH`` characters (a longer one stays only where the format keeps
    the source's fields)."""
    return isinstance(value, str) and 0 < len(value) <= MODEL_NAME_LENGTH


def or_empty(value: Any) -> Any:
    """``None`` (a missing part) as an empty object; anything else as it is, to check."""
    return {} if value is None else value


def expect_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: expected an object, got {type_name(value)}")
    return value


def unix_time(value: Any, where: str) -> dt.datetime | None:
    """Unix seconds (or ms/µs/ns, told apart by magnitude) to an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: expected a Unix time or null, got {type_name(value)}")
    seconds = float(value)
    # 1e11 seconds is the year 5138: anything larger is a finer unit.
    while abs(seconds) >= 1e11:
        seconds /= 1000
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInput(f"{where}: {value!r} is not a valid time") from exc


def iso_time(value: Any, where: str) -> dt.datetime | None:
    """An ISO 8601 timestamp (a bare time is taken as UTC) to an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: 'timestamp' must be an ISO 8601 string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{where}: 'timestamp' {value!r} is not ISO 8601") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def read_json_file(path: Path, limits: ImportLimits = DEFAULT_LIMITS) -> Any:
    """A JSON file within the limits, decoded (errors name the file)."""
    return load_json(read_input(path, limits), path.name, limits)


def decode_arguments(raw: Any) -> Any:
    """A tool call's arguments, decoded when they are a JSON string (as most APIs send)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def json_line(line: str, where: str, limits: ImportLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """One JSONL line, which must hold a JSON object."""
    record = load_json(line, where, limits)
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def load_jsonl(
    path: Path, parse_lines: Callable[..., Iterator[T]], limits: ImportLimits = DEFAULT_LIMITS
) -> Iterator[T]:
    """Run ``parse_lines`` over one ``.jsonl`` file, or every one under a directory tree.

    Lines are read with a bounded ``readline`` (``limits.iter_lines``), so a huge line
    is refused without being read whole.
    """
    files: Iterable[Path] = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    for source in files:
        with open_input(source, limits) as stream:
            lines = (text for _, text in iter_lines(stream, str(source), limits))
            yield from parse_lines(lines, file=str(source), limits=limits)
