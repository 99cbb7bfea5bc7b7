"""``threadkeep show ID`` (SPEC S9): a conversation's details and messages, in seq order.

The guarded failures: messages out of order or missing at page boundaries, content
read as Rich markup, a JSON document that does not parse, unredacted/redacted mix-ups
in ``--markdown``.
"""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import EXIT_INVALID_INPUT, Cli, assert_error, invoke, prose, seed
from threadkeep import ConversationStore, MessageDraft
from threadkeep.cli import show


def test_show_prints_details_then_messages(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the people's view: title, id and counts first, then each message with its
    seq and role, content verbatim."""
    ids = seed(cli_store)
    result = cli("show", ids.lisbon)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == "Trip to Lisbon"
    assert ids.lisbon in out
    assert "2 messages" in out
    first = out.index("#1 user")
    second = out.index("#2 assistant")
    assert first < out.index("Three days in Lisbon: what should I see?") < second
    assert out.index("Alfama, Belém and a day in Sintra.") > second


def test_show_prints_content_literally(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards against Rich markup and emoji codes in content: `[bold]`, `[/]` and
    `:smile:` are printed as written (a `[/]` used to crash Rich), and long lines are
    not wrapped into the output."""
    conversation = sqlite_store.create_conversation(title="[red]odd[/red]")
    text = "use [bold]x[/bold] and [/] and :smile: and <b>tags</b>"
    long_line = " ".join(["word"] * 100)
    sqlite_store.append_message(conversation.id, "user", text)
    sqlite_store.append_message(conversation.id, "assistant", long_line)
    result = sqlite_cli("show", conversation.id)
    assert result.exit_code == 0, result.output
    assert text in result.stdout
    assert long_line in result.stdout.splitlines()  # not re-wrapped at 80 columns
    assert "[red]odd[/red]" in result.stdout


def test_show_streams_across_pages(
    sqlite_cli: Cli, sqlite_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the paged read: with pages of 3, seven messages come out once each, in
    order, through the text and the JSON views."""
    monkeypatch.setattr(show, "PAGE_SIZE", 3)
    conversation = sqlite_store.create_conversation(title="long")
    sqlite_store.append_messages(
        conversation.id, [MessageDraft(role="user", content=f"message {n}") for n in range(1, 8)]
    )
    text = sqlite_cli("show", conversation.id).stdout
    positions = [text.index(f"message {n}\n") for n in range(1, 8)]
    assert positions == sorted(positions)
    assert text.count("message ") == 7

    document = json.loads(sqlite_cli("show", conversation.id, "--json").stdout)
    assert [m["seq"] for m in document["messages"]] == list(range(1, 8))
    assert [m["content"] for m in document["messages"]] == [f"message {n}" for n in range(1, 8)]


def test_show_json(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the scripts' view: one JSON document with the conversation and every
    message field, datetimes in ISO 8601."""
    ids = seed(cli_store)
    result = cli("show", ids.lisbon, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["conversation"]["id"] == ids.lisbon
    assert document["conversation"]["title"] == "Trip to Lisbon"
    first, second = document["messages"]
    assert (first["seq"], first["role"], first["kind"]) == (1, "user", "text")
    assert second["content"] == "Alfama, Belém and a day in Sintra."
    assert "T" in first["created_at"]


def test_show_empty_conversation_json(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards the edge of the streamed JSON: no messages is still valid JSON."""
    conversation = sqlite_store.create_conversation()
    document = json.loads(sqlite_cli("show", conversation.id, "--json").stdout)
    assert document["messages"] == []
    assert document["conversation"]["message_count"] == 0


def test_show_last(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards --last N: only the newest N messages, oldest first."""
    conversation = sqlite_store.create_conversation()
    sqlite_store.append_messages(
        conversation.id, [MessageDraft(role="user", content=f"m{n}") for n in range(5)]
    )
    document = json.loads(sqlite_cli("show", conversation.id, "--json", "--last", "2").stdout)
    assert [m["content"] for m in document["messages"]] == ["m3", "m4"]


def test_show_markdown_is_unredacted(sqlite_cli: Cli, sqlite_store: ConversationStore) -> None:
    """Guards --markdown: the conversation as Markdown on stdout, secrets as written (it
    is the owner's own terminal; exports are where redaction applies)."""
    conversation = sqlite_store.create_conversation(title="Keys")
    key = "sk-proj-" + "Ab3" * 16
    sqlite_store.append_message(conversation.id, "user", f"my key is {key}")
    result = sqlite_cli("show", conversation.id, "--markdown")
    assert result.exit_code == 0, result.output
    assert "Keys" in result.stdout
    assert key in result.stdout
    assert "REDACTED" not in result.stdout


def test_show_help_sends_sharing_to_export() -> None:
    """Guards the QA finding: the help suggested `show ID --markdown > lisbon.md`, a file
    to pass around with every secret in it. It now says show prints data as stored and
    points to `export`, which masks secrets, for a file to share."""
    text = prose(invoke("show", "--help").stdout)
    assert "--markdown >" not in text
    assert "threadkeep export --id ID" in text
    assert "as stored" in text and "masks" in text


def test_show_json_and_markdown_together_is_exit_2(
    sqlite_cli: Cli, sqlite_store: ConversationStore
) -> None:
    """Guards conflicting flags: one line, exit 2, before the database is touched."""
    ids = seed(sqlite_store)
    assert_error(
        sqlite_cli("show", ids.lisbon, "--json", "--markdown"), EXIT_INVALID_INPUT, "invalid_input"
    )
