"""The peers, used as their documentation shows and run as they ship (no tuning).

* OpenAI Agents SDK :class:`agents.SQLiteSession` on a file: one session object per
  conversation (its ``session_id``), ``add_items`` with one item per call, tail =
  ``get_items(limit=n)``. Its API is async; each call hops to a worker thread
  (``asyncio.to_thread``) where the session keeps a connection per thread. The loop's
  default executor is given a single worker, so all calls use one connection per session,
  as the other systems do. It sets WAL and leaves ``synchronous`` at SQLite's default.
* LangChain :class:`langchain_community.chat_message_histories.SQLChatMessageHistory`
  on a SQLite file through one shared SQLAlchemy engine: one history per conversation,
  ``add_message`` per message, ``add_messages`` for fixtures. It has no way to read only
  the last messages: tail = ``.messages[-n:]`` reads the whole conversation. It leaves the
  journal mode (rollback journal) and ``synchronous`` at SQLite's defaults.

Neither can list conversations (W4 is "n/a"). Both use the standard library's ``sqlite3``
internally, so they run in their own subprocesses on their own files, never beside
threadkeep's SQLite library.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bench.systems import ListedConversation, Role, Synchronous

if TYPE_CHECKING:
    from agents import SQLiteSession
    from agents.items import TResponseInputItem
    from langchain_community.chat_message_histories import SQLChatMessageHistory
    from langchain_core.messages import BaseMessage
    from sqlalchemy.engine import Engine

__all__ = ["AgentsSQLiteSession", "LangChainSQLHistory", "shipped_settings"]

_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def shipped_settings(path: Path) -> tuple[str, Synchronous]:
    """What a fresh connection to ``path`` runs at when nothing sets it: the peers' setting.

    Neither peer sets ``synchronous``, so its level is the SQLite default a new
    connection reports; the journal mode is stored in the file.
    """
    conn = sqlite3.connect(str(path))
    try:
        level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()
    name = _SYNCHRONOUS_NAMES.get(level, str(level))
    described = (
        f"{'WAL' if journal.lower() == 'wal' else f'journal_mode={journal}'}, "
        f"synchronous={name} (as shipped; SQLite {sqlite3.sqlite_version} via stdlib sqlite3)"
    )
    return described, "NORMAL" if name in ("NORMAL", "OFF") else "FULL"


class AgentsSQLiteSession:
    """OpenAI Agents SDK ``SQLiteSession`` as a :class:`bench.systems.System`."""

    supports_list = False
    tail_reads_everything = False

    def __init__(self, path: Path) -> None:
        self._path = path
        self._sessions: dict[str, SQLiteSession] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agents-session")
        self._executor_set = False

    def _session(self, key: str) -> SQLiteSession:
        if not self._executor_set:
            asyncio.get_running_loop().set_default_executor(self._executor)
            self._executor_set = True
        session = self._sessions.get(key)
        if session is None:
            from agents import SQLiteSession

            session = SQLiteSession(key, self._path)
            self._sessions[key] = session
        return session

    def describe(self) -> str:
        return shipped_settings(self._path)[0]

    def effective_synchronous(self) -> Synchronous:
        return shipped_settings(self._path)[1]

    async def new_conversation(self) -> str:
        key = str(uuid.uuid4())
        self._session(key)
        return key

    async def append(self, conversation: str, role: Role, content: str) -> None:
        item = cast("TResponseInputItem", {"role": role, "content": content})
        await self._session(conversation).add_items([item])

    async def append_batch(self, conversation: str, messages: Sequence[tuple[Role, str]]) -> None:
        items = [
            cast("TResponseInputItem", {"role": role, "content": content})
            for role, content in messages
        ]
        await self._session(conversation).add_items(items)

    async def tail(self, conversation: str, count: int) -> list[str]:
        items = await self._session(conversation).get_items(limit=count)
        return [str(cast("dict[str, object]", item)["content"]) for item in items]

    async def list_recent(self, count: int) -> list[ListedConversation]:
        raise NotImplementedError("SQLiteSession cannot list sessions")

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._executor.shutdown(wait=True)


class LangChainSQLHistory:
    """LangChain ``SQLChatMessageHistory`` as a :class:`bench.systems.System`."""

    supports_list = False
    tail_reads_everything = True

    def __init__(self, path: Path) -> None:
        from langchain_core.messages import AIMessage, HumanMessage
        from sqlalchemy import create_engine

        self._path = path
        self._engine: Engine = create_engine(f"sqlite:///{path}")
        self._histories: dict[str, SQLChatMessageHistory] = {}
        self._human = HumanMessage
        self._ai = AIMessage

    def _history(self, key: str) -> SQLChatMessageHistory:
        history = self._histories.get(key)
        if history is None:
            from langchain_community.chat_message_histories import SQLChatMessageHistory

            history = SQLChatMessageHistory(session_id=key, connection=self._engine)
            self._histories[key] = history
        return history

    def _message(self, role: Role, content: str) -> BaseMessage:
        if role == "user":
            return self._human(content=content)
        return self._ai(content=content)

    def describe(self) -> str:
        return shipped_settings(self._path)[0]

    def effective_synchronous(self) -> Synchronous:
        return shipped_settings(self._path)[1]

    async def new_conversation(self) -> str:
        key = str(uuid.uuid4())
        self._history(key)
        return key

    async def append(self, conversation: str, role: Role, content: str) -> None:
        self._history(conversation).add_message(self._message(role, content))

    async def append_batch(self, conversation: str, messages: Sequence[tuple[Role, str]]) -> None:
        self._history(conversation).add_messages(
            [self._message(role, content) for role, content in messages]
        )

    async def tail(self, conversation: str, count: int) -> list[str]:
        return [str(m.content) for m in self._history(conversation).messages[-count:]]

    async def list_recent(self, count: int) -> list[ListedConversation]:
        raise NotImplementedError("SQLChatMessageHistory cannot list sessions")

    def close(self) -> None:
        self._histories.clear()
        self._engine.dispose()
