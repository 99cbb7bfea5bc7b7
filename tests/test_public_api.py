"""The public surface stays complete and the async facade stays a twin (STYLE 5, 9, 10).

* ``threadkeep.__all__`` is exactly the public names ``threadkeep/__init__.py`` binds (as
  httpx's ``tests/test_exported_members.py`` keeps its ``__all__``), and holds every
  name the library promises.
* :class:`AsyncConversationStore` has the same public methods, with the same
  signatures, as :class:`ConversationStore`: coroutines for every instance method but
  ``as_owner``, and the same properties (plus ``sync``, the facade's way down).
"""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import threadkeep
from threadkeep import AsyncConversationStore, ConversationStore

REQUIRED = {
    "open_store",
    "ConversationStore",
    "AsyncConversationStore",
    "Settings",
    "Conversation",
    "Message",
    "Run",
    "MessageDraft",
    "Page",
    "ThreadkeepError",
    "NotFound",
    "InvalidInput",
    "Conflict",
    "TooLarge",
    "StoreUnavailable",
}

# Dunder names that are part of the surface on purpose.
PUBLIC_DUNDERS = {"__version__"}

# The only member the async facade has that the sync store has not.
ASYNC_ONLY = {"sync"}

# Instance methods of the async facade that are not coroutines (they do no I/O).
NOT_COROUTINES = {"as_owner"}


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name in PUBLIC_DUNDERS


def _bound(statements: list[ast.stmt]) -> set[str]:
    """Names these module-level statements bind (not descending into functions/classes)."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(
                    n.id
                    for n in ast.walk(target)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                )
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for field in ("body", "orelse", "finalbody"):
                names |= _bound(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                names |= _bound(handler.body)
    return names


def _names_bound_by_init() -> set[str]:
    """Names bound at the top level of ``threadkeep/__init__.py``, read from its source."""
    source = Path(inspect.getfile(threadkeep)).read_text(encoding="utf-8")
    return _bound(ast.parse(source).body)


def test_all_is_exactly_the_public_names() -> None:
    """``__all__`` lists every public name ``__init__`` binds, and nothing else.

    A helper imported into ``__init__`` under a public name (say ``version``) becomes
    importable as ``from threadkeep import version``; bind such helpers under a
    private alias instead.
    """
    defined = {name for name in _names_bound_by_init() if _is_public(name) and name != "__all__"}
    assert set(threadkeep.__all__) == defined
    assert len(threadkeep.__all__) == len(set(threadkeep.__all__))


def test_runtime_namespace_matches_all() -> None:
    """At runtime the package exposes no public name beyond ``__all__`` (submodules aside)."""
    runtime = {
        name
        for name, value in vars(threadkeep).items()
        if _is_public(name)
        and not isinstance(value, types.ModuleType)
        and type(value).__module__ != "__future__"
    }
    assert runtime == set(threadkeep.__all__)


def test_all_holds_the_promised_names() -> None:
    """Every name the library promises is exported and importable."""
    assert set(threadkeep.__all__) >= REQUIRED
    for name in threadkeep.__all__:
        assert getattr(threadkeep, name) is not None, name
    assert issubclass(threadkeep.NotFound, threadkeep.ThreadkeepError)
    for error in ("InvalidInput", "Conflict", "TooLarge", "StoreUnavailable"):
        assert issubclass(getattr(threadkeep, error), threadkeep.ThreadkeepError)


# ---------------------------------------------------------------------------- async twin


def _members(cls: type) -> dict[str, Any]:
    """Public members of ``cls`` as stored on the class (staticmethod and property kept)."""
    found = {}
    for klass in reversed(cls.__mro__[:-1]):  # without object
        for name in vars(klass):
            if _is_public(name):
                found[name] = inspect.getattr_static(cls, name)
    return found


def _methods(cls: type) -> dict[str, Any]:
    return {n: m for n, m in _members(cls).items() if not isinstance(m, property)}


def _properties(cls: type) -> dict[str, property]:
    return {n: m for n, m in _members(cls).items() if isinstance(m, property)}


def _function(member: Any) -> Callable[..., Any]:
    function: Callable[..., Any] = (
        member.__func__ if isinstance(member, staticmethod | classmethod) else member
    )
    return function


def _same_type(annotation: Any) -> Any:
    """An annotation with the async class read as the sync one (``as_owner``'s return)."""
    return ConversationStore if annotation is AsyncConversationStore else annotation


def _signature(function: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(function, eval_str=True)
    return signature.replace(
        parameters=[
            p.replace(annotation=_same_type(p.annotation)) for p in signature.parameters.values()
        ],
        return_annotation=_same_type(signature.return_annotation),
    )


def test_async_store_has_the_same_methods() -> None:
    """Both classes have the same public method names."""
    assert set(_methods(AsyncConversationStore)) == set(_methods(ConversationStore))


def test_async_store_has_the_same_signatures() -> None:
    """Each async method takes exactly the sync method's parameters, defaults and types."""
    sync_methods = _methods(ConversationStore)
    async_methods = _methods(AsyncConversationStore)
    different = {
        name: (str(_signature(_function(member))), str(_signature(_function(async_methods[name]))))
        for name, member in sync_methods.items()
        if name in async_methods
        and _signature(_function(member)) != _signature(_function(async_methods[name]))
    }
    assert different == {}


def test_async_methods_are_coroutines() -> None:
    """Every async instance method is a coroutine function, except ``as_owner``.

    Static methods do no store I/O, and keep the sync store's kind.
    """
    sync_methods = _methods(ConversationStore)
    for name, member in _methods(AsyncConversationStore).items():
        kind = type(sync_methods.get(name))
        assert type(member) is kind, f"{name}: {type(member).__name__} != {kind.__name__}"
        if isinstance(member, staticmethod | classmethod):
            continue
        expected = name not in NOT_COROUTINES
        assert inspect.iscoroutinefunction(member) is expected, name
    for name in NOT_COROUTINES:
        assert not inspect.iscoroutinefunction(_function(sync_methods[name]))


def test_async_store_has_the_same_properties() -> None:
    """Properties match by name and type; ``sync`` is the facade's only extra."""
    sync_properties = _properties(ConversationStore)
    async_properties = _properties(AsyncConversationStore)
    assert set(async_properties) - set(sync_properties) == ASYNC_ONLY
    assert set(sync_properties) - set(async_properties) == set()
    for name, prop in sync_properties.items():
        assert prop.fget is not None
        async_prop = async_properties[name]
        assert async_prop.fget is not None
        assert _signature(prop.fget).return_annotation == (
            _signature(async_prop.fget).return_annotation
        ), name


def test_both_are_context_managers() -> None:
    """The sync store is a context manager, the async facade an async one."""
    assert callable(ConversationStore.__enter__) and callable(ConversationStore.__exit__)
    assert inspect.iscoroutinefunction(AsyncConversationStore.__aenter__)
    assert inspect.iscoroutinefunction(AsyncConversationStore.__aexit__)


def test_openers_take_the_same_arguments() -> None:
    """``open_async_store`` takes ``open_store``'s arguments and is a coroutine."""
    assert inspect.iscoroutinefunction(threadkeep.open_async_store)
    sync_parameters = _signature(threadkeep.open_store).parameters
    async_parameters = _signature(threadkeep.open_async_store).parameters
    assert sync_parameters == async_parameters
