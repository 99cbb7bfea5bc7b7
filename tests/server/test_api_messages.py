"""The messages and runs API through real HTTP, on SQLite and PostgreSQL.

What is guarded here: an append retried with the same idempotency key (in the body or
the ``Idempotency-Key`` header) returns the first message and writes nothing; a batch
is all or nothing; ``expected_last_seq`` gives 409 when someone appended first; pages
by seq in both orders with a cursor walk that neither skips nor repeats; the tail
(``last=N``); get and update one message; size limits as 413; runs listed.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, app_state
from tests.server.test_api_conversations import API, assert_error, create
from threadkeep.server.auth import LOCAL_OWNER


def messages_url(conversation_id: str) -> str:
    return f"{API}/conversations/{conversation_id}/messages"


def append(client: TestClient, conversation_id: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("role", "user")
    response = client.post(messages_url(conversation_id), json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def seqs(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["seq"] for item in response.json()["items"]]


def test_append_one_returns_the_message(client: TestClient) -> None:
    cid = create(client)["id"]
    made = append(client, cid, content="hello", metadata={"raw": [1, 2]}, tokens=3)
    assert made["seq"] == 1 and made["content"] == "hello" and made["role"] == "user"
    assert made["metadata"] == {"raw": [1, 2]} and made["tokens"] == 3
    assert made["kind"] == "text" and made["status"] == "complete"
    conversation = client.get(f"{API}/conversations/{cid}").json()
    assert conversation["message_count"] == 1 and conversation["token_count"] == 3


def test_idempotent_retry_returns_the_same_message(client: TestClient) -> None:
    """Guards against a retried append (lost response) writing a duplicate."""
    cid = create(client)["id"]
    first = append(client, cid, content="once", idempotency_key="k-1")
    again = append(client, cid, content="once", idempotency_key="k-1")
    assert again == first
    header = {"Idempotency-Key": "k-2"}
    by_header = client.post(
        messages_url(cid), json={"role": "user", "content": "two"}, headers=header
    )
    retried = client.post(
        messages_url(cid), json={"role": "user", "content": "two"}, headers=header
    )
    assert by_header.status_code == retried.status_code == 201
    assert retried.json() == by_header.json() and by_header.json()["seq"] == 2
    assert client.get(f"{API}/conversations/{cid}").json()["message_count"] == 2
    differ = client.post(
        messages_url(cid),
        json={"role": "user", "content": "x", "idempotency_key": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert_error(differ, 422, "invalid_input")


def test_batch_is_atomic_and_ordered(client: TestClient) -> None:
    cid = create(client)["id"]
    batch = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "idempotency_key": "b-1"},
            {"role": "tool", "kind": "tool_result", "content": "{}"},
        ]
    }
    response = client.post(messages_url(cid), json=batch)
    assert response.status_code == 201, response.text
    assert [m["seq"] for m in response.json()["items"]] == [1, 2, 3]
    retried = client.post(
        messages_url(cid),
        json={"messages": [{"role": "assistant", "content": "a", "idempotency_key": "b-1"}]},
    )
    assert [m["seq"] for m in retried.json()["items"]] == [2]
    # A bad message anywhere in the batch: nothing of it is written.
    bad = {"messages": [{"role": "user", "content": "fine"}, {"role": "robot", "content": "x"}]}
    assert_error(client.post(messages_url(cid), json=bad), 422, "invalid_input")
    assert client.get(f"{API}/conversations/{cid}").json()["last_seq"] == 3
    header = client.post(messages_url(cid), json=batch, headers={"Idempotency-Key": "k"})
    assert_error(header, 422, "invalid_input")
    assert_error(client.post(messages_url(cid), json={"messages": []}), 422, "invalid_input")


def test_expected_last_seq_conflict_is_409(client: TestClient) -> None:
    """Guards against two writers both appending 'after seq 1' unnoticed."""
    cid = create(client)["id"]
    append(client, cid, content="first")
    ok = append(client, cid, content="mine", expected_last_seq=1)
    assert ok["seq"] == 2
    late = client.post(
        messages_url(cid), json={"role": "user", "content": "theirs", "expected_last_seq": 1}
    )
    body = assert_error(late, 409, "conflict")
    assert "2" in body["message"]
    stale_batch = {"messages": [{"role": "user", "content": "x"}], "expected_last_seq": 0}
    assert_error(client.post(messages_url(cid), json=stale_batch), 409, "conflict")
    assert client.get(f"{API}/conversations/{cid}").json()["last_seq"] == 2


def test_pages_in_both_orders_and_the_tail(client: TestClient) -> None:
    cid = create(client)["id"]
    batch = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(1, 11)]}
    assert client.post(messages_url(cid), json=batch).status_code == 201
    url = messages_url(cid)
    assert seqs(client.get(url)) == list(range(1, 11))
    assert seqs(client.get(url, params={"after_seq": 3, "before_seq": 7})) == [4, 5, 6]
    assert seqs(client.get(url, params={"order": "desc", "limit": 3})) == [10, 9, 8]
    assert seqs(client.get(url, params={"last": 3})) == [8, 9, 10]
    assert client.get(url, params={"last": 3}).json()["next_cursor"] is None
    for order, expected in (("asc", list(range(1, 11))), ("desc", list(range(10, 0, -1)))):
        walked: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"order": order, "limit": 4}
            if cursor is not None:
                params["cursor"] = cursor
            page = client.get(url, params=params).json()
            walked.extend(item["seq"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == expected
    # Exactly a page's worth left: no empty extra page.
    assert client.get(url, params={"limit": 10}).json()["next_cursor"] is None
    assert_error(client.get(url, params={"last": 3, "after_seq": 1}), 422, "invalid_input")
    assert_error(client.get(url, params={"cursor": "4", "after_seq": 1}), 422, "invalid_input")
    assert_error(client.get(url, params={"cursor": "x"}), 422, "invalid_input")
    assert_error(client.get(url, params={"order": "up"}), 422, "invalid_input")
    assert_error(client.get(url, params={"limit": 5000}), 422, "invalid_input")
    empty = create(client)["id"]
    assert client.get(messages_url(empty)).json() == {"items": [], "next_cursor": None}


def test_get_and_update_one_message(client: TestClient) -> None:
    cid = create(client)["id"]
    made = append(
        client, cid, role="assistant", content="partial", status="streaming", id="reply-1"
    )
    url = f"{messages_url(cid)}/reply-1"
    assert client.get(url).json() == made
    grown = client.patch(url, json={"content": "partial and more", "status": "complete"})
    assert grown.status_code == 200, grown.text
    body = grown.json()
    assert body["content"] == "partial and more" and body["status"] == "complete"
    assert body["seq"] == made["seq"]
    assert client.patch(url, json={"metadata": {"k": 1}}).json()["metadata"] == {"k": 1}
    cleared = client.patch(url, json={"metadata": None}).json()
    assert cleared["metadata"] is None and cleared["content"] == "partial and more"
    assert client.patch(url, json={}).json() == cleared
    assert_error(client.get(f"{messages_url(cid)}/missing"), 404, "not_found")
    assert_error(
        client.patch(f"{messages_url(cid)}/missing", json={"content": "x"}), 404, "not_found"
    )
    assert_error(client.patch(url, json={"status": "done"}), 422, "invalid_input")
    assert_error(client.patch(url, json={"tokens": -1}), 422, "invalid_input")


def test_a_message_over_the_size_limit_is_413(make_client: MakeClient) -> None:
    client = make_client(max_message_bytes=100)
    cid = create(client)["id"]
    too_big = client.post(messages_url(cid), json={"role": "user", "content": "x" * 101})
    assert_error(too_big, 413, "too_large")
    assert client.get(f"{API}/conversations/{cid}").json()["message_count"] == 0


def test_runs_are_listed_oldest_first(client: TestClient) -> None:
    cid = create(client)["id"]
    assert client.get(f"{API}/conversations/{cid}/runs").json() == {"items": []}
    store = app_state(client).store.as_owner(LOCAL_OWNER)
    first = store.start_run(cid, provider="echo", model="echo-1")
    store.finish_run(first.id, status="completed", usage={"input_tokens": 3})
    second = store.start_run(cid, provider="echo")
    response = client.get(f"{API}/conversations/{cid}/runs")
    assert response.status_code == 200, response.text
    runs = response.json()["items"]
    assert [run["id"] for run in runs] == [first.id, second.id]
    assert runs[0]["status"] == "completed" and runs[0]["usage"] == {"input_tokens": 3}
    assert runs[1]["status"] == "running" and runs[1]["finished_at"] is None
