"""The test side of the fake CLIs: a fake installed as an executable, its fixtures, a
runtime whose plugins have the CLI provider, and checks that a process is gone.

A test module imports ``fake_claude_fixture`` / ``fake_codex_fixture`` to use the
``fake_claude`` / ``fake_codex`` fixtures: each installs the fake as an executable named
like the real CLI in a directory of its own (a ``/bin/sh`` wrapper that ``exec``\\ s this
interpreter on the fake's module, so the CLI's pid is the fake's), points the fake's
sessions at a fresh directory and gives the directory the provider runs in.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from threadkeep import AsyncConversationStore, Settings
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager
from threadkeep.runtime.providers.base import ProviderSpec
from threadkeep.runtime.providers.registry import providers
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import Runtime

__all__ = [
    "FakeCli",
    "fake_claude_fixture",
    "fake_codex_fixture",
    "install_fake",
    "process_ended",
    "reaped",
    "runtime_with",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
# A bound for hangs only: how long a killed process may take to be seen gone.
GONE_DEADLINE_S = 30.0


def install_fake(name: str, directory: Path) -> Path:
    """An executable ``directory/name`` running the fake ``name`` (``claude``/``codex``)."""
    directory.mkdir(parents=True, exist_ok=True)
    executable = directory / name
    executable.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(REPO_ROOT))} "
        f'exec {shlex.quote(sys.executable)} -m tests.runtime.fake_cli.{name} "$@"\n',
        encoding="utf-8",
    )
    executable.chmod(0o755)
    return executable


@dataclass
class FakeCli:
    """A fake CLI ready to run: ``command`` (its path), ``home`` (its sessions and
    ``calls.jsonl``), ``cwd`` (where the provider runs it)."""

    name: str
    command: Path
    home: Path
    cwd: Path

    def settings(self, **overrides: Any) -> Settings:
        """Settings whose ``<cli>_command`` is this fake and cwd this directory."""
        setting = "claude_code_command" if self.name == "claude" else "codex_command"
        values: dict[str, Any] = {setting: str(self.command), "cli_provider_cwd": str(self.cwd)}
        return Settings(**{**values, **overrides})

    def calls(self) -> list[dict[str, Any]]:
        """Every run so far: ``argv`` (after the executable), ``stdin``, ``cwd``."""
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def sessions(self) -> list[str]:
        """The ids of the sessions on disk."""
        return sorted(path.stem for path in self.home.glob("*.jsonl") if path.stem != "calls")

    def wipe_sessions(self) -> None:
        """Lose every session, as when ``~/.claude`` or ``~/.codex`` is cleared."""
        for session in self.sessions():
            (self.home / f"{session}.jsonl").unlink()


def _fake(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCli:
    home = tmp_path / f"{name}-home"
    cwd = tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    monkeypatch.setenv(f"FAKE_{name.upper()}_HOME", str(home))
    for variable in ("FAKE_CLAUDE_RESUME_ERROR", "FAKE_CODEX_RESUME_UNKNOWN"):
        monkeypatch.delenv(variable, raising=False)
    return FakeCli(name, install_fake(name, tmp_path / "bin"), home, cwd)


@pytest.fixture(name="fake_claude")
def fake_claude_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCli:
    """The fake ``claude``, with an empty session directory."""
    return _fake("claude", tmp_path, monkeypatch)


@pytest.fixture(name="fake_codex")
def fake_codex_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCli:
    """The fake ``codex``, with an empty session directory."""
    return _fake("codex", tmp_path, monkeypatch)


def runtime_with(store: AsyncConversationStore, spec: ProviderSpec, settings: Settings) -> Runtime:
    """A runtime over ``store`` with ``settings`` whose plugins have ``spec``'s provider:
    the built-in one once it is registered there, else ``spec`` added as a plugin."""
    manager = build_plugin_manager(entry_points=False)
    if spec.name not in providers(manager):

        class Plugin:
            @hookimpl
            def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
                register(spec)

        manager.register(Plugin())
    return Runtime(store, RunQueue(), settings=settings, manager=manager)


def reaped(pid: int) -> bool:
    """Whether ``pid`` (a child of this process) is gone and reaped: no zombie left."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def process_ended(pid: int) -> bool:
    """Whether ``pid`` (any process) has ended, waiting for it (a bound for hangs only).

    Waits on the kernel's exit notification — a pidfd on Linux, a kqueue ``NOTE_EXIT``
    on macOS and the BSDs — which fires when the process exits, whether it is then
    reaped or left a zombie by a parent that does not reap (a container's init).
    """
    if sys.platform == "linux":
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            ready, _, _ = select.select([descriptor], [], [], GONE_DEADLINE_S)
        finally:
            os.close(descriptor)
        return bool(ready)
    queue = select.kqueue()
    try:
        watch = select.kevent(
            pid, filter=select.KQ_FILTER_PROC, flags=select.KQ_EV_ADD, fflags=select.KQ_NOTE_EXIT
        )
        try:
            return bool(queue.control([watch], 1, GONE_DEADLINE_S))
        except ProcessLookupError:
            return True
    finally:
        queue.close()
