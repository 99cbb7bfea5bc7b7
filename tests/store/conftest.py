"""Fixtures of the store contract suite (on top of ``tests/conftest.py``).

* ``sqlite_url`` (overriding the root fixture): still a fresh SQLite file per test, but
  a copy of one that ``open_store`` migrated at the start of the session, so the
  suite's hundreds of tests do not each run the migrations (those have their own tests
  in ``tests/db``). PostgreSQL gets no such shortcut: there the schema's DDL itself is
  the cost, whether Alembic runs it or not.
* ``events``: every event the store under test publishes, in order. ``any_store`` wraps
  the very ``store`` fixture, so subscribing to ``store.broker`` sees the events of both
  the sync store and the async facade.
* ``small_store``: the store under test with ``max_message_bytes=100``, over both
  engines and both classes like ``any_store``, for the limit tests; its events go to
  ``small_broker``.
* ``stores``: :class:`~tests.store.custom_stores.Stores` on the test's database, sync
  or async, for tests that open stores with settings of their own (cap, cleanup,
  audit, storage warning).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.conftest import SyncOverAsync, _Loop
from tests.store.custom_stores import Stores
from threadkeep import AsyncConversationStore, ConversationStore, Settings, open_store
from threadkeep.events import Event, InProcessBroker

SMALL_LIMIT = 100


def _open_and_close(url: str, home: Path) -> None:
    """``open_store(url)`` (which migrates), with no ``THREADKEEP_*`` setting read.

    Session fixtures run before a test's environment is isolated, so this isolates its
    own: no variable and no real data directory is read.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("THREADKEEP_"):
                patch.delenv(name)
        patch.setenv("THREADKEEP_HOME", str(home))
        open_store(url, settings=Settings.load()).close()


@pytest.fixture(scope="session")
def _migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the current schema revision, made by ``open_store`` itself."""
    path = tmp_path_factory.mktemp("template") / "threadkeep.db"
    _open_and_close(f"sqlite:///{path}", tmp_path_factory.mktemp("template-home"))
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert leftovers == [], f"the template database was not closed cleanly: {leftovers}"
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite_file: Path) -> str:
    """A fresh SQLite file for this test (a copy of the migrated template), mode 0600."""
    path = tmp_path / "threadkeep.db"
    shutil.copyfile(_migrated_sqlite_file, path)
    os.chmod(path, 0o600)
    return f"sqlite:///{path}"


@pytest.fixture
def events(store: ConversationStore) -> Iterator[list[Event]]:
    """Events published by ``store`` (and so by ``any_store``) during the test."""
    received: list[Event] = []
    unsubscribe = store.broker.subscribe(received.append)
    try:
        yield received
    finally:
        unsubscribe()


@pytest.fixture
def small_broker() -> InProcessBroker:
    """The broker ``small_store`` publishes to."""
    return InProcessBroker()


@pytest.fixture(params=["sync", "async"])
def small_store(
    request: pytest.FixtureRequest, db_url: str, small_broker: InProcessBroker
) -> Iterator[ConversationStore]:
    """A store whose ``max_message_bytes`` is 100, through the sync or the async class."""
    settings = Settings.load(max_message_bytes=SMALL_LIMIT)
    with open_store(db_url, settings=settings, broker=small_broker) as opened:
        if request.param == "sync":
            yield opened
            return
        loop = _Loop()
        try:
            yield cast(ConversationStore, SyncOverAsync(AsyncConversationStore(opened), loop))
        finally:
            loop.close()


@pytest.fixture(params=["sync", "async"])
def stores(request: pytest.FixtureRequest, db_url: str) -> Iterator[Stores]:
    """Stores with the test's settings on its database, through the sync or async class."""
    with Stores(db_url, request.param) as opened:
        yield opened
