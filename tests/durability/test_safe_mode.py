"""SQLite libraries with the WAL-reset bug, and the one-library-per-process rule (S2.2).

The standard library's ``sqlite3`` here links a SQLite older than 3.51.3, which can
corrupt a WAL database when two processes write or checkpoint at the same moment. With
``THREADKEEP_SQLITE_DRIVER=sqlite3`` the store must run in single-process safe mode:
the first process keeps the file locked, a second one is refused with a clear
``StoreUnavailable``, and a warning names the affected version. These tests run the
store in subprocesses (``sqlite_probe.py``): the SQLite library is chosen once per
process, and this one has chosen pysqlite3.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from threadkeep.db.sqlite_driver import FIXED_VERSION, sqlite_module

PROBE = Path(__file__).with_name("sqlite_probe.py")
# Hang protection only.
TIMEOUT_S = 120.0


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _probe(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROBE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def _stdlib_sqlite_version() -> str:
    version: str = _probe("version", env=_env())["version"]
    return version


def _require_affected_stdlib() -> str:
    version = _stdlib_sqlite_version()
    if tuple(int(p) for p in version.split(".")) >= FIXED_VERSION:
        pytest.skip(f"the standard library's SQLite {version} has the WAL-reset fix")
    return version


@pytest.mark.slow
def test_second_process_is_refused_on_an_affected_sqlite(tmp_path: Path) -> None:
    """Guards against two processes sharing a WAL file through a SQLite with the reset bug.

    A first process opens the store through the standard library's affected SQLite and
    keeps it open; a second process must fail with ``StoreUnavailable`` naming the file,
    saying another process holds the lock and suggesting pysqlite3 — not open the file
    and write next to the first (the WAL-reset corruption needs exactly that). Both log
    a warning naming the affected SQLite version. Once the first process has closed,
    the file opens again with everything intact.

    The second process uses a 200 ms busy timeout: it waits that long for the lock
    before it is refused (with the default it would wait the whole 30 s).
    """
    version = _require_affected_stdlib()
    path = tmp_path / "safe.db"
    env = _env(THREADKEEP_SQLITE_DRIVER="sqlite3")
    holder = subprocess.Popen(
        [sys.executable, str(PROBE), "hold", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        ready = json.loads(holder.stdout.readline() or "{}")
        assert ready.get("ready"), holder.stderr.read() if holder.stderr else ""
        assert ready["library"] == ["sqlite3", version]
        assert any(version in w and "AFFECTED" in w for w in ready["warnings"]), ready

        second = _probe("open", str(path), env={**env, "THREADKEEP_SQLITE_BUSY_TIMEOUT_MS": "200"})
        assert second["outcome"] == "error", second
        assert second["error"] == "StoreUnavailable"
        message = second["message"]
        assert str(path) in message
        assert "another process holds the lock" in message
        assert "pysqlite3" in message
        assert any(version in w and "WAL-reset" in w for w in second["warnings"]), second

        holder.stdin.close()  # the holder appends once more: its store still works
        final = json.loads(holder.stdout.readline() or "{}")
        assert final.get("outcome") == "ok" and final["seq"] == 1, final
    finally:
        # Closing stdin lets the holder finish; then collect it without leaking pipes.
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stderr is not None
        if not holder.stdin.closed:
            holder.stdin.close()
        errors = holder.stderr.read()
        holder.wait(timeout=TIMEOUT_S)
        holder.stdout.close()
        holder.stderr.close()
    assert holder.returncode == 0, errors

    after = _probe("open", str(path), env=env)
    assert after["outcome"] == "ok", after
    assert after["message_counts"] == [0, 1]  # the holder's conversation, and this one


@pytest.mark.slow
def test_second_sqlite_library_in_one_process_is_refused(tmp_path: Path) -> None:
    """Guards against one process opening files through two SQLite copies.

    Two SQLite libraries in one process keep separate POSIX lock tables; a file opened
    through both can lose its locks and its data. After pysqlite3 was chosen (by opening
    a store with the default setting), asking for ``sqlite_driver="sqlite3"`` must raise
    ``InvalidInput`` naming both libraries. Run in a subprocess so this process's choice
    is not disturbed.
    """
    if importlib.util.find_spec("pysqlite3") is None:
        pytest.skip("pysqlite3 is not installed: the default library is sqlite3 already")
    report = _probe("mix", str(tmp_path / "a.db"), str(tmp_path / "b.db"), env=_env())
    assert report["outcome"] == "error", report
    assert report["error"] == "InvalidInput"
    assert "already uses SQLite via pysqlite3" in report["message"]
    assert "via sqlite3" in report["message"]
    assert report["library"][0] == "pysqlite3"


@pytest.mark.slow
def test_version_names_the_sqlite_library_and_version() -> None:
    """Guards against not being able to tell which SQLite (and whether a fixed one) runs.

    ``threadkeep --version`` (the installed console script) prints the SQLite version
    and the library, and says whether it has the WAL-reset fix, for the default choice
    and for ``THREADKEEP_SQLITE_DRIVER=sqlite3``.
    """
    script = shutil.which("threadkeep", path=str(Path(sys.executable).parent))
    assert script is not None, f"no threadkeep console script next to {sys.executable}"

    def version(env: dict[str, str]) -> str:
        done = subprocess.run(
            [script, "--version"], capture_output=True, text=True, env=env, timeout=TIMEOUT_S
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    library = sqlite_module()  # this process's choice is the default one
    default = version(_env())
    assert "threadkeep " in default
    assert f"SQLite {library.version} via {library.name}" in default
    fixed = "includes the WAL-reset fix" if library.has_wal_reset_fix else "AFFECTED"
    assert fixed in default

    stdlib = _stdlib_sqlite_version()
    forced = version(_env(THREADKEEP_SQLITE_DRIVER="sqlite3"))
    assert f"SQLite {stdlib} via sqlite3" in forced
    affected = tuple(int(p) for p in stdlib.split(".")) < FIXED_VERSION
    assert ("AFFECTED" in forced) is affected
