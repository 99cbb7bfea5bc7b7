"""A server killed with SIGKILL while clients append over HTTP loses nothing it
acknowledged, and stores no retry twice (issue 4, "Load and durability"; S12.1).

A real server process (``threadkeep serve``) on a free loopback port serves one SQLite
file at ``synchronous=FULL``. Client threads append over HTTP, each message with its
own idempotency key (its content is the key), to a few conversations; after a
connection error, a timeout or a 503 a client retries the *same* key until it gets an
answer, as a client of a crashing server must. The test kills the server with SIGKILL
20 times at random moments — mostly while appends are in flight (and so while group
commit is batching them), every fifth time while it is still starting — and starts a
new one on the same file each time.

Afterwards the file is opened directly: every acknowledged append is stored under the
id and seq it was acknowledged with, no key is stored twice, each conversation's seqs
are exactly 1..n with counters equal to n, every stored message is one a client sent,
and SQLite's ``integrity_check`` passes.

The kill schedule is random; its seed is in every failure message, and
``DURABILITY_CRASH_SEED`` reuses one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.server.live import free_port, serve_command
from threadkeep import Settings, open_store
from threadkeep.db.sqlite_driver import sqlite_module

ROUNDS = 20
CLIENTS = 8
CONVERSATIONS = 4
STARTUP_KILL_EVERY = 5
MAX_KILL_DELAY_S = 0.4
MAX_STARTUP_KILL_DELAY_S = 1.0
RETRY_PAUSE_S = 0.01
# Hang protection only, never a performance bound.
READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Server:
    """The server processes of the run, one at a time, on one port and one file."""

    port: int
    database: Path
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    started: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> None:
        self.started += 1
        env = dict(os.environ, THREADKEEP_SQLITE_SYNCHRONOUS="FULL")
        log = (self.logs / f"server{self.started}.log").open("wb")
        self.process = subprocess.Popen(
            serve_command(self.port, self.database),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"server exited {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {READY_TIMEOUT_S}s: {self.log_tail()}")
            time.sleep(0.01)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        # Anything but death by SIGKILL means the server stopped on its own.
        assert self.process.returncode == -signal.SIGKILL, (
            f"server exited {self.process.returncode} before the kill: {self.log_tail()}"
        )

    def log_tail(self) -> str:
        path = self.logs / f"server{self.started}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""


@dataclass
class Acks:
    """What the clients were told, over all rounds."""

    seed: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # key -> cid, id, seq
    sent: set[str] = field(default_factory=set)
    retries: int = 0
    refused: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"(random seed {self.seed})"


def client_loop(
    number: int, base_url: str, conversations: list[str], acks: Acks, stop: threading.Event
) -> None:
    """Append keyed messages until told to stop, retrying each key until it is answered."""
    rng = random.Random(acks.seed + number)
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as http:
        n = 0
        while not stop.is_set():
            n += 1
            key = f"c{number}-{n}"
            cid = rng.choice(conversations)
            with acks.lock:
                acks.sent.add(key)
            while True:
                try:
                    response = http.post(
                        f"/conversations/{cid}/messages",
                        json={"role": "user", "content": key},
                        headers={"Idempotency-Key": key},
                    )
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code in (200, 201):
                    body = response.json()
                    with acks.lock:
                        acks.acked[key] = (cid, body["id"], body["seq"])
                    break
                if response is not None and response.status_code != 503:
                    with acks.lock:
                        acks.refused.append(f"{key}: {response.status_code} {response.text[:200]}")
                    return
                with acks.lock:
                    acks.retries += 1
                if stop.is_set() and key not in acks.acked:
                    return  # never answered: it may or may not be stored, at most once
                time.sleep(RETRY_PAUSE_S)


def _check_survivors(database: Path, conversations: list[str], acks: Acks) -> None:
    where = acks.where()
    with open_store(database, settings=Settings.load()) as store:
        with store.database.read() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT conversation_id, seq, id, idempotency_key, content FROM messages "
                    "ORDER BY conversation_id, seq"
                )
            ).all()
        counters = {cid: store.get_conversation(cid) for cid in conversations}

    keys = Counter(row.idempotency_key for row in rows)
    duplicated = [key for key, count in keys.items() if count > 1]
    assert not duplicated, f"{len(duplicated)} keys stored twice, e.g. {duplicated[:5]} {where}"
    for cid in conversations:
        seqs = [row.seq for row in rows if row.conversation_id == cid]
        assert seqs == list(range(1, len(seqs) + 1)), f"seq gap or repeat in {cid} {where}"
        assert (counters[cid].message_count, counters[cid].last_seq) == (len(seqs), len(seqs))
    stored = {row.idempotency_key: (row.conversation_id, row.id, row.seq) for row in rows}
    lost = sorted(key for key in acks.acked if key not in stored)
    assert not lost, f"{len(lost)} acknowledged appends lost, e.g. {lost[:5]} {where}"
    moved = {k: (v, stored[k]) for k, v in acks.acked.items() if stored[k] != v}
    assert not moved, f"acknowledged != stored: {dict(list(moved.items())[:5])} {where}"
    strangers = [row.idempotency_key for row in rows if row.idempotency_key not in acks.sent]
    assert not strangers, f"stored messages no client sent: {strangers[:5]} {where}"
    assert all(row.content == row.idempotency_key for row in rows), where


@pytest.mark.slow
def test_sigkilled_server_loses_no_acknowledged_append(tmp_path: Path) -> None:
    """Guards against an HTTP append acknowledged before its commit reached the disk (a
    201 sent for a batch whose COMMIT then failed or never happened), a retried key
    stored twice (the first copy committed, the answer lost with the server), and seq
    gaps or a torn file after a kill — across 20 SIGKILLs of a live server."""
    chosen = os.environ.get("DURABILITY_CRASH_SEED")
    seed = int(chosen) if chosen else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    acks = Acks(seed=seed)
    database = tmp_path / "threadkeep.db"
    logs = tmp_path / "logs"
    logs.mkdir()
    with open_store(database, settings=Settings.load()) as store:
        conversations = [store.create_conversation().id for _ in range(CONVERSATIONS)]

    server = Server(port=free_port(), database=database, logs=logs)
    stop = threading.Event()
    clients = [
        threading.Thread(
            target=client_loop, args=(n, server.base_url, conversations, acks, stop), daemon=True
        )
        for n in range(CLIENTS)
    ]
    rounds_with_acks = 0
    try:
        for number in range(ROUNDS):
            before = len(acks.acked)
            server.start()
            if number == 0:
                server.wait_ready()
                for client in clients:
                    client.start()
            if number % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
                time.sleep(rng.uniform(0, MAX_STARTUP_KILL_DELAY_S))
            else:
                server.wait_ready()
                time.sleep(rng.uniform(0.05, MAX_KILL_DELAY_S))
            server.kill()
            rounds_with_acks += len(acks.acked) > before
            assert not acks.refused, f"server refused appends: {acks.refused[:3]} {acks.where()}"
        # A last server answers every retry still pending, then is killed too.
        server.start()
        server.wait_ready()
        time.sleep(MAX_KILL_DELAY_S)
        stop.set()
        for client in clients:
            client.join(timeout=REQUEST_TIMEOUT_S * 2)
        server.kill()
    finally:
        stop.set()
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()

    assert not acks.refused, f"the server refused appends: {acks.refused[:3]} {acks.where()}"
    # Guards against a pass in which the clients never got an append in.
    assert rounds_with_acks >= ROUNDS // 2, (
        f"only {rounds_with_acks} of {ROUNDS} rounds acknowledged anything {acks.where()}"
    )
    assert acks.retries > 0, "no append was ever retried: the kills missed the traffic"
    _check_survivors(database, conversations, acks)
    module = sqlite_module().module
    conn = module.connect(str(database))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
