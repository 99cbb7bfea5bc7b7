"""The plugin manager: threadkeep's hooks, its built-in plugins and installed ones.

:func:`plugin_manager` builds it once per process, on first use (nothing happens at
import time): the hook specifications of ``hookspecs.py``, the modules of
``DEFAULT_PLUGINS`` — the built-in formats register through the same hook as anyone
else's, as llm registers its own models — and every plugin installed under the
``threadkeep`` entry point group. :func:`build_plugin_manager` makes a fresh one (tests
use it to load entry points they install).

The default plugins are imported by name, because they sit above the code that uses
the manager (``transfer`` asks it for formats; the built-in formats are ``transfer``
code).
"""

from __future__ import annotations

import functools
import importlib

import pluggy

from threadkeep import hookspecs

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "build_plugin_manager", "plugin_manager"]

ENTRY_POINT_GROUP = "threadkeep"
DEFAULT_PLUGINS = ("threadkeep.default_plugins.formats",)


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
