"""Every command's ``--help`` renders, and says how to use the command by example.

Help texts are Markdown (``rich_markup_mode="markdown"``); a text Rich cannot render
would crash ``--help`` itself, which this catches for every command.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from tests.cli.conftest import invoke, prose
from threadkeep.cli.main import app


def _leaves(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found.extend(_leaves(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


LEAVES = _leaves(typer.main.get_command(app))


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(path) for path in LEAVES])
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    """Guards the help of each command: it renders (exit 0), has a one-line summary and
    at least one example invocation of that very command."""
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    text = prose(result.stdout)
    assert f"Usage: threadkeep {' '.join(path)}" in text
    assert "Example" in text
    assert f"threadkeep {' '.join(path)}" in text.split("Example", 1)[1]


def test_root_help_lists_commands_and_exit_codes() -> None:
    """Guards `threadkeep --help`: the commands in their panels, and the exit codes."""
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    text = prose(result.stdout)
    for panel in ("Browse", "Organize", "Export and import", "Maintenance"):
        assert panel in text
    assert "3 not found" in text and "6 store unavailable" in text
