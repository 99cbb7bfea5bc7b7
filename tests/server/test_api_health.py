"""The health route: up, the database readable, nothing private, no key needed.

What is guarded here: a load balancer can probe it without a key even once keys
exist, and what it answers names no path, URL, user or count.
"""

from __future__ import annotations

from tests.server.conftest import MakeClient, add_user, app_state
from tests.server.test_api_conversations import API
from threadkeep import __version__


def test_health_needs_no_key_and_reveals_nothing(make_client: MakeClient, db_url: str) -> None:
    client = make_client(loopback=False)
    add_user(client, "alice")
    response = client.get(f"{API}/health")
    assert response.status_code == 200, response.text
    engine = app_state(client).store.database.dialect
    assert response.json() == {
        "status": "ok",
        "version": __version__,
        "database": {"engine": engine, "reachable": True},
    }
    assert engine in ("sqlite", "postgresql")
    path = db_url.split("///")[-1].split("?")[0]
    assert path not in response.text and "alice" not in response.text
