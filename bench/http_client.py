"""The load generator's HTTP client: one keep-alive HTTP/1.1 connection per client thread.

On a 2-core machine the generator shares the CPU with the server it measures, so its
own cost per request moves the server's numbers. Measured on that machine against the
same server, an ``httpx.Client`` spends about 850 µs of CPU per append request and the
standard library's ``http.client`` about 330 µs; this client, which sends request bytes
built once per (method, path) and reads the status line, the headers and a
``Content-Length`` (or chunked) body from a buffered socket, about 60 µs. ``httpx``
stays available with ``--client httpx`` (``HttpxClient``), and the report gives the
generator's CPU per request either way.

It speaks only what the benchmark needs: ``GET`` and ``POST`` with a JSON body, no
redirects, no TLS, no proxies; a closed connection is reopened once per request.
"""

from __future__ import annotations

import socket
from typing import Protocol

__all__ = ["HttpClient", "HttpxClient", "RawClient", "make_client"]


class HttpClient(Protocol):
    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; return the status code and the body."""
        ...

    def close(self) -> None: ...


class RawClient:
    """A persistent HTTP/1.1 connection to ``host:port`` (see the module doc)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._host = f"{host}:{port}".encode()
        self._heads: dict[tuple[str, str, int], bytes] = {}
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer = b""

    def _head(self, method: str, path: str, length: int) -> bytes:
        key = (method, path, length)
        head = self._heads.get(key)
        if head is None:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host.decode()}"]
            if method != "GET":
                lines += ["Content-Type: application/json", f"Content-Length: {length}"]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode()
            if len(self._heads) < 10_000:
                self._heads[key] = head
        return head

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        payload = self._head(method, path, len(body or b"")) + (body or b"")
        for attempt in (1, 2):
            if self._sock is None:
                self._connect()
            try:
                assert self._sock is not None
                self._sock.sendall(payload)
                return self._response()
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self._buffer += chunk

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
                return line
            self._fill()

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _response(self) -> tuple[int, bytes]:
        status = int(self._line().split(b" ", 2)[1])
        length = 0
        chunked = False
        close = False
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the blank line
                        pass
                    break
                parts.append(self._exactly(size))
                self._exactly(2)
            body = b"".join(parts)
        else:
            body = self._exactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""


class HttpxClient:
    """The same interface over ``httpx.Client`` (``--client httpx``)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=f"http://{host}:{port}", timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = self._client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    def close(self) -> None:
        self._client.close()


def make_client(kind: str, host: str, port: int) -> HttpClient:
    if kind == "httpx":
        return HttpxClient(host, port)
    return RawClient(host, port)
