"""The conversations API through real HTTP, on SQLite and PostgreSQL (SPEC S8.1, S8.4).

What is guarded here: create (201, ``Location``, a caller's id, a taken id 409, a bad
id 422); get; the 404 of another user's conversation being the 404 of a random id;
the listing with every filter and a cursor walk that sees each conversation once;
PATCH of every field (``null`` clears, fields not sent stay) and of the status;
delete (204, then 404); and that every error is ``{"code", "message"}``, a 4xx.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, add_user, app_state
from threadkeep.server.auth import LOCAL_OWNER

API = "/api/v1"
RANDOM_ID = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """``response`` is the error ``status`` with the one error shape and ``code``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    assert body["message"], body
    return body


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(f"{API}/conversations", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_get_and_location(client: TestClient) -> None:
    response = client.post(
        f"{API}/conversations",
        json={"title": "Lisbon", "mode": "batch", "context": {"root": "/w"}, "tags": ["trip"]},
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["title"] == "Lisbon" and made["mode"] == "batch"
    assert made["context"] == {"root": "/w"} and made["tags"] == ["trip"]
    assert made["status"] == "active" and made["message_count"] == 0 and made["last_seq"] == 0
    assert "owner" not in made
    assert response.headers["location"].endswith(f"{API}/conversations/{made['id']}")
    got = client.get(response.headers["location"])
    assert got.status_code == 200 and got.json() == made


def test_create_with_a_given_id_and_a_taken_one(client: TestClient) -> None:
    made = create(client, id=RANDOM_ID)
    assert made["id"] == RANDOM_ID
    assert_error(client.post(f"{API}/conversations", json={"id": RANDOM_ID}), 409, "conflict")


def test_bad_input_is_422_with_the_error_shape(client: TestClient) -> None:
    body = assert_error(
        client.post(f"{API}/conversations", json={"id": "not-a-uuid"}), 422, "invalid_input"
    )
    assert "UUID" in body["message"]
    body = assert_error(
        client.post(f"{API}/conversations", json={"titel": "typo"}), 422, "invalid_input"
    )
    assert "titel" in body["message"]
    # Strict types: a string is not a boolean.
    assert_error(client.post(f"{API}/conversations", json={"pinned": "yes"}), 422, "invalid_input")
    assert_error(client.post(f"{API}/conversations", json=[1, 2]), 422, "invalid_input")
    assert_error(client.get(f"{API}/conversations?limit=0"), 422, "invalid_input")
    assert_error(client.get(f"{API}/conversations?status=deleted"), 422, "invalid_input")


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        f"{API}/conversations", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid_input")


def test_a_malformed_id_is_422_whether_or_not_anything_exists(client: TestClient) -> None:
    for path in ("/conversations/nope", "/conversations/nope/messages", "/conversations/x/runs"):
        assert_error(client.get(API + path), 422, "invalid_input")


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_error(client.get(f"{API}/nothing-here"), 404, "not_found")
    assert_error(client.put(f"{API}/conversations"), 405, "method_not_allowed")


def test_another_users_conversation_is_the_404_of_a_random_id(make_client: MakeClient) -> None:
    """Guards against an error that reveals that another user's conversation exists."""
    client = make_client(loopback=False)
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    made = client.post(f"{API}/conversations", json={"title": "secret"}, headers=alice.headers)
    theirs = made.json()["id"]
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/messages"),
        ("GET", "/runs"),
        ("GET", "/export"),
    ):
        kwargs: dict[str, Any] = {"headers": bob.headers}
        if method == "PATCH":
            kwargs["json"] = {"title": "mine now"}
        foreign = client.request(method, f"{API}/conversations/{theirs}{suffix}", **kwargs)
        random = client.request(method, f"{API}/conversations/{RANDOM_ID}{suffix}", **kwargs)
        body = assert_error(foreign, 404, "not_found")
        assert body["message"].replace(theirs, "ID") == random.json()["message"].replace(
            RANDOM_ID, "ID"
        )
        assert foreign.headers.get("content-length") == random.headers.get("content-length")
    still = client.get(f"{API}/conversations/{theirs}", headers=alice.headers)
    assert still.json()["title"] == "secret"
    assert client.get(f"{API}/conversations", headers=bob.headers).json()["items"] == []


def test_listing_filters(client: TestClient) -> None:
    store = app_state(client).store.as_owner(LOCAL_OWNER)
    work = create(client, title="work", tags=["work"], mode="batch")
    home = create(client, title="home", tags=["home"])
    archived = create(client, title="old")
    client.patch(f"{API}/conversations/{archived['id']}", json={"status": "archived"})
    run = store.start_run(home["id"], provider="echo", model="echo-1")
    store.finish_run(run.id, status="completed")

    def titles(query: str) -> list[str]:
        response = client.get(f"{API}/conversations{query}")
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["items"]]

    assert sorted(titles("")) == ["home", "work"]
    assert titles("?status=archived") == ["old"]
    assert sorted(titles("?status=all")) == ["home", "old", "work"]
    assert titles("?tag=work") == ["work"]
    assert titles("?mode=batch") == ["work"]
    assert titles("?provider=echo") == ["home"]
    assert titles("?model=echo-1") == ["home"]
    created = dt.datetime.fromisoformat(work["created_at"])
    later = (created + dt.timedelta(days=1)).isoformat()
    earlier = (created - dt.timedelta(days=1)).isoformat()
    params = {"created_after": earlier, "created_before": later, "status": "all"}
    listed = client.get(f"{API}/conversations", params=params).json()["items"]
    assert len(listed) == 3
    assert client.get(f"{API}/conversations", params={"updated_after": later}).json() == {
        "items": [],
        "next_cursor": None,
    }
    # A datetime without a time zone is refused, not guessed.
    naive = client.get(f"{API}/conversations", params={"updated_after": "2025-01-01T00:00:00"})
    assert_error(naive, 422, "invalid_input")
    client.patch(f"{API}/conversations/{work['id']}", json={"pinned": True})
    assert titles("?pinned_first=true")[0] == "work"


def test_cursor_walk_sees_every_conversation_once(client: TestClient) -> None:
    made = {create(client, title=f"c{i}")["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get(f"{API}/conversations", params=params).json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
    assert_error(client.get(f"{API}/conversations?cursor=garbage"), 422, "invalid_input")


def test_patch_each_field_and_the_status(client: TestClient) -> None:
    made = create(client, title="before", context={"a": 1, "b": 2})
    url = f"{API}/conversations/{made['id']}"

    def patch(body: dict[str, Any]) -> dict[str, Any]:
        response = client.patch(url, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    assert patch({"title": "after"})["title"] == "after"
    assert patch({"context_merge": {"b": None, "c": 3}})["context"] == {"a": 1, "c": 3}
    assert patch({"context": {"z": 0}})["context"] == {"z": 0}
    assert patch({"pinned": True, "tags": ["x", "y"]})["pinned"] is True
    unchanged = patch({})
    assert unchanged["title"] == "after" and unchanged["tags"] == ["x", "y"]
    assert patch({"title": None})["title"] is None
    archived = patch({"status": "archived", "mode": "interactive"})
    assert archived["status"] == "archived" and archived["mode"] == "interactive"
    assert patch({"status": "active"})["status"] == "active"
    assert_error(client.patch(url, json={"status": "trash"}), 422, "invalid_input")
    both = client.patch(url, json={"context": {}, "context_merge": {}})
    assert_error(both, 422, "invalid_input")
    assert_error(client.patch(url, json={"title": "x" * 5000}), 422, "invalid_input")


def test_delete_is_204_then_404(client: TestClient) -> None:
    made = create(client)
    url = f"{API}/conversations/{made['id']}"
    response = client.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert_error(client.get(url), 404, "not_found")
    assert_error(client.delete(url), 404, "not_found")


def test_text_no_database_can_store_is_422_on_every_engine(client: TestClient) -> None:
    """Guards against a NUL character reaching PostgreSQL (a 503 there, not a 4xx)."""
    cid = create(client)["id"]
    nul = "a\x00b"
    for path, params in (
        ("/conversations", {"provider": nul}),
        ("/conversations", {"tag": nul}),
        ("/conversations", {"model": nul}),
        ("/search", {"q": "x", "model": nul}),
        ("/export", {"tag": nul}),
    ):
        assert_error(client.get(API + path, params=params), 422, "invalid_input")
    assert_error(client.post(f"{API}/conversations", json={"tags": [nul]}), 422, "invalid_input")
    keyed = {"role": "user", "content": "x", "idempotency_key": nul}
    response = client.post(f"{API}/conversations/{cid}/messages", json=keyed)
    assert_error(response, 422, "invalid_input")
