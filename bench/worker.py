"""The child process: run one job for one system and print its result as JSON.

``python -m bench.worker '<job json>'`` runs either a list of workloads (``w1`` ... ``w4``,
in order, each on a fresh database file in the job's directory) or the scale job, then
prints one line ``BENCH-RESULT {...}`` with the metrics, the system's settings as in
effect, and the process's peak resident memory (``ru_maxrss``).

A fresh process per job is what isolates the systems: each loads only its own SQLite
library (threadkeep's pysqlite3 or the peers' stdlib sqlite3) and its own dependencies,
and its memory high-water mark belongs to that job alone. The runner groups W1 and W3
in one process so that mark is "the process running W1+W3".
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench.systems import Synchronous, System, SystemName, open_system
from bench.workloads import Sizes, message_texts, w1_append, w2_fanout, w3_tail, w4_list

__all__ = ["RESULT_PREFIX", "main", "run_job"]

RESULT_PREFIX = "BENCH-RESULT "
_TEXT_POOL = 2_000


async def _run_workloads(job: dict[str, Any]) -> dict[str, Any]:
    name = cast(SystemName, job["system"])
    synchronous = cast(Synchronous, job["synchronous"])
    sizes = Sizes.from_json(job["sizes"])
    workdir = Path(job["workdir"])
    texts = message_texts(_TEXT_POOL)
    metrics: dict[str, float] = {}
    described: dict[str, str] = {}

    for workload in job["workloads"]:
        path = workdir / f"{workload}.db"
        if workload == "w4":
            opener = _opener(name, path, described, synchronous)
            metrics.update(await w4_list(opener, synchronous, sizes, texts))
            continue
        system = open_system(name, path, synchronous)
        try:
            if workload == "w1":
                metrics.update(await w1_append(system, sizes, texts))
            elif workload == "w2":
                metrics.update(await w2_fanout(system, sizes, texts))
            elif workload == "w3":
                metrics.update(await w3_tail(system, sizes, texts))
            else:
                raise ValueError(f"unknown workload {workload!r}")
            # After the workload: a peer's settings are only in its file once it wrote.
            described["describe"] = system.describe()
            described["effective"] = system.effective_synchronous()
        finally:
            system.close()
    return {
        "system": name,
        "synchronous": synchronous,
        "describe": described.get("describe", ""),
        "effective_synchronous": described.get("effective", synchronous),
        "metrics": metrics,
    }


def _opener(
    name: SystemName, path: Path, described: dict[str, str], synchronous: Synchronous
) -> Callable[[Synchronous], System]:
    """Opens ``name`` on ``path``; notes the settings of the one at the level under test."""

    def opener(level: Synchronous) -> System:
        system = open_system(name, path, level)
        if level == synchronous:
            described["describe"] = system.describe()
            described["effective"] = system.effective_synchronous()
        return system

    return opener


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` in this process and return its result (with ``maxrss_kb``)."""
    if job.get("kind") == "scale":
        from bench.scale import run_scale_job

        result = run_scale_job(job)
    else:
        result = asyncio.run(_run_workloads(job))
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.worker '<job json>'", file=sys.stderr)
        return 2
    result = run_job(json.loads(args[0]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
