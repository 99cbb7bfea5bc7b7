"""The interface every benchmarked system implements, and the factory that opens one.

The workloads are written once, against :class:`System`. Its operations are coroutines
so that the OpenAI Agents SDK session, whose API is async, runs inside one event loop
exactly as an app would call it; the sync systems implement them as coroutines that
never suspend, which costs a plain function call (no event-loop scheduling), so the
timings stay comparable.

A system is opened by name with :func:`open_system`. Each system's module is imported
only when that system is opened: every job runs in its own subprocess, so a process
loads one SQLite library and one system's dependencies, and its peak memory is its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "SYSTEMS",
    "ListedConversation",
    "Role",
    "Synchronous",
    "System",
    "SystemName",
    "open_system",
]

Role = Literal["user", "assistant"]
Synchronous = Literal["FULL", "NORMAL"]
SystemName = Literal["baseline", "threadkeep", "sqlitesession", "langchain"]

#: Every system, in the order the report shows them.
SYSTEMS: tuple[SystemName, ...] = ("baseline", "threadkeep", "sqlitesession", "langchain")

#: What a listing returns per conversation: its message count and its preview.
ListedConversation = tuple[int, str | None]


class System(Protocol):
    """One conversation store under test, open on one database file."""

    @property
    def supports_list(self) -> bool:
        """Whether the system can list its conversations (W4)."""
        ...

    @property
    def tail_reads_everything(self) -> bool:
        """Whether reading the last N messages reads the whole conversation."""
        ...

    def describe(self) -> str:
        """Its durability settings as in effect: journal mode and ``synchronous``."""
        ...

    def effective_synchronous(self) -> Synchronous:
        """The ``synchronous`` level it runs at, to pick the baseline to compare with."""
        ...

    async def new_conversation(self) -> str:
        """Create an empty conversation and return its key."""
        ...

    async def append(self, conversation: str, role: Role, content: str) -> None:
        """Append one message, durably as the system ships (one call, one commit)."""
        ...

    async def append_batch(self, conversation: str, messages: Sequence[tuple[Role, str]]) -> None:
        """Append several messages in one call; used to build fixtures, never timed."""
        ...

    async def tail(self, conversation: str, count: int) -> list[str]:
        """The contents of the last ``count`` messages, oldest first."""
        ...

    async def list_recent(self, count: int) -> list[ListedConversation]:
        """The ``count`` most recently updated conversations, newest first."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...


def open_system(name: SystemName, path: Path, synchronous: Synchronous) -> System:
    """Open ``name`` on the SQLite file ``path``.

    ``synchronous`` applies to the baseline and threadkeep; the peers run as they ship
    and ignore it (their :meth:`System.describe` says what they use).
    """
    if name == "baseline":
        from bench.baseline import RawSqliteBaseline

        return RawSqliteBaseline(path, synchronous)
    if name == "threadkeep":
        from bench.threadkeep_adapter import ThreadkeepSystem

        return ThreadkeepSystem(path, synchronous)
    if name == "sqlitesession":
        from bench.peers import AgentsSQLiteSession

        return AgentsSQLiteSession(path)
    if name == "langchain":
        from bench.peers import LangChainSQLHistory

        return LangChainSQLHistory(path)
    raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
