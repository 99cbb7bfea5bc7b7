"""Reading the Messages API's streamed events into provider events (``anthropic.py``).

A :class:`Reply` is fed the SDK's events one by one and answers with the provider
events each one makes: a :class:`TextDelta` per text delta, a :class:`ToolCall` when a
``tool_use`` block closes (its ``input_json_delta`` pieces joined and decoded; input
that is not JSON is kept as the raw string, the model's output), and a :class:`Usage`
at ``message_start`` and ``message_delta`` — the last is the run's totals, input
counting cache writes and reads too, as the API bills them. It remembers the stop
reason and whether ``message_stop`` came, for the provider to judge the end. The SDK
does not validate events, so every field used is checked here and a malformed one is
``ValueError``, which the provider reports as an answer it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadkeep.runtime.providers.base import ProviderEvent, TextDelta, ToolCall, Usage
from threadkeep.runtime.providers.tool_arguments import decoded

__all__ = ["Reply"]


@dataclass
class _PendingToolUse:
    tool_id: str
    name: str
    start_input: Any
    pieces: list[str] = field(default_factory=list)

    def call(self) -> ToolCall:
        if not self.pieces:
            arguments = self.start_input if self.start_input is not None else {}
        else:
            arguments = decoded("".join(self.pieces))
        return ToolCall(call_id=self.tool_id, name=self.name, arguments=arguments)


class Reply:
    """The reply being read: events in, provider events out. The SDK builds events
    without validating them (an unknown ``type`` even becomes some event class), so the
    ``type`` and every field used are checked here; what is not used is ignored."""

    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self.stopped = False  # message_stop seen
        self._inputs: dict[str, int] = {}  # fresh, cache writes, cache reads
        self._output: int | None = None
        self._tools: dict[int, _PendingToolUse] = {}

    def feed(self, event: Any) -> list[ProviderEvent]:
        kind = getattr(event, "type", None)
        if not isinstance(kind, str):
            raise ValueError(f"an event is {type(event).__name__}, not an object with a type")
        if kind == "message_start":
            self._count(getattr(getattr(event, "message", None), "usage", None))
            return [self._usage()]
        if kind == "content_block_start":
            return self._block_start(_index(event), getattr(event, "content_block", None))
        if kind == "content_block_delta":
            return self._delta(_index(event), getattr(event, "delta", None))
        if kind == "content_block_stop":
            pending = self._tools.pop(_index(event), None)
            return [] if pending is None else [pending.call()]
        if kind == "message_delta":
            stop = getattr(getattr(event, "delta", None), "stop_reason", None)
            if isinstance(stop, str) and stop:
                self.stop_reason = stop
            self._count(getattr(event, "usage", None))
            # A tool use the server never closed is finished with the message.
            closed = [self._tools.pop(index).call() for index in sorted(self._tools)]
            return [*closed, self._usage()]
        if kind == "message_stop":
            self.stopped = True
        return []

    def _block_start(self, index: int, block: Any) -> list[ProviderEvent]:
        block_type = getattr(block, "type", None)
        if block_type == "text":
            text = _text(getattr(block, "text", None))
            return [TextDelta(text)] if text else []
        if block_type == "tool_use":
            tool_id, name = getattr(block, "id", None), getattr(block, "name", None)
            if not isinstance(name, str) or not name:
                raise ValueError(f"tool_use block {index} has no name")
            self._tools[index] = _PendingToolUse(
                tool_id if isinstance(tool_id, str) and tool_id else f"toolu_{index}",
                name,
                getattr(block, "input", None),
            )
        return []

    def _delta(self, index: int, delta: Any) -> list[ProviderEvent]:
        delta_type = getattr(delta, "type", None)
        if delta_type == "text_delta":
            text = _text(getattr(delta, "text", None))
            return [TextDelta(text)] if text else []
        if delta_type == "input_json_delta":
            pending = self._tools.get(index)
            if pending is None:
                raise ValueError(f"input_json_delta for block {index}, which is not a tool use")
            piece = getattr(delta, "partial_json", None)
            if not isinstance(piece, str):
                raise ValueError("an input_json_delta's partial_json is not a string")
            pending.pieces.append(piece)
        return []

    def _count(self, usage: Any) -> None:
        # Each count is cumulative; message_delta may repeat the input ones.
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            value = _count(getattr(usage, name, None))
            if value is not None:
                self._inputs[name] = value
        output = _count(getattr(usage, "output_tokens", None))
        self._output = self._output if output is None else output

    def _usage(self) -> Usage:
        fresh = self._inputs.get("input_tokens")
        return Usage(None if fresh is None else sum(self._inputs.values()), self._output)


def _index(event: Any) -> int:
    index = getattr(event, "index", None)
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError(f"a {getattr(event, 'type', 'content')} event has no block index")
    return index


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("a text delta's text is not a string")
    return value


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
