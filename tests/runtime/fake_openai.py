"""A fake OpenAI-compatible chat-completions server, for the ``openai`` provider's tests.

It is a real HTTP/1.1 server on loopback (:mod:`tests.runtime.fake_http`, which it
shares with ``fake_anthropic``), so the provider under test goes through the official
``openai`` package, its HTTP client and a real socket — nothing of ours is mocked. It
speaks ``POST /v1/chat/completions`` in the wire format OpenAI uses:

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.runtime.fake_http import HOLD_DEADLINE_S, FakeHandler, FakeHttpServer, ReceivedRequest

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


class FakeOpenAI(FakeHttpServer[Reply]):
    """The server (see the module docstring); a context manager that starts and stops it."""

    def __init__(self) -> None:
        super().__init__(_Handler, unscripted=_unscripted, name="fake-openai")

    @property
    def url(self) -> str:
        """The base URL a client is given: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.origin}/v1"


def _unscripted() -> Reply:
    return Reply(status=500, error_message="the fake server has no reply scripted")


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


class _Handler(FakeHandler):
    request_id = ("x-request-id", "req_fake0001")

    def do_POST(self) -> None:
        body = self.read_json()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(Reply(status=404, error_message=f"Unknown path {self.path}"))
            return
        reply: Reply = self.script.next_reply()
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

    def _event(self, payload: str) -> None:
        self._send_chunk(f"data: {payload}\n\n".encode())

    def _stream(self, reply: Reply, include_usage: bool) -> None:
        self._start_stream()
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
