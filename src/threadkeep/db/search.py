"""Full-text search queries, one per engine, over the indexes revision 0002 built.

Both engines rank the same way: relevance first (``-bm25()`` of the FTS5 index on
SQLite, ``ts_rank`` of the ``tsvector`` on PostgreSQL — higher is better), then the
newer row (the larger key: messages are keyed by insertion order). Ranking never drags
text through a sort: the ranked query returns keys and scores for one page, then the
page's rows are read by key and the snippets cut in Python (``search_query.snippet``).

On SQLite the first attempt ranks the FTS5 index alone (``ORDER BY rank``: no join per
match) and checks the owner and filters on the best few hundred candidates only; the
hits that pass are exactly the top of the filtered ranking, because any other match
ranks below every candidate. When too few pass (another owner's matches rank higher, a
narrow filter), the join over every match answers instead. So a person searching their
own store pays about what a bare FTS5 query costs; a narrow filter pays for the join.

Conversation titles are searched too (``conversation_titles_fts`` / ``title_vector``).
Title hits come before message hits — a conversation named for what you look for is the
best answer — so a result list is two phases, and the cursor says which phase it is in
and the last ``(score, key)`` seen there. Scores are floats computed the same way on
every page, so equality on them is exact; a write between two pages can shift scores,
as in any ranked search, and a hit may then move across the page boundary.

Match expressions come from ``search_query`` (every word quoted): FTS5 ``MATCH`` text on
SQLite, ``to_tsquery('simple', …)`` text on PostgreSQL. Nothing the user typed is
placed in SQL other than as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.conversations import pack_cursor, unpack_cursor
from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import messages as m
from threadkeep.errors import InvalidInput
from threadkeep.models import SearchHit
from threadkeep.search_query import Query, snippet, to_fts5, to_tsquery_text

__all__ = ["SearchFilter", "SearchKey", "decode_cursor", "encode_cursor", "search_page"]

Phase = Literal["title", "message"]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What narrows a search, already checked by the store."""

    owner: str
    status: str | None
    role: str | None
    provider: str | None
    model: str | None
    updated_after: dt.datetime | None
    updated_before: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SearchKey:
    """Where a page ended: the phase and the last hit's sort key."""

    phase: Phase
    score: float
    key: str


_messages_fts = sa.table("messages_fts", sa.column("rowid", sa.Integer()))
_titles = sa.table(
    "conversation_titles",
    sa.column("pk", sa.Integer()),
    sa.column("conversation_id", sa.String()),
)
_titles_fts = sa.table("conversation_titles_fts", sa.column("rowid", sa.Integer()))
_search_vector: sa.ColumnElement[Any] = sa.literal_column("messages.search_vector")
_title_vector: sa.ColumnElement[Any] = sa.literal_column("conversations.title_vector")


def _conversation_filters(where: SearchFilter) -> list[sa.ColumnElement[bool]]:
    found: list[sa.ColumnElement[bool]] = [c.c.owner == where.owner]
    if where.status is not None:
        found.append(c.c.status == where.status)
    if where.provider is not None:
        found.append(c.c.provider == where.provider)
    if where.model is not None:
        found.append(c.c.model == where.model)
    if where.updated_after is not None:
        found.append(c.c.updated_at > where.updated_after)
    if where.updated_before is not None:
        found.append(c.c.updated_at < where.updated_before)
    return found


def _tsquery(query: Query) -> sa.ColumnElement[Any]:
    return sa.func.to_tsquery(
        sa.literal_column("'simple'::regconfig"), sa.bindparam("tsq", to_tsquery_text(query))
    )


_Match = tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]


def _fts5_match(index: str, query: Query) -> _Match:
    """(score, condition) of a match in the FTS5 table ``index``."""
    table: sa.ColumnElement[Any] = sa.literal_column(index)
    return -sa.func.bm25(table), table.op("MATCH")(sa.bindparam("fts", to_fts5(query)))


def _tsvector_match(vector: sa.ColumnElement[Any], query: Query) -> _Match:
    """(score, condition) of a match of the ``tsvector`` column ``vector``."""
    tsq = _tsquery(query)
    return sa.func.ts_rank(vector, tsq), vector.op("@@")(tsq)


def _ranked(
    key: sa.ColumnElement[Any],
    match: _Match,
    source: sa.FromClause,
    filters: list[sa.ColumnElement[bool]],
) -> sa.Subquery:
    """``key`` and ``score`` of each row of ``source`` that matches and passes ``filters``."""
    score, matched = match
    return (
        sa.select(key.label("key"), sa.cast(score, sa.Float()).label("score"))
        .select_from(source)
        .where(matched, *filters)
        .subquery("ranked")
    )


def _ranked_messages(conn: Connection, query: Query, where: SearchFilter) -> sa.Subquery:
    """Keys and scores of every matching message that passes the filters (joined)."""
    filters = _conversation_filters(where)
    if where.role is not None:
        filters.append(m.c.role == where.role)
    source: sa.FromClause
    if conn.dialect.name == "sqlite":
        match = _fts5_match("messages_fts", query)
        source = _messages_fts.join(m, m.c.pk == _messages_fts.c.rowid)
    else:
        match = _tsvector_match(_search_vector, query)
        source = m
    return _ranked(m.c.pk, match, source.join(c, c.c.id == m.c.conversation_id), filters)


def _ranked_titles(conn: Connection, query: Query, where: SearchFilter) -> sa.Subquery:
    """Keys and scores of every conversation whose title matches, as a subquery."""
    source: sa.FromClause
    if conn.dialect.name == "sqlite":
        match = _fts5_match("conversation_titles_fts", query)
        source = _titles_fts.join(_titles, _titles.c.pk == _titles_fts.c.rowid).join(
            c, c.c.id == _titles.c.conversation_id
        )
    else:
        match = _tsvector_match(_title_vector, query)
        source = c
    return _ranked(c.c.id, match, source, _conversation_filters(where))


def _page_of(
    conn: Connection, ranked: sa.Subquery, after: SearchKey | None, limit: int
) -> list[tuple[str, float]]:
    """One page of (key, score), best first, after ``after`` (of the same phase)."""
    select = sa.select(ranked.c.key, ranked.c.score).order_by(
        ranked.c.score.desc(), ranked.c.key.desc()
    )
    if after is not None:
        key: Any = int(after.key) if after.phase == "message" else after.key
        select = select.where(
            sa.or_(
                ranked.c.score < after.score,
                sa.and_(ranked.c.score == after.score, ranked.c.key < key),
            )
        )
    return [(str(k), float(s)) for k, s in conn.execute(select.limit(limit)).all()]


# The SQLite fast path: rank the index alone (no join per match), then check the
# filters on the best few hundred. FTS5's ``rank`` is its bm25 (lower is better); the
# score handed out is its negation, so equal ranks give equal scores exactly.
_FAST_FILTERS: dict[str, str] = {
    "status": "c.status = :status",
    "role": "m.role = :role",
    "provider": "c.provider = :provider",
    "model": "c.model = :model",
    "updated_after": "c.updated_at > :updated_after",
    "updated_before": "c.updated_at < :updated_before",
}
_fast_statements: dict[tuple[bool, tuple[str, ...]], sa.TextClause] = {}

#: Candidates ranked per fast-path attempt: enough that an owner holding a tenth of
#: the matches still fills a page from one attempt.
FAST_PATH_CANDIDATES = 400


def _fast_statement(keyset: bool, filters: tuple[str, ...]) -> sa.TextClause:
    """The top-``k`` candidates with a flag saying whether each passes the filters.

    Built from fixed fragments only (values are bound), once per combination.
    """
    key = (keyset, filters)
    if key not in _fast_statements:
        after = " AND (rank > :rank OR (rank = :rank AND rowid < :key))" if keyset else ""
        passes = " AND ".join(["c.owner = :owner", *(_FAST_FILTERS[f] for f in filters)])
        # Fixed fragments only (above); every value is a bound parameter.
        sql = "".join(
            [
                "SELECT top.rowid, top.rank, CASE WHEN ",
                passes,
                " THEN 1 ELSE 0 END FROM (SELECT rowid, rank FROM messages_fts",
                " WHERE messages_fts MATCH :fts",
                after,
                " ORDER BY rank, rowid DESC LIMIT :k) AS top",
                " JOIN messages AS m ON m.pk = top.rowid",
                " JOIN conversations AS c ON c.id = m.conversation_id",
                " ORDER BY top.rank, top.rowid DESC",
            ]
        )
        statement = sa.text(sql)
        for name in ("updated_after", "updated_before"):
            if name in filters:
                # Bound through the column's type: the stored text form of a datetime.
                statement = statement.bindparams(sa.bindparam(name, type_=c.c.updated_at.type))
        _fast_statements[key] = statement
    return _fast_statements[key]


def _sqlite_messages(
    conn: Connection, query: Query, where: SearchFilter, after: SearchKey | None, limit: int
) -> list[tuple[str, float]]:
    """Best ``limit`` messages: the fast path when it can fill the page, else the join."""
    k = max(FAST_PATH_CANDIDATES, 4 * limit)
    values = {name: getattr(where, name) for name in _FAST_FILTERS}
    filters = tuple(name for name, value in values.items() if value is not None)
    params: dict[str, Any] = {"fts": to_fts5(query), "k": k, "owner": where.owner}
    params |= {name: values[name] for name in filters}
    if after is not None:
        params |= {"rank": -after.score, "key": int(after.key)}
    candidates = conn.execute(_fast_statement(after is not None, filters), params).all()
    found = [(str(pk), -float(rank)) for pk, rank, passes in candidates if passes]
    if len(found) >= limit or len(candidates) < k:
        # Enough hits, or every match was a candidate: the page is exact either way,
        # because a match outside the candidates ranks below all of them.
        return found[:limit]
    return _page_of(conn, _ranked_messages(conn, query, where), after, limit)


def search_page(
    conn: Connection,
    query: Query,
    where: SearchFilter,
    *,
    after: SearchKey | None,
    limit: int,
    snippet_chars: int,
) -> tuple[list[SearchHit], SearchKey | None]:
    """One page of hits (title hits first, then messages) and the key to continue from.

    ``limit + 1`` rows are read per phase to know whether more follow.
    """
    hits: list[tuple[Phase, str, float]] = []
    phase: Phase = "title" if after is None else after.phase
    if phase == "title" and where.role is None:
        rows = _page_of(conn, _ranked_titles(conn, query, where), after, limit + 1)
        hits.extend(("title", key, score) for key, score in rows)
    if len(hits) <= limit:
        message_after = after if after is not None and after.phase == "message" else None
        wanted = limit + 1 - len(hits)
        if conn.dialect.name == "sqlite":
            rows = _sqlite_messages(conn, query, where, message_after, wanted)
        else:
            rows = _page_of(conn, _ranked_messages(conn, query, where), message_after, wanted)
        hits.extend(("message", key, score) for key, score in rows)
    more = len(hits) > limit
    hits = hits[:limit]
    next_key = None
    if more and hits:
        last = hits[-1]
        next_key = SearchKey(phase=last[0], score=last[2], key=last[1])
    return _hydrate(conn, query, hits, snippet_chars), next_key


def _hydrate(
    conn: Connection,
    query: Query,
    hits: Sequence[tuple[Phase, str, float]],
    snippet_chars: int,
) -> list[SearchHit]:
    """Read the page's rows by key and build the hits, snippets cut in Python."""
    message_keys = [int(key) for phase, key, _ in hits if phase == "message"]
    title_keys = [key for phase, key, _ in hits if phase == "title"]
    messages: dict[str, Any] = {}
    if message_keys:
        rows = conn.execute(
            sa.select(
                m.c.pk, m.c.id, m.c.conversation_id, m.c.seq, m.c.role, m.c.content, m.c.created_at
            ).where(m.c.pk.in_(message_keys))
        ).all()
        messages = {str(row.pk): row for row in rows}
    conversation_ids = {str(row.conversation_id) for row in messages.values()} | set(title_keys)
    conversations: dict[str, Any] = {}
    if conversation_ids:
        found = conn.execute(
            sa.select(c.c.id, c.c.title, c.c.created_at, c.c.updated_at).where(
                c.c.id.in_(conversation_ids)
            )
        ).all()
        conversations = {str(row.id): row for row in found}
    out: list[SearchHit] = []
    for phase, key, score in hits:
        if phase == "title":
            conversation = conversations.get(key)
            if conversation is None:
                continue
            out.append(
                SearchHit(
                    conversation_id=key,
                    conversation_title=conversation.title,
                    message_id=None,
                    seq=None,
                    role=None,
                    snippet=snippet(conversation.title or "", query, max_chars=snippet_chars),
                    score=score,
                    created_at=conversation.created_at,
                    updated_at=conversation.updated_at,
                )
            )
            continue
        message = messages.get(key)
        conversation = None if message is None else conversations.get(str(message.conversation_id))
        if message is None or conversation is None:
            continue
        out.append(
            SearchHit(
                conversation_id=str(message.conversation_id),
                conversation_title=conversation.title,
                message_id=message.id,
                seq=message.seq,
                role=message.role,
                snippet=snippet(message.content, query, max_chars=snippet_chars),
                score=score,
                created_at=message.created_at,
                updated_at=conversation.updated_at,
            )
        )
    return out


def encode_cursor(key: SearchKey, fingerprint: str) -> str:
    """An opaque cursor for the page after ``key`` of the search ``fingerprint`` names."""
    return pack_cursor([fingerprint, key.phase, key.score, key.key])


def decode_cursor(cursor: str, fingerprint: str) -> SearchKey:
    """Parse a cursor from :func:`encode_cursor`; it must come from the same search."""
    problem = (
        "cursor is not one this search handed out (same words and filters); "
        "start again without a cursor"
    )
    try:
        made_for, phase, score, key = unpack_cursor(cursor)
        if made_for != fingerprint or phase not in ("title", "message"):
            raise ValueError
        if not isinstance(key, str) or not isinstance(score, int | float):
            raise ValueError
        if isinstance(score, bool):
            raise ValueError
        if phase == "message":
            int(key)
        return SearchKey(phase=phase, score=float(score), key=key)
    except (ValueError, TypeError):  # binascii.Error, UnicodeDecodeError are ValueErrors
        raise InvalidInput(problem) from None
