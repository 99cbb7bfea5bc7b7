"""Rendering and exit codes: the one place a ``ThreadkeepError`` becomes an exit status.

Exit codes scripts can rely on:

====  ==================  ==========================================
code  error               meaning
====  ==================  ==========================================
0     —                   success
1     ThreadkeepError     any other failure
2     InvalidInput        bad arguments or settings (also Typer's usage errors)
3     NotFound            no such conversation, message or run
4     Conflict            the state changed underneath; retry
5     TooLarge            over a size limit
6     StoreUnavailable    the database cannot be used
====  ==================  ==========================================
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from threadkeep.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    ThreadkeepError,
    TooLarge,
)

__all__ = ["EXIT_CODES", "emit_json", "errors_to_exit_codes", "say", "stderr", "stdout"]

EXIT_CODES: dict[type[ThreadkeepError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    Conflict: 4,
    TooLarge: 5,
    StoreUnavailable: 6,
}

stdout = Console()
stderr = Console(stderr=True)


def exit_code(error: ThreadkeepError) -> int:
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


@contextlib.contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Print a ``ThreadkeepError`` as one line on stderr and exit with its code."""
    try:
        yield
    except ThreadkeepError as error:
        stderr.print(
            f"[bold red]error[/] ({error.code}): {escape(error.message)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(exit_code(error)) from None


def say(text: str) -> None:
    """Print one plain line on stdout: never parsed as markup, never wrapped."""
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout (for ``--json``)."""
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))
