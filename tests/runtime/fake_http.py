"""The loopback HTTP plumbing of the fake API servers (``fake_openai``, ``fake_anthropic``).

A :class:`FakeHttpServer` is a real HTTP/1.1 server (the standard library's
``ThreadingHTTPServer``) on 127.0.0.1, on a free port (bound to port 0, so no race for
it), in a daemon thread, so a provider under test goes through its vendor's official
package, that package's HTTP client and a real socket — nothing of ours is mocked. It is
a context manager that starts and stops the server.

What every fake shares lives here; what an API says lives in its fake:

* **Scripting**: :meth:`FakeHttpServer.script` queues replies, one used per request, in
  order; the last one is used again for any further request (so a status that the
  client retries is answered the same way each time); with none queued, the fake's
  ``unscripted`` reply (a 500) answers. :attr:`FakeHttpServer.requests` records every
  request received — path, headers (lower-case names) and JSON body.
* **The handler** (:class:`FakeHandler`, which a fake subclasses with its routes): HTTP/1.1,
  so a streamed body is chunked and a cut connection is visible to the client as an
  incomplete body, exactly as with a real server; JSON answers and chunked
  ``text/event-stream`` answers, each with the fake's request-id header; and the two
  scripted interruptions of a stream — a *cut* (the socket shut down without the
  chunked body's last chunk, as a crashed server or a dropped network leaves it) and a
  *hold* (nothing more sent until the client closes the connection, which then sets
  :attr:`FakeHttpServer.client_left` — how a test sees that a consumer stopping early
  closed the HTTP stream).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

__all__ = ["HOLD_DEADLINE_S", "FakeHandler", "FakeHttpServer", "ReceivedRequest", "Script"]

# Hang protection only, never a performance bound.
HOLD_DEADLINE_S = 20.0

R = TypeVar("R")


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Script(Generic[R]):
    """The replies queued and the requests received, shared with the handler threads."""

    unscripted: Callable[[], R]
    replies: list[R] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client_left: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> R:
        with self.lock:
            if not self.replies:
                return self.unscripted()
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakeHandler(BaseHTTPRequestHandler):
    """What a fake's request handler shares (module docstring). A fake's subclass sets
    :attr:`request_id` and answers ``do_POST``; :attr:`script` is set per server."""

    protocol_version = "HTTP/1.1"
    #: The header the API puts on every answer, and its value.
    request_id: ClassVar[tuple[str, str]]
    script: ClassVar[Script[Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def read_json(self) -> dict[str, Any]:
        """The request's JSON body (``{"unparsed": …}`` when it is not JSON), recorded."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.script.lock:
            self.script.requests.append(ReceivedRequest("POST", self.path, headers, body))
        return body

    def _json(self, status: int, value: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(*self.request_id)
        for name, header in (extra or {}).items():
            self.send_header(name, header)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header(*self.request_id)
        self.end_headers()

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _hold(self) -> None:
        # The client sends nothing more on this connection while it reads the
        # response, so the read returns only when it closes the connection (b"").
        self.close_connection = True
        self.connection.settimeout(HOLD_DEADLINE_S)
        try:
            while self.connection.recv(1024):
                pass
        except TimeoutError:
            return  # the deadline passed (hang protection): client_left stays unset
        except ConnectionResetError:
            pass  # a close with unread data in the client's buffer is a reset
        self.script.client_left.set()

    def _cut(self) -> None:
        # No last chunk: the client sees the body end in the middle.
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class FakeHttpServer(Generic[R]):
    """A fake API server (module docstring): ``handler`` answers its requests,
    ``unscripted`` makes the reply given when none is queued."""

    def __init__(
        self, handler: type[FakeHandler], *, unscripted: Callable[[], R], name: str
    ) -> None:
        self._script = Script(unscripted)
        # A handler class of this server's own, so its threads see this server's script.
        bound = type(handler.__name__, (handler,), {"script": self._script})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        # A short poll interval: stopping the server then takes milliseconds, not 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name=name, daemon=True
        )

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._script.lock:
            return list(self._script.requests)

    @property
    def client_left(self) -> threading.Event:
        """Set when a client closed a held stream (see ``Reply.hold_after``)."""
        return self._script.client_left

    def script(self, *replies: R) -> None:
        """Queue the answers to the next requests (see the module docstring)."""
        with self._script.lock:
            self._script.replies.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
