"""The report: one Markdown table (plus a scale table with ``--scale``) and a JSON file.

Each cell is the median over repeats followed by the ratio to the raw baseline at the
same ``synchronous`` setting (``system / baseline``: above 1 is faster for msg/s, slower
for microseconds). The peers run as they ship and are compared with the baseline at the
level they actually run at. threadkeep's cells carry the issue's targets:

* W1 and W2 throughput at least 0.7x the baseline;
* W3 tail and W4 list median at most 4x the baseline;
* peak memory of the process running W1+W3 under 100 MB.

Nothing is asserted: a missed target is a mark in the table, not a failure.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import Machine
from bench.runner import PEERS, Row, RunConfig

__all__ = ["render_markdown", "to_json", "write_outputs"]

_NAMES = {
    "baseline": "raw SQLite baseline",
    "threadkeep": "threadkeep (sync store)",
    "sqlitesession": "OpenAI Agents SQLiteSession",
    "langchain": "LangChain SQLChatMessageHistory",
}

MEMORY_TARGET_MB = 100.0


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    metric: str
    higher_is_better: bool
    target: float | None
    listing: bool = False


_COLUMNS = (
    Column("W1 append msg/s", "w1_msgs_per_s", True, 0.7),
    Column("W2 fan-out msg/s", "w2_msgs_per_s", True, 0.7),
    Column("W3 tail median µs", "w3_median_us", False, 4.0),
    Column("W3 tail p99 µs", "w3_p99_us", False, None),
    Column("W4 list median µs", "w4_median_us", False, 4.0, listing=True),
)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _mark(ratio: float, column: Column) -> str:
    if column.target is None:
        return ""
    met = ratio >= column.target if column.higher_is_better else ratio <= column.target
    return " ✓" if met else " ✗"


def _baselines(rows: Sequence[Row]) -> dict[str, Row]:
    return {row.setting: row for row in rows if row.system == "baseline"}


def _setting_label(row: Row) -> str:
    if row.system in PEERS:
        level = row.effective_synchronous or "?"
        return f"as shipped ({level})"
    return row.setting


def _cell(row: Row, column: Column, baselines: dict[str, Row]) -> str:
    value = row.median(column.metric)
    if value is None:
        if column.listing and row.system in PEERS:
            return "n/a (no list API)"
        return "error" if row.errors else "—"
    text = _number(value)
    base_row = baselines.get(row.effective_synchronous or row.setting)
    base = base_row.median(column.metric) if base_row is not None else None
    if row.system == "baseline" or not base:
        return text
    ratio = value / base
    mark = _mark(ratio, column) if row.system == "threadkeep" else ""
    return f"{text} ({ratio:.2f}x{mark})"


def _memory_cell(row: Row) -> str:
    peak = row.peak_rss_mb()
    if peak is None:
        return "error" if row.errors else "—"
    mark = ""
    if row.system == "threadkeep":
        mark = " ✓" if peak < MEMORY_TARGET_MB else " ✗"
    return f"{peak:.1f} MB{mark}"


def _main_table(rows: Sequence[Row]) -> list[str]:
    baselines = _baselines(rows)
    header = ["System", "synchronous", *(c.title for c in _COLUMNS), "Peak RSS W1+W3"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [_NAMES[row.system], _setting_label(row)]
        cells.extend(_cell(row, column, baselines) for column in _COLUMNS)
        cells.append(_memory_cell(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets(rows: Sequence[Row]) -> list[str]:
    """One line per threadkeep setting: how many targets are met, and which are missed."""
    baselines = _baselines(rows)
    lines: list[str] = []
    for row in rows:
        if row.system != "threadkeep":
            continue
        met: list[str] = []
        missed: list[str] = []
        base_row = baselines.get(row.setting)
        for column in _COLUMNS:
            if column.target is None or base_row is None:
                continue
            value, base = row.median(column.metric), base_row.median(column.metric)
            if value is None or not base:
                continue
            ratio = value / base
            bound = f"{'≥' if column.higher_is_better else '≤'} {column.target}x"
            entry = f"{column.title.split(' ')[0]} {ratio:.2f}x ({bound})"
            (met if _mark(ratio, column) == " ✓" else missed).append(entry)
        peak = row.peak_rss_mb()
        if peak is not None:
            entry = f"memory {peak:.1f} MB (< {MEMORY_TARGET_MB:.0f} MB)"
            (met if peak < MEMORY_TARGET_MB else missed).append(entry)
        total = len(met) + len(missed)
        summary = f"- threadkeep at {row.setting}: {len(met)}/{total} targets met"
        if missed:
            summary += "; missed: " + ", ".join(missed)
        lines.append(summary)
    return lines


def _scale_table(rows: Sequence[Row]) -> list[str]:
    scaled = [row for row in rows if row.scale is not None]
    if not scaled:
        return []
    first = scaled[0].scale or {}
    lines = [
        "",
        f"### Scale: {first['conversations']:,} conversations / {first['messages']:,} messages",
        "",
        "| System | synchronous | W3 tail median µs | W3 tail p99 µs | W4 list median µs "
        "| fixture build | database size |",
        "|---|---|---|---|---|---|---|",
    ]
    base = {row.setting: row.scale for row in scaled if row.system == "baseline"}
    for row in scaled:
        scale = row.scale or {}
        metrics: dict[str, float] = scale["metrics"]
        level = row.effective_synchronous if row.system in PEERS else row.setting
        base_metrics: dict[str, float] = (base.get(level or "") or {}).get("metrics", {})
        cells = [_NAMES[row.system], _setting_label(row)]
        for metric, column in (
            ("w3_median_us", _COLUMNS[2]),
            ("w3_p99_us", _COLUMNS[3]),
            ("w4_median_us", _COLUMNS[4]),
        ):
            value = metrics.get(metric)
            if value is None:
                cells.append("n/a (no list API)" if metric.startswith("w4") else "—")
                continue
            text = _number(value)
            reference = base_metrics.get(metric)
            if row.system != "baseline" and reference:
                ratio = value / reference
                mark = _mark(ratio, column) if row.system == "threadkeep" else ""
                text += f" ({ratio:.2f}x{mark})"
            cells.append(text)
        cells.append(f"{scale['build_seconds']:.0f} s")
        cells.append(f"{scale['db_bytes'] / 1024**3:.2f} GiB")
        lines.append("| " + " | ".join(cells) + " |")
    reads = {row.system: int((row.scale or {})["metrics"].get("w3_reads", 0)) for row in scaled}
    lines.append("")
    lines.append(
        "Scale fixture: conversations of "
        f"{first.get('messages_each', 10)} messages plus one of {first.get('long', 10_000):,} "
        "(the W3 target), written with bulk inserts through each system's own SQLite library "
        "straight into the schema the system creates (counters and previews filled "
        "consistently), built once per system and measured at each setting; "
        "W3 reads: " + ", ".join(f"{_NAMES[s]} {n}" for s, n in reads.items()) + "."
    )
    return lines


def _notes(config: RunConfig, rows: Sequence[Row]) -> list[str]:
    sizes = config.sizes
    notes = [
        "",
        "Notes:",
        f"- Values are medians of {config.repeat} run(s); (nx) = system ÷ raw baseline at "
        "the same synchronous level (msg/s: higher is better; µs: lower is better). "
        "✓/✗ mark threadkeep's targets: W1/W2 ≥ 0.7x, W3/W4 median ≤ 4x, "
        "peak memory < 100 MB.",
        f"- W1: 1 conversation x {sizes.w1_messages:,} messages (~200 chars), one append per "
        f"call. W2: {sizes.w2_conversations:,} conversations x {sizes.w2_messages_each} "
        f"messages, round-robin. W3: last {sizes.tail_count} of a {sizes.w3_messages:,}-message "
        f"conversation, {sizes.w3_reads} reads. W4: {sizes.list_count} most recently updated "
        f"of {sizes.w4_conversations:,} conversations, {sizes.w4_reads} reads (fixture written at "
        "NORMAL, then reopened at the setting shown).",
        "- Peak RSS: ru_maxrss of the fresh process that ran W1 then W3 (interpreter and "
        "imports included), highest over repeats.",
    ]
    for row in rows:
        if row.describe:
            notes.append(f"- {_NAMES[row.system]} @ {_setting_label(row)}: {row.describe}")
    for row in rows:
        if row.system in PEERS and row.samples.get("w3_reads"):
            reads = int(row.samples["w3_reads"][0])
            if row.system == "langchain" or reads != sizes.w3_reads:
                notes.append(
                    f"- {_NAMES[row.system]} W3: its tail reads the whole conversation "
                    f"(.messages[-{sizes.tail_count}:]), so it gets {reads} reads instead of "
                    f"{sizes.w3_reads}."
                )
    for row in rows:
        for error in row.errors:
            notes.append(f"- ERROR {_NAMES[row.system]} @ {row.setting}: {error}")
    return notes


def render_markdown(
    machine: Machine,
    config: RunConfig,
    rows: Sequence[Row],
    started: dt.datetime,
    seconds: float,
    load: tuple[str, str] = ("?", "?"),
) -> str:
    mode = "quick" if config.quick else "full"
    lines = [
        "# threadkeep benchmark",
        "",
        machine.header(),
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {mode} mode, {config.repeat} repeat(s), "
        f"{seconds:.0f} s; load average (1/5/15 min) {load[0]} at start, {load[1]} at end.",
        "",
        *_main_table(rows),
        "",
        *_targets(rows),
        *_scale_table(rows),
        *_notes(config, rows),
    ]
    return "\n".join(lines) + "\n"


def to_json(
    machine: Machine,
    config: RunConfig,
    rows: Sequence[Row],
    started: dt.datetime,
    seconds: float,
    load: tuple[str, str] = ("?", "?"),
) -> dict[str, Any]:
    return {
        "generated_at": started.isoformat(),
        "seconds": seconds,
        "load_average": {"start": load[0], "end": load[1]},
        "machine": machine.to_json(),
        "config": {
            "mode": "quick" if config.quick else "full",
            "repeat": config.repeat,
            "settings": list(config.settings),
            "systems": list(config.systems),
            "workloads": sorted(config.workloads),
            "sizes": config.sizes.to_json(),
            "scale": config.scale.to_json() if config.scale is not None else None,
        },
        "rows": [row.to_json() for row in rows],
    }


def write_outputs(markdown: str, document: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``latest.md`` and ``latest.json`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    md_path = directory / "latest.md"
    json_path = directory / "latest.json"
    md_path.write_text(markdown, encoding="utf-8")
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return [md_path, json_path]
