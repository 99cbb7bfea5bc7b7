"""The ``anthropic`` provider (SPEC S4.3) against a fake Anthropic Messages API server.

Every test drives :class:`AnthropicProvider` through the official ``anthropic`` package
and a real loopback HTTP connection to
:class:`~tests.runtime.fake_anthropic.FakeAnthropic`, which speaks the Messages API wire
format (named server-sent events, ``ping`` and ``error`` events, the API's error bodies
and statuses), refuses the requests the API refuses, and records what it received.
Nothing of ours is mocked; the last test runs whole turns through ``Runtime.send``.

The project runs no async test plugin: each test drives its coroutines with
``asyncio.run``. The SDK's credential variables are removed for every test, so a
developer's real key can never reach the fake server, and set only where a test is
about them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from tests.runtime.fake_anthropic import (
    HOLD_DEADLINE_S,
    FakeAnthropic,
    Reply,
    ScriptedToolUse,
    fake_anthropic_fixture,  # noqa: F401 (registers the fake_anthropic fixture here)
    raw_event,
    stream_events,
)
from tests.runtime.streams import ask, events_before_failure, events_of, text_of
from threadkeep import AsyncConversationStore, ConversationStore, Settings
from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid
from threadkeep.runtime.prior_context import ContextBudget
from threadkeep.runtime.providers.anthropic import (
    INSTALL_HINT,
    OPENING_TURN,
    AnthropicProvider,
)
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    SessionStarted,
    TextDelta,
    ToolCall,
    Usage,
)
from threadkeep.runtime.providers.registry import provider_spec
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import ReplyDelta, RunFinished, Runtime, SendEvent, Stored

KEY = "sk-ant-api03-Fake7key0Never9Shown3anywhere2026xYzAbC-QrStUvWx"
_SDK_CREDENTIALS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_CUSTOM_HEADERS",
)


@pytest.fixture(autouse=True)
def _no_ambient_anthropic_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for name in _SDK_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    # An empty config directory: no profile on the developer's disk is ever found.
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path_factory.mktemp("anthropic")))


def provider_for(server: FakeAnthropic, **options: Any) -> AnthropicProvider:
    options.setdefault("api_key", KEY)
    options.setdefault("model", "claude-fake")
    return AnthropicProvider(base_url=server.url, **options)


# --------------------------------------------------------------------------- replies


def test_streamed_text_joins_to_the_reply(fake_anthropic: FakeAnthropic) -> None:
    """Guards the stream: the input usage at message_start, one TextDelta per
    text_delta in order (the ping between them ignored), then the totals at
    message_delta; never a session (the Messages API keeps none)."""
    fake_anthropic.script(Reply(text=["Lis", "bon is ", "lovely", " in May."], usage=(21, 9)))
    events = events_of(provider_for(fake_anthropic), ask("Where should I go?"))
    assert events == [
        Usage(input_tokens=21, output_tokens=1),
        TextDelta("Lis"),
        TextDelta("bon is "),
        TextDelta("lovely"),
        TextDelta(" in May."),
        Usage(input_tokens=21, output_tokens=9),
    ]
    assert not any(isinstance(event, SessionStarted) for event in events)


def test_sends_the_system_parameter_model_max_tokens_and_the_key_as_x_api_key(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards the request: POST /v1/messages, streaming, the configured model and
    max_tokens, the system section as the ``system`` parameter, the messages as given
    when they already alternate, and the key as ``x-api-key`` only — never as an
    Authorization header, whichever header the SDK would pick by itself."""
    fake_anthropic.script(Reply(text=["ok"]))
    messages = (
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    )
    request = ProviderRequest(messages=messages, system="Earlier conversation: ...")
    events_of(provider_for(fake_anthropic, model="claude-x-1", max_tokens=321), request)
    [received] = fake_anthropic.requests
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert "authorization" not in received.headers
    assert received.headers["anthropic-version"]
    assert received.body["model"] == "claude-x-1"
    assert received.body["max_tokens"] == 321
    assert received.body["stream"] is True
    assert received.body["system"] == "Earlier conversation: ..."
    assert received.body["messages"] == list(messages)


def test_the_request_model_wins_and_no_system_without_one(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply(text=["ok"]))
    events_of(provider_for(fake_anthropic, model="default-model"), ask("hi", model="chosen"))
    [received] = fake_anthropic.requests
    assert received.body["model"] == "chosen"
    assert "system" not in received.body
    assert received.body["messages"] == [{"role": "user", "content": "hi"}]


def test_openai_style_messages_become_a_conversation_the_api_accepts(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards the conversion: system messages join the system parameter, a leading
    assistant message gets the opening user turn, same-role neighbours merge, a tool
    message is labelled user text, blank ones are left out — so the fake server, which
    refuses what the API refuses (roles, order, blank text), answers."""
    fake_anthropic.script(Reply(text=["Understood."]))
    messages = (
        {"role": "system", "content": "(4 earlier messages not shown)"},
        {"role": "assistant", "content": "It rains in Porto."},
        {"role": "assistant", "content": "[tool call] get_weather {}"},
        {"role": "tool", "content": '{"sky": "rain"}'},
        {"role": "assistant", "content": "   "},
        {"role": "user", "content": "And Lisbon?"},
    )
    request = ProviderRequest(messages=messages, system="Be brief.")
    assert text_of(events_of(provider_for(fake_anthropic), request)) == "Understood."
    [received] = fake_anthropic.requests
    assert received.body["system"] == "Be brief.\n\n(4 earlier messages not shown)"
    assert received.body["messages"] == [
        {"role": "user", "content": OPENING_TURN},
        {"role": "assistant", "content": "It rains in Porto.\n\n[tool call] get_weather {}"},
        {"role": "user", "content": '[tool result] {"sky": "rain"}\n\nAnd Lisbon?'},
    ]


@pytest.mark.parametrize(
    ("messages", "said"),
    [
        (({"role": "critic", "content": "hm"},), "role 'critic'"),
        (({"role": "system", "content": "only a system prompt"},), "no user or assistant"),
    ],
)
def test_a_request_that_cannot_be_converted_is_invalid_input(
    fake_anthropic: FakeAnthropic, messages: tuple[dict[str, str], ...], said: str
) -> None:
    events, error = events_before_failure(
        provider_for(fake_anthropic), ProviderRequest(messages=messages), InvalidInput
    )
    assert events == [] and said in str(error)
    assert fake_anthropic.requests == []


def test_tool_uses_are_assembled_from_their_input_pieces(fake_anthropic: FakeAnthropic) -> None:
    """Guards tool use: id and name from the block start, the input_json_delta pieces
    joined and decoded, each reported when its block closes; input that is not JSON
    is kept as the model wrote it; no pieces is no input."""
    fake_anthropic.script(
        Reply(
            text=["Let me check."],
            tool_uses=[
                ScriptedToolUse("toolu_01W", "get_weather", ['{"ci', 'ty": "Lis', 'bon"}']),
                ScriptedToolUse("toolu_02S", "search", ["{not json", "]"]),
                ScriptedToolUse("toolu_03T", "now", []),
            ],
            usage=(30, 12),
        )
    )
    events = events_of(provider_for(fake_anthropic), ask("Weather?"))
    assert events == [
        Usage(input_tokens=30, output_tokens=1),
        TextDelta("Let me check."),
        ToolCall(call_id="toolu_01W", name="get_weather", arguments={"city": "Lisbon"}),
        ToolCall(call_id="toolu_02S", name="search", arguments="{not json]"),
        ToolCall(call_id="toolu_03T", name="now", arguments={}),
        Usage(input_tokens=30, output_tokens=12),
    ]


def test_cache_tokens_count_as_input_and_unknown_events_are_ignored(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards forward compatibility and usage: input is fresh + cache writes + cache
    reads (as billed, repeated cumulatively at message_delta); thinking blocks,
    citations and event types this provider does not know are skipped, not failures."""
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}
    start = next(iter(stream_events(Reply())))[1]
    start["message"]["usage"].update(usage)
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    citation = {"type": "char_location", "cited_text": "x", "document_index": 0}
    fake_anthropic.script(
        Reply(
            raw_events=[
                raw_event("message_start", message=start["message"]),
                raw_event("content_block_start", index=0, content_block=thinking),
                raw_event(
                    "content_block_delta",
                    index=0,
                    delta={"type": "thinking_delta", "thinking": "hmm"},
                ),
                raw_event("content_block_stop", index=0),
                raw_event("future_event", detail=1),
                raw_event("content_block_start", index=1, content_block={"type": "text"}),
                raw_event(
                    "content_block_delta", index=1, delta={"type": "text_delta", "text": "Hi"}
                ),
                raw_event(
                    "content_block_delta",
                    index=1,
                    delta={"type": "citations_delta", "citation": citation},
                ),
                raw_event("content_block_stop", index=1),
                raw_event(
                    "message_delta",
                    delta={"stop_reason": "end_turn"},
                    usage={**usage, "output_tokens": 4},
                ),
                raw_event("message_stop"),
            ]
        )
    )
    events = events_of(provider_for(fake_anthropic), ask())
    assert events == [
        Usage(input_tokens=1105, output_tokens=1),
        TextDelta("Hi"),
        Usage(input_tokens=1105, output_tokens=4),
    ]


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error_type", "said", "advice", "attempts"),
    [
        (400, "invalid_request_error", "rejected the request (HTTP 400)", "max_tokens", 1),
        (401, "authentication_error", "refused the API key (HTTP 401)", "ANTHROPIC_API_KEY", 1),
        (403, "permission_error", "denied access (HTTP 403)", "may use this model", 1),
        (404, "not_found_error", "not found (HTTP 404)", "anthropic_model", 1),
        (429, "rate_limit_error", "rate limiting the requests (HTTP 429)", "billing", 3),
        (500, "api_error", "server error (HTTP 500)", "try again later", 3),
        (529, "overloaded_error", "overloaded (HTTP 529)", "try again in a moment", 3),
    ],
)
def test_an_http_error_names_the_status_and_url_never_the_key(
    fake_anthropic: FakeAnthropic,
    status: int,
    error_type: str,
    said: str,
    advice: str,
    attempts: int,
) -> None:
    """Guards error messages: the status, the URL, the API's error type and words, and
    what to check — but never the key, even when the server echoes it back. 429, 5xx
    and 529 were retried by the SDK first (the server asks for a 1 ms pause)."""
    fake_anthropic.script(
        Reply(
            status=status,
            error_type=error_type,
            error_message=f"invalid x-api-key {KEY} for this request",
            retry_after_ms=1,
        )
    )
    events, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert events == []
    message = str(error)
    assert said in message and advice in message
    assert f"{fake_anthropic.url}/v1/messages" in message
    assert error_type in message and "invalid x-api-key" in message
    assert KEY not in message and KEY[12:] not in message
    assert error.__cause__ is None  # the SDK's error (and its request headers) not chained
    assert len(fake_anthropic.requests) == attempts


def test_an_overloaded_api_is_retried_before_anything_streams(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards the SDK's retries: a 529 then a reply gives the reply, streamed once."""
    fake_anthropic.script(
        Reply(status=529, error_type="overloaded_error", retry_after_ms=1),
        Reply(text=["fine ", "now"]),
    )
    assert text_of(events_of(provider_for(fake_anthropic), ask())) == "fine now"
    assert len(fake_anthropic.requests) == 2


def test_a_refused_connection_names_the_url() -> None:
    """Guards a gateway or proxy that is not running: the message says which address
    could not be reached and what to check."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = AnthropicProvider(
        base_url=f"http://127.0.0.1:{port}", api_key=KEY, model="m", max_retries=0
    )
    events, error = events_before_failure(provider, ask())
    assert events == []
    assert f"cannot connect to http://127.0.0.1:{port}/v1/messages" in str(error)
    assert "anthropic_base_url" in str(error)


def test_a_stream_cut_mid_reply_fails_after_the_text_so_far(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards against a reply quietly cut short: the connection dropped after two pieces
    gives those two pieces, then ProviderError saying the reply is incomplete."""
    fake_anthropic.script(Reply(text=["The answer ", "is ", "forty-two."], cut_after=2))
    events, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert text_of(events) == "The answer is "
    assert "lost in the middle of the reply" in str(error)
    assert fake_anthropic.url in str(error)
    assert error.__cause__ is None


def test_an_error_event_mid_stream_fails_after_the_text_so_far(
    fake_anthropic: FakeAnthropic,
) -> None:
    """Guards the API's in-stream errors: after a 200 the API reports overload as an
    ``error`` event; the text before it is yielded, then ProviderError with its words."""
    fake_anthropic.script(
        Reply(
            text=["Half ", "of it"],
            error_after=1,
            error_type="overloaded_error",
            error_message="Overloaded",
        )
    )
    events, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert text_of(events) == "Half "
    message = str(error)
    assert "error in the middle of the reply (overloaded_error): Overloaded" in message
    assert "try again in a moment" in message
    assert len(fake_anthropic.requests) == 1  # streamed text is never retried


@pytest.mark.parametrize(("dropped", "missing"), [(1, "no message_stop"), (2, "no stop_reason")])
def test_a_stream_that_ends_unfinished_is_an_error(
    fake_anthropic: FakeAnthropic, dropped: int, missing: str
) -> None:
    """Guards the end of body the SDK accepts silently: the text, then a clean end of
    body without message_stop (or without the message_delta carrying the stop_reason)
    — the text is yielded, then ProviderError."""
    events = list(stream_events(Reply(text=["half ", "a reply"])))
    unfinished = [(name, json.dumps(data)) for name, data in events[:-dropped]]
    fake_anthropic.script(Reply(raw_events=unfinished))
    got, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert text_of(got) == "half a reply"
    assert "ended before the reply was finished" in str(error) and missing in str(error)


@pytest.mark.parametrize(
    "event",
    [
        ("content_block_delta", "{not json"),
        ("content_block_delta", "[1, 2]"),
        raw_event("content_block_delta", index=0, delta={"type": "text_delta", "text": 7}),
        raw_event(
            "content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": "{"}
        ),
        raw_event("content_block_stop"),
    ],
    ids=["not-json", "not-an-object", "text-not-a-string", "json-for-text", "no-index"],
)
def test_a_malformed_stream_is_an_error(
    fake_anthropic: FakeAnthropic, event: tuple[str, str]
) -> None:
    """Guards the reading of events the SDK does not validate: data that is not JSON,
    not an object, a text that is not a string, tool input for a text block, a block
    event without its index — each a ProviderError naming the endpoint."""
    opening = list(stream_events(Reply(text=["x"])))[:3]  # message_start, ping, block
    sent = [(kind, json.dumps(fields)) for kind, fields in opening]
    fake_anthropic.script(Reply(raw_events=[*sent, event]))
    events, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert events == [Usage(input_tokens=25, output_tokens=1)]
    assert "cannot be read as Messages API events" in str(error)
    assert fake_anthropic.url in str(error)


@pytest.mark.parametrize(
    ("stop_reason", "said"),
    [
        ("refusal", "declined to continue the reply (stop_reason refusal"),
        ("max_tokens", "limit of 4096 tokens (stop_reason max_tokens"),
        ("model_context_window_exceeded", "filled the model's context window"),
        ("pause_turn", "paused the turn (stop_reason pause_turn)"),
    ],
)
def test_a_stop_reason_that_cuts_the_reply_is_an_error_after_the_text(
    fake_anthropic: FakeAnthropic, stop_reason: str, said: str
) -> None:
    """Guards against replies quietly cut short by the model or the limit: the text,
    then ProviderError saying why (for max_tokens, which setting to raise)."""
    fake_anthropic.script(Reply(text=["Partial"], stop_reason=stop_reason))
    events, error = events_before_failure(provider_for(fake_anthropic, max_tokens=4096), ask())
    assert text_of(events) == "Partial"
    assert said in str(error)
    if stop_reason == "max_tokens":
        assert "THREADKEEP_ANTHROPIC_MAX_TOKENS" in str(error)


def test_a_stop_sequence_finishes_the_reply(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply(text=["Done"], stop_reason="stop_sequence"))
    assert text_of(events_of(provider_for(fake_anthropic), ask())) == "Done"


def test_stopping_early_closes_the_http_stream(fake_anthropic: FakeAnthropic) -> None:
    """Guards the stream contract: a consumer that takes the first piece and closes the
    generator closes the connection — the server, still holding the stream open, sees
    the client leave."""
    fake_anthropic.script(Reply(text=["one ", "two ", "three"], hold_after=2))

    async def first_piece() -> ProviderEvent:
        events = provider_for(fake_anthropic).stream(ask())
        assert isinstance(events, AsyncGenerator)
        assert isinstance(await anext(events), Usage)  # message_start's
        first: ProviderEvent = await anext(events)
        await events.aclose()
        return first

    assert asyncio.run(first_piece()) == TextDelta("one ")
    assert fake_anthropic.client_left.wait(HOLD_DEADLINE_S)


# ----------------------------------------------------------------- sessions and config


def test_a_session_id_is_refused_before_anything_is_sent(fake_anthropic: FakeAnthropic) -> None:
    """Guards S4.2 for a stateless API: a session id cannot be resumed, so it is refused
    with ProviderSessionInvalid before any request, and the pipeline's retry (prior
    context injected) is what reaches the server."""
    events, error = events_before_failure(
        provider_for(fake_anthropic), ask(session_id="sess-1"), ProviderSessionInvalid
    )
    assert events == []
    assert "keeps no sessions" in str(error)
    assert fake_anthropic.requests == []


def test_no_model_is_invalid_input_naming_the_setting(fake_anthropic: FakeAnthropic) -> None:
    events, error = events_before_failure(
        provider_for(fake_anthropic, model=None), ask(), InvalidInput
    )
    assert events == []
    assert "anthropic_model" in str(error) and "THREADKEEP_ANTHROPIC_MODEL" in str(error)
    assert fake_anthropic.requests == []


def test_the_anthropic_api_without_any_key_is_invalid_input() -> None:
    """Guards the default endpoint: no key configured and no ANTHROPIC_API_KEY is said
    before any request, naming the setting (no network involved)."""
    provider = AnthropicProvider(model="claude-fake")
    events, error = events_before_failure(provider, ask(), InvalidInput)
    assert events == []
    assert "anthropic_api_key" in str(error) and "ANTHROPIC_API_KEY" in str(error)


def test_ambient_credentials_are_never_sent_to_another_endpoint(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the fallback: ANTHROPIC_API_KEY is Anthropic's key, so an endpoint that
    is not api.anthropic.com (here a local server) without a key of its own gets no
    x-api-key and no Authorization at all — nor the SDK's other credential variable."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", KEY)
    fake_anthropic.script(Reply(text=["local"]))
    provider = provider_for(fake_anthropic, api_key=None)
    assert text_of(events_of(provider, ask())) == "local"
    assert asyncio.run(provider.title("Hello")) == "local"
    for received in fake_anthropic.requests:
        assert "x-api-key" not in received.headers
        assert "authorization" not in received.headers
        assert KEY not in json.dumps(received.headers)


def test_a_missing_anthropic_package_names_the_install(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # what `import` sees uninstalled
    events, error = events_before_failure(provider_for(fake_anthropic), ask())
    assert events == []
    assert INSTALL_HINT == "pip install 'threadkeep[anthropic]'"
    assert INSTALL_HINT in str(error)
    with pytest.raises(ProviderError, match=r"threadkeep\[anthropic\]"):
        asyncio.run(provider_for(fake_anthropic).title("Hello"))
    assert fake_anthropic.requests == []


def test_made_from_the_anthropic_settings(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards ``from_settings``: the four ``anthropic_*`` settings (from the
    environment) make a provider that streams from the configured server with the
    configured model, limit and key; the defaults are the public API's."""
    defaults = Settings.load()
    assert defaults.anthropic_base_url == "https://api.anthropic.com"
    assert defaults.anthropic_api_key is None and defaults.anthropic_model is None
    assert defaults.anthropic_max_tokens == 4096

    monkeypatch.setenv("THREADKEEP_ANTHROPIC_BASE_URL", fake_anthropic.url)
    monkeypatch.setenv("THREADKEEP_ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("THREADKEEP_ANTHROPIC_MODEL", "claude-m-1")
    monkeypatch.setenv("THREADKEEP_ANTHROPIC_MAX_TOKENS", "777")
    settings = Settings.load()
    assert KEY not in repr(settings)
    provider = AnthropicProvider.from_settings(settings)
    assert provider.name == "anthropic" and KEY not in repr(vars(provider))
    fake_anthropic.script(Reply(text=["from ", "settings"]))
    assert text_of(events_of(provider, ask())) == "from settings"
    [received] = fake_anthropic.requests
    assert received.body["model"] == "claude-m-1"
    assert received.body["max_tokens"] == 777
    assert received.headers["x-api-key"] == KEY


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('"Planning a Lisbon Trip."', "Planning a Lisbon Trip"),
        ("**Title:** Lisbon weekend plans!\n\nHope that helps.", "Lisbon weekend plans"),
        ("“A very long title that keeps on going forever”", "A very long title that keeps"),
        ("  \n", None),
        ("", None),
    ],
)
def test_title_is_a_cleaned_short_answer(
    fake_anthropic: FakeAnthropic, answer: str, title: str | None
) -> None:
    """Guards S4.6: one short non-streamed request; the answer's first line without
    quotes, label or end punctuation, at most six words; no text is ``None``."""
    fake_anthropic.script(Reply(text=[answer] if answer else []))
    opening = "I want to plan a trip to Lisbon in May. " * 100
    assert asyncio.run(provider_for(fake_anthropic).title(opening)) == title
    [received] = fake_anthropic.requests
    assert received.headers["x-api-key"] == KEY
    assert "authorization" not in received.headers
    assert not received.body.get("stream")
    assert received.body["max_tokens"] <= 32
    assert "3 to 6 words" in received.body["system"]
    assert received.body["messages"] == [{"role": "user", "content": opening[:2000]}]


def test_a_failed_title_is_a_provider_error_not_none(fake_anthropic: FakeAnthropic) -> None:
    """Guards the protocol: ``None`` means no title, never a failure."""
    fake_anthropic.script(
        Reply(status=401, error_type="authentication_error", error_message="invalid x-api-key")
    )
    with pytest.raises(ProviderError, match="HTTP 401"):
        asyncio.run(provider_for(fake_anthropic).title("Hello"))


def test_a_title_without_a_model_is_a_provider_error(fake_anthropic: FakeAnthropic) -> None:
    """Guards S4.6 when sends name their model but no anthropic_model is set: the
    background title fails as ProviderError (derive one instead), not InvalidInput."""
    with pytest.raises(ProviderError, match="anthropic_model"):
        asyncio.run(provider_for(fake_anthropic, model=None).title("Hello"))
    assert fake_anthropic.requests == []


# ------------------------------------------------------------------- Runtime.send


def _runtime_with_anthropic(
    store: ConversationStore, settings: Settings, budget: ContextBudget
) -> Runtime:
    """A runtime whose ``anthropic`` provider is the built-in one, made from ``settings``."""
    return Runtime(AsyncConversationStore(store), RunQueue(), settings=settings, budget=budget)


def test_the_provider_is_registered_as_a_built_in() -> None:
    assert provider_spec("anthropic").create == AnthropicProvider.from_settings


def test_turns_through_runtime_send_store_the_reply_tools_usage_and_title(
    fake_anthropic: FakeAnthropic, store: ConversationStore
) -> None:
    """End to end, on both engines: a first turn streams text and a tool use, stored as
    an assistant message and a tool_call message, with the usage on the run and a title
    made in the background; the next turn sends the prior context converted for the
    Messages API — the window here starts at an assistant message, so the left-out
    line goes to ``system`` and the opening user turn comes first — and the server,
    which refuses what the API refuses, answers it."""
    settings = Settings.load(
        anthropic_base_url=fake_anthropic.url,
        anthropic_api_key=KEY,
        anthropic_model="claude-e2e",
    )
    runtime = _runtime_with_anthropic(store, settings, ContextBudget(max_messages=2))
    conv = store.create_conversation()
    fake_anthropic.script(
        Reply(
            text=["Let me ", "look."],
            tool_uses=[ScriptedToolUse("toolu_01W", "get_weather", ['{"city": "Porto"}'])],
            usage=(40, 15),
        ),
        Reply(text=["Porto Weather Check"]),
        Reply(text=["It is sunny."]),
    )

    async def turn(text: str) -> list[SendEvent]:
        events = [event async for event in runtime.send(conv.id, text, provider="anthropic")]
        await runtime.settle()  # the title, made in the background
        return events

    first = asyncio.run(turn("Weather in Porto?"))
    assert "".join(e.text for e in first if isinstance(e, ReplyDelta)) == "Let me look."
    done = first[-1]
    assert isinstance(done, RunFinished) and done.error is None and done.run is not None
    assert done.run.status == "completed"
    assert done.run.usage == {"input_tokens": 40, "output_tokens": 15}
    assert [e.message.kind for e in first if isinstance(e, Stored)] == ["text", "tool_call"]
    conversation = store.get_conversation(conv.id)
    assert conversation.provider == "anthropic"
    assert conversation.title == "Porto Weather Check"

    second = asyncio.run(turn("And tomorrow?"))
    last = second[-1]
    assert isinstance(last, RunFinished) and last.error is None and last.reply == "It is sunny."
    streamed, titled, followed = fake_anthropic.requests
    assert streamed.body["messages"] == [{"role": "user", "content": "Weather in Porto?"}]
    assert not titled.body.get("stream")
    assert followed.body["system"] == "(1 earlier message not shown)"
    opening, reply, question = followed.body["messages"]
    assert opening == {"role": "user", "content": OPENING_TURN}
    assert reply["role"] == "assistant"
    assert reply["content"].startswith("Let me look.\n\n[tool call]")
    assert "get_weather" in reply["content"]
    assert question == {"role": "user", "content": "And tomorrow?"}
    assert all(received.headers["x-api-key"] == KEY for received in fake_anthropic.requests)
    stored = store.get_messages(conv.id)
    assert [(m.role, m.kind, m.status) for m in stored] == [
        ("user", "text", "complete"),
        ("assistant", "text", "complete"),
        ("assistant", "tool_call", "complete"),
        ("user", "text", "complete"),
        ("assistant", "text", "complete"),
    ]
