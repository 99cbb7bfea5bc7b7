"""The workloads W1-W4, written once against :class:`bench.systems.System`, and their sizes.

* W1 append: one conversation, ``w1_messages`` messages of ~200 characters, one append
  call per message (each durable as the system ships) — messages/s.
* W2 fan-out: ``w2_conversations`` conversations x ``w2_messages_each`` messages, one
  call each, round-robin across the conversations — messages/s. The empty
  conversations are created before the clock starts.
* W3 tail: a ``w3_messages``-message conversation (built untimed with batch appends),
  the last 20 messages read ``w3_reads`` times — median and p99 in microseconds. A
  system whose tail reads the whole conversation (LangChain) gets ``w3_reads_full_scan``
  reads, and the report says so.
* W4 list: ``w4_conversations`` conversations of two messages each, then one more
  message on a random tenth of them (so "most recently updated" is not creation order);
  the 50 most recently updated are listed ``w4_reads`` times — median microseconds. The
  fixture is written at ``synchronous=NORMAL`` to save time and the store is then reopened
  at the setting under test: listing is read-only, so the setting cannot change it.

Reads are preceded by a few untimed warm-up reads; every read is timed on its own with
``perf_counter_ns``; appends are timed as one block. After each workload one result is
checked for correctness (the right messages, in order), so a fast wrong answer cannot
pass unnoticed. No timing is ever asserted.

Message texts are deterministic (seeded) so every system stores the same bytes.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.systems import Role, Synchronous, System

__all__ = [
    "FULL_SIZES",
    "QUICK_SIZES",
    "Sizes",
    "message_texts",
    "percentile",
    "role_of",
    "timed_reads",
    "w1_append",
    "w2_fanout",
    "w3_tail",
    "w4_list",
]

Metrics = dict[str, float]


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each workload is."""

    w1_messages: int = 5_000
    w2_conversations: int = 500
    w2_messages_each: int = 20
    w3_messages: int = 10_000
    w3_reads: int = 300
    w3_reads_full_scan: int = 30
    w4_conversations: int = 10_000
    w4_reads: int = 300
    tail_count: int = 20
    list_count: int = 50
    warmup_reads: int = 5
    batch_size: int = 500

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sizes:
        return cls(**{key: int(value) for key, value in data.items()})


FULL_SIZES = Sizes()
QUICK_SIZES = replace(
    FULL_SIZES,
    w1_messages=300,
    w2_conversations=30,
    w2_messages_each=5,
    w3_messages=1_000,
    w3_reads=50,
    w3_reads_full_scan=10,
    w4_conversations=300,
    w4_reads=50,
    warmup_reads=2,
)

_WORDS = (
    "the agent resumed the conversation with its context and asked about the failing "
    "migration script before it suggested a smaller patch for the listing query while "
    "the user pasted a stack trace from production and a note about the deadline so the "
    "assistant summarised the plan retried the tool call and stored every message safely"
).split()


def message_texts(count: int, seed: int = 7) -> list[str]:
    """``count`` deterministic texts of 180-220 characters."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(count):
        target = rng.randint(180, 220)
        words: list[str] = []
        length = 0
        while length < target:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        texts.append(" ".join(words)[:target])
    return texts


def role_of(index: int) -> Role:
    """Messages alternate user, assistant, user, ..."""
    return "user" if index % 2 == 0 else "assistant"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {what}")


async def _fill(system: System, conversation: str, texts: Sequence[str], sizes: Sizes) -> None:
    """Append ``texts`` to ``conversation`` with batch appends (untimed fixture)."""
    for start in range(0, len(texts), sizes.batch_size):
        chunk = texts[start : start + sizes.batch_size]
        await system.append_batch(
            conversation, [(role_of(start + i), text) for i, text in enumerate(chunk)]
        )


async def timed_reads(read: Callable[[], Any], count: int, warmup: int) -> tuple[list[float], Any]:
    """Run ``read`` ``warmup`` times untimed, then ``count`` times; microseconds each."""
    result: Any = None
    for _ in range(warmup):
        result = await read()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        result = await read()
        samples.append((clock() - start) / 1_000)
    return samples, result


async def w1_append(system: System, sizes: Sizes, texts: Sequence[str]) -> Metrics:
    """W1: one conversation, one append call per message."""
    conversation = await system.new_conversation()
    count = sizes.w1_messages
    pool = len(texts)
    clock = time.perf_counter_ns
    start = clock()
    for index in range(count):
        await system.append(conversation, role_of(index), texts[index % pool])
    elapsed = (clock() - start) / 1e9
    last = [texts[i % pool] for i in range(max(0, count - sizes.tail_count), count)]
    _check(await system.tail(conversation, sizes.tail_count) == last, "W1 tail after appends")
    return {"w1_msgs_per_s": count / elapsed, "w1_seconds": elapsed}


async def w2_fanout(system: System, sizes: Sizes, texts: Sequence[str]) -> Metrics:
    """W2: many conversations, a few messages each, appended round-robin."""
    conversations = [await system.new_conversation() for _ in range(sizes.w2_conversations)]
    pool = len(texts)
    clock = time.perf_counter_ns
    written = 0
    start = clock()
    for round_index in range(sizes.w2_messages_each):
        role = role_of(round_index)
        for conversation in conversations:
            await system.append(conversation, role, texts[written % pool])
            written += 1
    elapsed = (clock() - start) / 1e9
    tail = await system.tail(conversations[-1], sizes.w2_messages_each)
    _check(
        len(tail) == sizes.w2_messages_each and tail[-1] == texts[(written - 1) % pool],
        "W2 last conversation's messages",
    )
    return {"w2_msgs_per_s": written / elapsed, "w2_seconds": elapsed}


async def w3_tail(system: System, sizes: Sizes, texts: Sequence[str]) -> Metrics:
    """W3: the last 20 messages of a long conversation."""
    conversation = await system.new_conversation()
    body = [texts[i % len(texts)] for i in range(sizes.w3_messages)]
    await _fill(system, conversation, body, sizes)
    reads = sizes.w3_reads_full_scan if system.tail_reads_everything else sizes.w3_reads
    count = sizes.tail_count

    async def read() -> list[str]:
        return await system.tail(conversation, count)

    samples, result = await timed_reads(read, reads, sizes.warmup_reads)
    _check(result == body[-count:], "W3 tail is the last messages, oldest first")
    return {
        "w3_median_us": statistics.median(samples),
        "w3_p99_us": percentile(samples, 0.99),
        "w3_reads": float(reads),
    }


async def build_listing_fixture(system: System, sizes: Sizes, texts: Sequence[str]) -> None:
    """W4's fixture: conversations of two messages, a random tenth touched again."""
    pool = len(texts)
    keys: list[str] = []
    for index in range(sizes.w4_conversations):
        key = await system.new_conversation()
        await system.append_batch(
            key, [("user", texts[(2 * index) % pool]), ("assistant", texts[(2 * index + 1) % pool])]
        )
        keys.append(key)
    rng = random.Random(11)
    for index, key in enumerate(rng.sample(keys, max(1, len(keys) // 10))):
        await system.append(key, "user", texts[index % pool])


async def w4_list(
    open_at: Callable[[Synchronous], System],
    synchronous: Synchronous,
    sizes: Sizes,
    texts: Sequence[str],
) -> Metrics:
    """W4: the 50 most recently updated conversations, with count and preview."""
    builder = open_at("NORMAL")
    try:
        await build_listing_fixture(builder, sizes, texts)
    finally:
        builder.close()
    system = open_at(synchronous)
    try:
        count = sizes.list_count

        async def read() -> list[tuple[int, str | None]]:
            return await system.list_recent(count)

        samples, result = await timed_reads(read, sizes.w4_reads, sizes.warmup_reads)
    finally:
        system.close()
    _check(
        len(result) == min(count, sizes.w4_conversations)
        and result[0][0] == 3
        and all(item[0] >= 2 and item[1] for item in result),
        "W4 listing: newest first, with message counts and previews",
    )
    return {"w4_median_us": statistics.median(samples), "w4_p99_us": percentile(samples, 0.99)}
