"""The docs stay true to the code (as sqlite-utils' and datasette's test_docs do).

* The README's library quick start runs as pasted, in a fresh directory.
* Every setting is in the README's settings table, with its environment variable.
* Every CLI command is in the README's command-line section.
* The CLI reference, ``docs/cli.md``, is what ``threadkeep.cli.reference`` generates
  from the code now (as sqlite-utils checks its CLI reference with ``cog --check``).
* The OpenAPI document, ``docs/openapi.json``, is what the app publishes now.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from threadkeep import Settings
from threadkeep.cli import reference
from threadkeep.cli.main import app
from threadkeep.server import openapi

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    """A newcomer pasting the quick start gets output, not a traceback."""
    block = re.search(r"## Quick start \(library\)\n\n```python\n(.*?)```", README, re.S)
    assert block is not None, "README lost its quick start block"
    script = tmp_path / "quickstart.py"
    script.write_text(block.group(1), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Alfama" in result.stdout
    assert (tmp_path / "chats.db").stat().st_mode & 0o777 == 0o600


def test_every_setting_is_documented() -> None:
    """A new setting without a README row fails here."""
    for name in Settings.model_fields:
        row = re.search(rf"^\| {name} \| THREADKEEP_{name.upper()} \|", README, re.M)
        assert row is not None, f"setting {name} is missing from the README's settings table"


def _commands(group: Any, prefix: str = "") -> list[str]:
    """Leaf command paths of a (Typer-vendored) click group."""
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):
            names.extend(_commands(command, f"{full} "))
        else:
            names.append(full)
    return names


def test_every_command_is_documented() -> None:
    """A new CLI command without a line in the README fails here."""
    commands = _commands(typer.main.get_command(app))
    assert commands, "the CLI has no commands"
    for command in commands:
        assert f"threadkeep {command}" in README, f"`threadkeep {command}` is not in the README"


def test_cli_reference_is_current() -> None:
    """A command, option or help text changed without regenerating docs/cli.md fails
    here, with the command that regenerates it."""
    path = ROOT / "docs" / "cli.md"
    assert reference.default_path() == path
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current != reference.render():
        pytest.fail(f"docs/cli.md is stale: run `{reference.REGENERATE}` and commit the result")


def test_cli_reference_documents_every_command_and_option() -> None:
    """The generator itself misses nothing: every leaf command has a section, and every
    option of it appears in that section."""
    text = reference.render()
    root = typer.main.get_command(app)
    for command in _commands(root):
        assert f"## `threadkeep {command}`" in text, f"`threadkeep {command}` has no section"
    sections = text.split("\n## ")
    for command in _commands(root):
        [section] = [s for s in sections if s.startswith(f"`threadkeep {command}`")]
        leaf: Any = root
        for name in command.split():
            leaf = leaf.commands[name]
        for param in leaf.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("-") and flag != "--help":
                    assert flag in section, f"{flag} of `threadkeep {command}` is undocumented"


def test_openapi_document_is_current() -> None:
    """A route, parameter or response model changed without regenerating
    docs/openapi.json fails here, with the command that regenerates it."""
    path = ROOT / "docs" / "openapi.json"
    assert openapi.default_path() == path
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current != openapi.render():
        pytest.fail(f"docs/openapi.json is stale: run `{openapi.REGENERATE}` and commit the result")
