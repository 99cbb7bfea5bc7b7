"""The formats in use: every :class:`~threadkeep.transfer.formats.Format` registered
through the ``register_formats`` hook — the built-in ones first, then plugins' — by name.

Import formats (``format_names()``) are those with a loader: ``threadkeep``,
``chatgpt``, ``claude-code``, ``codex``, ``open-webui``, ``openai-messages``,
``agents-sqlite``, ``langchain-sql`` and any a plugin adds. Export formats
(``export_format_names()``) are those with a writer: ``json``, ``jsonl``, ``markdown``
and any a plugin adds. :func:`detect_format` asks each import format's ``detect`` in
that order; the first that recognises the file wins.

Every function takes an optional plugin ``manager`` (default: the process's one, see
``threadkeep.plugins``), which tests use to try plugins without installing them.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from threadkeep.errors import InvalidInput
from threadkeep.plugins import registered
from threadkeep.transfer.formats import Format

__all__ = [
    "detect_format",
    "export_format",
    "export_format_for",
    "export_format_names",
    "format_names",
    "formats",
    "import_format",
]


def formats(manager: pluggy.PluginManager | None = None) -> dict[str, Format]:
    """Every registered format by name, in registration order (built-ins first)."""
    return registered("register_formats", Format, "format", manager)


def format_names(manager: pluggy.PluginManager | None = None) -> list[str]:
    """The names ``import --format`` takes, in detection order."""
    return [name for name, format in formats(manager).items() if format.load is not None]


def export_format_names(manager: pluggy.PluginManager | None = None) -> list[str]:
    """The names ``export --format`` takes."""
    return [name for name, format in formats(manager).items() if format.writer is not None]


def import_format(name: str, manager: pluggy.PluginManager | None = None) -> Format:
    """The import format called ``name``, or ``InvalidInput`` listing the known ones."""
    found = formats(manager).get(name)
    if found is None or found.load is None:
        raise InvalidInput(
            f"unknown import format {name!r:.60}; known: {', '.join(format_names(manager))}"
        )
    return found


def export_format(name: str, manager: pluggy.PluginManager | None = None) -> Format:
    """The export format called ``name``, or ``InvalidInput`` listing the known ones."""
    found = formats(manager).get(name)
    if found is None or found.writer is None:
        known = ", ".join(export_format_names(manager))
        raise InvalidInput(f"unknown export format {name!r:.60}; known: {known}")
    return found


def export_format_for(path: Path, manager: pluggy.PluginManager | None = None) -> Format | None:
    """The export format a file name asks for by its suffix (``.gz`` looked through)."""
    name = path.name.lower().removesuffix(".gz")
    for format in formats(manager).values():
        if format.writer is not None and any(name.endswith(s) for s in format.suffixes):
            return format
    return None


def detect_format(path: Path, manager: pluggy.PluginManager | None = None) -> str:
    """The name of the import format of ``path`` (a file or a directory).

    Raises ``InvalidInput`` naming the file and the formats tried when none matches.
    """
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or directory")
    tried = []
    for name, format in formats(manager).items():
        if format.load is None or format.detect is None:
            continue
        tried.append(name)
        if format.detect(path):
            return name
    raise InvalidInput(
        f"{path}: not a format threadkeep can import (tried {', '.join(tried)}); "
        "pass --format if you know what it is"
    )
