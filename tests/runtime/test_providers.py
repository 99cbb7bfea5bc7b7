"""Providers (SPEC S4.3): the built-in ``echo`` and the registry fed by the
``register_providers`` hook, the built-in registered through it like a plugin.

The project runs no async test plugin: each test drives its coroutines with
``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.runtime.streams import ask, events_before_failure, events_of, text_of
from threadkeep import Settings
from threadkeep.cli.output import exit_code
from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager
from threadkeep.runtime.providers.base import (
    Provider,
    ProviderEvent,
    ProviderRequest,
    ProviderSpec,
    SessionStarted,
    TextDelta,
    Usage,
)
from threadkeep.runtime.providers.echo import EchoProvider
from threadkeep.runtime.providers.registry import provider_names, provider_spec, providers
from threadkeep.server import errors as server_errors

# -------------------------------------------------------------------------------- echo

#: The built-in providers, in the order they are registered and listed.
BUILT_INS = ["echo", "openai", "anthropic", "claude-code", "codex"]


def test_echo_streams_the_same_chunks_every_time() -> None:
    """Guards determinism: the same request gives the same events, the reply in
    several word-sized pieces that join to exactly the documented text."""
    request = ask("hello there, world", prior=12)
    first = events_of(EchoProvider(), request)
    assert events_of(EchoProvider(), request) == first
    deltas = [event.text for event in first if isinstance(event, TextDelta)]
    assert deltas[:3] == ["Echo: ", "hello ", "there, "]
    assert len(deltas) > 3
    assert text_of(first) == "Echo: hello there, world\n\n(I was given 12 earlier messages.)"


@pytest.mark.parametrize(
    ("prior", "said"),
    [(0, "no earlier messages"), (1, "1 earlier message"), (2, "2 earlier messages")],
)
def test_echo_says_how_many_earlier_messages_it_was_given(prior: int, said: str) -> None:
    """Guards the visible resume: the reply reports ``prior_messages``."""
    assert text_of(events_of(EchoProvider(), ask("again", prior=prior))).endswith(
        f"(I was given {said}.)"
    )


def test_echo_answers_the_last_user_message_after_the_context() -> None:
    """Guards: with prior context as chat messages, echo answers the new message (last)
    and counts words of everything it was given as input, the reply as output."""
    request = ProviderRequest(
        messages=(
            {"role": "user", "content": "first question here"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second"},
        ),
        system="Earlier conversation follows",
        prior_messages=2,
    )
    events = events_of(EchoProvider(), request)
    reply = "Echo: second\n\n(I was given 2 earlier messages.)"
    assert text_of(events) == reply
    assert events[-1] == Usage(input_tokens=3 + 3 + 2 + 1, output_tokens=len(reply.split()))
    assert sum(isinstance(event, Usage) for event in events) == 1


def test_echo_keeps_no_sessions() -> None:
    """Guards the offline resume path: echo reports no session of its own, and refuses
    any session id before streaming anything, so the pipeline's retry starts clean."""
    assert not any(isinstance(e, SessionStarted) for e in events_of(EchoProvider(), ask("hi")))
    events, error = events_before_failure(
        EchoProvider(), ask("hi", session_id="s-1"), ProviderSessionInvalid
    )
    assert "keeps no sessions" in str(error)
    assert events == []
    assert isinstance(error, ProviderSessionInvalid)
    assert error.code == "provider_session_invalid"
    assert isinstance(error, ProviderError)


@pytest.mark.parametrize(
    "messages",
    [(), ({"role": "assistant", "content": "I speak first"},)],
    ids=["empty", "no-user"],
)
def test_echo_needs_a_user_message(messages: tuple[dict[str, str], ...]) -> None:
    events, error = events_before_failure(
        EchoProvider(), ProviderRequest(messages=messages), InvalidInput
    )
    assert "no user message" in str(error)
    assert events == []


def test_echo_makes_no_titles() -> None:
    """Guards S4.6: echo leaves the title to the first-user-message fallback."""
    assert asyncio.run(EchoProvider().title("Plan a trip to Lisbon")) is None


def test_echo_can_stop_mid_reply() -> None:
    """Guards the stream contract: a consumer that stops early closes the generator."""

    async def first_two() -> list[ProviderEvent]:
        events = EchoProvider().stream(ask("one two three four"))
        assert isinstance(events, AsyncGenerator)
        taken = [await anext(events), await anext(events)]
        await events.aclose()
        return taken

    assert asyncio.run(first_two()) == [TextDelta("Echo: "), TextDelta("one ")]


# ---------------------------------------------------------------------------- registry


def _echo_like(name: str, description: str = "A test provider") -> ProviderSpec:
    return ProviderSpec(name=name, description=description, create=lambda _s: EchoProvider())


class Shout:
    """A third party's provider."""

    name = "shout"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        yield TextDelta(request.messages[-1]["content"].upper())

    async def title(self, text: str) -> str | None:
        return text.upper()


class ShoutPlugin:
    """A third-party plugin object, as a package would provide it."""

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(ProviderSpec(name="shout", description="Shouts back", create=self._create))

    def _create(self, settings: Settings) -> Provider:
        return Shout()


def test_echo_is_built_in_and_registered_first() -> None:
    """Guards: ``echo`` comes through the hook, first, on the process's manager too."""
    assert provider_names()[0] == "echo"
    spec = provider_spec("echo", build_plugin_manager(entry_points=False))
    provider = spec.create(Settings())
    assert isinstance(provider, EchoProvider)
    assert provider.name == spec.name == "echo"


def test_the_built_ins_are_registered_in_order() -> None:
    assert provider_names(build_plugin_manager(entry_points=False)) == BUILT_INS


def test_a_plugin_adds_a_provider() -> None:
    """Guards: a provider registered through the hook is listed after the built-ins and
    made from its spec."""
    manager = build_plugin_manager(entry_points=False)
    manager.register(ShoutPlugin())
    assert provider_names(manager) == [*BUILT_INS, "shout"]
    provider = provider_spec("shout", manager).create(Settings())
    assert text_of(events_of(provider, ask("quiet please"))) == "QUIET PLEASE"
    assert "shout" not in provider_names(build_plugin_manager(entry_points=False))


def test_two_providers_with_one_name_are_an_error() -> None:
    """Guards against a plugin silently replacing the built-in echo: the error names
    the provider and both registrations."""

    class Impostor:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(_echo_like("echo", "Not really echo"))

    manager = build_plugin_manager(entry_points=False)
    manager.register(Impostor())
    with pytest.raises(InvalidInput, match="two plugins register a provider named 'echo'") as e:
        providers(manager)
    assert "Not really echo" in e.value.message and "Offline" in e.value.message


def test_an_unknown_provider_lists_the_known_ones() -> None:
    manager = build_plugin_manager(entry_points=False)
    manager.register(ShoutPlugin())
    known = ", ".join([*BUILT_INS, "shout"])
    with pytest.raises(InvalidInput, match=rf"unknown provider 'nope'; known: {known}$"):
        provider_spec("nope", manager)


@pytest.mark.parametrize("name", ["", "Echo", "-echo", "my_provider", "two words", "x" * 49])
def test_a_bad_provider_name_is_refused(name: str) -> None:
    class Misnamed:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(_echo_like(name))

    manager = build_plugin_manager(entry_points=False)
    manager.register(Misnamed())
    with pytest.raises(InvalidInput, match="must be 1-48 lower-case letters"):
        providers(manager)


def test_only_provider_specs_are_accepted() -> None:
    class Confused:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(EchoProvider())

    manager = build_plugin_manager(entry_points=False)
    manager.register(Confused())
    with pytest.raises(InvalidInput, match="not a threadkeep ProviderSpec"):
        providers(manager)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("error", [ProviderError, ProviderSessionInvalid])
def test_provider_errors_are_upstream_failures(error: type[ProviderError]) -> None:
    """Guards the two mappings: a provider's failure is HTTP 502 with its own code (not
    a 500 "bug") and CLI exit 7."""
    app = FastAPI()
    server_errors.install(app)

    @app.get("/fail")
    def fail() -> None:
        raise error("the provider at example.invalid did not answer")

    response = TestClient(app).get("/fail")
    assert response.status_code == 502
    assert response.json() == {
        "code": error.code,
        "message": "the provider at example.invalid did not answer",
    }
    assert exit_code(error("x")) == 7
