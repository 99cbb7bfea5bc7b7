"""``threadkeep export`` and ``threadkeep import`` (SPEC S6, S9).

The guarded failures: the summary or progress mixed into the exported document;
secrets leaking into an export by default, or the count of what was masked missing;
--id/filters/format/--gzip/--output not reaching the exporter; an import that is not
idempotent through the CLI; format detection or --format validation broken; the
exit codes of a bad file (2), a missing conversation (3) and a file over a limit (5).
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import (
    CONSOLE_SCRIPT,
    EXIT_FAILED,
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    EXIT_TOO_LARGE,
    UNKNOWN_ID,
    Cli,
    assert_error,
    create_database,
    invoke,
    prose,
    seed,
)
from tests.transfer.test_reimport import CLAUDE_FIRST, CLAUDE_MORE, SOURCES
from threadkeep import ConversationStore, open_store
from threadkeep.cli.transfer import EXPORT_FORMATS, IMPORT_FORMATS
from threadkeep.plugins import build_plugin_manager
from threadkeep.transfer.registry import export_format_names, format_names

SECRET = "sk-proj-" + "Ab3xY9" * 8


def exported_ids(document: dict[str, Any]) -> list[str]:
    return [conversation["id"] for conversation in document["conversations"]]


def test_export_to_stdout(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards `export` with no options: every conversation (whatever its status) as a
    threadkeep JSON document on stdout, and the summary on stderr only."""
    ids = seed(cli_store)
    cli_store.archive_conversation(ids.kyoto)
    result = cli("export")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"] == "threadkeep"
    assert sorted(exported_ids(document)) == sorted(ids.all)
    summary = prose(result.stderr)
    assert summary.startswith("exported 3 conversations (4 messages, ")
    assert summary.endswith("as json to stdout; redacted: nothing")


def test_export_ids_and_filters(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the choice of conversations: repeated --id, and the filters of ls."""
    ids = seed(cli_store)
    by_id = json.loads(cli("export", "--id", ids.kyoto, "--id", ids.notes).stdout)
    assert sorted(exported_ids(by_id)) == sorted([ids.kyoto, ids.notes])
    tagged = json.loads(cli("export", "--tag", "travel").stdout)
    assert exported_ids(tagged) == [ids.lisbon]
    cli_store.archive_conversation(ids.notes)
    active = json.loads(cli("export", "--status", "active", "--mode", "chat").stdout)
    assert exported_ids(active) == [ids.lisbon]


def test_export_redacts_by_default(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards SPEC S6.2 through the CLI: a key in a message is masked and counted by
    kind in the summary; --no-redact keeps it."""
    conversation = sqlite_store.create_conversation(title="keys")
    sqlite_store.append_message(conversation.id, "user", f"my key is {SECRET}")
    masked = sqlite_cli("export")
    assert masked.exit_code == 0, masked.output
    assert SECRET not in masked.stdout
    assert "[REDACTED:openai]" in masked.stdout
    assert prose(masked.stderr).endswith("redacted: openai 1")

    kept = sqlite_cli("export", "--no-redact")
    assert SECRET in kept.stdout
    assert prose(kept.stderr).endswith("redacted: nothing")


def test_export_to_a_file(
    sqlite_cli: Cli, sqlite_store: ConversationStore, short_dir: Path
) -> None:
    """Guards --output: the format follows the name (.jsonl.gz: gzip-compressed JSONL),
    the file is private, stdout stays empty and the summary names the file."""
    ids = seed(sqlite_store)
    target = short_dir / "all.jsonl.gz"
    result = sqlite_cli("export", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert prose(result.stderr).endswith(f"as jsonl to {target}; redacted: nothing")
    lines = gzip.decompress(target.read_bytes()).decode().splitlines()
    assert all(json.loads(line) for line in lines)
    assert ids.lisbon in lines[0] or any(ids.lisbon in line for line in lines)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_markdown_and_gzip_to_stdout(
    sqlite_cli: Cli, sqlite_store: ConversationStore
) -> None:
    """Guards --format and --gzip on stdout (a pipe): compressed Markdown."""
    ids = seed(sqlite_store)
    result = sqlite_cli("export", "--id", ids.lisbon, "--format", "markdown", "--gzip")
    assert result.exit_code == 0, result.output
    text = gzip.decompress(result.stdout_bytes).decode()
    assert text.startswith("# Trip to Lisbon")
    assert "Alfama, Belém and a day in Sintra." in text


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["--format", "pdf"], EXIT_INVALID_INPUT, "invalid_input"),
        (["--updated-after", "soon"], EXIT_INVALID_INPUT, "invalid_input"),
        (["-o", "/no/such/dir/x.json"], EXIT_INVALID_INPUT, "invalid_input"),
        (["--id", "not-a-uuid"], EXIT_INVALID_INPUT, "invalid_input"),
        (["--id", UNKNOWN_ID], EXIT_NOT_FOUND, "not_found"),
        (["--id", UNKNOWN_ID, "--tag", "travel"], EXIT_INVALID_INPUT, "invalid_input"),
    ],
)
def test_export_errors(sqlite_cli: Cli, args: list[str], code: int, kind: str) -> None:
    """Guards the exit codes of export's mistakes, each one line on stderr."""
    assert_error(sqlite_cli("export", *args), code, kind)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_export_of_a_missing_id_writes_nothing(
    sqlite_cli: Cli, sqlite_store: ConversationStore, compress: bool
) -> None:
    """Guards the QA finding: `export --id GOOD --id MISSING` to stdout wrote the first
    conversation, half a document, then exited 3. Every id is checked first: exit 3,
    one line, and not one byte on stdout (no gzip header either)."""
    ids = seed(sqlite_store)
    args = ["export", "--id", ids.lisbon, "--id", UNKNOWN_ID, *(["--gzip"] if compress else [])]
    result = sqlite_cli(*args)
    assert result.stdout_bytes == b""
    assert UNKNOWN_ID in assert_error(result, EXIT_NOT_FOUND, "not_found")


ERRORS_ON_STDOUT_COMMANDS = [
    (["export", "--id", UNKNOWN_ID, "--format", "markdown"], EXIT_NOT_FOUND),
    (["export", "--gzip", "--updated-after", "soon"], EXIT_INVALID_INPUT),
    (["ls", "--cursor", "garbage!"], EXIT_INVALID_INPUT),
    (["ls", "--json", "--created-before", "then"], EXIT_INVALID_INPUT),
    (["show", UNKNOWN_ID], EXIT_NOT_FOUND),
    (["show", UNKNOWN_ID, "--json"], EXIT_NOT_FOUND),
    (["show", UNKNOWN_ID, "--markdown"], EXIT_NOT_FOUND),
    (["search", "--", "-word"], EXIT_INVALID_INPUT),
    (["search", "lisbon", "--json", "--cursor", "garbage!"], EXIT_INVALID_INPUT),
]


@pytest.mark.parametrize(
    ("command", "code"),
    ERRORS_ON_STDOUT_COMMANDS,
    ids=[" ".join(command) for command, _ in ERRORS_ON_STDOUT_COMMANDS],
)
def test_errors_write_nothing_to_stdout(
    sqlite_cli: Cli, sqlite_store: ConversationStore, command: list[str], code: int
) -> None:
    """Guards the contract scripts rely on, for the commands that write documents and
    listings to stdout: on an error, stdout is empty (not a table header, not the start
    of a JSON document) and stderr is one line."""
    seed(sqlite_store)
    result = sqlite_cli(*command)
    assert result.stdout_bytes == b""
    assert_error(result, code, "not_found" if code == EXIT_NOT_FOUND else "invalid_input")


def test_gzip_to_a_terminal_is_refused(sqlite_url: str, short_dir: Path) -> None:
    """Guards `export --gzip` without -o while stdout is a terminal (a real pty, through
    the console script): exit 2, one line naming -o FILE and a pipe, and no binary
    written to the terminal."""
    create_database(sqlite_url)
    leader, follower = os.openpty()
    try:
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "--db", sqlite_url, "export", "--gzip"],
            stdout=follower,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(follower)
        follower = -1
        written = _drain(leader)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == EXIT_INVALID_INPUT, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error (invalid_input): not writing gzip to a terminal")
    assert "-o FILE" in line and "pipe" in line
    assert written == b""


def _drain(leader: int) -> bytes:
    """What was written to the pty whose other end is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the other end is closed and nothing is left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_export_onto_a_directory_is_one_line(sqlite_cli: Cli, short_dir: Path) -> None:
    """Guards an OSError on the user's path: one line naming it, exit 1, no traceback
    and no temporary file left behind."""
    target = short_dir / "exports"
    target.mkdir()
    line = assert_error(sqlite_cli("export", "-o", str(target)), EXIT_FAILED, "os_error")
    assert str(target) in line
    assert list(short_dir.iterdir()) == [target]
    assert list(target.iterdir()) == []


def test_import_round_trip_is_idempotent(
    cli: Cli, cli_store: ConversationStore, short_dir: Path
) -> None:
    """Guards `import` of a threadkeep export (format detected, .gz read): everything
    arrives with its ids; importing the same file again imports nothing and says it
    skipped them."""
    source_db = short_dir / "source.db"
    with open_store(source_db) as source_store:
        ids = seed(source_store)
    backup = short_dir / "backup.json.gz"
    assert invoke("--db", str(source_db), "export", "-o", str(backup)).exit_code == 0

    first = cli("import", str(backup))
    assert first.exit_code == 0, first.output
    assert prose(first.stderr) == (
        "imported 3 conversations (4 messages) from 1 file (threadkeep); skipped 0 already "
        "imported; renamed 0 whose id was taken; redacted: nothing"
    )
    assert sorted(c.id for c in cli_store.list_conversations().items) == sorted(ids.all)

    again = cli("import", str(backup), "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["conversations_imported"] == 0
    assert report["conversations_skipped"] == 3
    assert report["format"] == "threadkeep"


def test_import_foreign_format(
    sqlite_cli: Cli, sqlite_store: ConversationStore, short_dir: Path
) -> None:
    """Guards detection and --format for a foreign file (an OpenAI chat-messages list)."""
    chat = short_dir / "chat.json"
    chat.write_text(
        json.dumps(
            {
                "id": "chat-1",
                "title": "From the API",
                "messages": [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi there"},
                ],
            }
        ),
        encoding="utf-8",
    )
    result = sqlite_cli("import", str(chat), "--format", "openai-messages", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conversations_imported"] == 1
    [imported] = sqlite_store.list_conversations().items
    assert imported.title == "From the API"
    assert [m.content for m in sqlite_store.get_messages(imported.id)] == ["hello", "hi there"]


def test_import_errors(sqlite_cli: Cli, short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards import's exit codes: unknown format and a file that is no known format or
    is missing → 2 naming the file; a file over import_max_bytes → 5. Nothing is
    written in any case."""
    junk = short_dir / "junk.txt"
    junk.write_text("just some text\n", encoding="utf-8")
    line = assert_error(
        sqlite_cli("import", str(junk), "--format", "word"), EXIT_INVALID_INPUT, "invalid_input"
    )
    assert "chatgpt" in line  # the known formats are listed
    assert str(junk) in assert_error(
        sqlite_cli("import", str(junk)), EXIT_INVALID_INPUT, "invalid_input"
    )
    missing = short_dir / "missing.json"
    assert str(missing) in assert_error(
        sqlite_cli("import", str(missing)), EXIT_INVALID_INPUT, "invalid_input"
    )
    big = short_dir / "big.json"
    big.write_text(json.dumps([{"role": "user", "content": "x" * 500}]), encoding="utf-8")
    monkeypatch.setenv("THREADKEEP_IMPORT_MAX_BYTES", "100")
    line = assert_error(sqlite_cli("import", str(big)), EXIT_TOO_LARGE, "too_large")
    assert "import_max_bytes" in line
    monkeypatch.delenv("THREADKEEP_IMPORT_MAX_BYTES")
    assert json.loads(sqlite_cli("ls", "--json").stdout)["items"] == []


def test_help_names_the_built_in_formats() -> None:
    """Guards the static format lists in the help of export and import (kept static so
    the help and docs/cli.md read the same wherever plugins are installed): they are
    the built-in registrations, in order."""
    manager = build_plugin_manager(entry_points=False)
    assert list(IMPORT_FORMATS) == format_names(manager)
    assert list(EXPORT_FORMATS) == export_format_names(manager)


def test_import_of_a_grown_session_says_what_it_appended(sqlite_cli: Cli, tmp_path: Path) -> None:
    """A Claude Code session imported again after it grew: the summary names the
    conversation updated and the messages appended, not "skipped 1 already imported"."""
    name = SOURCES["claude-code"][0]
    path = tmp_path / name
    path.write_text("\n".join(CLAUDE_FIRST) + "\n")
    assert sqlite_cli("import", str(path)).exit_code == 0
    path.write_text("\n".join(CLAUDE_FIRST + CLAUDE_MORE) + "\n")
    again = sqlite_cli("import", str(path))
    assert again.exit_code == 0, again.output
    assert "updated 1 conversation whose source grew (+4 messages); skipped 0" in prose(
        again.stderr
    )
