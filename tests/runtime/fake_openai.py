"""A fake OpenAI-compatible chat-completions server, for the ``openai`` provider's tests.

It is a real HTTP/1.1 server (the standard library's ``ThreadingHTTPServer``) on
127.0.0.1, on a free port (bound to port 0, so no race for it), in a daemon thread, so
the provider under test goes through the official ``openai`` package, its HTTP client
and a real socket — nothing of ours is mocked. It speaks ``POST /v1/chat/completions``
in the wire format OpenAI uses:

* ``"stream": true``: ``200`` with ``text/event-stream`` in chunked transfer encoding,
  one ``data: {chat.completion.chunk}`` event per chunk and a final ``data: [DONE]``.
  Chunks are shaped as OpenAI sends them: the first carries ``role: assistant`` and
  empty content, then one chunk per scripted text piece, then the tool calls (the first
  chunk of each carries its ``id``, ``type`` and ``name`` with empty arguments, the next
  ones the pieces of its arguments), then an empty delta with the ``finish_reason``.
  With ``stream_options.include_usage`` every chunk has ``"usage": null`` and one more
  chunk with ``"choices": []`` carries the usage, before ``[DONE]``.
* otherwise: one ``chat.completion`` object (what ``title`` asks for).
* an error: the scripted status with OpenAI's error body
  (``{"error": {"message", "type", "param", "code"}}``).
* a cut: after the scripted number of text pieces the socket is shut down without the
  chunked body's last chunk, as a crashed server or a dropped network leaves it.
* a hold: after the scripted number of text pieces the server sends nothing more and
  waits for the client to close the connection, then sets :attr:`FakeOpenAI.client_left`
  — how a test sees that a consumer stopping early closed the HTTP stream.
* a malformed stream: the scripted ``data:`` payloads sent verbatim, then ``[DONE]``.

Scripting: :meth:`FakeOpenAI.script` queues :class:`Reply` objects, one used per
request, in order; the last one is used again for any further request (so a status
that the client retries is answered the same way each time). :attr:`FakeOpenAI.requests`
records every request received — path, headers (lower-case names) and JSON body — so a
test asserts what the provider sent.

The ``fake_openai`` fixture yields a started server and stops it afterwards; a test
module imports ``fake_openai_fixture`` to use it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "HOLD_DEADLINE_S",
    "FakeOpenAI",
    "ReceivedRequest",
    "Reply",
    "ScriptedToolCall",
    "completion",
    "fake_openai_fixture",
    "stream_events",
]

CREATED = 1_767_225_600  # a fixed Unix time, as OpenAI stamps every chunk of a reply
# Hang protection only, never a performance bound.
HOLD_DEADLINE_S = 20.0


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call to stream: its ``arguments`` are sent in these pieces, in order."""

    call_id: str
    name: str
    arguments: Sequence[str] = ()


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    * ``text``: the reply's content, one chunk per piece (joined when not streaming).
    * ``tool_calls``: tool calls streamed after the text.
    * ``usage``: ``(prompt_tokens, completion_tokens)``, sent when the request asks for
      it; ``None``: never sent, as a server that does not report usage.
    * ``status``: a status other than 200 answers with OpenAI's error body, carrying
      ``error_message`` (and ``retry-after-ms`` when ``retry_after_ms`` is set, so the
      client's retries do not wait long).
    * ``cut_after``: shut the connection down after this many text pieces.
    * ``hold_after``: after this many text pieces, wait for the client to leave.
    * ``raw_events``: ``data:`` payloads to send verbatim instead of chunks.
    * ``finish_reason``: default ``tool_calls`` when there are some, else ``stop``.
    """

    text: Sequence[str] = ()
    tool_calls: Sequence[ScriptedToolCall] = ()
    usage: tuple[int, int] | None = (11, 7)
    status: int = 200
    error_message: str = "The server had an error while processing your request."
    error_type: str = "server_error"
    error_code: str | None = None
    retry_after_ms: int | None = None
    cut_after: int | None = None
    hold_after: int | None = None
    raw_events: Sequence[str] | None = None
    finish_reason: str | None = None
    model: str = "gpt-fake-2026-01-01"


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _State:
    replies: list[Reply] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client_left: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> Reply:
        with self.lock:
            if not self.replies:
                return Reply(status=500, error_message="the fake server has no reply scripted")
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakeOpenAI:
    """The server (see the module docstring); a context manager that starts and stops it."""

    def __init__(self) -> None:
        self._state = _State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self._state))
        self._server.daemon_threads = True
        # A short poll interval: stopping the server then takes milliseconds, not 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="fake-openai", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL a client is given: ``http://127.0.0.1:<port>/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def client_left(self) -> threading.Event:
        """Set when a client closed a held stream (see ``Reply.hold_after``)."""
        return self._state.client_left

    def script(self, *replies: Reply) -> None:
        """Queue the answers to the next requests (see the module docstring)."""
        with self._state.lock:
            self._state.replies.extend(replies)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAI]:
    """A started :class:`FakeOpenAI`, stopped after the test."""
    with FakeOpenAI() as server:
        yield server


# ------------------------------------------------------------------------ wire format


def _chunk(reply: Reply, delta: dict[str, Any], finish: str | None, usage: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": reply.model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = None
    return chunk


def _usage(reply: Reply) -> dict[str, Any]:
    assert reply.usage is not None
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def stream_events(reply: Reply, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed reply, in order (text pieces first: see ``cut_after``)."""
    usage = include_usage and reply.usage is not None
    yield _chunk(reply, {"role": "assistant", "content": "", "refusal": None}, None, usage)
    for piece in reply.text:
        yield _chunk(reply, {"content": piece}, None, usage)
    for index, call in enumerate(reply.tool_calls):
        opening = {
            "index": index,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield _chunk(reply, {"tool_calls": [opening]}, None, usage)
        for piece in call.arguments:
            more = {"index": index, "function": {"arguments": piece}}
            yield _chunk(reply, {"tool_calls": [more]}, None, usage)
    yield _chunk(reply, {}, _finish_reason(reply), usage)
    if usage:
        last = _chunk(reply, {}, None, False)
        last["choices"] = []
        last["usage"] = _usage(reply)
        yield last


def completion(reply: Reply) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object."""
    tool_calls = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": "".join(call.arguments)},
        }
        for call in reply.tool_calls
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(reply.text) if reply.text or not tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion",
        "created": CREATED,
        "model": reply.model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(reply),
            }
        ],
    }
    if reply.usage is not None:
        body["usage"] = _usage(reply)
    return body


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1, so a streamed body is chunked and a cut connection is visible to the
        # client as an incomplete body, exactly as with a real server.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            headers = {name.lower(): value for name, value in self.headers.items()}
            with state.lock:
                state.requests.append(ReceivedRequest("POST", self.path, headers, body))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(Reply(status=404, error_message=f"Unknown path {self.path}"))
                return
            reply = state.next_reply()
            if reply.status != 200:
                self._error(reply)
            elif body.get("stream"):
                options = body.get("stream_options") or {}
                try:
                    self._stream(reply, bool(options.get("include_usage")))
                except ConnectionError:
                    # The client went away mid-stream (it stops reading at the first
                    # chunk it cannot use): nothing to report, as for a real server.
                    self.close_connection = True
            else:
                self._json(200, completion(reply))

        def do_GET(self) -> None:
            self._error(Reply(status=404, error_message=f"Unknown path {self.path}"))

        def _json(self, status: int, value: Any, extra: dict[str, str] | None = None) -> None:
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", "req_fake0001")
            for name, header in (extra or {}).items():
                self.send_header(name, header)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, reply: Reply) -> None:
            error = {
                "message": reply.error_message,
                "type": reply.error_type,
                "param": None,
                "code": reply.error_code,
            }
            extra = {}
            if reply.retry_after_ms is not None:
                extra["retry-after-ms"] = str(reply.retry_after_ms)
            self._json(reply.status, {"error": error}, extra)

        def _send_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _event(self, payload: str) -> None:
            self._send_chunk(f"data: {payload}\n\n".encode())

        def _stream(self, reply: Reply, include_usage: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("x-request-id", "req_fake0001")
            self.end_headers()
            if reply.raw_events is not None:
                for payload in reply.raw_events:
                    self._event(payload)
            else:
                pieces_sent = 0
                for chunk in stream_events(reply, include_usage):
                    if reply.cut_after is not None and pieces_sent == reply.cut_after + 1:
                        self._cut()
                        return
                    if reply.hold_after is not None and pieces_sent == reply.hold_after + 1:
                        self._hold()
                        return
                    self._event(json.dumps(chunk))
                    pieces_sent += 1
            self._event("[DONE]")
            self._send_chunk(b"")  # the zero-length chunk that ends the body

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
            state.client_left.set()

        def _cut(self) -> None:
            # No last chunk: the client sees the body end in the middle.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    return Handler
