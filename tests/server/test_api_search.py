"""Search through real HTTP, on SQLite and PostgreSQL (SPEC S5, S8.1).

What is guarded here: hits with highlighted snippets, title hits, filters, grouping,
a cursor walk, a query with no word as 422 (any other text never errors), and that a
user never finds another user's messages.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, add_user
from tests.server.test_api_conversations import API, assert_error, create
from tests.server.test_api_messages import messages_url


def search(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(f"{API}/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_hits_snippets_filters_and_groups(client: TestClient) -> None:
    trip = create(client, title="Lisbon trip")["id"]
    food = create(client, title="food")["id"]
    client.post(
        messages_url(trip),
        json={
            "messages": [
                {"role": "user", "content": "where to eat in lisbon?"},
                {"role": "assistant", "content": "Try the pastries in Belém, Lisbon."},
            ]
        },
    )
    client.post(messages_url(food), json={"role": "user", "content": "lisbon pastries recipe"})

    found = search(client, q="lisbon")
    title_hits = [hit for hit in found["items"] if hit["message_id"] is None]
    assert [hit["conversation_id"] for hit in title_hits] == [trip]
    message_hits = [hit for hit in found["items"] if hit["message_id"] is not None]
    assert len(message_hits) == 3
    assert all("<mark>" in hit["snippet"].lower() for hit in found["items"])
    assert found["groups"] is None

    assistant = search(client, q="lisbon", role="assistant")["items"]
    assert [hit["role"] for hit in assistant] == ["assistant"]
    assert search(client, q='"pastries recipe"')["items"][0]["conversation_id"] == food
    assert search(client, q="lisbon -pastries")["items"]

    grouped = search(client, q="pastries", group="true")
    assert {group["conversation_id"] for group in grouped["groups"]} == {trip, food}
    assert sum(len(group["hits"]) for group in grouped["groups"]) == len(grouped["items"])

    client.patch(f"{API}/conversations/{food}", json={"status": "archived"})
    assert {hit["conversation_id"] for hit in search(client, q="pastries")["items"]} == {trip}
    assert {h["conversation_id"] for h in search(client, q="pastries", status="all")["items"]} == {
        trip,
        food,
    }


def test_cursor_walk(client: TestClient) -> None:
    cid = create(client)["id"]
    batch = {"messages": [{"role": "user", "content": f"needle number {i}"} for i in range(7)]}
    client.post(messages_url(cid), json=batch)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "needle", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = search(client, **params)
        seen.extend(hit["message_id"] for hit in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 == len(set(seen))
    # A cursor belongs to its query.
    assert_error(
        client.get(f"{API}/search", params={"q": "other", "cursor": "bogus"}), 422, "invalid_input"
    )


def test_queries_people_type_never_error(client: TestClient) -> None:
    for text in ('"unbalanced', "a AND (b OR", "c++ -- ;DROP TABLE", "*", "-"):
        response = client.get(f"{API}/search", params={"q": text})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:
            assert_error(response, 422, "invalid_input")
    assert_error(client.get(f"{API}/search", params={"q": "   "}), 422, "invalid_input")
    assert_error(client.get(f"{API}/search"), 422, "invalid_input")


def test_never_finds_another_users_messages(make_client: MakeClient) -> None:
    client = make_client(loopback=False)
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    made = client.post(f"{API}/conversations", json={"title": "zebra"}, headers=alice.headers)
    cid = made.json()["id"]
    client.post(
        messages_url(cid), json={"role": "user", "content": "zebra crossing"}, headers=alice.headers
    )
    mine = client.get(f"{API}/search", params={"q": "zebra"}, headers=alice.headers).json()
    assert len(mine["items"]) == 2
    theirs = client.get(f"{API}/search", params={"q": "zebra"}, headers=bob.headers).json()
    assert theirs == {"items": [], "next_cursor": None, "groups": None}
