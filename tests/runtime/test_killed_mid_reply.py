"""A chat process killed mid-reply leaves the partial reply, marked (SPEC S4.7).

Guards against a reply that exists only in memory until it ends (a crash loses it all)
and against a dead run that stays ``running`` with a reply still ``streaming`` forever.
A child process (``streamer.py``) chats through ``Runtime.send`` with a provider that
never stops; once it has passed several pieces on, the test kills it with SIGKILL.
Then, as a server does when it starts (``mark_interrupted_runs``), the run is marked
``interrupted``: the reply is stored as far as it was written back, ``incomplete``.
Runs on both engines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from threadkeep import Settings, open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
# Hang protection only: the child must start streaming within this time.
STREAM_DEADLINE_S = 120.0
PIECES_BEFORE_KILL = 40


def test_a_process_killed_mid_reply_leaves_it_incomplete_and_the_run_interrupted(
    db_url: str, tmp_path: Path
) -> None:
    with open_store(db_url, settings=Settings.load()) as store:
        conv = store.create_conversation()
    errors = tmp_path / "streamer.err"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.streamer", db_url, conv.id],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as child,
    ):
        try:
            assert child.stdout is not None
            deadline = time.monotonic() + STREAM_DEADLINE_S
            seen = 0
            for line in child.stdout:
                seen = int(line.split()[1])
                if seen >= PIECES_BEFORE_KILL or time.monotonic() > deadline:
                    break
            assert seen >= PIECES_BEFORE_KILL, errors.read_text()
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    with open_store(db_url, settings=Settings.load()) as store:
        user, reply = store.get_messages(conv.id)
        assert (user.role, user.content) == ("user", "tell me a long story")
        assert (reply.role, reply.status) == ("assistant", "streaming")
        assert reply.content and set(reply.content.split()) == {"word"}
        (run,) = store.list_runs(conv.id)
        assert run.status == "running"

        interrupted = store.mark_interrupted_runs()
        assert [r.id for r in interrupted] == [run.id]
        assert store.get_run(run.id).status == "interrupted"
        after = store.get_messages(conv.id)[-1]
        assert (after.id, after.status, after.content) == (reply.id, "incomplete", reply.content)
