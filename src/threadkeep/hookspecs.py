"""The hooks a threadkeep plugin can implement (pluggy), and their markers.

Two hooks: ``register_formats`` (import and export formats) and ``register_providers``
(what produces a reply in the agent runtime). Plugins are found through the
``threadkeep`` entry point group (``plugins.py``); the built-in formats and providers
register through the very same hooks, from ``threadkeep.default_plugins``. A plugin
module (or object) implements a hook with :data:`hookimpl`::

    from threadkeep.hookspecs import hookimpl
    from threadkeep.transfer.formats import Format

    @hookimpl
    def register_formats(register):
        register(Format(name="my-app", description="My app's chat log",
                        detect=looks_like_mine, load=read_mine))

and is declared in its ``pyproject.toml``::

    [project.entry-points.threadkeep]
    my_app = "my_package.threadkeep_plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the hooks' argument types; their users ask the plugins, not the reverse
    from threadkeep.runtime.providers.base import ProviderSpec
    from threadkeep.transfer.formats import Format

__all__ = ["PROJECT", "hookimpl", "hookspec", "register_formats", "register_providers"]

PROJECT = "threadkeep"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_formats(register: Callable[[Format], None]) -> None:
    """Register import and export formats: call ``register(Format(...))`` for each.

    A format whose ``name`` another plugin (or a built-in) already registered is an
    error, named when the formats are first used.
    """


@hookspec
def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    """Register model providers: call ``register(ProviderSpec(...))`` for each.

    ``ProviderSpec.create(settings)`` makes the provider (see
    ``threadkeep.runtime.providers.base`` for what a provider must do). A provider whose
    ``name`` another plugin (or a built-in) already registered is an error, named when
    the providers are first used.
    """
