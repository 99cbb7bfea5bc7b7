"""Real servers and a real event-stream client, for the live-events tests.

* :class:`ThreadServer` runs uvicorn for an app in a thread, on a free loopback port
  (a socket bound to port 0, so no race for the port).
* :class:`ServeProcess` runs ``threadkeep serve`` in a subprocess on a free port.
* :class:`EventReader` reads a ``text/event-stream`` over a real HTTP connection in a
  thread, parsing it as a browser's ``EventSource`` would (``id``, ``event``, ``data``,
  comments, the last event id), and hands events over through a queue, so a test waits
  for one with a deadline. Opening one returns once the stream sent its opening id,
  that is once it is subscribed. Closing it closes the connection, as a client going
  away.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

# Hang protection only, never a performance bound.
DEADLINE_S = 20.0


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event."""

    id: str
    event: str
    data: dict[str, Any]

    @property
    def seq(self) -> int:
        value = self.data["data"]["seq"]
        assert isinstance(value, int)
        return value

    @property
    def message_id(self) -> str:
        value = self.data["data"]["message_id"]
        assert isinstance(value, str)
        return value


class EventReader:
    """An event stream read in a thread (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.events: queue.Queue[SseEvent] = queue.Queue()
        self.status: int | None = None
        self.content_type = ""
        self.body = b""
        self.last_event_id: str | None = last_event_id
        self.comments = 0
        self.opened = threading.Event()
        self.positioned = threading.Event()
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.opened.wait(DEADLINE_S), f"no response from {url}"
        if self.status == 200:
            # The stream sends its first id once it is subscribed: nothing is missed
            # from here on.
            assert self.positioned.wait(DEADLINE_S), f"no opening id from {url}"

    def _run(self) -> None:
        try:
            timeout = httpx.Timeout(DEADLINE_S)
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                if response.status_code != 200:
                    self.body = response.read()
                    self.opened.set()
                    return
                self.opened.set()
                self._parse(response)
        except httpx.HTTPError as error:
            if not self._stop.is_set():
                self._error = error
        finally:
            self.opened.set()
            self.positioned.set()
            self.ended.set()

    def _parse(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line == "":
                if "id" in fields:
                    self.last_event_id = fields["id"]
                    self.positioned.set()
                if data:
                    assert self.last_event_id is not None, "an event without an id"
                    self.events.put(
                        SseEvent(
                            self.last_event_id,
                            fields.get("event", "message"),
                            json.loads("\n".join(data)),
                        )
                    )
                fields, data = {}, []
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    def next(self, timeout: float = DEADLINE_S) -> SseEvent:
        """The next event; fails the test after ``timeout`` seconds without one."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no event within {timeout} s on {self.url} (ended: {self.ended.is_set()}, "
                f"error: {self._error!r})"
            ) from None

    def take(self, count: int, *, kind: str | None = None) -> list[SseEvent]:
        """The next ``count`` events (of type ``kind`` when given; others are skipped)."""
        found: list[SseEvent] = []
        while len(found) < count:
            event = self.next()
            if kind is None or event.event == kind:
                found.append(event)
        return found

    def pending(self) -> list[SseEvent]:
        """The events received and not yet taken."""
        found = []
        while True:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                return found

    def wait_comment(self, timeout: float = DEADLINE_S) -> None:
        deadline = time.monotonic() + timeout
        start = self.comments
        while self.comments == start:
            assert time.monotonic() < deadline, "no keep-alive comment"
            time.sleep(0.02)

    def wait_ended(self, timeout: float = DEADLINE_S) -> None:
        assert self.ended.wait(timeout), f"the stream {self.url} did not end"

    def close(self) -> None:
        """Go away, as a client closing the connection (after the next line read)."""
        self._stop.set()
        self._thread.join(DEADLINE_S)
        assert not self._thread.is_alive(), "the reader did not stop"

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_command(port: int, database: str | Path) -> list[str]:
    """``threadkeep serve`` on loopback, one worker, over ``database``."""
    return [
        sys.executable,
        *("-m", "threadkeep", "serve", "--host", "127.0.0.1"),
        *("--port", str(port), "--db", str(database)),
    ]


class ThreadServer:
    """``app`` under a real uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + DEADLINE_S
        while not self.server.started:
            assert self._thread.is_alive(), "the server thread died"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(DEADLINE_S)
        self._socket.close()
        assert not self._thread.is_alive(), "the server did not stop"


class ServeProcess:
    """``threadkeep serve`` in a subprocess on a free loopback port over ``database``.

    Its event streams send a keep-alive every 0.2 s, so a reader that goes away notices
    at once (``EventReader.close`` stops after the next line).
    """

    def __init__(self, database: str, log_path: Path, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            serve_command(self.port, database),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "THREADKEEP_SSE_HEARTBEAT_SECONDS": "0.2", **environment},
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE_S * 3
        while True:
            assert self.process.poll() is None, f"serve exited: {self.output()}"
            try:
                httpx.get(f"{self.url}/api/v1/conversations", timeout=2.0)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not start: {self.output()}"
                time.sleep(0.1)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def terminate(self) -> int:
        """SIGTERM, then the exit status (fails the test if it does not exit)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(DEADLINE_S * 2)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not exit on SIGTERM: {self.output()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE_S)
        self._log.close()

    def __enter__(self) -> ServeProcess:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
