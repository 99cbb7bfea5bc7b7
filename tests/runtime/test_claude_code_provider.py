"""The ``claude-code`` provider (SPEC S4.3, S4.2) against a fake ``claude`` executable.

Every test runs :class:`ClaudeCodeProvider` as shipped: it spawns the fake ``claude``
of ``tests/runtime/fake_cli`` (a real child process, spoken to through its argv, stdin
and stdout) which prints Claude Code's ``stream-json`` lines, keeps its sessions on
disk and refuses an unknown session as Claude Code does. Nothing of ours is mocked.
Spawns are kept few: each test checks all it can of one run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.fake_cli.claude import LEAKED_KEY
from tests.runtime.fake_cli.harness import (
    FakeCli,
    fake_claude_fixture,  # noqa: F401 (registers the fake_claude fixture here)
    process_ended,
    reaped,
    runtime_with,
)
from tests.runtime.streams import ask, events_before_failure, events_of, text_of
from threadkeep import AsyncConversationStore, Settings, open_store
from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    ProviderSpec,
    SessionStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from threadkeep.runtime.providers.claude_code import (
    INSTALL_HINT,
    SYSTEM_ARG_LIMIT,
    ClaudeCodeProvider,
)
from threadkeep.runtime.providers.cli_prompt import CONTEXT_HEADING, TITLE_INSTRUCTION
from threadkeep.runtime.send import ReplyDelta, RunFinished, SendEvent

BASE_ARGV = ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
# The fake's result line: input 5 + cache writes 200 + cache reads 3000.
INPUT_TOKENS = 3205


def provider_for(fake: FakeCli, **options: Any) -> ClaudeCodeProvider:
    return ClaudeCodeProvider(command=str(fake.command), cwd=str(fake.cwd), **options)


def reply_of(message: str, *, prior: int = 0, via: str = "none", turns: int = 0) -> str:
    """What the fake answers to ``message`` (see ``fake_cli/common.py``)."""
    return (
        f"Claude heard: {message}\n\n"
        f"(prior messages: {prior} via {via}; session turns: {turns}; model: default)"
    )


def sessions_of(events: list[ProviderEvent]) -> list[str]:
    return [event.session_id for event in events if isinstance(event, SessionStarted)]


# --------------------------------------------------------------------------- replies


def test_a_run_streams_reports_its_session_and_the_next_run_resumes_it(
    fake_claude: FakeCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the run and S4.2's resume: made from the settings with the command looked
    up on PATH, the CLI gets the print-mode stream-json flags and the message on stdin
    in cli_provider_cwd; the reply streams in pieces (partial messages), never twice,
    with the session id of ``init`` first and the usage of the result line last. The
    next run passes that id with ``--resume``: the fake finds the session on disk.
    threadkeep's own ``THREADKEEP_*`` variables (keys) are not passed to the CLI."""
    monkeypatch.setenv("PATH", f"{fake_claude.command.parent}:{Path('/usr/bin')}:/bin")
    monkeypatch.setenv("THREADKEEP_ANTHROPIC_API_KEY", "sk-ant-api03-not-for-the-cli")
    provider = ClaudeCodeProvider.from_settings(
        Settings(claude_code_command="claude", cli_provider_cwd=str(fake_claude.cwd))
    )
    events = events_of(provider, ask("Where should I go in May?"))
    [session] = fake_claude.sessions()
    assert events[0] == SessionStarted(session)
    reply = reply_of("Where should I go in May?")
    assert events[-1] == Usage(input_tokens=INPUT_TOKENS, output_tokens=len(reply.split()))
    pieces = [event for event in events if isinstance(event, TextDelta)]
    assert len(pieces) > 5, "not streamed"
    assert text_of(events) == reply
    [call] = fake_claude.calls()
    assert call["argv"] == BASE_ARGV
    assert call["stdin"] == "Where should I go in May?"
    assert call["cwd"] == str(fake_claude.cwd)
    assert call["threadkeep_env"] == [], "threadkeep's own settings (keys) reached the CLI"

    again = events_of(provider, ask("And in June?", session_id=session, model="opus"))
    assert sessions_of(again) == [session]
    assert text_of(again) == reply_of("And in June?", turns=1).replace("default", "opus")
    assert fake_claude.calls()[-1]["argv"] == [*BASE_ARGV, "--model", "opus", "--resume", session]
    assert fake_claude.sessions() == [session]


def test_tool_calls_and_results_come_in_order(fake_claude: FakeCli) -> None:
    """Guards tool use: the text before the call, the ``tool_use`` block as a ToolCall,
    the ``tool_result`` as a ToolResult, then the next message's text — in the order
    Claude Code printed them, each text once although it came as deltas and again in
    the assistant lines."""
    events = events_of(provider_for(fake_claude), ask("List the files [tool]"))
    call = ToolCall(call_id="toolu_01Fake", name="Bash", arguments={"command": "ls"})
    result = ToolResult(call_id="toolu_01Fake", content="notes.md\nplan.txt")
    assert events.index(call) + 1 == events.index(result)
    before = events[: events.index(call)]
    after = events[events.index(result) + 1 :]
    assert text_of(before) == "Let me look."
    assert text_of(after) == reply_of("List the files [tool]")
    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], Usage)


@pytest.mark.parametrize("deltas", ["no-deltas", "partial-deltas"])
def test_text_the_deltas_did_not_cover_comes_from_the_assistant_line(
    fake_claude: FakeCli, deltas: str
) -> None:
    """Guards the dedupe rule: with no stream events (a release or message without
    them) the whole text comes from the assistant line; with deltas for half of it, the
    deltas then exactly the rest — never a repeat, never a gap."""
    message = f"Tell me a story [{deltas}]"
    events = events_of(provider_for(fake_claude), ask(message))
    reply = reply_of(message)
    assert text_of(events) == reply
    pieces = [event.text for event in events if isinstance(event, TextDelta)]
    if deltas == "no-deltas":
        assert pieces == [reply]
    else:  # word-sized deltas for the first half, then the rest in one piece
        assert len(pieces) > 2 and len(pieces[-1]) > len(reply) // 3


@pytest.mark.parametrize("oversized", [False, True], ids=["system-prompt", "in-the-prompt"])
def test_without_a_session_the_prior_context_reaches_the_cli(
    fake_claude: FakeCli, oversized: bool
) -> None:
    """Guards S4.1 for a CLI: the system text and the earlier messages go to Claude
    Code's system prompt (``--append-system-prompt``), the new message alone on stdin;
    a preamble too long for one argument heads the stdin prompt in <context> tags
    instead of failing the spawn."""
    system = "Be brief." + (" Really." * (SYSTEM_ARG_LIMIT // 8) if oversized else "")
    request = ProviderRequest(
        messages=(
            {"role": "system", "content": "(3 earlier messages not shown)"},
            {"role": "user", "content": "Plan a trip to Lisbon"},
            {"role": "assistant", "content": "[tool call] search: Lisbon"},
            {"role": "user", "content": "What about food?"},
        ),
        system=system,
        prior_messages=6,
    )
    events = events_of(provider_for(fake_claude), request)
    via = "prompt" if oversized else "system-prompt"
    assert text_of(events) == reply_of("What about food?", prior=2, via=via)
    [call] = fake_claude.calls()
    preamble = (
        f"{system}\n\n{CONTEXT_HEADING}\n\n(3 earlier messages not shown)\n\n"
        "user: Plan a trip to Lisbon\n\nassistant: [tool call] search: Lisbon"
    )
    if oversized:
        assert call["argv"] == BASE_ARGV
        assert call["stdin"] == f"<context>\n{preamble}\n</context>\n\nWhat about food?"
    else:
        assert call["argv"] == [*BASE_ARGV, "--append-system-prompt", preamble]
        assert call["stdin"] == "What about food?"


# ---------------------------------------------------------------------------- resume


@pytest.mark.parametrize("form", ["result-line", "stderr"])
def test_an_unknown_session_is_refused_before_any_event(
    fake_claude: FakeCli, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """Guards S4.2: Claude Code's "No conversation found with session ID" — as the
    result line of 2.x or on stderr as 1.0.x printed it, both with exit status 1 — is
    ProviderSessionInvalid raised before the first event (not even init's session id
    leaks), so the pipeline can retry without the session."""
    if form == "stderr":
        monkeypatch.setenv("FAKE_CLAUDE_RESUME_ERROR", "stderr")
    missing = "0b5e1c4e-0000-4000-8000-00000000dead"
    events, error = events_before_failure(
        provider_for(fake_claude), ask("hello", session_id=missing), ProviderSessionInvalid
    )
    assert events == []
    assert missing in str(error) and "No conversation found" in str(error)
    assert fake_claude.calls()[-1]["argv"] == [*BASE_ARGV, "--resume", missing]


def test_a_malformed_session_id_or_request_is_refused_unspawned(fake_claude: FakeCli) -> None:
    """Guards the argv: a session id that would be read as an option is not passed
    (refused as invalid, so the pipeline starts afresh); a request without a user
    message last is InvalidInput. Neither spawns the CLI."""
    provider = provider_for(fake_claude)
    events, _ = events_before_failure(
        provider, ask("hi", session_id="--dangerously-skip-permissions"), ProviderSessionInvalid
    )
    assert events == []
    assistant_last = ProviderRequest(messages=({"role": "assistant", "content": "hi"},))
    events_before_failure(provider, assistant_last, InvalidInput)
    assert fake_claude.calls() == []


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("scenario", "text_first", "said"),
    [
        ("fail", True, "reported an error: API Error: 401"),
        ("crash", True, "failed with exit status 3: fatal: the fake Claude crashed"),
        ("garbage", False, "not a JSON object, so its output cannot be read: Welcome to Claude"),
    ],
)
def test_a_failed_run_is_a_provider_error_with_the_clis_words(
    fake_claude: FakeCli, scenario: str, text_first: bool, said: str
) -> None:
    """Guards against a reply quietly cut short: an ``is_error`` result, a CLI that
    exits non-zero without a result line, and output that is not JSON are each a
    ProviderError naming the CLI with its own words — a key in them redacted — after
    the text already streamed."""
    events, error = events_before_failure(provider_for(fake_claude), ask(f"go [{scenario}]"))
    message = str(error)
    assert f"{fake_claude.command} (the claude-code provider)" in message
    assert said in message
    assert LEAKED_KEY not in message and LEAKED_KEY[12:40] not in message
    assert bool(text_of(events)) == text_first


def test_a_missing_cli_or_directory_names_the_setting(tmp_path: Path) -> None:
    """Guards the set-up errors: a CLI not on PATH names claude_code_command and how to
    install Claude Code; a cli_provider_cwd that does not exist names that setting."""
    missing = ClaudeCodeProvider(command="no-such-claude-here")
    events, error = events_before_failure(missing, ask())
    assert events == []
    assert "claude_code_command" in str(error) and "THREADKEEP_CLAUDE_CODE_COMMAND" in str(error)
    assert INSTALL_HINT in str(error) and "npm install -g @anthropic-ai/claude-code" in INSTALL_HINT
    nowhere = ClaudeCodeProvider(command="/bin/sh", cwd=str(tmp_path / "gone"))
    _, error = events_before_failure(nowhere, ask())
    assert "cli_provider_cwd" in str(error)


# -------------------------------------------------------------------------- stopping


@pytest.mark.parametrize(("how", "scenario"), [("aclose", "hang"), ("cancel", "hang-stubborn")])
def test_stopping_the_stream_kills_and_reaps_the_cli_and_its_children(
    fake_claude: FakeCli, how: str, scenario: str
) -> None:
    """Guards against orphans and zombies: a run stopped mid-reply — the stream
    closed, or the task consuming it cancelled — ends the CLI *and* the process it
    started (a tool command in its process group, holding its stdout), even when both
    ignore SIGTERM (then SIGKILL follows the grace period); the CLI is reaped."""
    provider = provider_for(fake_claude, terminate_grace=0.2)

    async def run() -> None:
        events = provider.stream(ask(f"wait [{scenario}]"))
        assert isinstance(events, AsyncGenerator)
        seen: list[str] = []
        if how == "aclose":
            async for event in events:
                if isinstance(event, TextDelta):
                    seen.append(event.text)
                    break
            await events.aclose()
        else:
            started = asyncio.Event()

            async def consume() -> None:
                async for event in events:
                    if isinstance(event, TextDelta):
                        seen.append(event.text)
                        started.set()

            task = asyncio.ensure_future(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # Checked before the event loop ends: closing it would finalize a forgotten
        # generator and hide a provider that stops its child only then.
        cli, child = (int(pid) for pid in seen[0].split()[1:])
        assert reaped(cli), "the CLI is still running or left a zombie"
        assert process_ended(child), "the CLI's child outlived it"

    asyncio.run(run())


# ---------------------------------------------------------------------------- titles


def test_a_title_comes_from_one_unsaved_run(fake_claude: FakeCli) -> None:
    """Guards S4.6: the title is the CLI's answer to the title instruction and the
    opening text, cleaned; the run is not resumed, limited to one turn and not saved
    as a session."""
    opening = "Plan a weekend in Lisbon [reply: **Lisbon Weekend Plans.**]"
    assert asyncio.run(provider_for(fake_claude).title(opening)) == "Lisbon Weekend Plans"
    [call] = fake_claude.calls()
    assert call["argv"] == [*BASE_ARGV, "--max-turns", "1", "--no-session-persistence"]
    assert call["stdin"] == f"{TITLE_INSTRUCTION}\n\n{opening}"
    assert fake_claude.sessions() == []


def test_a_failed_title_is_a_provider_error_not_none(fake_claude: FakeCli) -> None:
    with pytest.raises(ProviderError, match="API Error: 401"):
        asyncio.run(provider_for(fake_claude).title("Hello [fail]"))


# ------------------------------------------------------------------- through send


SPEC = ProviderSpec("claude-code", "Claude Code's CLI", ClaudeCodeProvider.from_settings)


def test_send_keeps_the_session_resumes_it_and_falls_back_when_it_is_gone(
    fake_claude: FakeCli, sqlite_url: str
) -> None:
    """Guards S4.2 end to end through ``Runtime.send``: the first turn stores Claude
    Code's session id on the conversation (and the title comes from Claude Code); the
    second resumes it; once the CLI's sessions are wiped, the third is refused, retried
    once without the session with the four earlier messages injected, recorded as
    ``retried_without_resume``, and its new session id replaces the old."""
    settings = fake_claude.settings()
    with open_store(sqlite_url, settings=settings) as store:
        runtime = runtime_with(AsyncConversationStore(store), SPEC, settings)
        assert isinstance(runtime.provider("claude-code"), ClaudeCodeProvider)
        conversation = store.create_conversation()

        async def send(text: str, **options: Any) -> RunFinished:
            events: list[SendEvent] = [
                event async for event in runtime.send(conversation.id, text, **options)
            ]
            assert any(isinstance(event, ReplyDelta) for event in events)
            last = events[-1]
            assert isinstance(last, RunFinished) and last.error is None, last
            return last

        async def scenario() -> list[RunFinished]:
            first = await send(
                "Plan a weekend [reply: Lisbon Weekend Plans]", provider="claude-code"
            )
            await runtime.settle()  # the title
            second = await send("And food?")
            fake_claude.wipe_sessions()
            third = await send("Anything else?")
            return [first, second, third]

        first, second, third = asyncio.run(scenario())
        assert first.reply.startswith("Lisbon Weekend Plans\n\n(prior messages: 0 via none")
        assert first.run is not None and first.run.usage == {
            "input_tokens": INPUT_TOKENS,
            "output_tokens": len(first.reply.split()),
        }
        session = first.run.provider_session_id
        assert session is not None and re.fullmatch(r"[0-9a-f-]{36}", session)
        assert store.get_conversation(conversation.id).title == "Lisbon Weekend Plans"

        assert second.reply == reply_of("And food?", turns=1)
        assert second.run is not None and second.run.resumed_session_id == session
        assert second.run.provider_session_id == session and not second.run.retried_without_resume

        assert third.reply == reply_of("Anything else?", prior=4, via="system-prompt")
        assert third.run is not None and third.run.retried_without_resume
        assert third.run.resumed_session_id == session
        renewed = store.get_conversation(conversation.id).provider_session_id
        assert renewed == third.run.provider_session_id and renewed not in (None, session)
        assert fake_claude.sessions() == [renewed]
        refused, retried = fake_claude.calls()[-2:]
        assert refused["argv"][-2:] == ["--resume", session]
        assert "--resume" not in retried["argv"] and "--append-system-prompt" in retried["argv"]
        stored = store.get_messages(conversation.id)
        assert [(m.role, m.status) for m in stored] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ] * 3
