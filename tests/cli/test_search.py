"""``threadkeep search QUERY`` (SPEC S5, S9): ranked hits with highlighted snippets.

The guarded failures: marks shown as raw ``<mark>`` tags or HTML entities shown as
``&lt;``; markup in snippets read by Rich; filters not reaching the store; ``--group``
losing or reordering hits; a bad date reaching the store as a traceback.
"""

from __future__ import annotations

import json

from rich.console import Console

from tests.cli.conftest import EXIT_INVALID_INPUT, Cli, assert_error, seed
from threadkeep import ConversationStore
from threadkeep.cli.output import highlight


def test_highlight_marks_and_unescapes() -> None:
    """Guards the snippet renderer: marked words bold yellow, the rest unescaped back to
    what was written, markup-like text literal, whitespace runs collapsed."""
    text = highlight("a &lt;b&gt; [red]x[/red] <mark>Lisbon</mark>\n\n and <mark>S&amp;P</mark>")
    assert text.plain == "a <b> [red]x[/red] Lisbon and S&P"
    marked = [text.plain[span.start : span.end] for span in text.spans]
    assert marked == ["Lisbon", "S&P"]
    assert all(str(span.style) == "bold yellow" for span in text.spans)

    console = Console(record=True, force_terminal=True, width=200)
    console.print(text)
    assert "\x1b[1;33mLisbon" in console.export_text(styles=True)


def test_search_prints_hits_with_where_they_are(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the people's view: each hit names the conversation, its id and the
    message's seq and role, with the snippet's text unescaped."""
    ids = seed(cli_store)
    result = cli("search", "lisbon")
    assert result.exit_code == 0, result.output
    assert "Trip to Lisbon" in result.stdout
    assert ids.lisbon in result.stdout
    assert "#1 user" in result.stdout
    assert "Three days in Lisbon: what should I see?" in result.stdout
    assert "<mark>" not in result.stdout
    assert ids.kyoto not in result.stdout


def test_search_json(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the scripts' view: items with every SearchHit field (snippet keeps its
    marks there) and next_cursor."""
    ids = seed(cli_store)
    result = cli("search", "kyoto", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == {"items", "next_cursor"}
    hits = found["items"]
    assert {hit["conversation_id"] for hit in hits} == {ids.kyoto}
    message_hits = [hit for hit in hits if hit["seq"] is not None]
    assert message_hits[0]["role"] == "user"
    assert "<mark>" in message_hits[0]["snippet"]
    assert {"score", "message_id", "conversation_title", "updated_at"} <= set(hits[0])


def test_search_group(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards --group: the same hits, one group per conversation, in JSON and text."""
    ids = seed(cli_store)
    cli_store.append_message(ids.lisbon, "user", "Is Lisbon hilly?")
    flat = json.loads(cli("search", "lisbon", "--json").stdout)["items"]
    grouped = json.loads(cli("search", "lisbon", "--json", "--group").stdout)
    assert [group["conversation_id"] for group in grouped["groups"]] == [ids.lisbon]
    assert len(grouped["groups"][0]["hits"]) == len(flat)

    text = cli("search", "lisbon", "--group").stdout
    assert text.count(ids.lisbon) == 1
    assert f"{len(flat)} hits" in text


def test_search_filters(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards that --role and --status reach the store."""
    ids = seed(cli_store)

    def seqs(*args: str) -> list[int | None]:
        result = cli("search", *args)
        assert result.exit_code == 0, result.output
        return [hit["seq"] for hit in json.loads(result.stdout)["items"]]

    assert seqs("sintra", "--json", "--role", "assistant") == [2]
    assert seqs("sintra", "--json", "--role", "user") == []
    cli_store.archive_conversation(ids.lisbon)
    assert seqs("sintra", "--json") == []
    assert seqs("sintra", "--json", "--status", "archived") == [2]
    assert seqs("sintra", "--json", "--status", "all") == [2]


def test_search_no_matches(cli: Cli, cli_store: ConversationStore) -> None:
    """Guards the empty result: nothing on stdout, a note on stderr, exit 0."""
    seed(cli_store)
    result = cli("search", "zanzibar")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no matches" in result.stderr


def test_search_bad_date_is_one_line(sqlite_cli: Cli) -> None:
    """Guards the date options of search: exit 2, one line naming the option."""
    line = assert_error(
        sqlite_cli("search", "x", "--updated-after", "someday"), EXIT_INVALID_INPUT, "invalid_input"
    )
    assert "--updated-after" in line
