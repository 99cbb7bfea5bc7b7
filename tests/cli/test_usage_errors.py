"""Click's usage errors are one line like every other error (QA: `threadkeep search
-cat`, unknown options and missing arguments printed a usage line, a hint and a boxed
panel — several lines a script cannot parse and a person has to read around).

Every usage error is ``error (invalid_input): <Click's message> (see `... --help`)`` on
stderr, exit 2, nothing on stdout; a group called without a command still shows its
help.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import EXIT_INVALID_INPUT, assert_error, invoke, prose, script

USAGE_ERRORS = [
    (["search", "-cat"], "No such option: -c"),
    (["ls", "--bogus"], "No such option: --bogus"),
    (["--bogus", "ls"], "No such option: --bogus"),
    (["show"], "Missing argument 'ID'"),
    (["search"], "Missing argument 'QUERY'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["ls", "--limit", "0"], "Invalid value for '--limit'"),
    (["ls", "--status", "deleted"], "Invalid value for '--status'"),
    (["db", "current", "--bogus"], "No such option: --bogus"),
    (["rename", "0193a5c4"], "Missing argument 'TITLE'"),
    (["export", "--id"], "Option '--id' requires an argument"),
]


@pytest.mark.parametrize(
    ("args", "message"), USAGE_ERRORS, ids=[" ".join(args) for args, _ in USAGE_ERRORS]
)
def test_usage_error_is_one_line(args: list[str], message: str) -> None:
    """Guards the finding: exit 2, nothing on stdout, one `error (invalid_input)` line
    with Click's message — no panel, no usage block."""
    line = assert_error(invoke(*args), EXIT_INVALID_INPUT, "invalid_input")
    assert message in line
    assert "╭" not in line and "Usage:" not in line


def test_usage_error_names_the_help_of_its_command() -> None:
    """Guards the hint that replaces the usage block: the command's own --help."""
    line = assert_error(invoke("ls", "--bogus"), EXIT_INVALID_INPUT, "invalid_input")
    assert line.endswith("(see `threadkeep ls --help`)")


def test_an_option_like_query_says_to_use_the_separator() -> None:
    """Guards `threadkeep search -cat`: the line says a value starting with '-' goes
    after '--', and the help says how to search for one."""
    line = assert_error(invoke("search", "-cat"), EXIT_INVALID_INPUT, "invalid_input")
    assert "goes after '--'" in line
    help_text = prose(invoke("search", "--help").stdout)
    assert "threadkeep search -- '-closed lisbon'" in help_text
    assert "threadkeep search verbose" in help_text


def test_a_negative_setting_value_is_the_value() -> None:
    """Guards `threadkeep config set cleanup_inactive_days -5`: -5 is the value (not an
    unknown option), refused by the setting's own check in one line naming it."""
    line = assert_error(
        invoke("config", "set", "cleanup_inactive_days", "-5"), EXIT_INVALID_INPUT, "invalid_input"
    )
    assert "setting 'cleanup_inactive_days'" in line and "'-5'" in line


def test_a_group_without_a_command_still_shows_its_help() -> None:
    """Guards what must stay as it was: `threadkeep db` alone prints the group's help."""
    result = invoke("db")
    assert "threadkeep db" in prose(result.output)
    assert "upgrade" in result.output
    assert "error (" not in result.output


def test_console_script_usage_error_is_one_line() -> None:
    """Guards the real process, where Typer's own error display would run: exactly one
    line on stderr, exit 2."""
    done = script("search", "-cat")
    assert done.returncode == EXIT_INVALID_INPUT
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error (invalid_input): No such option: -c")
