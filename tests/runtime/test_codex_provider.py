"""The ``codex`` provider (SPEC S4.3, S4.2) against a fake ``codex`` executable.

Every test runs :class:`CodexProvider` as shipped: it spawns the fake ``codex`` of
``tests/runtime/fake_cli`` (a real child process, spoken to through its argv, stdin and
stdout) which prints the events of ``codex exec --json``, keeps its threads on disk and
refuses an unknown thread as Codex does. Nothing of ours is mocked. Spawns are kept
few: each test checks all it can of one run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.fake_cli.codex import LEAKED_KEY
from tests.runtime.fake_cli.harness import (
    FakeCli,
    fake_codex_fixture,  # noqa: F401 (registers the fake_codex fixture here)
    process_ended,
    reaped,
    runtime_with,
)
from tests.runtime.streams import ask, events_before_failure, events_of, text_of
from threadkeep import AsyncConversationStore, Settings, open_store
from threadkeep.errors import ProviderError, ProviderSessionInvalid
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
from threadkeep.runtime.providers.cli_prompt import CONTEXT_HEADING, TITLE_INSTRUCTION
from threadkeep.runtime.providers.codex import INSTALL_HINT, CodexProvider
from threadkeep.runtime.send import ReplyDelta, RunFinished, SendEvent

BASE_ARGV = ["exec", "--json", "--skip-git-repo-check"]
CACHED = 3456  # the fake's cached_input_tokens, part of its input_tokens


def provider_for(fake: FakeCli, **options: Any) -> CodexProvider:
    return CodexProvider(command=str(fake.command), cwd=str(fake.cwd), **options)


def reply_of(message: str, *, prior: int = 0, turns: int = 0, model: str = "default") -> str:
    """What the fake answers to ``message`` (see ``fake_cli/common.py``)."""
    via = "prompt" if prior else "none"
    return (
        f"Codex heard: {message}\n\n"
        f"(prior messages: {prior} via {via}; session turns: {turns}; model: {model})"
    )


def usage_of(prompt: str, reply: str) -> Usage:
    """The fake's usage: 12,000 tokens of its own instructions and the prompt's words."""
    return Usage(input_tokens=12_000 + len(prompt.split()), output_tokens=len(reply.split()))


def sessions_of(events: list[ProviderEvent]) -> list[str]:
    return [event.session_id for event in events if isinstance(event, SessionStarted)]


# --------------------------------------------------------------------------- replies


def test_a_run_reports_its_thread_and_the_next_run_resumes_it(
    fake_codex: FakeCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the run and S4.2's resume: made from the settings with the command looked
    up on PATH, Codex gets ``exec --json --skip-git-repo-check`` and the prompt on stdin
    (``-``) in cli_provider_cwd; the thread id comes first, the answer, then the usage
    of ``turn.completed``. The next run is ``exec … resume <id> -`` with the options
    before the subcommand: the fake finds the thread on disk."""
    monkeypatch.setenv("PATH", f"{fake_codex.command.parent}:{Path('/usr/bin')}:/bin")
    provider = CodexProvider.from_settings(
        Settings(codex_command="codex", cli_provider_cwd=str(fake_codex.cwd))
    )
    events = events_of(provider, ask("Where should I go in May?"))
    [thread] = fake_codex.sessions()
    reply = reply_of("Where should I go in May?")
    assert events == [
        SessionStarted(thread),
        TextDelta(reply),
        usage_of("Where should I go in May?", reply),
    ]
    [call] = fake_codex.calls()
    assert call["argv"] == [*BASE_ARGV, "-"]
    assert call["stdin"] == "Where should I go in May?"
    assert call["cwd"] == str(fake_codex.cwd)

    again = events_of(provider, ask("And in June?", session_id=thread, model="gpt-5-codex"))
    assert sessions_of(again) == [thread]
    assert text_of(again) == reply_of("And in June?", turns=1, model="gpt-5-codex")
    assert fake_codex.calls()[-1]["argv"] == [
        *BASE_ARGV,
        "--model",
        "gpt-5-codex",
        "resume",
        thread,
        "-",
    ]
    assert fake_codex.sessions() == [thread]


def test_tool_items_become_calls_and_results_and_messages_stay_apart(
    fake_codex: FakeCli,
) -> None:
    """Guards the items: reasoning is not reply text; a command is a ToolCall when it
    starts and a ToolResult with its output and non-zero exit code when it completes; a
    file change reported only as completed gives both at once; two agent messages in a
    row are kept apart by a blank line."""
    message = "Tidy the notes [tool] [two-messages]"
    events = events_of(provider_for(fake_codex), ask(message))
    reply = reply_of(message)
    assert events[1:] == [
        ToolCall(call_id="item_1", name="command_execution", arguments={"command": "bash -lc ls"}),
        ToolResult(call_id="item_1", content="notes.md\nplan.txt\n\n(exit code 2)"),
        ToolCall(
            call_id="item_2",
            name="file_change",
            arguments={"changes": [{"path": "notes.md", "kind": "update"}]},
        ),
        ToolResult(call_id="item_2", content="completed: update notes.md"),
        TextDelta("First."),
        TextDelta("\n\n"),
        TextDelta(reply),
        usage_of(message, reply),
    ]


def test_without_a_session_the_prior_context_heads_the_prompt(fake_codex: FakeCli) -> None:
    """Guards S4.1 for Codex, which has no system-prompt option: the system text and the
    earlier messages head the stdin prompt in <context> tags, the new message after."""
    request = ProviderRequest(
        messages=(
            {"role": "user", "content": "Plan a trip to Lisbon"},
            {"role": "assistant", "content": "Three days is enough."},
            {"role": "user", "content": "What about food?"},
        ),
        system="Be brief.",
        prior_messages=2,
    )
    events = events_of(provider_for(fake_codex), request)
    assert text_of(events) == reply_of("What about food?", prior=2)
    [call] = fake_codex.calls()
    assert call["argv"] == [*BASE_ARGV, "-"]
    assert call["stdin"] == (
        f"<context>\nBe brief.\n\n{CONTEXT_HEADING}\n\nuser: Plan a trip to Lisbon\n\n"
        "assistant: Three days is enough.\n</context>\n\nWhat about food?"
    )


# ---------------------------------------------------------------------------- resume


@pytest.mark.parametrize("release", ["current", "older"])
def test_an_unknown_thread_is_refused_before_any_event(
    fake_codex: FakeCli, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    """Guards S4.2: current Codex refuses an unknown thread on stderr ("no rollout found
    for thread id", exit 1); older releases quietly started a new thread, which the
    provider sees in ``thread.started`` and stops. Both are ProviderSessionInvalid
    before the first event, so the pipeline retries with the prior context."""
    if release == "older":
        monkeypatch.setenv("FAKE_CODEX_RESUME_UNKNOWN", "new-thread")
    missing = "019a0000-0000-7000-8000-00000000dead"
    events, error = events_before_failure(
        provider_for(fake_codex), ask("hello", session_id=missing), ProviderSessionInvalid
    )
    assert events == []
    assert missing in str(error)
    said = "no rollout found for thread id" if release == "current" else "started a new thread"
    assert said in str(error)
    assert fake_codex.calls()[-1]["argv"] == [*BASE_ARGV, "resume", missing, "-"]


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("scenario", "said"),
    [
        ("fail", "reported that the turn failed: unexpected status 401 Unauthorized"),
        ("garbage", "not a JSON object, so its output cannot be read: Reading prompt"),
        ("legacy-format", "older Codex release, which this provider does not read; update"),
    ],
)
def test_a_failed_run_is_a_provider_error_with_the_clis_words(
    fake_codex: FakeCli, scenario: str, said: str
) -> None:
    """Guards against a reply quietly cut short: ``turn.failed`` (after reconnection
    ``error`` events that alone are not fatal), output that is not JSON, and the
    ``{"id", "msg"}`` lines of an older Codex are each a ProviderError naming the CLI
    with its own words, a key in them redacted."""
    events, error = events_before_failure(provider_for(fake_codex), ask(f"go [{scenario}]"))
    message = str(error)
    assert f"{fake_codex.command} (the codex provider)" in message
    assert said in message
    assert LEAKED_KEY not in message and LEAKED_KEY[8:30] not in message
    assert text_of(events) == ""


def test_a_missing_cli_names_the_setting() -> None:
    events, error = events_before_failure(CodexProvider(command="no-such-codex-here"), ask())
    assert events == []
    assert "codex_command" in str(error) and "THREADKEEP_CODEX_COMMAND" in str(error)
    assert INSTALL_HINT in str(error) and "npm install -g @openai/codex" in INSTALL_HINT


def test_closing_the_stream_kills_and_reaps_codex_and_its_children(fake_codex: FakeCli) -> None:
    """Guards against orphans and zombies: a run closed mid-reply ends Codex and the
    command it started (in its process group, ignoring SIGTERM, holding its stdout);
    Codex is reaped."""
    provider = provider_for(fake_codex, terminate_grace=0.2)

    async def run() -> None:
        events = provider.stream(ask("wait [hang-stubborn]"))
        assert isinstance(events, AsyncGenerator)
        async for event in events:
            if isinstance(event, TextDelta):
                break
        await events.aclose()
        # Checked before the event loop ends (see the claude-code test of this).
        cli, child = (int(pid) for pid in event.text.split()[1:])
        assert reaped(cli), "codex is still running or left a zombie"
        assert process_ended(child), "codex's child outlived it"

    asyncio.run(run())


# ---------------------------------------------------------------------------- titles


def test_a_title_comes_from_one_read_only_ephemeral_run(fake_codex: FakeCli) -> None:
    """Guards S4.6: the title is Codex's answer to the instruction and the opening text,
    cleaned; the run is not resumed, read-only, and keeps no session file; a failed run
    is ProviderError, never ``None``."""
    opening = "Plan a weekend in Lisbon [reply: Title: Lisbon Weekend Plans!]"
    provider = provider_for(fake_codex)
    assert asyncio.run(provider.title(opening)) == "Lisbon Weekend Plans"
    [call] = fake_codex.calls()
    assert call["argv"] == [*BASE_ARGV, "--sandbox", "read-only", "--ephemeral", "-"]
    assert call["stdin"] == f"{TITLE_INSTRUCTION}\n\n{opening}"
    assert fake_codex.sessions() == []
    with pytest.raises(ProviderError, match="turn failed"):
        asyncio.run(provider.title("Hello [fail]"))


# ------------------------------------------------------------------- through send


SPEC = ProviderSpec("codex", "the Codex CLI", CodexProvider.from_settings)


def test_send_keeps_the_thread_resumes_it_and_falls_back_when_it_is_gone(
    fake_codex: FakeCli, sqlite_url: str
) -> None:
    """Guards S4.2 end to end through ``Runtime.send``: the first turn stores Codex's
    thread id on the conversation (and the title comes from Codex); the second resumes
    it; once Codex's threads are wiped, the third is refused, retried once without the
    thread with the four earlier messages injected, recorded as
    ``retried_without_resume``, and its new thread id replaces the old."""
    settings = fake_codex.settings()
    with open_store(sqlite_url, settings=settings) as store:
        runtime = runtime_with(AsyncConversationStore(store), SPEC, settings)
        assert isinstance(runtime.provider("codex"), CodexProvider)
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
            first = await send("Plan a weekend [reply: Lisbon Weekend Plans]", provider="codex")
            await runtime.settle()  # the title
            second = await send("And food?")
            fake_codex.wipe_sessions()
            third = await send("Anything else?")
            return [first, second, third]

        first, second, third = asyncio.run(scenario())
        assert first.reply.startswith("Lisbon Weekend Plans\n\n(prior messages: 0 via none")
        assert first.run is not None and first.run.usage is not None
        assert first.run.usage["input_tokens"] > CACHED
        thread = first.run.provider_session_id
        assert thread is not None
        assert store.get_conversation(conversation.id).title == "Lisbon Weekend Plans"

        assert second.reply == reply_of("And food?", turns=1)
        assert second.run is not None and second.run.resumed_session_id == thread
        assert second.run.provider_session_id == thread and not second.run.retried_without_resume

        assert third.reply == reply_of("Anything else?", prior=4)
        assert third.run is not None and third.run.retried_without_resume
        renewed = store.get_conversation(conversation.id).provider_session_id
        assert renewed == third.run.provider_session_id and renewed not in (None, thread)
        assert fake_codex.sessions() == [renewed]
        refused, retried = fake_codex.calls()[-2:]
        assert refused["argv"] == [*BASE_ARGV, "resume", thread, "-"]
        assert retried["argv"] == [*BASE_ARGV, "-"]
        assert retried["stdin"].startswith(f"<context>\n{CONTEXT_HEADING}\n\nuser: Plan a weekend")
