"""The load generator's HTTP clients: keep-alive HTTP/1.1 connections, sync and async.

On a 2-core machine the generator shares the CPU with the server it measures, so its
own cost per request moves the server's numbers. Measured on that machine against the
same server, an ``httpx.Client`` spends about 850 µs of CPU per append request and the
standard library's ``http.client`` about 330 µs; these clients, which send request
bytes built once per (method, path) and read the status line, the headers and a
``Content-Length`` (or chunked) body from a buffer, about 40-60 µs. ``httpx`` stays
available for the concurrent clients with ``--client httpx`` (``AsyncHttpxClient``),
and the report gives the generator's CPU per request either way.

Two shapes:

* :class:`RawClient`, a blocking socket: the set-up, the checks and the one-client
  reads, where a client waits for each answer anyway.
* :class:`AsyncRawClient`, on an asyncio event loop: the concurrent cases run their 64
  clients as coroutines of one loop in one thread. 64 client *threads* would contend for
  the generator's GIL — a thread whose answer has arrived waits for its turn to read
  it, and that wait was counted as the server's latency: against a trivial FastAPI
  route, 64 threads measured p99 40.5 ms where 64 coroutines measured 15.5 ms at the
  same rate.

They speak only what the benchmark needs: ``GET`` and ``POST`` with a JSON body, no
redirects, no TLS, no proxies; a closed connection is reopened once per request.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

__all__ = [
    "AsyncHttpClient",
    "AsyncHttpxClient",
    "AsyncRawClient",
    "RawClient",
    "make_async_client",
]


class AsyncHttpClient(Protocol):
    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; return the status code and the body."""
        ...

    async def close(self) -> None: ...


class _Heads:
    """Request heads (request line and headers), built once per (method, path, length)."""

    def __init__(self, host: str, port: int) -> None:
        self._host = f"{host}:{port}"
        self._heads: dict[tuple[str, str, int], bytes] = {}

    def of(self, method: str, path: str, body: bytes | None) -> bytes:
        length = len(body or b"")
        key = (method, path, length)
        head = self._heads.get(key)
        if head is None:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
            if method != "GET":
                lines += ["Content-Type: application/json", f"Content-Length: {length}"]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode()
            if len(self._heads) < 10_000:
                self._heads[key] = head
        return head + (body or b"")


class _Head:
    """What a response's header lines say about its body."""

    __slots__ = ("chunked", "close", "length", "status")

    def __init__(self, status_line: bytes) -> None:
        self.status = int(status_line.split(b" ", 2)[1])
        self.length = 0
        self.chunked = False
        self.close = False

    def read(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            self.length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            self.chunked = True
        elif name == b"connection" and b"close" in value.lower():
            self.close = True


def _chunk_size(line: bytes) -> int:
    return int(line.split(b";")[0], 16)


class RawClient:
    """A persistent HTTP/1.1 connection to ``host:port`` (see the module doc)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._heads = _Heads(host, port)
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer = b""

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        payload = self._heads.of(method, path, body)
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
        head = _Head(self._line())
        while line := self._line():
            head.read(line)
        if head.chunked:
            parts = []
            while size := _chunk_size(self._line()):
                parts.append(self._exactly(size))
                self._exactly(2)
            while self._line():  # trailers, then the blank line
                pass
            body = b"".join(parts)
        else:
            body = self._exactly(head.length)
        if head.close:
            self.close()
        return head.status, body

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""


class AsyncRawClient:
    """:class:`RawClient` on an asyncio event loop (asyncio streams)."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._heads = _Heads(host, port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(*self._address)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        return reader, writer

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        payload = self._heads.of(method, path, body)
        for attempt in (1, 2):
            if self._reader is None or self._writer is None:
                reader, writer = await self._connect()
            else:
                reader, writer = self._reader, self._writer
            try:
                writer.write(payload)
                return await self._response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        head = _Head(lines[0])
        for line in lines[1:]:
            if line:
                head.read(line)
        if head.chunked:
            parts = []
            while size := _chunk_size(await reader.readuntil(b"\r\n")):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, blank line
                pass
            body = b"".join(parts)
        else:
            body = await reader.readexactly(head.length)
        if head.close:
            await self.close()
        return head.status, body

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass


class AsyncHttpxClient:
    """The async interface over ``httpx.AsyncClient`` (``--client httpx``)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        import httpx

        self._client = httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=timeout)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = await self._client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


def make_async_client(kind: str, host: str, port: int) -> AsyncHttpClient:
    if kind == "httpx":
        return AsyncHttpxClient(host, port)
    return AsyncRawClient(host, port)
