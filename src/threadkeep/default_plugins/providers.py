"""The built-in providers, registered through ``register_providers`` like a plugin's.

``echo`` first: offline and deterministic, the default, so everything works without a
network (SPEC S4.3). Then ``openai``: any OpenAI-compatible chat-completions endpoint,
configured by the ``openai_*`` settings. Then ``anthropic``: the Anthropic Messages
API, configured by the ``anthropic_*`` settings. Then the CLI providers ``claude-code``
and ``codex``: Claude Code's and Codex's CLIs run as subprocesses, configured by
``claude_code_command``, ``codex_command`` and ``cli_provider_cwd``. ``create`` only
reads the settings: no provider connects or imports its SDK before it is asked for a
reply.
"""

from __future__ import annotations

from collections.abc import Callable

from threadkeep.hookspecs import hookimpl
from threadkeep.runtime.providers.anthropic import AnthropicProvider
from threadkeep.runtime.providers.base import Provider, ProviderSpec
from threadkeep.runtime.providers.claude_code import ClaudeCodeProvider
from threadkeep.runtime.providers.codex import CodexProvider
from threadkeep.runtime.providers.echo import EchoProvider
from threadkeep.runtime.providers.openai import OpenAIProvider
from threadkeep.settings import Settings

__all__ = ["register_providers"]


def _echo(settings: Settings) -> Provider:
    # Echo has nothing to configure; it takes the settings as every provider does.
    return EchoProvider()


def _providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            name="echo",
            description="Offline and deterministic: echoes the message (the default)",
            create=_echo,
        ),
        ProviderSpec(
            name="openai",
            description="Any OpenAI-compatible chat-completions endpoint, streamed (OpenAI, "
            "Ollama, vLLM, llama.cpp server)",
            create=OpenAIProvider.from_settings,
        ),
        ProviderSpec(
            name="anthropic",
            description="Claude through the Anthropic Messages API, streamed",
            create=AnthropicProvider.from_settings,
        ),
        ProviderSpec(
            name="claude-code",
            description="Claude Code's CLI (`claude -p`, stream-json) as a subprocess, "
            "resuming its sessions",
            create=ClaudeCodeProvider.from_settings,
        ),
        ProviderSpec(
            name="codex",
            description="The Codex CLI (`codex exec --json`) as a subprocess, resuming its threads",
            create=CodexProvider.from_settings,
        ),
    ]


# tryfirst: the built-ins are registered (and listed) before any plugin's providers.
@hookimpl(tryfirst=True)
def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    for spec in _providers():
        register(spec)
