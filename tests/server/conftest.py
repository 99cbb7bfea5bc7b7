"""Fixtures of the server tests: a real app over a fresh database, and its users.

* ``make_client(loopback=True, raise_server_exceptions=True, base_url=...,
  follow_redirects=True, **settings)`` starts
  ``create_app`` over ``db_url`` (so on SQLite and PostgreSQL) with those settings and
  returns a started ``TestClient`` (lifespan run); every client is closed at teardown.
  ``loopback=False`` is a server bound to a public address: every request needs a key.
* ``client``: ``make_client()`` — loopback with no keys, so requests are the local
  user (``auth.LOCAL_OWNER``) without any header.
* ``add_user(client, name)`` makes a user with a new API key through the app's own
  ``Accounts`` and returns a :class:`User`; pass ``user.headers`` with each request.
  Once any key exists, every request needs one, loopback or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from threadkeep import Settings
from threadkeep.server.app import create_app
from threadkeep.server.state import ServerState


@dataclass(frozen=True)
class User:
    """A user the test made, with the one copy of their API key."""

    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """The headers that authenticate as this user."""
        return {"Authorization": f"Bearer {self.key}"}


def app_state(client: TestClient) -> ServerState:
    """The ``ServerState`` of the app behind ``client`` (its store, accounts, ...)."""
    app = client.app
    assert isinstance(app, FastAPI)
    state: ServerState = app.state.threadkeep
    return state


def add_user(client: TestClient, name: str) -> User:
    """A new API key for user ``name`` (made if new) on the app behind ``client``."""
    _info, key = app_state(client).accounts.add_user(name)
    return User(name, key)


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(db_url: str) -> Iterator[MakeClient]:
    """``make_client(loopback=True, raise_server_exceptions=True, base_url=...,
    follow_redirects=True, **settings)``."""
    clients: list[TestClient] = []

    def make(
        *,
        loopback: bool = True,
        raise_server_exceptions: bool = True,
        base_url: str = "http://testserver",
        follow_redirects: bool = True,
        **settings: Any,
    ) -> TestClient:
        app = create_app(Settings.load(database_url=db_url, **settings), loopback=loopback)
        client = TestClient(
            app,
            raise_server_exceptions=raise_server_exceptions,
            base_url=base_url,
            follow_redirects=follow_redirects,
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """A loopback app with no keys: every request is the local user."""
    return make_client()
