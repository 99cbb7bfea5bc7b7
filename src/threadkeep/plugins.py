"""The plugin manager: threadkeep's hooks, its built-in plugins and installed ones.

:func:`plugin_manager` builds it once per process, on first use (nothing happens at
import time): the hook specifications of ``hookspecs.py``, the modules of
``DEFAULT_PLUGINS`` — the built-in formats and providers register through the same
hooks as anyone else's, as llm registers its own models — and every plugin installed
under the ``threadkeep`` entry point group. :func:`build_plugin_manager` makes a fresh
one (tests use it to load entry points they install).

:func:`registered` collects what a ``register_*`` hook registers (formats, providers),
by name, with the same checks for every kind.

The default plugins are imported by name, because they sit above the code that uses
the manager (``transfer`` asks it for formats, ``runtime`` for providers; the built-in
formats are ``transfer`` code, the built-in providers ``runtime`` code).
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Protocol, TypeVar

import pluggy

from threadkeep import hookspecs
from threadkeep.errors import InvalidInput

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "build_plugin_manager",
    "plugin_manager",
    "registered",
]

ENTRY_POINT_GROUP = "threadkeep"
DEFAULT_PLUGINS = ("threadkeep.default_plugins.formats", "threadkeep.default_plugins.providers")


def build_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A new manager with the hook specs, the default plugins and (unless
    ``entry_points=False``) every installed ``threadkeep`` plugin."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    if entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return manager


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, built on first use."""
    return build_plugin_manager()


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...


N = TypeVar("N", bound=_Named)

# A registered name is typed in settings and on the command line.
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")


def registered(
    hook: str, kind: type[N], noun: str, manager: pluggy.PluginManager | None = None
) -> dict[str, N]:
    """Everything registered through the ``register_*`` hook called ``hook`` (each a
    ``kind``, a "``noun``" in errors), by name, in registration order (built-ins first).

    A name is 1-48 lower-case letters, digits and ``-``; an object of another type, a
    bad name, or two registrations of one name (named with both descriptions, so a
    plugin never silently replaces another's) is ``InvalidInput``. ``manager``: the
    process's plugin manager by default; tests pass their own.
    """
    found: dict[str, N] = {}

    def register(item: N) -> None:
        if not isinstance(item, kind):
            raise InvalidInput(
                f"a plugin registered {item!r:.80}, which is not a threadkeep {kind.__name__}"
            )
        if not isinstance(item.name, str) or not _NAME.fullmatch(item.name):
            raise InvalidInput(
                f"{noun} name {item.name!r:.60} must be 1-48 lower-case letters, digits "
                "or '-' (starting with a letter or digit)"
            )
        taken = found.get(item.name)
        if taken is not None:
            raise InvalidInput(
                f"two plugins register a {noun} named {item.name!r} "
                f"({taken.description!r:.80} and {item.description!r:.80}); "
                "uninstall one of them"
            )
        found[item.name] = item

    getattr((manager or plugin_manager()).hook, hook)(register=register)
    return found
