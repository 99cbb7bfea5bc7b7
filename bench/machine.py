"""The machine a run was measured on, for the header line of the report.

CPU model from ``/proc/cpuinfo`` (Linux; ``platform.processor()`` elsewhere), logical
cores, total RAM, Python version, and the SQLite library each side runs on: threadkeep's
and the baseline's (asked of a subprocess, so this process never loads it) and the
standard library's, which the peers use. The load average at the start and end of a
run is reported too, since other work on the machine (I/O above all) moves the numbers.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Machine", "describe_machine", "load_average"]

_ASK_LIBRARY = (
    "from threadkeep.db.sqlite_driver import sqlite_module as m; l = m(); "
    "print(f'SQLite {l.version} via {l.name}')"
)


@dataclass(frozen=True, slots=True)
class Machine:
    cpu: str
    cores: int
    ram_gib: float
    python: str
    threadkeep_sqlite: str
    peers_sqlite: str
    platform: str

    def header(self) -> str:
        return (
            f"Machine: {self.cpu}, {self.cores} cores, {self.ram_gib:.1f} GiB RAM; "
            f"Python {self.python}; threadkeep + baseline: {self.threadkeep_sqlite}; "
            f"peers: {self.peers_sqlite}; {self.platform}"
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _ram_gib() -> float:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        return 0.0


def _threadkeep_sqlite(cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _ASK_LIBRARY],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        return "unknown (threadkeep not importable)"
    return done.stdout.strip()


def load_average() -> str:
    """The 1/5/15-minute load averages: a busy machine makes every number noisier."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def describe_machine(cwd: Path) -> Machine:
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram_gib=_ram_gib(),
        python=platform.python_version(),
        threadkeep_sqlite=_threadkeep_sqlite(cwd),
        peers_sqlite=f"SQLite {sqlite3.sqlite_version} via stdlib sqlite3",
        platform=f"{platform.system()} {platform.release()}",
    )
