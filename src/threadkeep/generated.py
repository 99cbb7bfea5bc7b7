"""Files generated from the code and checked in: ``docs/cli.md`` and ``docs/openapi.json``.

Each has a module that renders it (``cli/reference.py``, ``server/openapi.py``) and one
command shape, given here once: ``python -m <module> [PATH] [--check]`` writes the file
when what the code renders differs from it, or with ``--check`` only compares and exits
1 when the file is stale (``tests/test_docs.py`` runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["docs_path", "main"]


def docs_path(name: str) -> Path:
    """``docs/<name>`` of the source tree this package is in."""
    return Path(__file__).resolve().parents[2] / "docs" / name


def main(
    argv: list[str] | None,
    *,
    what: str,
    default: Path,
    render: Callable[[], str],
    regenerate: str,
) -> int:
    """The command: write ``default`` (or the given path) from ``render()``, or check it."""
    parser = argparse.ArgumentParser(description=f"Write {what} from the code.")
    parser.add_argument("path", nargs="?", type=Path, default=None, help=f"default: {what}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    options = parser.parse_args(argv)
    path: Path = options.path or default
    text = render()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if options.check:
        if current != text:
            print(f"{path} is stale: run `{regenerate}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0
