"""The state of a ``threadkeep chat`` session and its slash commands.

A :class:`ChatSession` knows which conversation the person is in, which provider and
model its turns go to, and the last numbered listing it showed (so ``/resume 2`` picks
what ``/sessions`` numbered, even if another process wrote meanwhile). The commands run
on the calling thread through the sync store — each is one or two store calls, and the
event loop in ``chat.py`` is only needed for the turns themselves.

A new conversation gets its id at once (shown in the header) but is created in the
store only with its first message, a title or an export: opening ``chat`` and leaving
does not leave an empty conversation behind.

Listings read one small page (``RECENT`` conversations, each with its message count
and no messages); a resumed conversation shows only its last ``TAIL`` messages, so a
conversation of any length opens at once. One provider per conversation (SPEC S4.4): a
``--provider`` that differs from the conversation's is ``Conflict``, checked when the
conversation is opened, before anything is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from threadkeep.cli.output import (
    UNTITLED,
    ago,
    counted,
    kinds,
    message_heading,
    new_table,
    note,
    provider_model,
    say,
    show_table,
    stdout,
    title_text,
)
from threadkeep.cli.search import print_groups
from threadkeep.cli.terminal import one_line, printable
from threadkeep.errors import Conflict, InvalidInput
from threadkeep.ids import new_id
from threadkeep.models import Conversation, Message
from threadkeep.runtime.send import DEFAULT_PROVIDER, Runtime
from threadkeep.store import ConversationStore
from threadkeep.transfer.exporter import export_to_path

__all__ = ["COMMANDS", "RECENT", "TAIL", "ChatSession", "Command"]

#: How many conversations ``/sessions`` and ``/resume`` list.
RECENT = 10
#: How many of its last messages a resumed conversation shows.
TAIL = 4
# A message shown on resume is cut to this many characters and lines.
_CLIP_CHARS = 800
_CLIP_LINES = 10
#: How many hits ``/search`` shows.
SEARCH_HITS = 20


def _clipped(text: str) -> str:
    lines = text[:_CLIP_CHARS].splitlines()[:_CLIP_LINES]
    shown = "\n".join(lines)
    if len(text) > _CLIP_CHARS or text.count("\n") >= _CLIP_LINES:
        return shown.rstrip() + " …"
    return shown


class ChatSession:
    """One person's chat: the conversation they are in and how its turns are sent.

    ``provider``/``model``: the ``--provider``/``--model`` flags (``None``: the
    conversation's, else the default); ``ask``: reads an answer (the ``/resume``
    picker), ``input`` by default.
    """

    def __init__(
        self,
        store: ConversationStore,
        runtime: Runtime,
        *,
        provider: str | None = None,
        model: str | None = None,
        ask: Callable[[str], str] = input,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.provider = provider
        self.model = model
        self.ask = ask
        self.conversation_id = new_id()
        self.conversation: Conversation | None = None  # None: not stored yet
        self.listed: list[Conversation] = []

    # ------------------------------------------------------------ the conversation

    @property
    def provider_name(self) -> str:
        """The provider this session's turns go to."""
        known = None if self.conversation is None else self.conversation.provider
        return self.provider or known or DEFAULT_PROVIDER

    @property
    def send_model(self) -> str | None:
        """The model to send with: ``--model``, else the one the conversation last used."""
        if self.model is not None or self.conversation is None:
            return self.model
        return self.conversation.model

    def start_new(self) -> None:
        """Begin a new conversation (stored with its first message) and say so."""
        self.conversation_id = new_id()
        self.conversation = None
        self.runtime.provider(self.provider_name)  # an unknown name: InvalidInput
        line = Text("new conversation ", style="bold")
        line.append(self.conversation_id, style="cyan")
        line.append(f" · {provider_model(self.provider_name, self.model)}", style="dim")
        stdout.print(line, soft_wrap=True)

    def open(self, conversation: Conversation) -> None:
        """Continue ``conversation``: check its provider, show where it left off."""
        if self.provider and conversation.provider and conversation.provider != self.provider:
            raise Conflict(
                f"conversation {conversation.id} runs on the {conversation.provider!r} "
                f"provider and a conversation keeps its provider: continue it without "
                f"--provider, or start a new conversation to use {self.provider!r}"
            )
        self.runtime.provider(self.provider or conversation.provider or DEFAULT_PROVIDER)
        self.conversation_id = conversation.id
        self.conversation = conversation
        self._show_resumed(conversation)

    def open_latest(self) -> None:
        """``--continue``: the most recently updated conversation, or a new one."""
        page = self.store.list_conversations(limit=1)
        if not page.items:
            note("no conversation to continue yet: starting a new one")
            self.start_new()
            return
        self.open(page.items[0])

    def stored(self) -> Conversation:
        """The conversation, created in the store now if it was not yet."""
        if self.conversation is None:
            self.conversation = self.store.create_conversation(id=self.conversation_id)
        return self.conversation

    def refresh(self) -> None:
        """Read the conversation again (after a turn: its count, provider, title)."""
        if self.conversation is not None:
            self.conversation = self.store.get_conversation(self.conversation_id)

    def _show_resumed(self, conversation: Conversation) -> None:
        line = Text("resumed ", style="bold")
        line.append_text(title_text(conversation.title))
        line.append(f"  {conversation.id}", style="cyan")
        details = [
            provider_model(self.provider_name, self.send_model),
            counted(conversation.message_count, "message"),
            f"updated {ago(conversation.updated_at)}",
        ]
        if conversation.status != "active":
            details.append(conversation.status)
        line.append(" · " + " · ".join(details), style="dim")
        stdout.print(line, soft_wrap=True)
        tail = self.store.tail_messages(conversation.id, TAIL) if conversation.message_count else []
        earlier = conversation.message_count - len(tail)
        if earlier > 0:
            stdout.print(
                Text(
                    f"… {counted(earlier, 'earlier message')} "
                    f"(`threadkeep show {conversation.id}` prints them all)",
                    style="dim",
                ),
                soft_wrap=True,
            )
        for message in tail:
            _show_message(message)
        if tail:
            stdout.rule(style="dim")

    # ------------------------------------------------------------ the commands

    def run(self, line: str) -> bool:
        """Run the slash command ``line``; ``False`` when it ends the session."""
        name, _, argument = line.strip().partition(" ")
        command = COMMANDS.get(name.lower())
        if command is None:
            note(
                f"unknown command {one_line(name)}: the commands are "
                f"{', '.join(COMMANDS)} (/help says what each does); "
                f"to send a message that starts with '/', start it with '//'"
            )
            return True
        return command.action(self, argument.strip()) is not False

    def new(self, argument: str) -> None:
        self.start_new()

    def sessions(self, argument: str) -> None:
        self._list_recent()

    def resume(self, argument: str) -> None:
        if not argument:
            if not self._list_recent():
                return
            try:
                argument = self.ask("resume which? a number or an id (Enter: stay here): ").strip()
            except (EOFError, KeyboardInterrupt):
                argument = ""
                stdout.print()
            if not argument:
                note("staying in this conversation")
                return
        self.open(self._chosen(argument))

    def _chosen(self, argument: str) -> Conversation:
        if not argument.isdigit():
            return self.store.get_conversation(argument)  # NotFound, InvalidInput
        listed = self.listed or self.store.list_conversations(limit=RECENT).items
        number = int(argument)
        if not 1 <= number <= len(listed):
            raise InvalidInput(
                f"no conversation numbered {number} in the list: choose 1 to {len(listed)}"
                if listed
                else "there are no conversations to resume yet"
            )
        # Read again: the listing may be a few turns old.
        return self.store.get_conversation(listed[number - 1].id)

    def _list_recent(self) -> bool:
        """Print the recent conversations, numbered; ``False`` if there are none."""
        self.listed = self.store.list_conversations(limit=RECENT).items
        if not self.listed:
            note("no conversations yet")
            return False
        table = new_table()
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("Title", min_width=12, overflow="fold")
        table.add_column("Msgs", justify="right", no_wrap=True)
        table.add_column("Updated", no_wrap=True)
        table.add_column("ID", no_wrap=True, min_width=36, style="cyan")
        now = dt.datetime.now(dt.UTC)
        for number, item in enumerate(self.listed, start=1):
            # The arrow marks the conversation the person is in.
            mark = f"→ {number}" if item.id == self.conversation_id else str(number)
            table.add_row(
                mark,
                title_text(item.title, pinned=item.pinned),
                f"{item.message_count:,}",
                ago(item.updated_at, now),
                item.id,
            )
        show_table(table)
        return True

    def title(self, argument: str) -> None:
        if not argument:
            shown = self.conversation.title if self.conversation is not None else None
            say(f"title: {shown or UNTITLED} (/title NEW sets it)")
            return
        if self.conversation is None:
            self.conversation = self.store.create_conversation(
                id=self.conversation_id, title=argument
            )
        else:
            self.conversation = self.store.update_conversation(self.conversation_id, title=argument)
        say(f"title: {self.conversation.title}")

    def search(self, argument: str) -> None:
        if not argument:
            raise InvalidInput('/search needs a query: words, "a phrase", prefix*, -excluded')
        page = self.store.search(argument, limit=SEARCH_HITS)
        if not page.items:
            note("no matches")
            return
        print_groups(page.items)
        more = " (more: threadkeep search)" if page.next_cursor else ""
        note(f"/resume ID opens one{more}")

    def export(self, argument: str) -> None:
        if self.conversation is None:
            note("nothing to export yet: this conversation has no messages")
            return
        path = (
            Path(argument).expanduser()
            if argument
            else Path(f"threadkeep-{self.conversation_id}.json")
        )
        report = export_to_path(self.store, path, conversation_ids=[self.conversation_id])
        written = (report.path or path).resolve()
        say(f"exported {counted(report.messages, 'message')} as {report.format} to {written}")
        note(f"redacted: {kinds(report.redacted)}")

    def help(self, argument: str) -> None:
        table = new_table("Command", "What it does")
        for name, command in COMMANDS.items():
            table.add_row(f"{name} {command.usage}".rstrip(), command.summary)
        show_table(table)
        note(
            "Ctrl-C stops a reply (what arrived is kept, marked incomplete); Ctrl-C or "
            "Ctrl-D at the prompt leaves. A message that starts with '/' is sent as "
            "'//message'."
        )

    def quit(self, argument: str) -> bool:
        return False


def _show_message(message: Message) -> None:
    stdout.print(message_heading(message), soft_wrap=True)
    stdout.print(
        printable(_clipped(message.content)),
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


@dataclass(frozen=True)
class Command:
    """A slash command: its arguments as shown in ``/help``, what it does, and its action
    (which returns ``False`` to end the session)."""

    usage: str
    summary: str
    action: Callable[[ChatSession, str], bool | None]


COMMANDS: dict[str, Command] = {
    "/new": Command("", "start a new conversation", ChatSession.new),
    "/resume": Command(
        "[N|ID]", "continue another conversation: pick from the recent ones", ChatSession.resume
    ),
    "/sessions": Command("", f"list the {RECENT} most recent conversations", ChatSession.sessions),
    "/title": Command("[NEW]", "show or set this conversation's title", ChatSession.title),
    "/search": Command("QUERY", "search every conversation", ChatSession.search),
    "/export": Command(
        "[PATH]",
        "write this conversation to a file (.json, .jsonl, .md; default "
        "threadkeep-ID.json here), secrets masked",
        ChatSession.export,
    ),
    "/help": Command("", "this list", ChatSession.help),
    "/quit": Command("", "leave (also /exit, Ctrl-D)", ChatSession.quit),
    "/exit": Command("", "leave", ChatSession.quit),
}
