"""The ``openai`` provider (SPEC S4.3) against a fake OpenAI-compatible server.

Every test drives :class:`OpenAIProvider` through the official ``openai`` package and a
real loopback HTTP connection to :class:`~tests.runtime.fake_openai.FakeOpenAI`, which
speaks the chat-completions wire format (server-sent chunks, ``[DONE]``, OpenAI's error
bodies) and records what it received. Nothing of ours is mocked.

The project runs no async test plugin: each test drives its coroutines with
``asyncio.run``. ``OPENAI_API_KEY`` is removed for every test, so a developer's real key
can never reach the fake server, and set only where a test is about it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.runtime.fake_openai import (
    HOLD_DEADLINE_S,
    FakeOpenAI,
    Reply,
    ScriptedToolCall,
    fake_openai_fixture,  # noqa: F401 (registers the fake_openai fixture here)
    stream_events,
)
from tests.runtime.streams import ask, events_before_failure, events_of, text_of
from threadkeep import Settings
from threadkeep.cli.main import app
from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    SessionStarted,
    TextDelta,
    ToolCall,
    Usage,
)
from threadkeep.runtime.providers.openai import INSTALL_HINT, OpenAIProvider
from threadkeep.runtime.providers.registry import provider_names, provider_spec

KEY = "sk-proj-Fake7key0Never9Shown3anywhere2026xYz"


@pytest.fixture(autouse=True)
def _no_ambient_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def provider_for(server: FakeOpenAI, **options: Any) -> OpenAIProvider:
    options.setdefault("api_key", KEY)
    options.setdefault("model", "gpt-fake")
    return OpenAIProvider(base_url=server.url, **options)


# --------------------------------------------------------------------------- replies


def test_streamed_text_joins_to_the_reply(fake_openai: FakeOpenAI) -> None:
    """Guards the stream: one TextDelta per content chunk, in order, then the usage the
    server reported; never a session (chat completions keep none)."""
    fake_openai.script(Reply(text=["Lis", "bon is ", "lovely", " in May."], usage=(21, 9)))
    events = events_of(provider_for(fake_openai), ask("Where should I go?"))
    assert events == [
        TextDelta("Lis"),
        TextDelta("bon is "),
        TextDelta("lovely"),
        TextDelta(" in May."),
        Usage(input_tokens=21, output_tokens=9),
    ]
    assert not any(isinstance(event, SessionStarted) for event in events)


def test_sends_the_system_prompt_then_the_messages_with_model_and_key(
    fake_openai: FakeOpenAI,
) -> None:
    """Guards the request: the system section first, then the messages exactly as given,
    the configured model, streaming with usage asked for, and the key as a bearer token."""
    fake_openai.script(Reply(text=["ok"]))
    messages = (
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    )
    request = ProviderRequest(messages=messages, system="Earlier conversation: ...")
    events_of(provider_for(fake_openai, model="llama3.2"), request)
    [received] = fake_openai.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.body["model"] == "llama3.2"
    assert received.body["stream"] is True
    assert received.body["stream_options"] == {"include_usage": True}
    assert received.body["messages"] == [
        {"role": "system", "content": "Earlier conversation: ..."},
        *messages,
    ]


def test_the_request_model_wins_and_no_system_message_without_a_system(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Reply(text=["ok"]))
    events_of(provider_for(fake_openai, model="default-model"), ask("hi", model="chosen-model"))
    [received] = fake_openai.requests
    assert received.body["model"] == "chosen-model"
    assert received.body["messages"] == [{"role": "user", "content": "hi"}]


def test_a_server_that_reports_no_usage_gives_no_usage_event(fake_openai: FakeOpenAI) -> None:
    """Guards servers that ignore ``stream_options``: the reply is whole, usage absent."""
    fake_openai.script(Reply(text=["no ", "counts"], usage=None))
    events = events_of(provider_for(fake_openai), ask())
    assert events == [TextDelta("no "), TextDelta("counts")]


def test_tool_calls_are_assembled_from_their_deltas(fake_openai: FakeOpenAI) -> None:
    """Guards tool calls: id and name from the first delta, the argument pieces joined
    and decoded, reported in index order once the choice finished; arguments that are
    not JSON are kept as the model wrote them; empty arguments are no arguments."""
    fake_openai.script(
        Reply(
            text=["Let me check."],
            tool_calls=[
                ScriptedToolCall("call_w1", "get_weather", ['{"ci', 'ty": "Lis', 'bon"}']),
                ScriptedToolCall("call_s2", "search", ["{not json", "]"]),
                ScriptedToolCall("call_t3", "now", []),
            ],
        )
    )
    events = events_of(provider_for(fake_openai), ask("Weather?"))
    assert events == [
        TextDelta("Let me check."),
        ToolCall(call_id="call_w1", name="get_weather", arguments={"city": "Lisbon"}),
        ToolCall(call_id="call_s2", name="search", arguments="{not json]"),
        ToolCall(call_id="call_t3", name="now", arguments={}),
        Usage(input_tokens=11, output_tokens=7),
    ]


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "said", "advice", "attempts"),
    [
        (401, "refused the API key (HTTP 401)", "THREADKEEP_OPENAI_API_KEY", 1),
        (403, "denied access (HTTP 403)", "may use this model", 1),
        (404, "not found (HTTP 404)", "openai_model", 1),
        (429, "out of quota (HTTP 429)", "billing", 3),
        (500, "server error (HTTP 500)", "try again later", 3),
        (503, "server error (HTTP 503)", "try again later", 3),
    ],
)
def test_an_http_error_names_the_status_and_url_never_the_key(
    fake_openai: FakeOpenAI, status: int, said: str, advice: str, attempts: int
) -> None:
    """Guards error messages: the status, the URL and what to check, with the server's
    own words — but never the key, even when the server echoes it back. 429 and 5xx
    were retried by the SDK first (the server asks for a 1 ms pause)."""
    fake_openai.script(
        Reply(
            status=status,
            error_message=f"Incorrect API key provided: {KEY}. Details here.",
            error_type="invalid_request_error",
            retry_after_ms=1,
        )
    )
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert events == []
    message = str(error)
    assert said in message and advice in message
    assert f"{fake_openai.url}/chat/completions" in message
    assert "Incorrect API key provided" in message
    assert KEY not in message and KEY[8:] not in message
    assert error.__cause__ is None  # the SDK's error (and its request headers) not chained
    assert len(fake_openai.requests) == attempts


def test_a_server_error_is_retried_before_anything_streams(fake_openai: FakeOpenAI) -> None:
    """Guards the SDK's retries: a 500 then a reply gives the reply, streamed once."""
    fake_openai.script(Reply(status=500, retry_after_ms=1), Reply(text=["fine ", "now"]))
    assert text_of(events_of(provider_for(fake_openai), ask())) == "fine now"
    assert len(fake_openai.requests) == 2


def test_a_refused_connection_names_the_url() -> None:
    """Guards the commonest local mistake (Ollama not running): the message says which
    address could not be reached and what to check."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    events, error = events_before_failure(provider, ask())
    assert events == []
    assert f"cannot connect to http://127.0.0.1:{port}/v1/chat/completions" in str(error)
    assert "openai_base_url" in str(error)


def test_a_stream_cut_mid_reply_fails_after_the_text_so_far(fake_openai: FakeOpenAI) -> None:
    """Guards against a reply quietly cut short: the connection dropped after two pieces
    gives those two pieces, then ProviderError saying the reply is incomplete."""
    fake_openai.script(Reply(text=["The answer ", "is ", "forty-two."], cut_after=2))
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert events == [TextDelta("The answer "), TextDelta("is ")]
    assert "lost in the middle of the reply" in str(error)
    assert fake_openai.url in str(error)


def test_a_stream_that_ends_without_finishing_is_an_error(fake_openai: FakeOpenAI) -> None:
    """Guards the end of body the SDK accepts silently: chunks, then ``[DONE]``, but no
    finish_reason — the text is yielded, then ProviderError."""
    chunks = list(stream_events(Reply(text=["half ", "a reply"]), include_usage=False))
    unfinished = [json.dumps(chunk) for chunk in chunks[:-1]]  # drop the finishing chunk
    fake_openai.script(Reply(raw_events=unfinished))
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert text_of(events) == "half a reply"
    assert "ended before the reply was finished" in str(error)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ("{not json", "cannot be read as chat-completion chunks"),
        ("[1, 2]", "cannot be read as chat-completion chunks"),
        ('{"choices": "many"}', "cannot be read as chat-completion chunks"),
        (
            '{"error": {"message": "The model is overloaded", "type": "server_error"}}',
            "error in the middle of the reply: The model is overloaded",
        ),
    ],
    ids=["not-json", "not-an-object", "bad-choices", "error-event"],
)
def test_a_malformed_stream_is_an_error(fake_openai: FakeOpenAI, payload: str, said: str) -> None:
    good = json.dumps(next(iter(stream_events(Reply(), include_usage=False))))
    fake_openai.script(Reply(raw_events=[good, payload]))
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert events == []
    assert said in str(error)
    assert fake_openai.url in str(error)


def test_a_content_filter_stop_is_an_error_after_the_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(text=["Partial"], finish_reason="content_filter"))
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert text_of(events) == "Partial"
    assert "content filter" in str(error)


def test_stopping_early_closes_the_http_stream(fake_openai: FakeOpenAI) -> None:
    """Guards the stream contract: a consumer that takes one piece and closes the
    generator closes the connection — the server, still holding the stream open, sees
    the client leave."""
    fake_openai.script(Reply(text=["one ", "two ", "three"], hold_after=2))

    async def first_piece() -> ProviderEvent:
        events = provider_for(fake_openai).stream(ask())
        assert isinstance(events, AsyncGenerator)
        first: ProviderEvent = await anext(events)
        await events.aclose()
        return first

    assert asyncio.run(first_piece()) == TextDelta("one ")
    assert fake_openai.client_left.wait(HOLD_DEADLINE_S)


# ----------------------------------------------------------------- sessions and config


def test_a_session_id_is_refused_before_anything_is_sent(fake_openai: FakeOpenAI) -> None:
    """Guards S4.2 for a stateless API: a session id cannot be resumed, so it is refused
    with ProviderSessionInvalid before any request, and the pipeline's retry (prior
    context injected) is what reaches the server."""
    events, error = events_before_failure(
        provider_for(fake_openai), ask(session_id="sess-1"), ProviderSessionInvalid
    )
    assert events == []
    assert "keeps no sessions" in str(error)
    assert fake_openai.requests == []


def test_no_model_is_invalid_input_naming_the_setting(fake_openai: FakeOpenAI) -> None:
    events, error = events_before_failure(
        provider_for(fake_openai, model=None), ask(), InvalidInput
    )
    assert events == []
    assert "openai_model" in str(error) and "THREADKEEP_OPENAI_MODEL" in str(error)
    assert fake_openai.requests == []


def test_openai_without_any_key_is_invalid_input() -> None:
    """Guards the default endpoint: no key configured and no OPENAI_API_KEY is said
    before any request, naming the setting (no network involved)."""
    provider = OpenAIProvider(model="gpt-4o-mini")
    events, error = events_before_failure(provider, ask(), InvalidInput)
    assert events == []
    assert "openai_api_key" in str(error) and "OPENAI_API_KEY" in str(error)


def test_openai_api_key_is_never_sent_to_another_endpoint(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the fallback: OPENAI_API_KEY is OpenAI's key, so an endpoint that is not
    api.openai.com (here a local server) without a key of its own gets no
    Authorization header at all."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.script(Reply(text=["local"]))
    assert text_of(events_of(provider_for(fake_openai, api_key=None), ask())) == "local"
    [received] = fake_openai.requests
    assert "authorization" not in received.headers


def test_a_missing_openai_package_names_the_install(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # what `import openai` sees uninstalled
    events, error = events_before_failure(provider_for(fake_openai), ask())
    assert events == []
    assert INSTALL_HINT == "pip install 'threadkeep[openai]'"
    assert INSTALL_HINT in str(error)
    assert fake_openai.requests == []


def test_registered_and_made_from_settings(fake_openai: FakeOpenAI) -> None:
    """Guards the registration: ``openai`` is listed after ``echo``, and its spec makes
    a provider from the ``openai_*`` settings that streams from the configured server."""
    assert provider_names()[:2] == ["echo", "openai"]
    settings = Settings(
        openai_base_url=fake_openai.url, openai_api_key=SecretStr(KEY), openai_model="m-1"
    )
    provider = provider_spec("openai").create(settings)
    assert isinstance(provider, OpenAIProvider)
    assert provider.name == "openai"
    fake_openai.script(Reply(text=["from ", "settings"]))
    assert text_of(events_of(provider, ask())) == "from settings"
    [received] = fake_openai.requests
    assert received.body["model"] == "m-1"
    assert received.headers["authorization"] == f"Bearer {KEY}"


def test_the_openai_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the settings: defaults, the key as a secret (masked in a repr), an emptied
    variable meaning unset, and a bad URL refused at start naming the setting."""
    defaults = Settings.load()
    assert defaults.openai_base_url == "https://api.openai.com/v1"
    assert defaults.openai_api_key is None and defaults.openai_model is None

    monkeypatch.setenv("THREADKEEP_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("THREADKEEP_OPENAI_MODEL", " ")
    settings = Settings.load()
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings.openai_api_key)
    assert settings.openai_model is None

    with pytest.raises(InvalidInput, match=r"openai_base_url.*http:// or https://"):
        Settings.load(openai_base_url="localhost:11434/v1")


def test_a_bad_key_value_is_not_echoed() -> None:
    """Guards the start-up error: it names the setting but hides the value."""
    with pytest.raises(InvalidInput, match="openai_api_key") as raised:
        Settings.load(openai_api_key=["sk-listed-Not9Shown"])
    assert "Not9Shown" not in str(raised.value)


def test_config_show_masks_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADKEEP_OPENAI_API_KEY", KEY)
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "openai_api_key" in result.stdout
        assert KEY not in result.output


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
def test_title_is_a_cleaned_short_answer(fake_openai: FakeOpenAI, answer: str, title: str) -> None:
    """Guards S4.6: one short non-streamed request; the answer's first line without
    quotes, label or end punctuation, at most six words; nothing is ``None``."""
    fake_openai.script(Reply(text=[answer] if answer else []))
    opening = "I want to plan a trip to Lisbon in May. " * 100
    assert asyncio.run(provider_for(fake_openai).title(opening)) == title
    [received] = fake_openai.requests
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert not received.body.get("stream")
    assert received.body["max_completion_tokens"] <= 32
    system, user = received.body["messages"]
    assert system["role"] == "system" and "3 to 6 words" in system["content"]
    assert user == {"role": "user", "content": opening[:2000]}


def test_a_failed_title_is_a_provider_error_not_none(fake_openai: FakeOpenAI) -> None:
    """Guards the protocol: ``None`` means no title, never a failure."""
    fake_openai.script(Reply(status=401, error_message="Invalid key"))
    with pytest.raises(ProviderError, match="HTTP 401"):
        asyncio.run(provider_for(fake_openai).title("Hello"))


def test_a_title_without_a_model_is_a_provider_error(fake_openai: FakeOpenAI) -> None:
    """Guards S4.6 when sends name their model but no openai_model is set: the
    background title fails as ProviderError (derive one instead), not InvalidInput."""
    with pytest.raises(ProviderError, match="openai_model"):
        asyncio.run(provider_for(fake_openai, model=None).title("Hello"))
    assert fake_openai.requests == []
