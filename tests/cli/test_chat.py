"""``threadkeep chat``, driven as a person drives it: through a pseudo-terminal.

Each session is a real ``python -m threadkeep chat`` on a pty (pexpect): the test
types lines, waits for the prompt and the streamed reply, uses the slash commands, and
then checks through the store what the session wrote. The ``echo`` provider (offline,
the default) replies ``Echo: <message>`` and how many earlier messages it was given,
which makes resume visible on the screen.

Ctrl-C mid-reply needs a reply that does not end on its own: this module run as a
program (``python -m tests.cli.test_chat chat ...``) registers a ``patient`` provider
with the process's plugin manager through the real ``register_providers`` hook, then
runs the real command line. Its reply to a story starts and then waits until the turn
is cancelled, so the interrupt lands mid-reply every time, without timing.

Spawns are few (each costs an interpreter start); the options that fail before the
session starts are checked in-process. pexpect's timeout only guards against a hang.
SQLite only: the session makes the same store calls on every engine, and the store's
suite runs those on both.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from tests.cli.conftest import (
    EXIT_CONFLICT,
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    UNKNOWN_ID,
    assert_error,
    invoke,
)
from threadkeep import ConversationStore, MessageDraft, Settings, open_store
from threadkeep.errors import ProviderError
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import plugin_manager
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    ProviderSpec,
    TextDelta,
)
from threadkeep.transfer.importer import import_paths

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPT = "you> "
TIMEOUT = 30  # hang protection only
ID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database of the chats, handed to the child through the environment."""
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    monkeypatch.setenv("THREADKEEP_DATABASE_URL", url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[ConversationStore]:
    with open_store(db_url, settings=Settings.load()) as opened:
        yield opened


def spawn(*args: str, cwd: Path, module: str = "threadkeep") -> pexpect.spawn:
    """``python -m MODULE ARGS`` on a pseudo-terminal, with this test's environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    # A dumb terminal: Rich prints no colours, so the text reads as typed.
    env.update(TERM="dumb", NO_COLOR="1")
    return pexpect.spawn(
        sys.executable,
        ["-m", module, *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(50, 200),
    )


def say(child: pexpect.spawn, line: str, *expected: str) -> list[str]:
    """Type ``line`` at the prompt, expect each of ``expected`` (regexes) in order and
    then the next prompt; the first group of each match, where it has one."""
    child.sendline(line)
    found = []
    for pattern in expected:
        child.expect(pattern)
        groups = child.match.groups()
        found.append(groups[0] if groups else child.match.group(0))
    child.expect_exact(PROMPT)
    return found


def ended(child: pexpect.spawn) -> int:
    """Wait for the session to end; its exit status."""
    child.expect(pexpect.EOF)
    child.close()
    status: int = child.exitstatus
    return status


def test_a_session_streams_replies_and_runs_every_slash_command(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards the whole interactive path: replies streamed and stored, the title a
    person sets kept, listings, search, export, unknown commands, a new conversation,
    the /resume picker, and the background title written before the process exits."""
    kyoto = store.create_conversation(title="Kyoto in autumn")
    store.append_message(kyoto.id, "user", "When do the maples turn red?")

    child = spawn("chat", cwd=tmp_path)
    child.expect(rf"new conversation {ID}")
    first = child.match.group(1)
    child.expect_exact(PROMPT)
    say(child, "hello there", "Echo: hello there", re.escape("(I was given no earlier messages.)"))
    say(child, "/title Lisbon plans", "title: Lisbon plans")
    say(child, "second message", re.escape("(I was given 2 earlier messages.)"))
    say(child, "/sessions", rf"→ 1 +Lisbon plans +4 .*{first}", r"2 +Kyoto in autumn +1 ")
    say(child, "/search maples", rf"Kyoto in autumn  {kyoto.id}  1 hit", "#1 user  When do the")
    (exported,) = say(child, "/export", r"exported 4 messages as json to (\S+)")
    say(child, "/export lisbon.md", "exported 4 messages as markdown to")
    say(child, "/bogus", "unknown command /bogus: the commands are /new, /resume")
    say(child, "/help", r"/resume \[N\|ID\]", "/quit")

    (second,) = say(child, "/new", rf"new conversation {ID}")
    assert second != first
    say(child, "//etc is a path", "Echo: /etc is a path", "no earlier messages")
    child.sendline("/resume")
    child.expect(rf"→ 1 .*{second}")
    child.expect(rf"2 +Lisbon plans +4 .*{first}")
    child.expect_exact("(Enter: stay here): ")
    say(child, "2", "resumed Lisbon plans", "#3 user", "second message", "#4 assistant")
    say(child, "third", "Echo: third", re.escape("(I was given 4 earlier messages.)"))
    child.sendeof()
    assert ended(child) == 0

    lisbon = store.get_conversation(first)
    assert (lisbon.title, lisbon.provider, lisbon.message_count) == ("Lisbon plans", "echo", 6)
    messages = store.get_messages(first)
    assert [m.role for m in messages] == ["user", "assistant"] * 3
    assert [m.content for m in messages[::2]] == ["hello there", "second message", "third"]
    assert {m.status for m in messages} == {"complete"}
    assert messages[-1].content == "Echo: third\n\n(I was given 4 earlier messages.)"
    assert [run.status for run in store.list_runs(first)] == ["completed"] * 3
    # The title made in the background after the first reply, written before exit.
    assert store.get_conversation(second).title == "/etc is a path"

    document = json.loads(Path(exported).read_text(encoding="utf-8"))
    (exported_conversation,) = document["conversations"]
    assert (exported_conversation["id"], exported_conversation["title"]) == (first, "Lisbon plans")
    assert len(exported_conversation["messages"]) == 4
    assert "Lisbon plans" in (tmp_path / "lisbon.md").read_text(encoding="utf-8")
    with open_store(tmp_path / "reimported.db", settings=Settings.load()) as elsewhere:
        report = import_paths(elsewhere, [Path(exported)])
        assert (report.conversations_imported, report.messages_imported) == (1, 4)


def _conversation(store: ConversationStore, title: str, exchanges: int) -> str:
    conversation = store.create_conversation(title=title)
    drafts = []
    for n in range(1, exchanges + 1):
        drafts += [
            MessageDraft(role="user", content=f"{title} question {n}"),
            MessageDraft(role="assistant", content=f"{title} answer {n}"),
        ]
    store.append_messages(conversation.id, drafts)
    return conversation.id


def test_continue_and_resume_open_an_earlier_conversation(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards resume from the command line: ``--continue`` opens the most recently
    updated conversation and ``--resume ID`` the one named, each showing its last
    messages, and the model is given the earlier messages (echo counts them)."""
    older = _conversation(store, "Older trip", 3)
    latest = _conversation(store, "Latest trip", 1)

    child = spawn("chat", "--continue", cwd=tmp_path)
    child.expect(rf"resumed Latest trip  {latest} · echo · 2 messages")
    child.expect("Latest trip answer 1")
    child.expect_exact(PROMPT)
    say(child, "again", "Echo: again", re.escape("(I was given 2 earlier messages.)"))
    child.sendline("/quit")
    assert ended(child) == 0

    child = spawn("chat", "--resume", older, cwd=tmp_path)
    child.expect(rf"resumed Older trip  {older} · echo · 6 messages")
    child.expect("… 2 earlier messages")
    child.expect("Older trip question 2")
    child.expect("Older trip answer 3")
    child.expect_exact(PROMPT)
    say(child, "once more", "Echo: once more", re.escape("(I was given 6 earlier messages.)"))
    child.sendintr()  # Ctrl-C at an empty prompt leaves
    assert ended(child) == 0

    asked, answered = store.tail_messages(latest, 2)
    assert (asked.content, answered.content) == (
        "again",
        "Echo: again\n\n(I was given 2 earlier messages.)",
    )
    assert store.get_conversation(older).message_count == 8
    assert store.get_conversation(older).title == "Older trip"


def test_ctrl_c_stops_a_reply_keeps_it_and_the_session_goes_on(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against Ctrl-C killing the whole session, losing the partial reply, or
    leaving the run ``running`` (which would hold the conversation's turn): the reply
    stays stored, ``incomplete``, its run ``cancelled``, and the next message is
    answered. A provider's failure is shown as such and fails its run."""
    child = spawn("chat", "--provider", "patient", cwd=REPO_ROOT, module="tests.cli.test_chat")
    child.expect(rf"new conversation {ID} · patient")
    conversation_id = child.match.group(1)
    child.expect_exact(PROMPT)
    child.sendline("tell me a story")
    child.expect_exact("Once upon a time, ")
    child.sendintr()
    child.expect("reply stopped: what arrived is kept, marked incomplete")
    child.expect_exact(PROMPT)
    say(child, "are you there", "Patient: are you there")
    say(child, "please fail", "reply failed: the patient gave up")
    child.sendintr()
    assert ended(child) == 0

    messages = store.get_messages(conversation_id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "tell me a story", "complete"),
        ("assistant", "Once upon a time, ", "incomplete"),
        ("user", "are you there", "complete"),
        ("assistant", "Patient: are you there", "complete"),
        ("user", "please fail", "complete"),
    ]
    runs = store.list_runs(conversation_id)
    assert [(run.status, run.provider) for run in runs] == [
        ("cancelled", "patient"),
        ("completed", "patient"),
        ("failed", "patient"),
    ]
    assert runs[2].error is not None and "the patient gave up" in runs[2].error


def test_options_that_cannot_start_a_session_fail_with_their_exit_code(
    store: ConversationStore, db_url: str
) -> None:
    """Guards the errors before the session: each is one line and a documented exit
    code, and no prompt is shown."""
    conversation = store.create_conversation(title="On echo")
    run = store.start_run(conversation.id, provider="echo")
    store.finish_run(run.id, status="completed")

    line = assert_error(invoke("chat", "--resume", UNKNOWN_ID), EXIT_NOT_FOUND, "not_found")
    assert UNKNOWN_ID in line
    assert_error(invoke("chat", "--resume", "not-an-id"), EXIT_INVALID_INPUT, "invalid_input")
    line = assert_error(invoke("chat", "--provider", "nope"), EXIT_INVALID_INPUT, "invalid_input")
    assert "unknown provider 'nope'" in line and "echo" in line
    line = assert_error(
        invoke("chat", "--resume", conversation.id, "--provider", "openai"),
        EXIT_CONFLICT,
        "conflict",
    )
    assert "'echo' provider" in line
    line = assert_error(
        invoke("chat", "--continue", "--resume", conversation.id),
        EXIT_INVALID_INPUT,
        "invalid_input",
    )
    assert "--continue" in line


# ------------------------------------------------ the child with a patient provider


class Patient:
    """Tells a story that never ends (until its turn is cancelled), fails when asked
    to, and answers anything else at once."""

    name = "patient"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        text = str(request.messages[-1].get("content", ""))
        if "story" in text:
            yield TextDelta("Once upon a time, ")
            await asyncio.Event().wait()  # until Ctrl-C cancels the turn
        if "fail" in text:
            raise ProviderError("the patient gave up")
        yield TextDelta(f"Patient: {text}")

    async def title(self, text: str) -> str | None:
        return None


class PatientPlugin:
    @hookimpl
    def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(ProviderSpec("patient", "waits for Ctrl-C", lambda settings: Patient()))


def chat_with_a_patient_provider() -> None:
    """The command line, with the ``patient`` provider registered beside the rest."""
    from threadkeep.cli.main import main

    plugin_manager().register(PatientPlugin())
    main()


if __name__ == "__main__":
    chat_with_a_patient_provider()
