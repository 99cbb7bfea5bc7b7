"""The command-line reference, ``docs/cli.md``, generated from the commands themselves.

Every command's help text, usage, arguments and options are read from the Click
command tree Typer builds — the same objects ``--help`` prints — so the page cannot
drift from the code: ``tests/test_docs.py`` fails when the checked-in file differs
from what this module renders. Regenerate it with::

    python -m threadkeep.cli.reference

(``--check`` only compares and exits 1 when the file is stale). Help texts are Markdown
(the app's ``rich_markup_mode``); an indented example block becomes a fenced ``bash``
block here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from threadkeep import generated
from threadkeep.cli.main import app
from threadkeep.cli.output import EXIT_CODES

__all__ = ["REGENERATE", "default_path", "render"]

REGENERATE = "python -m threadkeep.cli.reference"

_HEADER = f"""\
# Command-line reference

<!-- Generated from the code by `{REGENERATE}`; do not edit by hand.
     tests/test_docs.py fails when this file is stale. -->
"""


def default_path() -> Path:
    """``docs/cli.md`` of the source tree this module is in."""
    return generated.docs_path("cli.md")


def _commands(command: Any, ctx: Any, path: list[str]) -> Iterator[Entry]:
    """Every command under ``command``, depth first, in ``--help`` order, with its context."""
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = type(ctx)(sub, info_name=name, parent=ctx)
        yield [*path, name], sub, sub_ctx
        if hasattr(sub, "list_commands"):
            yield from _commands(sub, sub_ctx, [*path, name])


Entry = tuple[list[str], Any, Any]


def _panel(entries: list[Entry], entry: Entry) -> str:
    """The ``--help`` panel of a command (a group's subcommands share the group's)."""
    path = entry[0]
    top = next(e for e in entries if e[0] == path[:1])
    return getattr(top[1], "rich_help_panel", None) or "Commands"


def _by_panel(entries: list[Entry]) -> list[Entry]:
    """Commands in ``--help`` order: panel by panel, in order of first appearance."""
    order = list(dict.fromkeys(_panel(entries, entry) for entry in entries))
    return sorted(entries, key=lambda entry: order.index(_panel(entries, entry)))


def _panels(entries: list[Entry]) -> list[tuple[str, list[Entry]]]:
    grouped: dict[str, list[Entry]] = {}
    for entry in entries:
        grouped.setdefault(_panel(entries, entry), []).append(entry)
    return list(grouped.items())


def _markdown(text: str | None) -> str:
    """A help text as Markdown: indented example blocks fenced as ``bash``."""
    lines = (text or "").strip("\n").splitlines()
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            out.extend(["", "```bash", *block, "```", ""])
            block.clear()

    for line in lines:
        if line.startswith("    ") and (block or not out or not out[-1].strip()):
            block.append(line[4:])
            continue
        if block and not line.strip():
            continue  # a blank line inside an example block
        flush()
        out.append(line)
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _parameters(command: Any, ctx: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        name, help_text = record
        is_option = getattr(param, "param_type_name", "option") == "option"
        if not is_option:
            # Typer names an argument after its metavar; the help carries [required].
            name = (param.metavar or param.name.upper()) + ("..." if param.nargs != 1 else "")
        (options if is_option else arguments).append((name, help_text))
    return arguments, options


def _table(kind: str, rows: list[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    lines = [f"| {kind} | description |", "|---|---|"]
    lines += [f"| `{_cell(name)}` | {_cell(text)} |" for name, text in rows]
    return [*lines, ""]


def _section(path: list[str], command: Any, ctx: Any) -> list[str]:
    title = " ".join(["threadkeep", *path])
    usage = " ".join([title, *command.collect_usage_pieces(ctx)])
    lines = [f"## `{title}`", "", _markdown(command.help), "", "```", usage, "```", ""]
    arguments, options = _parameters(command, ctx)
    lines += _table("argument", arguments)
    lines += _table("option", options)
    return lines


def _exit_codes() -> list[str]:
    lines = [
        "## Exit codes",
        "",
        "Scripts can rely on these; an error is one line on stderr, "
        "`error (<code>): <message>`, and nothing on stdout.",
        "",
        "| exit code | error | meaning |",
        "|---|---|---|",
        "| 0 | — | success |",
        "| 1 | other | any other failure; `doctor` when a check fails |",
    ]
    for kind, code in sorted(EXIT_CODES.items(), key=lambda item: item[1]):
        meaning = (kind.__doc__ or "").strip().splitlines()[0]
        lines.append(f"| {code} | `{kind.code}` ({kind.__name__}) | {_cell(meaning)} |")
    lines.append("")
    lines.append("Usage errors reported by the argument parser (an unknown option, a value")
    lines.append("outside its choices) also exit 2.")
    return [*lines, ""]


def render() -> str:
    """The whole reference page, as it should be checked in."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="threadkeep")
    lines = [_HEADER, _markdown(root.help), ""]
    commands = _by_panel(list(_commands(root, ctx, [])))
    for panel, group in _panels(commands):
        lines += [f"**{panel}**", ""]
        for path, command, _ in group:
            if hasattr(command, "list_commands"):
                continue
            anchor = "-".join(["threadkeep", *path])
            summary = _cell(command.get_short_help_str(limit=200))
            lines.append(f"- [`threadkeep {' '.join(path)}`](#{anchor}) — {summary}")
        lines.append("")
    lines.append("## Global options")
    lines.append("")
    lines.append("Given before the command: `threadkeep --db chats.db ls`.")
    lines.append("")
    lines += _table("option", _parameters(root, ctx)[1])
    lines += _exit_codes()
    for path, command, sub_ctx in commands:
        lines += _section(path, command, sub_ctx)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        argv, what="docs/cli.md", default=default_path(), render=render, regenerate=REGENERATE
    )


if __name__ == "__main__":
    sys.exit(main())
