"""Shared fixtures: a fresh database per test, on SQLite and PostgreSQL.

* Every test runs with ``THREADKEEP_HOME`` pointed at its own temporary directory and
  every other ``THREADKEEP_*`` variable (and ``COLUMNS``/``LINES``) removed, so nothing
  reads or writes the real user data directory (as llm's test suite redirects its user
  dir) and the CLI lays its output out for a pipe.
* ``sqlite_url`` is a fresh SQLite file; ``postgres_url`` a fresh PostgreSQL schema
  (``search_path`` set through the connection options), dropped afterwards.
* PostgreSQL is ``THREADKEEP_TEST_POSTGRES_URL`` or the local server
  (``postgresql+psycopg://postgres@127.0.0.1:5432/test``). In CI (``CI=true``) it must
  answer, or the PostgreSQL tests fail; elsewhere they are skipped with the reason.
* In CI, Hypothesis runs derandomized (the ``ci`` profile).
* ``db_url`` is parametrised over both engines, ``any_store`` additionally over the sync
  store and the async facade (through :class:`SyncOverAsync`).
* ``accounts`` is the users and keys of ``store``'s database; ``other_process`` the same
  database's accounts through a second, separately opened store.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import sqlalchemy as sa

from threadkeep import AsyncConversationStore, ConversationStore, Settings, open_store
from threadkeep.accounts import Accounts

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# In CI, property tests draw the same examples every run, so a landing is judged on the
# code, not on the luck of the draw; locally they explore new examples each run.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis.settings.load_profile("ci")


def postgres_base_url() -> str:
    return os.environ.get("THREADKEEP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


_pg_state: dict[str, str | None] = {}


def postgres_unavailable_reason() -> str | None:
    """``None`` when the test PostgreSQL answers, else why it does not (cached)."""
    if "reason" not in _pg_state:
        url = postgres_base_url()
        try:
            engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_state["reason"] = None
        except Exception as error:  # any failure means: no usable server
            _pg_state["reason"] = (
                f"PostgreSQL at {url} not available: {error.__class__.__name__}: {str(error)[:200]}"
            )
    return _pg_state["reason"]


def require_postgres() -> None:
    reason = postgres_unavailable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}; PostgreSQL tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("THREADKEEP_") and name != "THREADKEEP_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("THREADKEEP_HOME", str(home))
    # A test's output goes to a pipe, whose width is no terminal's: pytest-xdist's
    # workers export COLUMNS=80, which would make the CLI lay tables out for a terminal.
    for name in ("COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'threadkeep.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for this test; dropped afterwards."""
    require_postgres()
    base = postgres_base_url()
    schema = "tk_" + secrets.token_hex(6)
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once per engine."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[ConversationStore]:
    with open_store(db_url, settings=Settings.load()) as opened:
        yield opened


class _Loop:
    """A private event loop in a thread, so sync tests can drive the async store."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wrap() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncOverAsync:
    """Presents an :class:`AsyncConversationStore` with the sync store's interface.

    Every call goes through the real coroutine on a real event loop, so the contract
    suite checks the async facade with the very same assertions as the sync store.
    """

    def __init__(self, astore: AsyncConversationStore, loop: _Loop) -> None:
        self._astore = astore
        self._loop = loop

    @property
    def owner(self) -> str:
        return self._astore.owner

    def as_owner(self, owner: str) -> SyncOverAsync:
        return SyncOverAsync(self._astore.as_owner(owner), self._loop)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._astore, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(method(*args, **kwargs))

        return call


@pytest.fixture(params=["sync", "async"])
def any_store(request: pytest.FixtureRequest, store: ConversationStore) -> Iterator[Any]:
    """The store under test, through the sync class or through the async facade."""
    if request.param == "sync":
        yield store
        return
    loop = _Loop()
    try:
        yield SyncOverAsync(AsyncConversationStore(store), loop)
    finally:
        loop.close()


@pytest.fixture
def accounts(store: ConversationStore) -> Accounts:
    """The users and keys of ``store``'s database (``accounts.py``)."""
    return Accounts(store.database, store.settings)


@pytest.fixture
def other_process(db_url: str) -> Iterator[Accounts]:
    """Accounts over a second, separately opened store: another process's view."""
    with open_store(db_url, settings=Settings.load()) as other:
        yield Accounts(other.database, other.settings)


#: Test files that take tens of seconds each (a real browser, real servers, crashes,
#: fuzzing): collected first, so that pytest-xdist (``--dist loadfile``) starts them
#: first and the run does not end with one worker busy on a long file while the
#: others wait. The order of everything else is kept.
_LONG_FIRST = (
    "tests/web/test_page_",
    "tests/durability/",
    "tests/server/test_schemathesis.py",
    "tests/server/test_events_postgres.py",
    "tests/db/test_listing_plan.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath

    def long(item: pytest.Item) -> bool:
        where = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        return where.startswith(_LONG_FIRST)

    items.sort(key=lambda item: not long(item))  # stable: each file keeps its order
