"""The ``--scale`` fixture: 1,000,000 conversations / ~10,000,000 messages, built fast.

Appending ten million messages one call at a time would take hours, so each system's
fixture is written with bulk inserts (``executemany``, large transactions,
``synchronous=OFF`` while building) through the SQLite library that system itself
uses, straight into the schema the system itself creates:

* baseline — its own schema (``bench.baseline.SCHEMA``), on threadkeep's library;
* threadkeep — ``open_store`` creates and migrates the file; a template conversation
  and message written through the store give every column's stored form (owner, mode,
  status, JSON defaults, the datetime text format, checked by round trip), and the
  previews come from the store too (a probe conversation, deleted afterwards); then rows
  are bulk-inserted with ``message_count``, ``last_seq`` and ``preview`` consistent with
  the messages, exactly what the store would have kept. Any full-text index found in the
  schema is rebuilt;
* the peers — their constructors create their tables, then rows go in with the stdlib
  ``sqlite3`` they use, each message serialised the way the peer serialises it.

Shape: ``conversations - 1`` conversations of ``messages_each`` messages, plus one long
conversation of ``long_conversation`` messages in the middle (the W3 target). Each
conversation is one second newer than the previous, so "most recently updated" is well
defined. The fixture is built once per system and measured at every setting; build time
and file size are reported. Reads then go through each system's public API only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.baseline import PREVIEW_CHARS, SCHEMA, DbConnection, connect
from bench.systems import Synchronous, SystemName, open_system
from bench.workloads import message_texts, percentile, role_of, timed_reads

__all__ = ["ScaleSpec", "run_scale_job"]

_TEXT_POOL = 2_000
_CHUNK = 20_000  # conversations per transaction while building
_BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_TAIL = 20
_LIST = 50

#: Bytes per message on disk with indexes (measured at 1M messages), to refuse a build
#: that cannot fit (30% margin on top).
_BYTES_PER_MESSAGE = {"baseline": 390, "threadkeep": 600, "sqlitesession": 345, "langchain": 420}


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    conversations: int
    messages_each: int
    long_conversation: int
    reads: int
    full_scan_reads: int

    @property
    def long_index(self) -> int:
        return self.conversations // 2

    def size_of(self, index: int) -> int:
        return self.long_conversation if index == self.long_index else self.messages_each

    @property
    def messages(self) -> int:
        return (self.conversations - 1) * self.messages_each + self.long_conversation


def _text_index(spec: ScaleSpec, index: int, seq: int) -> int:
    """Which pool text is message ``seq`` (1-based) of conversation ``index``."""
    return (index * spec.messages_each + seq - 1) % _TEXT_POOL


def _uuid7(ms: int, counter: int) -> str:
    """A UUIDv7-shaped id from a millisecond timestamp and a counter (unique, ordered)."""
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= ((counter >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= counter & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _moment(index: int) -> dt.datetime:
    return _BASE + dt.timedelta(seconds=index)


def _check_disk(path: Path, system: str, spec: ScaleSpec) -> None:
    needed = int(spec.messages * _BYTES_PER_MESSAGE[system] * 1.3)
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise RuntimeError(
            f"the {system} scale fixture needs about {needed / 1024**3:.1f} GiB in "
            f"{path.parent}, only {free / 1024**3:.1f} GiB free; use --tmpdir elsewhere"
        )


def _bulk(conn: DbConnection, chunks: Iterator[list[tuple[str, list[Sequence[Any]]]]]) -> None:
    """Insert ``(sql, rows)`` batches, one transaction per chunk."""
    for chunk in chunks:
        conn.execute("BEGIN")
        for sql, rows in chunk:
            if rows:
                conn.executemany(sql, rows)
        conn.execute("COMMIT")


def _build_baseline(path: Path, spec: ScaleSpec, texts: Sequence[str]) -> str:
    conn = connect(path, "OFF")
    conn.executescript(SCHEMA)
    conn.execute("PRAGMA cache_size=-262144")
    conv_sql = (
        "INSERT INTO conversations (id, title, created_at, updated_at, message_count,"
        " last_seq, preview) VALUES (?, NULL, ?, ?, ?, ?, ?)"
    )
    msg_sql = (
        "INSERT INTO messages (conversation_id, seq, role, content, created_at)"
        " VALUES (?, ?, ?, ?, ?)"
    )

    def key(index: int) -> str:
        return _uuid7(int(_moment(index).timestamp() * 1000), index)

    def chunks() -> Iterator[list[tuple[str, list[Sequence[Any]]]]]:
        for start in range(0, spec.conversations, _CHUNK):
            convs: list[Sequence[Any]] = []
            msgs: list[Sequence[Any]] = []
            for index in range(start, min(start + _CHUNK, spec.conversations)):
                cid = key(index)
                at = _moment(index).isoformat(timespec="microseconds")
                size = spec.size_of(index)
                last = texts[_text_index(spec, index, size)]
                convs.append((cid, at, at, size, size, last[:PREVIEW_CHARS]))
                msgs.extend(
                    (cid, seq, role_of(seq - 1), texts[_text_index(spec, index, seq)], at)
                    for seq in range(1, size + 1)
                )
            yield [(conv_sql, convs), (msg_sql, msgs)]

    try:
        _bulk(conn, chunks())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return key(spec.long_index)


def _threadkeep_templates(
    path: Path, spec: ScaleSpec, texts: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[int, str | None]]:
    """Open (create, migrate) the store; learn row forms and previews through it."""
    from threadkeep import Settings, open_store

    store = open_store(path, settings=Settings(sqlite_synchronous="NORMAL"))
    try:
        template = store.create_conversation()
        store.append_message(template.id, "user", texts[0])
        probe = store.create_conversation()
        previews: dict[int, str | None] = {}
        wanted = sorted(
            {
                _text_index(spec, i, spec.messages_each)
                # Last texts repeat with a period of at most the pool: two pools cover them.
                for i in range(min(spec.conversations, 2 * _TEXT_POOL))
            }
            | {_text_index(spec, spec.long_index, spec.long_conversation)}
        )
        for text_index in wanted:
            store.append_message(probe.id, "user", texts[text_index])
            previews[text_index] = store.get_conversation(probe.id).preview
        store.delete_conversation(probe.id)
    finally:
        store.close()
    conn = connect(path, "OFF")
    try:
        conv = _row_dict(conn, "SELECT * FROM conversations WHERE id = ?", template.id)
        msg = _row_dict(conn, "SELECT * FROM messages WHERE conversation_id = ?", template.id)
        conn.execute("DELETE FROM messages WHERE conversation_id = ?", (template.id,))
        conn.execute("DELETE FROM conversations WHERE id = ?", (template.id,))
    finally:
        conn.close()
    return conv, msg, previews


def _stored_datetime(stamp: str) -> Callable[[dt.datetime], str]:
    """How the store writes a datetime, learned from one it wrote and checked by round trip."""
    try:
        parsed = dt.datetime.fromisoformat(stamp)
    except ValueError:
        parsed = None
    separator = stamp[10:11] or " "
    aware = parsed is not None and parsed.tzinfo is not None

    def render(moment: dt.datetime) -> str:
        value = moment if aware else moment.replace(tzinfo=None)
        return value.isoformat(sep=separator, timespec="microseconds")

    if parsed is None or render(parsed) != stamp:
        raise RuntimeError(f"threadkeep stores datetimes as {stamp!r}; update bench/scale.py")
    return render


def _row_dict(conn: DbConnection, sql: str, key: str) -> dict[str, Any]:
    cursor = cast(Any, conn.execute(sql, (key,)))
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"template row missing for {sql}")
    return dict(zip(names, row, strict=True))


def _rebuild_fulltext(conn: DbConnection) -> None:
    """Rebuild external-content FTS5 tables that no trigger kept in step."""
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%fts5%'"
    ).fetchall()
    triggers = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
    ).fetchone()[0]
    for name, _sql in tables:
        if not triggers:
            conn.execute(f'INSERT INTO "{name}"("{name}") VALUES (\'rebuild\')')


def _build_threadkeep(path: Path, spec: ScaleSpec, texts: Sequence[str]) -> str:
    conv_t, msg_t, previews = _threadkeep_templates(path, spec, texts)
    stored = _stored_datetime(str(conv_t["created_at"]))
    conv_cols = list(conv_t)
    msg_cols = [name for name in msg_t if name != "pk"]
    conv_sql = (
        f"INSERT INTO conversations ({', '.join(conv_cols)})"
        f" VALUES ({', '.join('?' * len(conv_cols))})"
    )
    msg_sql = (
        f"INSERT INTO messages ({', '.join(msg_cols)}) VALUES ({', '.join('?' * len(msg_cols))})"
    )
    conv_pos = {name: i for i, name in enumerate(conv_cols)}
    msg_pos = {name: i for i, name in enumerate(msg_cols)}
    conv_base = list(conv_t.values())
    msg_base = [msg_t[name] for name in msg_cols]
    msg_base[msg_pos["tokens"]] = None
    counter = 0

    def key(index: int) -> str:
        return _uuid7(int(_moment(index).timestamp() * 1000), index)

    def chunks() -> Iterator[list[tuple[str, list[Sequence[Any]]]]]:
        nonlocal counter
        for start in range(0, spec.conversations, _CHUNK):
            convs: list[Sequence[Any]] = []
            msgs: list[Sequence[Any]] = []
            for index in range(start, min(start + _CHUNK, spec.conversations)):
                moment = _moment(index)
                ms = int(moment.timestamp() * 1000)
                cid = key(index)
                at = stored(moment)
                size = spec.size_of(index)
                row = conv_base.copy()
                row[conv_pos["id"]] = cid
                row[conv_pos["created_at"]] = at
                row[conv_pos["updated_at"]] = at
                row[conv_pos["message_count"]] = size
                row[conv_pos["last_seq"]] = size
                row[conv_pos["token_count"]] = 0
                row[conv_pos["preview"]] = previews.get(_text_index(spec, index, size))
                convs.append(row)
                for seq in range(1, size + 1):
                    counter += 1
                    message = msg_base.copy()
                    message[msg_pos["id"]] = _uuid7(ms, counter)
                    message[msg_pos["conversation_id"]] = cid
                    message[msg_pos["seq"]] = seq
                    message[msg_pos["role"]] = role_of(seq - 1)
                    message[msg_pos["content"]] = texts[_text_index(spec, index, seq)]
                    message[msg_pos["created_at"]] = at
                    message[msg_pos["updated_at"]] = at
                    msgs.append(message)
            yield [(conv_sql, convs), (msg_sql, msgs)]

    conn = connect(path, "OFF")
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        _bulk(conn, chunks())
        _rebuild_fulltext(conn)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return key(spec.long_index)


def _build_sqlitesession(path: Path, spec: ScaleSpec, texts: Sequence[str]) -> str:
    import sqlite3

    from agents import SQLiteSession

    SQLiteSession("schema", path).close()
    items = [[json.dumps({"role": role_of(r), "content": text}) for text in texts] for r in (0, 1)]

    def key(index: int) -> str:
        return f"session-{index:08d}"

    def chunks() -> Iterator[list[tuple[str, list[Sequence[Any]]]]]:
        for start in range(0, spec.conversations, _CHUNK):
            sessions: list[Sequence[Any]] = []
            msgs: list[Sequence[Any]] = []
            for index in range(start, min(start + _CHUNK, spec.conversations)):
                sid = key(index)
                at = _moment(index).strftime("%Y-%m-%d %H:%M:%S")
                sessions.append((sid, at, at))
                msgs.extend(
                    (sid, items[(seq - 1) % 2][_text_index(spec, index, seq)], at)
                    for seq in range(1, spec.size_of(index) + 1)
                )
            yield [
                (
                    "INSERT INTO agent_sessions (session_id, created_at, updated_at)"
                    " VALUES (?, ?, ?)",
                    sessions,
                ),
                (
                    "INSERT INTO agent_messages (session_id, message_data, created_at)"
                    " VALUES (?, ?, ?)",
                    msgs,
                ),
            ]

    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        _bulk(cast(DbConnection, conn), chunks())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return key(spec.long_index)


def _build_langchain(path: Path, spec: ScaleSpec, texts: Sequence[str]) -> str:
    import sqlite3

    from langchain_community.chat_message_histories import SQLChatMessageHistory
    from langchain_core.messages import AIMessage, HumanMessage, message_to_dict
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    SQLChatMessageHistory(session_id="schema", connection=engine)
    engine.dispose()
    items = [
        [json.dumps(message_to_dict(HumanMessage(content=text))) for text in texts],
        [json.dumps(message_to_dict(AIMessage(content=text))) for text in texts],
    ]

    def key(index: int) -> str:
        return f"history-{index:08d}"

    def chunks() -> Iterator[list[tuple[str, list[Sequence[Any]]]]]:
        for start in range(0, spec.conversations, _CHUNK):
            msgs: list[Sequence[Any]] = []
            for index in range(start, min(start + _CHUNK, spec.conversations)):
                sid = key(index)
                msgs.extend(
                    (sid, items[(seq - 1) % 2][_text_index(spec, index, seq)])
                    for seq in range(1, spec.size_of(index) + 1)
                )
            yield [("INSERT INTO message_store (session_id, message) VALUES (?, ?)", msgs)]

    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        _bulk(cast(DbConnection, conn), chunks())
    finally:
        conn.close()
    return key(spec.long_index)


_BUILDERS: dict[str, Callable[[Path, ScaleSpec, Sequence[str]], str]] = {
    "baseline": _build_baseline,
    "threadkeep": _build_threadkeep,
    "sqlitesession": _build_sqlitesession,
    "langchain": _build_langchain,
}


def _database_bytes(path: Path) -> int:
    return sum(
        candidate.stat().st_size
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if candidate.exists()
    )


async def _measure(
    name: SystemName,
    path: Path,
    level: Synchronous,
    spec: ScaleSpec,
    long_key: str,
    expected_tail: list[str],
    repeat: int,
) -> tuple[dict[str, float], str]:
    system = open_system(name, path, level)
    try:
        reads = spec.full_scan_reads if system.tail_reads_everything else spec.reads
        warmup = 1 if system.tail_reads_everything else 5
        tails: list[list[float]] = []
        lists: list[list[float]] = []
        for _ in range(repeat):

            async def tail() -> list[str]:
                return await system.tail(long_key, _TAIL)

            samples, result = await timed_reads(tail, reads, warmup)
            if result != expected_tail:
                raise RuntimeError(f"wrong result: {name} scale tail")
            tails.append(samples)
            if system.supports_list:

                async def listing() -> list[tuple[int, str | None]]:
                    return await system.list_recent(_LIST)

                samples, listed = await timed_reads(listing, spec.reads, 5)
                if len(listed) != _LIST or listed[0][0] != spec.messages_each:
                    raise RuntimeError(f"wrong result: {name} scale listing")
                lists.append(samples)
        metrics = {
            "w3_median_us": statistics.median(statistics.median(s) for s in tails),
            "w3_p99_us": statistics.median(percentile(s, 0.99) for s in tails),
            "w3_reads": float(reads),
        }
        if lists:
            metrics["w4_median_us"] = statistics.median(statistics.median(s) for s in lists)
            metrics["w4_p99_us"] = statistics.median(percentile(s, 0.99) for s in lists)
        return metrics, system.describe()
    finally:
        system.close()


def run_scale_job(job: dict[str, Any]) -> dict[str, Any]:
    """Build ``job``'s system's fixture, measure W3 and W4 at each setting, clean up."""
    name = cast(SystemName, job["system"])
    spec = ScaleSpec(**{key: int(value) for key, value in job["scale"].items()})
    workdir = Path(job["workdir"])
    path = workdir / "scale.db"
    _check_disk(path, name, spec)
    texts = message_texts(_TEXT_POOL)
    started = time.perf_counter()
    long_key = _BUILDERS[name](path, spec, texts)
    build_seconds = time.perf_counter() - started
    size = _database_bytes(path)
    expected = [
        texts[_text_index(spec, spec.long_index, seq)]
        for seq in range(spec.long_conversation - _TAIL + 1, spec.long_conversation + 1)
    ]
    levels: list[str] = ["shipped"] if name in ("sqlitesession", "langchain") else job["settings"]
    per_setting: dict[str, dict[str, float]] = {}
    described: dict[str, str] = {}
    for level in levels:
        synchronous = cast(Synchronous, "FULL" if level == "shipped" else level)
        metrics, describe = asyncio.run(
            _measure(name, path, synchronous, spec, long_key, expected, int(job["repeat"]))
        )
        per_setting[level] = metrics
        described[level] = describe
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            os.remove(candidate)
    return {
        "system": name,
        "build_seconds": build_seconds,
        "db_bytes": size,
        "conversations": spec.conversations,
        "messages": spec.messages,
        "per_setting": per_setting,
        "describe": described,
    }
