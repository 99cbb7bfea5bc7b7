"""``GET /metrics`` and what fills it (SPEC S7.6), through the real app.

Guards against: ids or share tokens becoming labels (unbounded series, and a share
token readable by anyone who can scrape), store operations counted twice or not at
all, gauges that do not follow the data, a scrape that fails with the database, and
metrics served without a key once keys exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import MakeClient, add_user, app_state
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.errors import NotFound, StoreUnavailable
from threadkeep.server.metrics import UNMATCHED, InstrumentedStore, Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CONVERSATION_ROUTE = "/api/v1/conversations/{conversation_id}"


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples) -> set[str]:
    return {label for _, labels in samples for _, label in labels}


def requests(samples: Samples, method: str, route: str, status: str) -> float:
    return value(
        samples, "threadkeep_http_requests_total", method=method, route=route, status=status
    )


def operations(samples: Samples, operation: str, outcome: str) -> float:
    return value(samples, "threadkeep_store_operations_total", operation=operation, outcome=outcome)


def test_requests_and_store_operations_are_counted_by_route_template(
    make_client: MakeClient,
) -> None:
    client = make_client()
    created = client.post("/api/v1/conversations", json={"title": "counted"})
    assert created.status_code == 201
    conversation_id = created.json()["id"]
    assert client.get(f"/api/v1/conversations/{conversation_id}").status_code == 200
    assert client.get(f"/api/v1/conversations/{conversation_id}").status_code == 200
    unknown = "01900000-0000-7000-8000-000000000000"
    assert client.get(f"/api/v1/conversations/{unknown}").status_code == 404
    # The append route is async (the async store): its calls are counted the same way.
    messages = f"/api/v1/conversations/{conversation_id}/messages"
    appended = client.post(messages, json={"role": "user", "content": "hi"})
    assert appended.status_code == 201
    stale = client.post(messages, json={"role": "user", "content": "x", "expected_last_seq": 0})
    assert stale.status_code == 409
    token = secrets.token_urlsafe(32)
    assert client.get(f"/share/{token}").status_code == 404
    assert client.get("/no/such/path-abc123").status_code == 404
    assert client.request("BREW", "/api/v1/conversations").status_code == 405

    samples = scrape(client)
    assert requests(samples, "POST", "/api/v1/conversations", "2xx") == 1
    assert requests(samples, "GET", CONVERSATION_ROUTE, "2xx") == 2
    assert requests(samples, "GET", CONVERSATION_ROUTE, "4xx") == 1
    assert requests(samples, "GET", "/share/{token}", "4xx") == 1
    assert requests(samples, "GET", UNMATCHED, "4xx") == 1
    assert requests(samples, "OTHER", "/api/v1/conversations", "4xx") == 1
    duration = "threadkeep_http_request_duration_seconds_count"
    assert value(samples, duration, method="GET", route=CONVERSATION_ROUTE, status="2xx") == 2

    assert operations(samples, "create_conversation", "ok") == 1
    assert operations(samples, "get_conversation", "ok") == 2
    assert operations(samples, "get_conversation", "not_found") == 1
    assert operations(samples, "append_message", "ok") == 1
    assert operations(samples, "append_message", "conflict") == 1
    seconds = "threadkeep_store_operation_duration_seconds_count"
    assert value(samples, seconds, operation="get_conversation", outcome="ok") == 2
    assert value(samples, seconds, operation="append_message", outcome="conflict") == 1

    labels = " ".join(label_values(samples))
    for raw in (conversation_id, unknown, token, "path-abc123", "BREW"):
        assert raw not in labels


def test_gauges_follow_the_data_of_every_owner(make_client: MakeClient) -> None:
    client = make_client()
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    counts = {alice: 3, bob: 2}
    for user, messages in counts.items():
        made = client.post("/api/v1/conversations", json={}, headers=user.headers)
        conversation_id = made.json()["id"]
        for number in range(messages):
            appended = client.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"role": "user", "content": f"message {number}", "tokens": 5},
                headers=user.headers,
            )
            assert appended.status_code == 201, appended.text
    archived = client.post("/api/v1/conversations", json={}, headers=bob.headers).json()["id"]
    patched = client.patch(
        f"/api/v1/conversations/{archived}", json={"status": "archived"}, headers=bob.headers
    )
    assert patched.status_code == 200, patched.text

    samples = scrape(client, alice.headers)
    assert value(samples, "threadkeep_database_up") == 1
    assert value(samples, "threadkeep_conversations", status="active") == 2
    assert value(samples, "threadkeep_conversations", status="archived") == 1
    assert value(samples, "threadkeep_conversations", status="trash") == 0
    assert value(samples, "threadkeep_messages") == 5
    assert value(samples, "threadkeep_tokens") == 25
    size = value(samples, "threadkeep_database_size_bytes")
    assert size == app_state(client).store.database_size() > 0
    assert value(samples, "threadkeep_storage_warning") == 0

    client.post(
        f"/api/v1/conversations/{archived}/messages",
        json={"role": "assistant", "content": "one more"},
        headers=bob.headers,
    )
    assert value(scrape(client, bob.headers), "threadkeep_messages") == 6


def test_storage_warning_gauge(make_client: MakeClient) -> None:
    client = make_client(storage_warning_bytes=1)
    assert value(scrape(client), "threadkeep_storage_warning") == 1


def test_metrics_need_a_key_once_keys_exist(make_client: MakeClient) -> None:
    client = make_client()
    assert client.get("/metrics").status_code == 200  # loopback, no keys: the local user
    user = add_user(client, "operator")
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    wrong = client.get("/metrics", headers={"Authorization": "Bearer tk_0000000000000000_nope"})
    assert wrong.status_code == 401
    assert client.get("/metrics", headers=user.headers).status_code == 200


def test_metrics_need_a_key_off_loopback(make_client: MakeClient) -> None:
    client = make_client(loopback=False)
    assert client.get("/metrics").status_code == 401


def test_server_errors_are_counted(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(raise_server_exceptions=False)
    conversation_id = client.post("/api/v1/conversations", json={}).json()["id"]

    def broken(self: ConversationStore, conversation_id: str) -> None:
        raise RuntimeError("forced")

    monkeypatch.setattr(ConversationStore, "get_conversation", broken)
    assert client.get(f"/api/v1/conversations/{conversation_id}").status_code == 500
    monkeypatch.undo()
    samples = scrape(client)
    assert requests(samples, "GET", CONVERSATION_ROUTE, "5xx") == 1
    assert operations(samples, "get_conversation", "internal") == 1


def test_a_scrape_survives_the_database(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    store = app_state(client).store

    def down(*, all_owners: bool = False) -> None:
        raise StoreUnavailable("database x: the database cannot be used (planted detail)")

    monkeypatch.setattr(store, "owner_stats", down)
    samples = scrape(client)
    assert value(samples, "threadkeep_database_up") == 0
    assert ("threadkeep_messages", frozenset()) not in samples
    assert requests(samples, "GET", "/metrics", "2xx") == 0  # counted once answered
    assert "StoreUnavailable" in caplog.text
    assert "planted detail" not in caplog.text


def test_routes_added_after_install_are_named(make_client: MakeClient) -> None:
    client = make_client()
    app = client.app
    assert isinstance(app, FastAPI)

    def late(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    app.add_api_route("/late/{item_id}", late)
    assert client.get("/late/abc").status_code == 200
    assert requests(scrape(client), "GET", "/late/{item_id}", "2xx") == 1


def test_openmetrics_when_asked(make_client: MakeClient) -> None:
    client = make_client()
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


# ------------------------------------------------------------ the instrumented store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[ConversationStore]:
    with open_store(tmp_path / "metrics.db", settings=Settings.load()) as opened:
        yield opened


def exposition(metrics: Metrics) -> Samples:
    body, _ = metrics.exposition(None)
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def test_the_instrumented_store_is_the_store(sqlite_store: ConversationStore) -> None:
    metrics = Metrics(sqlite_store)
    store = metrics.instrument(sqlite_store.as_owner("alice"))
    assert isinstance(store, InstrumentedStore)
    assert store.owner == "alice"
    assert store.settings is sqlite_store.settings
    made = store.create_conversation(title="through the proxy")
    assert store.get_conversation(made.id) == made
    assert sqlite_store.as_owner("alice").get_conversation(made.id) == made
    with pytest.raises(NotFound):
        store.get_conversation("01900000-0000-7000-8000-000000000000")
    # Calls the store makes to itself (apply_cleanup plans first) count once.
    store.apply_cleanup()
    other = store.as_owner("bob")
    assert not isinstance(other, InstrumentedStore)
    other.create_conversation()

    samples = exposition(metrics)
    assert operations(samples, "create_conversation", "ok") == 1
    assert operations(samples, "get_conversation", "ok") == 1
    assert operations(samples, "get_conversation", "not_found") == 1
    assert operations(samples, "apply_cleanup", "ok") == 1
    assert operations(samples, "plan_cleanup", "ok") == 0
    assert value(samples, "threadkeep_conversations", status="active") == 2


def test_apps_keep_their_own_registries(sqlite_store: ConversationStore) -> None:
    first, second = Metrics(sqlite_store), Metrics(sqlite_store)
    first.instrument(sqlite_store).owner_stats()
    assert operations(exposition(first), "owner_stats", "ok") == 1
    assert operations(exposition(second), "owner_stats", "ok") == 0
