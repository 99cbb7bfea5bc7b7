"""The parent side: schedule every job in a fresh subprocess and aggregate the results.

A job is one system at one ``synchronous`` setting running one group of workloads:
``w1`` then ``w3`` together (so the process's peak memory is "W1+W3"), ``w2`` alone,
``w4`` alone. Each job gets its own temporary directory, deleted afterwards, so every
workload starts on a fresh database file.

Repeats are the outer loop and the systems the inner one, so slow drift of the machine
(page cache, thermal state, a neighbour's I/O) spreads over all systems instead of
landing on one. A row's value is the median over repeats; its memory is the highest
high-water mark seen.

A job that fails (a system not installed, a wrong result) is recorded as an error for its
row and the run goes on; the report shows it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.systems import Synchronous, SystemName
from bench.worker import RESULT_PREFIX
from bench.workloads import Sizes

__all__ = ["PEERS", "REPO_ROOT", "Row", "RunConfig", "ScaleConfig", "run_all"]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Systems that run as they ship: one row each, whatever settings are asked for.
PEERS: frozenset[SystemName] = frozenset({"sqlitesession", "langchain"})

_GROUPS: tuple[tuple[str, ...], ...] = (("w1", "w3"), ("w2",), ("w4",))
_LISTING: frozenset[SystemName] = frozenset({"baseline", "threadkeep"})
_JOB_TIMEOUT_S = 4 * 3600


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    """The ``--scale`` fixture: conversations of ``messages_each`` plus one long one."""

    conversations: int = 1_000_000
    messages_each: int = 10
    long_conversation: int = 10_000
    reads: int = 300
    full_scan_reads: int = 3

    def to_json(self) -> dict[str, int]:
        return {
            "conversations": self.conversations,
            "messages_each": self.messages_each,
            "long_conversation": self.long_conversation,
            "reads": self.reads,
            "full_scan_reads": self.full_scan_reads,
        }


@dataclass(frozen=True, slots=True)
class RunConfig:
    sizes: Sizes
    repeat: int
    settings: tuple[Synchronous, ...]
    systems: tuple[SystemName, ...]
    workloads: frozenset[str]
    scale: ScaleConfig | None
    tmpdir: Path | None
    quick: bool


@dataclass(slots=True)
class Row:
    """One line of the report: a system at a setting ("shipped" for the peers)."""

    system: SystemName
    setting: str
    describe: str = ""
    effective_synchronous: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    maxrss_kb: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scale: dict[str, Any] | None = None
    unavailable: bool = False

    def median(self, metric: str) -> float | None:
        values = self.samples.get(metric)
        return statistics.median(values) if values else None

    def peak_rss_mb(self) -> float | None:
        return max(self.maxrss_kb) / 1024 if self.maxrss_kb else None

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "setting": self.setting,
            "describe": self.describe,
            "effective_synchronous": self.effective_synchronous,
            "medians": {metric: self.median(metric) for metric in sorted(self.samples)},
            "samples": self.samples,
            "peak_rss_mb_w1_w3": self.peak_rss_mb(),
            "errors": self.errors,
            "scale": self.scale,
        }


Progress = Callable[[str], None]


def _run_worker(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``job`` in a fresh interpreter and return its result; raise with its stderr.

    The child sees no ``THREADKEEP_*`` variable of ours and a ``THREADKEEP_HOME`` in the
    job's directory, so threadkeep runs on its defaults whatever the user configured.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("THREADKEEP_")}
    env["THREADKEEP_HOME"] = str(job["workdir"])
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=timeout,
        env=env,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    raise RuntimeError(f"exit {done.returncode}: {tail}")


def _rows(config: RunConfig) -> list[Row]:
    rows: list[Row] = []
    for system in config.systems:
        if system in PEERS:
            rows.append(Row(system, "shipped"))
        else:
            rows.extend(Row(system, setting) for setting in config.settings)
    return rows


def _record(row: Row, result: dict[str, Any], group: tuple[str, ...]) -> None:
    row.describe = result.get("describe") or row.describe
    row.effective_synchronous = result.get("effective_synchronous") or row.effective_synchronous
    for metric, value in result["metrics"].items():
        row.samples.setdefault(metric, []).append(float(value))
    if "w1" in group or "w3" in group:
        row.maxrss_kb.append(int(result["maxrss_kb"]))


def run_all(config: RunConfig, progress: Progress) -> list[Row]:
    """Run every job the configuration asks for; return one :class:`Row` per line."""
    rows = _rows(config)
    groups = [g for g in _GROUPS if config.workloads.intersection(g)]
    plan: list[tuple[int, Row, tuple[str, ...]]] = []
    for repeat in range(config.repeat):
        for group in groups:
            for row in rows:
                if group == ("w4",) and row.system not in _LISTING:
                    continue
                workloads = tuple(w for w in group if w in config.workloads)
                plan.append((repeat, row, workloads))
    root = Path(tempfile.mkdtemp(prefix="threadkeep-bench-", dir=config.tmpdir))
    try:
        for index, (repeat, row, workloads) in enumerate(plan, start=1):
            if row.unavailable:
                continue
            label = f"{row.system} {row.setting} {'+'.join(workloads)}"
            workdir = Path(tempfile.mkdtemp(prefix=f"{row.system}-", dir=root))
            job = {
                "system": row.system,
                "synchronous": row.setting if row.setting != "shipped" else "FULL",
                "workloads": list(workloads),
                "sizes": config.sizes.to_json(),
                "workdir": str(workdir),
                "repeat": repeat,
            }
            started = time.perf_counter()
            try:
                result = _run_worker(job, _JOB_TIMEOUT_S)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                row.errors.append(f"{'+'.join(workloads)}: {error}")
                row.unavailable = "ImportError" in str(error) or "NotFoundError" in str(error)
                progress(f"[{index}/{len(plan)}] {label}: FAILED {error}")
            else:
                _record(row, result, workloads)
                progress(f"[{index}/{len(plan)}] {label}: {time.perf_counter() - started:.1f} s")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        if config.scale is not None:
            _run_scale(config, config.scale, rows, root, progress)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _run_scale(
    config: RunConfig, scale: ScaleConfig, rows: list[Row], root: Path, progress: Progress
) -> None:
    """One scale job per system: build the fixture once, measure every setting on it."""
    for system in config.systems:
        workdir = Path(tempfile.mkdtemp(prefix=f"scale-{system}-", dir=root))
        job = {
            "kind": "scale",
            "system": system,
            "settings": list(config.settings),
            "scale": scale.to_json(),
            "repeat": config.repeat,
            "workdir": str(workdir),
        }
        progress(
            f"scale {system}: building the fixture "
            f"({scale.conversations:,} conversations) and measuring ..."
        )
        started = time.perf_counter()
        try:
            result = _run_worker(job, _JOB_TIMEOUT_S)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            for row in rows:
                if row.system == system:
                    row.errors.append(f"scale: {error}")
            progress(f"scale {system}: FAILED {error}")
            continue
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        progress(
            f"scale {system}: {time.perf_counter() - started:.0f} s "
            f"(fixture {result['build_seconds']:.0f} s)"
        )
        for row in rows:
            if row.system != system:
                continue
            measured = result["per_setting"].get(row.setting)
            if measured is None:
                continue
            row.scale = {
                "metrics": measured,
                "build_seconds": result["build_seconds"],
                "db_bytes": result["db_bytes"],
                "conversations": result["conversations"],
                "messages": result["messages"],
                "messages_each": scale.messages_each,
                "long": scale.long_conversation,
                "maxrss_kb": result["maxrss_kb"],
                "describe": result.get("describe", {}).get(row.setting, ""),
            }
