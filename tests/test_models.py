"""The models the store hands out are immutable values, however they were built.

``trusted_builder`` makes models on the read paths without the frozen ``__init__``;
these tests guard that what it makes is indistinguishable from ``cls(...)``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
from typing import Any, cast

import pytest

from threadkeep import Conversation, Message
from threadkeep.models import ForkedFrom, trusted_builder

NOW = dt.datetime(2026, 11, 21, 5, 30, tzinfo=dt.UTC)
MESSAGE_VALUES = ("m1", "c1", 3, "user", "text", "hi", "complete", {"k": [1]}, 7, None, NOW, NOW)
CONVERSATION_VALUES = (
    "c1", "alice", "Title", "chat", "echo", None, "m", {"a": 1}, "active", True, ("x",),
    NOW, NOW, 3, 3, 7, "hi", ForkedFrom("c0", 2), None,
)  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "values"), [(Message, MESSAGE_VALUES), (Conversation, CONVERSATION_VALUES)]
)
def test_built_models_are_the_real_thing(cls: type, values: tuple[object, ...]) -> None:
    """Type, equality, hash, repr, copy and pickle all match ``cls(...)``."""
    built = cast(Any, trusted_builder(cls))(*values)
    plain = cast(Any, cls)(*values)
    assert type(built) is cls
    assert built == plain
    assert repr(built) == repr(plain)
    assert pickle.loads(pickle.dumps(built)) == plain  # noqa: S301 - our own bytes
    assert copy.copy(built) == plain
    if cls is Message:
        assert hash(trusted_builder(cls)(*values[:7], None, *values[8:])) == hash(
            cls(*values[:7], None, *values[8:])
        )


def test_built_models_stay_frozen() -> None:
    """A model built the fast way refuses changes and replaces like any other."""
    built = trusted_builder(Message)(*MESSAGE_VALUES)
    replaced = dataclasses.replace(built, content="new")
    assert type(replaced) is Message
    assert replaced.content == "new"
    assert dataclasses.replace(replaced, content="hi") == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.content = "changed"  # type: ignore[misc]
    assert built.content == "hi"
