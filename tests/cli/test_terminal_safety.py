"""Stored or imported content cannot drive the terminal (QA: titles and messages holding
``\\x1b[31m``, an OSC 8 hyperlink or ``\\x1b[2J`` reached the terminal raw through
show, search, ls, stats, cleanup plans and import messages).

Every human-facing output shows a control character as a visible escape (``\\x1b``),
newline and tab kept in message bodies; ``--json`` stays exact JSON that reads back to
the very content; a document into a pipe stays exact bytes, and on a terminal it is
escaped too. Under the test runner stdout is not a terminal, so Rich adds no styling
and any ESC in the output would be the content's own.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.table import Table
from rich.text import Text

from tests.cli.conftest import EXIT_INVALID_INPUT, Cli, assert_error, create_database, invoke
from threadkeep import ConversationStore
from threadkeep.cli import output, terminal
from threadkeep.cli.output import json_text
from threadkeep.cli.terminal import TerminalConsole, one_line, printable

RED = "\x1b[31m"
LINK = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"  # the one-character CSI of the C1 set

TITLE = f"Lisbon {RED}urgent {LINK}"
CONTENT = f"lisbon plans {CLEAR}then\tthis\nsecond line {C1_CSI}and {RED}red"


def controls_in(text: str) -> list[str]:
    """The control characters a terminal would act on (newline and tab are layout)."""
    return [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]


def assert_neutralised(text: str) -> None:
    assert controls_in(text) == [], repr(text)
    assert "\\x1b[31m" in text or "\\x1b[2J" in text or "\\x1b]8;;" in text, text


@dataclass(frozen=True)
class Evil:
    conversation_id: str


@pytest.fixture
def evil(sqlite_store: ConversationStore) -> Evil:
    conversation = sqlite_store.create_conversation(title=TITLE, tags=[f"t{CLEAR}"])
    sqlite_store.append_message(conversation.id, "user", CONTENT)
    return Evil(conversation.id)


@pytest.mark.parametrize(
    "command",
    [
        ["ls"],
        ["show", "{id}"],
        ["search", "lisbon"],
        ["search", "lisbon", "--group"],
        ["search", "click"],  # a title hit (the hyperlink's text)
        ["rename", "{id}", f"renamed {RED}again"],
    ],
    ids=" ".join,
)
def test_human_output_escapes_control_characters(
    sqlite_cli: Cli, evil: Evil, command: list[str]
) -> None:
    """Guards each command's view for people: no raw control character on stdout or
    stderr, and the escape sequence is visible as text instead."""
    result = sqlite_cli(*(part.format(id=evil.conversation_id) for part in command))
    assert result.exit_code == 0, result.output
    assert_neutralised(result.stdout)
    assert controls_in(result.stderr) == []


def test_show_keeps_newlines_and_tabs_of_a_body(sqlite_cli: Cli, evil: Evil) -> None:
    """Guards the exception: a message body keeps its lines (and its tab, laid out by
    Rich), only the control characters around them are escaped; a title stays on one
    line."""
    out = sqlite_cli("show", evil.conversation_id).stdout
    assert out.splitlines()[0] == one_line(TITLE)
    assert "lisbon plans \\x1b[2Jthen" in out
    assert "\nsecond line \\x9b31mand \\x1b[31mred" in out


def test_stats_escapes_the_database_path(short_dir: Path) -> None:
    """Guards `stats`: the database it names comes from the user's path, shown escaped."""
    odd = short_dir / f"t{CLEAR}.db"
    create_database(str(odd))
    result = invoke("--db", str(odd), "stats")
    assert result.exit_code == 0, result.output
    assert_neutralised(result.stdout)
    assert "t\\x1b[2J.db" in result.stdout


def test_cleanup_plan_escapes_titles_and_owners(
    sqlite_cli: Cli, sqlite_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the cleanup plan's table: titles and owner names from the database are
    shown escaped."""
    stranger = sqlite_store.as_owner(f"eve{RED}")
    stranger.create_conversation(title=TITLE)
    stranger.create_conversation(title="newer")
    monkeypatch.setenv("THREADKEEP_CLEANUP_MAX_PER_OWNER", "1")
    result = sqlite_cli("cleanup", "--dry-run", "--all-owners")
    assert result.exit_code == 0, result.output
    assert_neutralised(result.stdout)
    assert "eve\\x1b[31m" in result.stdout


def test_rm_question_escapes_the_title(
    sqlite_cli: Cli, evil: Evil, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the confirmation on stderr: it lists titles, escaped."""
    monkeypatch.setattr(output, "stdin_is_terminal", lambda: True)
    result = sqlite_cli("rm", evil.conversation_id, input="n\n")
    assert "Lisbon \\x1b[31murgent" in result.stderr
    assert controls_in(result.stderr) == []


def test_import_messages_escape_what_they_quote(
    sqlite_cli: Cli, sqlite_store: ConversationStore, short_dir: Path
) -> None:
    """Guards import: an imported conversation's content is escaped wherever it is shown
    later, the summary carries none, and an error quoting a file name with an escape
    sequence in it shows it escaped."""
    chat = short_dir / "chat.json"
    chat.write_text(
        json.dumps({"title": TITLE, "messages": [{"role": "user", "content": CONTENT}]}),
        encoding="utf-8",
    )
    imported = sqlite_cli("import", str(chat), "--format", "openai-messages")
    assert imported.exit_code == 0, imported.output
    assert controls_in(imported.stderr) == []
    assert_neutralised(sqlite_cli("ls").stdout)

    odd = short_dir / f"odd{CLEAR}.json"
    odd.write_text("not a conversation\n", encoding="utf-8")
    line = assert_error(sqlite_cli("import", str(odd)), EXIT_INVALID_INPUT, "invalid_input")
    assert "odd\\x1b[2J.json" in line


def test_json_stays_exact(sqlite_cli: Cli, evil: Evil) -> None:
    """Guards --json: valid JSON that reads back to the exact title and content, with
    no raw control character in it (C1 escaped as \\u009b too)."""
    shown = sqlite_cli("show", evil.conversation_id, "--json").stdout
    listed = sqlite_cli("ls", "--json").stdout
    found = sqlite_cli("search", "lisbon", "--json").stdout
    for text in (shown, listed, found):
        assert controls_in(text) == []
    document = json.loads(shown)
    assert document["conversation"]["title"] == TITLE
    assert document["messages"][0]["content"] == CONTENT
    assert json.loads(listed)["items"][0]["title"] == TITLE
    assert "\\u009b31m" in shown


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{id}", "--markdown"],
        ["export", "--id", "{id}", "--format", "markdown", "--no-redact"],
    ],
    ids=" ".join,
)
def test_documents_are_exact_in_a_pipe_and_escaped_on_a_terminal(
    sqlite_cli: Cli, evil: Evil, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Guards the documents on stdout: into a pipe the Markdown is the content's exact
    bytes (it may be kept); on a terminal its control characters are escaped."""
    args = [part.format(id=evil.conversation_id) for part in command]
    piped = sqlite_cli(*args)
    assert piped.exit_code == 0, piped.output
    assert CONTENT in piped.stdout

    monkeypatch.setattr(terminal, "stdout_is_terminal", lambda: True)
    shown = sqlite_cli(*args)
    assert shown.exit_code == 0, shown.output
    assert_neutralised(shown.stdout)
    assert printable(CONTENT) in shown.stdout


def test_json_export_on_a_terminal_stays_json(
    sqlite_cli: Cli, evil: Evil, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards a JSON document shown on a terminal: the C1 characters it carries raw are
    escaped the JSON way, so it still reads back to the exact content."""
    monkeypatch.setattr(terminal, "stdout_is_terminal", lambda: True)
    result = sqlite_cli("export", "--id", evil.conversation_id, "--no-redact")
    assert result.exit_code == 0, result.output
    assert controls_in(result.stdout) == []
    [conversation] = json.loads(result.stdout)["conversations"]
    assert conversation["messages"][0]["content"] == CONTENT


def test_terminal_console_keeps_its_own_styling() -> None:
    """Guards the renderer itself on a real terminal: Rich's styling (its own escape
    codes) still comes out, the content's never does — in a table cell, a rule and a
    styled line alike, even where no helper escaped the text first."""
    buffer = io.StringIO()
    console = TerminalConsole(file=buffer, force_terminal=True, width=200, color_system="standard")
    table = Table("Title")
    table.add_row(TITLE)
    console.print(table)
    console.rule(Text(f"rule {CLEAR}"))
    console.print(Text(LINK), style="bold")
    out = buffer.getvalue()
    assert "\x1b[1m" in out  # bold, from Rich
    for raw in (RED, CLEAR, "\x1b]8;;", "\x9b"):
        assert raw not in out
    assert "rule \\x1b[2J" in out
    assert "\\x1b]8;;http://evil.example" in out  # (Rich drops the BEL itself)


def test_escape_helpers() -> None:
    """Guards the escaping rules: C0, DEL and C1 become visible escapes, newline and
    tab are kept by ``printable`` and escaped by ``one_line``; ``json_text`` escapes
    what json.dumps leaves raw (DEL, C1) and stays JSON."""
    assert printable("a\x1b[2Jb\tc\nd\x7f\x9b\x00") == "a\\x1b[2Jb\tc\nd\\x7f\\x9b\\x00"
    assert one_line("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    text = json_text({"k": "\x1b\x7f\x9b\n"}, indent=None)
    assert text == '{"k": "\\u001b\\u007f\\u009b\\n"}'
    assert json.loads(text) == {"k": "\x1b\x7f\x9b\n"}


def test_usage_error_echoing_an_option_is_escaped() -> None:
    """Guards Click's own messages, which quote what was typed: an unknown option made
    of an escape sequence is shown escaped in the one error line."""
    line = assert_error(invoke("ls", f"--x{CLEAR}"), EXIT_INVALID_INPUT, "invalid_input")
    assert "--x\\x1b[2J" in line
