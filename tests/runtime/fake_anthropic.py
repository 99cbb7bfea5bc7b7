"""A fake Anthropic Messages API server, for the ``anthropic`` provider's tests.

It is a real HTTP/1.1 server on loopback (:mod:`tests.runtime.fake_http`, which it
shares with ``fake_openai``), so the provider under test goes through the official
``anthropic`` package, its HTTP client and a real socket — nothing of ours is mocked.
It speaks ``POST /v1/messages`` in the wire format the Anthropic API uses:

* ``"stream": true``: ``200`` with ``text/event-stream`` in chunked transfer encoding,
  named server-sent events, each ``data`` a JSON object whose ``type`` repeats the
  event's name: ``message_start`` (the message with empty content and the input
  usage), a ``ping``, then per content block ``content_block_start`` /
  ``content_block_delta`` / ``content_block_stop`` — text as ``text_delta`` pieces,
  each tool use opening with its ``id``, ``name`` and ``input: {}`` and then its input
  as ``input_json_delta`` pieces of ``partial_json`` — then ``message_delta`` (the
  ``stop_reason`` and the output usage) and ``message_stop``.
* otherwise: one ``message`` object (what ``title`` asks for).
* an error: the scripted status with the API's error body
  (``{"type": "error", "error": {"type", "message"}, "request_id"}``) and a
  ``request-id`` header.
* the request checks the real API makes, answered as it answers them (``400
  invalid_request_error``): ``model`` and ``max_tokens`` present, ``system`` a string
  or text blocks, ``messages`` non-empty, roles only ``user`` and ``assistant``,
  alternating and starting with ``user``, no empty or blank text. A provider that
  builds an invalid request fails here as it would against the API.
* an error event: after the scripted number of text pieces, ``event: error`` with the
  API's error object (``overloaded_error``, say), and the body ends.
* a cut: after the scripted number of text pieces the socket is shut down without the
  chunked body's last chunk, as a crashed server or a dropped network leaves it.
* a hold: after the scripted number of text pieces the server sends nothing more and
  waits for the client to close the connection, then sets
  :attr:`FakeAnthropic.client_left` — how a test sees that a consumer stopping early
  closed the HTTP stream.
* raw events: the scripted ``(event, data)`` pairs sent verbatim instead.

Scripting: :meth:`FakeAnthropic.script` queues :class:`Reply` objects, one used per
request, in order; the last one is used again for any further request (so a status
that the client retries is answered the same way each time). A request the checks
refuse does not use a reply. :attr:`FakeAnthropic.requests` records every request
received — path, headers (lower-case names) and JSON body — so a test asserts what
the provider sent.

The ``fake_anthropic`` fixture yields a started server and stops it afterwards; a test
module imports ``fake_anthropic_fixture`` to use it.
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
    "FakeAnthropic",
    "ReceivedRequest",
    "Reply",
    "ScriptedToolUse",
    "fake_anthropic_fixture",
    "message",
    "raw_event",
    "stream_events",
]

MESSAGE_ID = "msg_01FakeReply0000000000000"
REQUEST_ID = "req_01FakeRequest000000000000"


@dataclass(frozen=True)
class ScriptedToolUse:
    """A tool use to stream: its input JSON is sent in these pieces, in order."""

    tool_id: str
    name: str
    input_pieces: Sequence[str] = ()


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    * ``text``: the reply's text block, one ``text_delta`` per piece (joined when not
      streaming); no pieces, no text block.
    * ``tool_uses``: ``tool_use`` blocks streamed after the text.
    * ``usage``: ``(input_tokens, output_tokens)``; the API always reports both.
    * ``stop_reason``: default ``tool_use`` when there are tool uses, else ``end_turn``.
    * ``status``: a status other than 200 answers with the API's error body of
      ``error_type`` and ``error_message`` (and ``retry-after-ms`` when
      ``retry_after_ms`` is set, a header the SDK honours, so its retries do not wait).
    * ``error_after``: send an ``error`` event of ``error_type``/``error_message``
      after this many text pieces, and end the body there.
    * ``cut_after``: shut the connection down after this many text pieces.
    * ``hold_after``: after this many text pieces, wait for the client to leave.
    * ``raw_events``: ``(event, data)`` pairs to send verbatim instead.
    """

    text: Sequence[str] = ()
    tool_uses: Sequence[ScriptedToolUse] = ()
    usage: tuple[int, int] = (25, 9)
    stop_reason: str | None = None
    status: int = 200
    error_type: str = "api_error"
    error_message: str = "Internal server error"
    retry_after_ms: int | None = None
    error_after: int | None = None
    cut_after: int | None = None
    hold_after: int | None = None
    raw_events: Sequence[tuple[str, str]] | None = None
    model: str = "claude-fake-2026-01-01"


class FakeAnthropic(FakeHttpServer[Reply]):
    """The server (see the module docstring); a context manager that starts and stops it."""

    def __init__(self) -> None:
        super().__init__(_Handler, unscripted=_unscripted, name="fake-anthropic")

    @property
    def url(self) -> str:
        """The base URL a client is given: ``http://127.0.0.1:<port>`` (no ``/v1``)."""
        return self.origin


def _unscripted() -> Reply:
    return Reply(status=500, error_message="the fake server has no reply scripted")


@pytest.fixture(name="fake_anthropic")
def fake_anthropic_fixture() -> Iterator[FakeAnthropic]:
    """A started :class:`FakeAnthropic`, stopped after the test."""
    with FakeAnthropic() as server:
        yield server


# ------------------------------------------------------------------------ wire format


def _stop_reason(reply: Reply) -> str:
    if reply.stop_reason is not None:
        return reply.stop_reason
    return "tool_use" if reply.tool_uses else "end_turn"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(reply: Reply, content: list[dict[str, Any]], stop: str | None) -> dict[str, Any]:
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(reply.usage[0], reply.usage[1] if stop else 1),
    }


def _block(kind: str, index: int, name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "index": index, name: value}


def stream_events(reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a streamed reply, in order."""
    yield "message_start", {"type": "message_start", "message": _message(reply, [], None)}
    yield "ping", {"type": "ping"}
    index = 0
    if reply.text:
        opening: dict[str, Any] = {"type": "text", "text": ""}
        yield "content_block_start", _block("content_block_start", index, "content_block", opening)
        for piece in reply.text:
            delta = {"type": "text_delta", "text": piece}
            yield "content_block_delta", _block("content_block_delta", index, "delta", delta)
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        index += 1
    for use in reply.tool_uses:
        opening = {"type": "tool_use", "id": use.tool_id, "name": use.name, "input": {}}
        yield "content_block_start", _block("content_block_start", index, "content_block", opening)
        # The API opens every tool input with an empty piece.
        for piece in ("", *use.input_pieces):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield "content_block_delta", _block("content_block_delta", index, "delta", delta)
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        index += 1
    stop = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    usage = {"output_tokens": reply.usage[1]}
    yield "message_delta", {"type": "message_delta", "delta": stop, "usage": usage}
    yield "message_stop", {"type": "message_stop"}


def raw_event(kind: str, **fields: Any) -> tuple[str, str]:
    """One ``(event, data)`` pair for ``Reply.raw_events``: ``data`` is ``{"type": kind,
    **fields}``, as the API names every event's data after the event."""
    return kind, json.dumps({"type": kind, **fields})


def _is_text_piece(data: dict[str, Any]) -> bool:
    delta = data.get("delta")
    return isinstance(delta, dict) and delta.get("type") == "text_delta"


def message(reply: Reply) -> dict[str, Any]:
    """A non-streamed ``message`` object."""
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": "".join(reply.text)})
    for use in reply.tool_uses:
        pieces = "".join(use.input_pieces)
        content.append(
            {
                "type": "tool_use",
                "id": use.tool_id,
                "name": use.name,
                "input": json.loads(pieces) if pieces else {},
            }
        )
    return _message(reply, content, _stop_reason(reply))


def error_object(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def invalid_request(body: dict[str, Any]) -> str | None:
    """Why the API would refuse this body with 400, or ``None`` (module docstring)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or a list of text blocks"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    expected = "user"
    for position, item in enumerate(messages):
        role = item.get("role") if isinstance(item, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{position}.role: Input should be 'user' or 'assistant'"
        if position == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if role != expected:
            return 'messages: roles must alternate between "user" and "assistant"'
        content = item.get("content")
        texts = [content] if isinstance(content, str) else content
        if not isinstance(texts, list) or not texts:
            return f"messages.{position}: content must be a non-empty string or list"
        for block in texts:
            text = block if isinstance(block, str) else block.get("text", "")
            if not isinstance(text, str) or not text.strip():
                return f"messages.{position}: text content blocks must contain non-whitespace text"
        expected = "assistant" if role == "user" else "user"
    return None


class _Handler(FakeHandler):
    request_id = ("request-id", REQUEST_ID)

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            # A client that stopped reading mid-stream closes with unread data, which
            # resets the connection: nothing to report, as for a real server.
            self.close_connection = True

    def do_POST(self) -> None:
        body = self.read_json()
        if self.path.rstrip("/") != "/v1/messages":
            self._error(404, "not_found_error", f"Not found: {self.path}")
            return
        refusal = invalid_request(body)
        if refusal is not None:
            self._error(400, "invalid_request_error", refusal)
            return
        reply: Reply = self.script.next_reply()
        if reply.status != 200:
            self._error(reply.status, reply.error_type, reply.error_message, reply)
        elif body.get("stream"):
            self._stream(reply)
        else:
            self._json(200, message(reply))

    def do_GET(self) -> None:
        self._error(404, "not_found_error", f"Not found: {self.path}")

    def _error(
        self, status: int, error_type: str, message: str, reply: Reply | None = None
    ) -> None:
        extra = {}
        if reply is not None and reply.retry_after_ms is not None:
            extra["retry-after-ms"] = str(reply.retry_after_ms)
        body = {**error_object(error_type, message), "request_id": REQUEST_ID}
        self._json(status, body, extra)

    def _event(self, name: str, data: str) -> None:
        self._send_chunk(f"event: {name}\ndata: {data}\n\n".encode())

    def _stream(self, reply: Reply) -> None:
        self._start_stream()
        if reply.raw_events is not None:
            for name, raw in reply.raw_events:
                self._event(name, raw)
        else:
            pieces_sent = 0
            for name, data in stream_events(reply):
                if _is_text_piece(data) or name == "message_delta":
                    # Before the next piece (or the end): the scripted interruption.
                    if pieces_sent == reply.cut_after:
                        self._cut()
                        return
                    if pieces_sent == reply.hold_after:
                        self._hold()
                        return
                    if pieces_sent == reply.error_after:
                        error = error_object(reply.error_type, reply.error_message)
                        self._event("error", json.dumps(error))
                        break
                self._event(name, json.dumps(data))
                if _is_text_piece(data):
                    pieces_sent += 1
        self._send_chunk(b"")  # the zero-length chunk that ends the body
