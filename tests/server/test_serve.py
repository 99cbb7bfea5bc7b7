"""``threadkeep serve`` as a real subprocess on a free loopback port (SPEC S8.5).

What is guarded here:

* it prints its URL first (``http://127.0.0.1:PORT`` by default), then serves the API;
* SIGTERM and SIGINT are a graceful shutdown with exit status 0, and what was
  acknowledged before is in the database afterwards;
* on a non-loopback address with no API key it refuses to start (exit 2, one line
  saying why and what to do, nothing served) unless ``--insecure-no-auth`` is given,
  which it warns about; with a key it starts and requires it;
* ``--workers 2`` serves and stops the same way.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.server.live import DEADLINE_S, free_port
from threadkeep import open_store

COMMAND = [sys.executable, "-m", "threadkeep"]
#: Every interface: what these tests are about.
PUBLIC = "0.0.0.0"  # noqa: S104


class Serve:
    """``threadkeep serve ARGS`` with stdout piped (to read the URL line) and stderr kept."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.db = str(tmp_path / "serve.db")
        self.stderr_path = tmp_path / f"serve-{self.port}.err"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [*COMMAND, "--db", self.db, "serve", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def first_line(self) -> str:
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], DEADLINE_S * 3)
        assert ready, f"serve printed nothing: {self.errors()}"
        return stdout.readline().decode().strip()

    def errors(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self, base: str) -> httpx.Response:
        deadline = time.monotonic() + DEADLINE_S * 3
        while True:
            assert self.process.poll() is None, f"serve exited: {self.errors()}"
            try:
                return httpx.get(f"{base}/api/v1/health", timeout=2.0)
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not answer: {self.errors()}"
                time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``; the exit status (fails the test if it does not exit)."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(DEADLINE_S * 2)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not exit on {signum}: {self.errors()}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE_S)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


StartServe = Callable[..., Serve]


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[StartServe]:
    """``serves(*args)`` starts ``threadkeep serve``; every one is stopped at teardown."""
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        serve = Serve(tmp_path, *args)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_on_loopback_and_stops_cleanly(serves: StartServe, signum: int) -> None:
    serve: Serve = serves()
    url = f"http://127.0.0.1:{serve.port}"
    assert url in serve.first_line()
    health = serve.wait_healthy(url)
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["database"]["engine"] == "sqlite"
    made = httpx.post(f"{url}/api/v1/conversations", json={"title": "kept"})
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    appended = httpx.post(
        f"{url}/api/v1/conversations/{cid}/messages", json={"role": "user", "content": "hi"}
    )
    assert appended.status_code == 201, appended.text
    assert serve.stop(signum) == 0, serve.errors()
    assert "Traceback" not in serve.errors()
    with open_store(serve.db) as store:
        assert [m.content for m in store.get_messages(cid)] == ["hi"]


def test_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    port = str(free_port())
    result = subprocess.run(
        [*COMMAND, "--db", str(tmp_path / "x.db"), "serve", "--host", PUBLIC, "--port", port],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 3,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("error (invalid_input): refusing to serve on 0.0.0.0")
    assert "threadkeep users add" in line and "--insecure-no-auth" in line
    assert len(result.stderr.strip().splitlines()) == 1


def test_insecure_no_auth_starts_with_a_warning(serves: StartServe) -> None:
    serve: Serve = serves("--host", PUBLIC, "--insecure-no-auth")
    assert f"http://{PUBLIC}:{serve.port}" in serve.first_line()
    url = f"http://127.0.0.1:{serve.port}"
    assert serve.wait_healthy(url).status_code == 200
    assert "NO authentication" in serve.errors()
    # Without keys, everyone is the local user.
    assert httpx.get(f"{url}/api/v1/conversations").status_code == 200
    assert serve.stop() == 0


def test_a_public_address_with_a_key_starts_and_requires_it(
    tmp_path: Path, serves: StartServe
) -> None:
    added = subprocess.run(
        [*COMMAND, "--db", str(tmp_path / "serve.db"), "users", "add", "alice"],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 3,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    serve: Serve = serves("--host", PUBLIC)
    serve.first_line()
    url = f"http://127.0.0.1:{serve.port}"
    assert serve.wait_healthy(url).status_code == 200
    assert httpx.get(f"{url}/api/v1/conversations").status_code == 401
    authorized = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{url}/api/v1/conversations", headers=authorized).status_code == 200
    assert "NO authentication" not in serve.errors()
    assert serve.stop() == 0


def test_workers(serves: StartServe) -> None:
    serve: Serve = serves("--workers", "2")
    url = f"http://127.0.0.1:{serve.port}"
    assert url in serve.first_line()
    assert serve.wait_healthy(url).status_code == 200
    ids = set()
    for _ in range(6):
        made = httpx.post(f"{url}/api/v1/conversations", json={})
        assert made.status_code == 201, made.text
        ids.add(made.json()["id"])
    listed = httpx.get(f"{url}/api/v1/conversations").json()["items"]
    assert {item["id"] for item in listed} == ids
    assert serve.stop() == 0, serve.errors()
