"""threadkeep's sync store as a :class:`bench.systems.System`, used through its public API.

``open_store(path, settings=Settings(sqlite_synchronous=...))`` with every other setting
at its default (the runner clears ``THREADKEEP_*`` variables and points
``THREADKEEP_HOME`` at the job's directory, so a user's configuration cannot leak in).
Appends are ``append_message`` (one call, one ``BEGIN IMMEDIATE`` transaction, durable at
the setting), fixtures use ``append_messages``, tail is ``tail_messages`` and the listing
is ``list_conversations(limit=n)`` — the default listing (active conversations of the
store's owner, most recently updated first).

:meth:`ThreadkeepSystem.describe` reads the journal mode and ``synchronous`` back from a
pooled connection, so the report shows what is in effect rather than what was asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.systems import ListedConversation, Role, Synchronous
from threadkeep import MessageDraft, Settings, open_store

__all__ = ["ThreadkeepSystem"]

_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class ThreadkeepSystem:
    """The store under test."""

    supports_list = True
    tail_reads_everything = False

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        self._synchronous: Synchronous = synchronous
        self._store = open_store(path, settings=Settings(sqlite_synchronous=synchronous))

    def describe(self) -> str:
        database = self._store.database
        with database.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        name = _SYNCHRONOUS_NAMES.get(int(level or 0), str(level))
        library = database.sqlite.describe() if database.sqlite is not None else "?"
        return f"journal_mode={journal}, synchronous={name} ({library})"

    def effective_synchronous(self) -> Synchronous:
        return self._synchronous

    async def new_conversation(self) -> str:
        return self._store.create_conversation().id

    async def append(self, conversation: str, role: Role, content: str) -> None:
        self._store.append_message(conversation, role, content)

    async def append_batch(self, conversation: str, messages: Sequence[tuple[Role, str]]) -> None:
        self._store.append_messages(
            conversation, [MessageDraft(role=role, content=content) for role, content in messages]
        )

    async def tail(self, conversation: str, count: int) -> list[str]:
        return [message.content for message in self._store.tail_messages(conversation, count)]

    async def list_recent(self, count: int) -> list[ListedConversation]:
        page = self._store.list_conversations(limit=count)
        return [(item.message_count, item.preview) for item in page.items]

    def close(self) -> None:
        self._store.close()
