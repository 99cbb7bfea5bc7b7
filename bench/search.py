"""Search latency on 1,000,000 messages over 10,000 conversations (``python -m bench.search``).

What is measured: the median time of the *first page* (20 hits, ranked, with snippets)
for three queries a person types —

* a **rare** word, in 0.1% of messages (1,000 hits);
* a two-word **phrase**, in 0.1% of messages, whose words also occur apart elsewhere;
* a **common** word, in 10% of messages (100,000 hits), the worst case of ranking.

Side by side, in one run, on the same texts:

1. **raw SQLite FTS5 baseline**: one FTS5 table holding the texts, ``SELECT rowid,
   snippet(...) FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 20`` — the practical limit
   on this SQLite (no owner, no filters, no titles, no join);
2. **threadkeep on SQLite**: ``store.search(query)`` through the public API (owner
   scoping, status filter, title hits first, message rows and snippets);
3. **threadkeep on PostgreSQL** (when a server answers at ``THREADKEEP_TEST_POSTGRES_URL``
   or 127.0.0.1:5432): the same call on a fresh schema.

The corpus: 2,000 distinct texts of about 30 words drawn from a 5,000-word vocabulary,
assigned round-robin to 100 messages in each of 10,000 conversations (each text occurs
500 times, so posting lists have the sizes stated above). The threadkeep SQLite fixture
is written with bulk inserts into the schema ``open_store`` created, its triggers
maintaining the index as they do for any write; the PostgreSQL fixture is generated
server-side by ``INSERT ... SELECT`` into the migrated schema. Build times are reported.

Targets on this machine (SQLite): rare word and phrase ≤ 25 ms, common word ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.baseline import connect
from bench.scale import _TEXT_POOL as POOL  # the builder's pool: the corpus must match it
from bench.scale import ScaleSpec, _build_threadkeep

__all__ = ["QUERIES", "SearchResult", "main", "run_search_bench"]

WORDS_PER_TEXT = 30
RARE, PHRASE, COMMON = "quetzal", '"harbor lantern"', "copper"
QUERIES: dict[str, str] = {
    "rare word (0.1%)": RARE,
    "phrase (0.1%)": PHRASE,
    "common word (10%)": COMMON,
}
TIMES = "\u00d7"
TARGET_MS = {"rare word (0.1%)": 25.0, "phrase (0.1%)": 25.0, "common word (10%)": 300.0}


@dataclass(frozen=True, slots=True)
class SearchResult:
    system: str
    build_seconds: float
    medians_ms: dict[str, float]
    hits: dict[str, int]


def corpus(seed: int = 11) -> list[str]:
    """The 2,000 pool texts: 2 hold the rare word, 2 the phrase, 200 the common word.

    The phrase's words also appear apart (in reverse order) in 20 more texts, so a phrase
    search must check positions, not only both words.
    """
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvwy"
    vocabulary: set[str] = set()
    while len(vocabulary) < 5_000:
        vocabulary.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    vocabulary -= {"quetzal", "harbor", "lantern", "copper"}
    words = sorted(vocabulary)
    texts = []
    for index in range(POOL):
        chosen = [rng.choice(words) for _ in range(WORDS_PER_TEXT)]
        if index % 1_000 == 7:
            chosen[rng.randrange(WORDS_PER_TEXT)] = RARE
        if index % 1_000 == 500:
            at = rng.randrange(WORDS_PER_TEXT - 1)
            chosen[at : at + 2] = ["harbor", "lantern"]
        if index % 100 == 50:
            chosen[3], chosen[20] = "lantern", "harbor"
        if index % 10 == 3:
            chosen[rng.randrange(WORDS_PER_TEXT)] = COMMON
        texts.append(" ".join(chosen))
    return texts


def _median_ms(call: Callable[[], int], repeat: int, warmup: int = 3) -> tuple[float, int]:
    found = 0
    for _ in range(warmup):
        found = call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        found = call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples), found


def _baseline(
    path: Path, conversations: int, each: int, texts: Sequence[str], repeat: int
) -> SearchResult:
    started = time.perf_counter()
    conn = connect(path, "OFF")
    conn.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(content, tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute("BEGIN")
    total = conversations * each
    conn.executemany(
        "INSERT INTO fts (content) VALUES (?)", ((texts[i % POOL],) for i in range(total))
    )
    conn.execute("COMMIT")
    build = time.perf_counter() - started
    sql = (
        "SELECT rowid, snippet(fts, 0, '<mark>', '</mark>', '…', 16) FROM fts"
        " WHERE fts MATCH ? ORDER BY rank LIMIT 20"
    )
    medians, hits = {}, {}
    for label, query in QUERIES.items():

        def call(q: str = query) -> int:
            return len(conn.execute(sql, (q,)).fetchall())

        medians[label], hits[label] = _median_ms(call, repeat)
    conn.close()
    return SearchResult("raw SQLite FTS5 baseline", build, medians, hits)


def _threadkeep_sqlite(
    path: Path, conversations: int, each: int, texts: Sequence[str], repeat: int
) -> SearchResult:
    from threadkeep import Settings, open_store

    spec = ScaleSpec(
        conversations=conversations,
        messages_each=each,
        long_conversation=each,
        reads=1,
        full_scan_reads=1,
    )
    started = time.perf_counter()
    # scale.py's builder gives message seq of conversation i pool text
    # (i * each + seq - 1) % 2000: the round-robin this corpus is defined by.
    _build_threadkeep(path, spec, texts)
    build = time.perf_counter() - started
    store = open_store(path, settings=Settings())
    try:
        return SearchResult("threadkeep (SQLite)", build, *_measure(store, repeat))
    finally:
        store.close()


def _measure(store: Any, repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    medians, hits = {}, {}
    for label, query in QUERIES.items():

        def call(q: str = query) -> int:
            return len(store.search(q, limit=20).items)

        medians[label], hits[label] = _median_ms(call, repeat)
    return medians, hits


def _postgres_url() -> str:
    return os.environ.get(
        "THREADKEEP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


def _threadkeep_postgres(
    conversations: int, each: int, texts: Sequence[str], repeat: int
) -> SearchResult | str:
    from urllib.parse import quote

    import sqlalchemy as sa

    from threadkeep import Settings, open_store

    base = _postgres_url()
    try:
        admin = sa.create_engine(base)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as error:
        return f"no PostgreSQL at {base}: {type(error).__name__}"
    schema = "tk_bench_" + secrets.token_hex(4)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        started = time.perf_counter()
        start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        store = open_store(url, settings=Settings())
        try:
            with store.database.engine.begin() as conn:
                conn.execute(sa.text("CREATE TEMP TABLE pool (i int PRIMARY KEY, content text)"))
                conn.execute(
                    sa.text("INSERT INTO pool VALUES (:i, :c)"),
                    [{"i": i, "c": text} for i, text in enumerate(texts)],
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO conversations (id, owner, title, mode, context, status,"
                        " pinned, tags, created_at, updated_at, message_count, last_seq,"
                        " token_count) SELECT ('00000000-0000-7000-8000-' ||"
                        " lpad(to_hex(n), 12, '0'))::uuid, :owner, NULL, 'chat', '{}',"
                        " 'active', false, '[]', :at + n * interval '1 second',"
                        " :at + n * interval '1 second', :each, :each, 0"
                        " FROM generate_series(0, :n - 1) AS n"
                    ),
                    {
                        "owner": store.owner,
                        "at": start,
                        "each": each,
                        "n": conversations,
                    },
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO messages (id, conversation_id, seq, role, kind, content,"
                        " status, created_at, updated_at)"
                        " SELECT 'm' || n || '-' || s, ('00000000-0000-7000-8000-' ||"
                        " lpad(to_hex(n), 12, '0'))::uuid, s,"
                        " CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END, 'text',"
                        " p.content, 'complete', :at + n * interval '1 second',"
                        " :at + n * interval '1 second'"
                        " FROM generate_series(0, :n - 1) AS n,"
                        " generate_series(1, :each) AS s"
                        " JOIN pool p ON true WHERE p.i = (n * :each + s - 1) % :pool"
                    ),
                    {
                        "at": start,
                        "each": each,
                        "n": conversations,
                        "pool": POOL,
                    },
                )
            with store.database.engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))
                conn.commit()
            build = time.perf_counter() - started
            return SearchResult("threadkeep (PostgreSQL)", build, *_measure(store, repeat))
        finally:
            store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_search_bench(
    *,
    conversations: int = 10_000,
    each: int = 100,
    repeat: int = 30,
    tmpdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[SearchResult | str]:
    """Build the three fixtures and time the three queries on each."""
    texts = corpus()
    results: list[SearchResult | str] = []
    with tempfile.TemporaryDirectory(dir=tmpdir, prefix="threadkeep-search-") as work:
        progress(f"search: raw FTS5 baseline, {conversations * each:,} messages")
        results.append(_baseline(Path(work) / "baseline.db", conversations, each, texts, repeat))
        progress("search: threadkeep on SQLite")
        results.append(
            _threadkeep_sqlite(Path(work) / "threadkeep.db", conversations, each, texts, repeat)
        )
    progress("search: threadkeep on PostgreSQL")
    results.append(_threadkeep_postgres(conversations, each, texts, repeat))
    return results


def render(results: Sequence[SearchResult | str], messages: int) -> list[str]:
    """The Markdown table: median ms per query, ratio to the baseline, target marks."""
    lines = [
        f"Search, first page of 20 hits, {messages:,} messages (median ms; ratio to the raw "
        "FTS5 baseline; ✓/✗ against the SQLite targets 25/25/300 ms):",
        "",
        "| System | build s | " + " | ".join(QUERIES) + " |",
        "|---|---:|" + "---:|" * len(QUERIES),
    ]
    measured = [r for r in results if isinstance(r, SearchResult)]
    base = measured[0] if measured else None
    for result in measured:
        cells = []
        for label in QUERIES:
            value = result.medians_ms[label]
            cell = f"{value:.2f}"
            if base is not None and result is not base:
                cell += f" ({value / base.medians_ms[label]:.1f}{TIMES}"
                if "SQLite" in result.system:
                    cell += " ✓" if value <= TARGET_MS[label] else " ✗"
                cell += ")"
            cells.append(cell)
        name = f"**{result.system}**" if result.system.startswith("threadkeep") else result.system
        lines.append(f"| {name} | {result.build_seconds:.0f} | " + " | ".join(cells) + " |")
    lines.extend(f"\n{r}" for r in results if isinstance(r, str))
    hits = {r.system: r.hits for r in measured}
    lines.append("")
    lines.append("Hits on the first page: " + "; ".join(f"{k}: {v}" for k, v in hits.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 5 repeats")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args(argv)
    conversations, each = (1_000, 100) if args.quick else (10_000, 100)
    repeat = args.repeat or (5 if args.quick else 30)
    results = run_search_bench(
        conversations=conversations,
        each=each,
        repeat=repeat,
        tmpdir=args.tmpdir,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print("\n".join(render(results, conversations * each)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
