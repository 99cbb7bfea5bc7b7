"""The providers in use: every :class:`~threadkeep.runtime.providers.base.ProviderSpec`
registered through the ``register_providers`` hook — the built-in ones first, then
plugins' — by name.

The built-in provider is ``echo`` (offline, the default); the network and CLI providers
of SPEC S4.3 and any a plugin adds register the same way. A name is 1-48 lower-case
letters, digits and ``-``; two registrations of one name are an error naming both, so
a plugin can never silently replace a built-in (or another plugin's) provider.

Every function takes an optional plugin ``manager`` (default: the process's one, see
``threadkeep.plugins``), which tests use to try plugins without installing them. The
registry hands out specs, not providers: ``spec.create(settings)`` makes one.
"""

from __future__ import annotations

import pluggy

from threadkeep.errors import InvalidInput
from threadkeep.plugins import registered
from threadkeep.runtime.providers.base import ProviderSpec

__all__ = ["provider_names", "provider_spec", "providers"]


def providers(manager: pluggy.PluginManager | None = None) -> dict[str, ProviderSpec]:
    """Every registered provider by name, in registration order (built-ins first)."""
    return registered("register_providers", ProviderSpec, "provider", manager)


def provider_names(manager: pluggy.PluginManager | None = None) -> list[str]:
    """The names a conversation's provider can take, built-ins first."""
    return list(providers(manager))


def provider_spec(name: str, manager: pluggy.PluginManager | None = None) -> ProviderSpec:
    """The provider called ``name``, or ``InvalidInput`` listing the known ones."""
    found = providers(manager)
    spec = found.get(name)
    if spec is None:
        raise InvalidInput(f"unknown provider {name!r:.60}; known: {', '.join(found)}")
    return spec
