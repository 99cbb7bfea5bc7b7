"""The listing query walks its index (SPEC S3.3: cost grows with the page, not with the
number of conversations).

With 100,000 conversations in the table, every statement the store sends while
``list_conversations`` runs is captured and explained as sent: on SQLite
``EXPLAIN QUERY PLAN`` must show a search of ``ix_conversations_listing`` — or, for the
pinned phase of a pinned-first listing (``pinned = 1``), of the partial index
``ix_conversations_pinned`` — and no ``USE TEMP B-TREE FOR ORDER BY``; on PostgreSQL
(after ``ANALYZE``) ``EXPLAIN`` must show an index scan of the same index and no Sort
node. The first page, a cursor page, and the page where a pinned-first listing passes
from pinned to unpinned conversations are all checked. No timings: the plan is what
makes the cost independent of the table size.

Capture: on PostgreSQL a ``before_cursor_execute`` listener (statement and parameters);
on SQLite the hot paths run prepared statements on the DB-API cursor
(``db/prepared.py``), below SQLAlchemy's events, so SQLite's own trace callback is set
on the pooled connections instead; it reports each statement with its parameters
expanded in place, which is then explained as is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from threadkeep import Conversation, ConversationStore, Page
from threadkeep.db.schema import conversations

COUNT = 100_000
OWNER = "local"
PAGE = 25


def _bulk_insert(store: ConversationStore, count: int) -> None:
    """``count`` conversations in one transaction: 90% ours, 5% archived, 2% pinned."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        at = start + dt.timedelta(seconds=7 * i)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "owner": OWNER if i % 10 else f"someone-{i % 7}",
                "title": f"conversation {i}",
                "mode": "chat",
                "provider": None,
                "provider_session_id": None,
                "model": None,
                "context": {},
                "status": "archived" if i % 20 == 1 else "active",
                "pinned": i % 50 == 3,
                "tags": [],
                "created_at": at,
                "updated_at": at,
                "message_count": 0,
                "last_seq": 0,
                "token_count": 0,
                "preview": None,
                "forked_from_id": None,
                "forked_from_seq": None,
            }
        )
    with store.database.engine.begin() as conn:
        conn.execute(conversations.insert(), rows)


@contextlib.contextmanager
def _statements(store: ConversationStore) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the store sends to the database meanwhile."""
    engine = store.database.engine
    seen: list[tuple[str, Any]] = []
    if store.database.dialect == "sqlite":

        def trace(statement: str) -> None:
            seen.append((statement, ()))

        def on_connect(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.set_trace_callback(trace)

        store.database.dispose()  # new connections, each with the trace callback
        event.listen(engine, "connect", on_connect)
        try:
            yield seen
        finally:
            event.remove(engine, "connect", on_connect)
            store.database.dispose()
        return

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _list(
    store: ConversationStore, **kwargs: Any
) -> tuple[Page[Conversation], list[tuple[str, Any]]]:
    """Run the listing; return its page and the listing statements it sent."""
    with _statements(store) as seen:
        page = store.list_conversations(limit=PAGE, **kwargs)
    listing = [(s, p) for s, p in seen if "FROM conversations" in s and "ORDER BY" in s]
    assert listing, f"no listing statement captured among {seen}"
    return page, listing


def _plan(store: ConversationStore, statement: str, parameters: Any) -> list[str]:
    explain = "EXPLAIN QUERY PLAN " if store.database.dialect == "sqlite" else "EXPLAIN "
    with store.database.engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()
    column = 3 if store.database.dialect == "sqlite" else 0
    return [str(row[column]) for row in rows]


def _expected_index(statement: str) -> str:
    """The pinned phase (``pinned = 1``/``true``) has its partial index; all else the main."""
    if re.search(r"\bpinned\s*=\s*(1|true)\b", statement, re.IGNORECASE):
        return "ix_conversations_pinned"
    return "ix_conversations_listing"


def _assert_walks_index(store: ConversationStore, statements: list[tuple[str, Any]]) -> None:
    for statement, parameters in statements:
        plan = _plan(store, statement, parameters)
        index = _expected_index(statement)
        where = f"{statement}\n-> {plan}"
        if store.database.dialect == "sqlite":
            search = (
                rf"^SEARCH conversations USING (COVERING )?INDEX {index} \(owner=\? AND status=\?"
            )
            assert any(re.search(search, line) for line in plan), where
            assert not any("TEMP B-TREE" in line for line in plan), where
            assert not any(line.startswith("SCAN conversations") for line in plan), where
        else:
            scan = rf"Index (Only )?Scan( Backward)? using {index} on conversations"
            assert any(re.search(scan, line) for line in plan), where
            assert not any("Sort" in line for line in plan), where
            assert not any("Seq Scan" in line for line in plan), where


def _key(c: Conversation, pinned_first: bool) -> tuple[bool, dt.datetime, str]:
    return (c.pinned and pinned_first, c.updated_at, c.id)


def _check_listing(store: ConversationStore, pinned_first: bool) -> None:
    """First page, a cursor page, and (pinned first) the pinned-to-unpinned page."""
    first, statements = _list(store, pinned_first=pinned_first)
    assert len(first.items) == PAGE
    _assert_walks_index(store, statements)
    assert first.next_cursor is not None
    second, statements = _list(store, pinned_first=pinned_first, cursor=first.next_cursor)
    assert len(second.items) == PAGE
    _assert_walks_index(store, statements)
    walked = first.items + second.items
    if pinned_first:
        assert all(c.pinned for c in walked)
        page = second
        while page.items and page.items[-1].pinned:  # on to where unpinned ones start
            assert page.next_cursor is not None
            cursor = page.next_cursor
            page, statements = _list(store, pinned_first=True, cursor=cursor)
            walked += page.items
        assert {_expected_index(s) for s, _ in statements} == {
            "ix_conversations_pinned",
            "ix_conversations_listing",
        }, "the page where unpinned conversations start must run both phases"
        _assert_walks_index(store, statements)
        assert page.next_cursor is not None
        page, statements = _list(store, pinned_first=True, cursor=page.next_cursor)
        assert len(page.items) == PAGE
        assert not any(c.pinned for c in page.items)
        _assert_walks_index(store, statements)
        walked += page.items
    keys = [_key(c, pinned_first) for c in walked]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys)
    assert all(c.owner == OWNER and c.status == "active" for c in walked)


@pytest.mark.slow
def test_listing_walks_its_index_over_100k_conversations(store: ConversationStore) -> None:
    """Guards against the listing sorting the owner's whole table (a temp B-tree or a
    Sort node over every conversation) instead of reading one page off the index: first
    page, cursor page, most-recent-first and pinned-first (both of its phases and the
    page between them); on SQLite before and after ANALYZE, on PostgreSQL after it (so
    the planner knows how large the table is)."""
    _bulk_insert(store, COUNT)
    analyzed = [False, True] if store.database.dialect == "sqlite" else [True]
    for analyze in analyzed:
        if analyze:
            with store.database.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE conversations")
        for pinned_first in (False, True):
            _check_listing(store, pinned_first)
