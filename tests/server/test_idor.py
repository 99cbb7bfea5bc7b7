"""IDOR: every route that takes an object id, tried by user B on user A's objects.

Generated from the app's own OpenAPI document, so a new route is covered the day it is
added: every path parameter must be one this test knows how to fill with an object of
user A (``A_OBJECTS``), and every operation with a required body or query parameter
must have an example here (``BODIES``/``QUERIES``) — otherwise the test fails and says
what to add. For each such operation user B's request on A's object must get exactly
the answer a random id gets (404, same body once the ids are blanked out), and A's
objects must be unchanged afterwards. The public share routes take a capability (the
token), not an object id: they are listed in ``PUBLIC`` and checked for a revoked
token instead.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from threadkeep.server import create_app
from threadkeep.settings import Settings

#: Path parameters the test fills with user A's objects, and how a random one looks.
A_OBJECTS = ("conversation_id", "message_id", "share_id", "run_id")

#: Routes whose id is a capability anyone holding it may use (by design, no owner).
PUBLIC = {"/share/{token}", "/share/{token}.json"}

#: Request bodies for operations that take one (kept minimal and valid).
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/api/v1/conversations/{conversation_id}"): {"title": "taken over"},
    ("post", "/api/v1/conversations/{conversation_id}/messages"): {
        "role": "user",
        "content": "injected by B",
    },
    ("patch", "/api/v1/conversations/{conversation_id}/messages/{message_id}"): {
        "content": "rewritten by B"
    },
    ("post", "/api/v1/conversations/{conversation_id}/shares"): None,
    ("post", "/api/v1/conversations/{conversation_id}/send"): {"text": "injected by B"},
}

#: Required query parameters of id-taking operations.
QUERIES: dict[tuple[str, str], dict[str, str]] = {}


@pytest.fixture
def api(db_url: str, tmp_path: Any) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A server that requires keys (not loopback), and keys of users alice and bob."""
    app = create_app(Settings(database_url=db_url), loopback=False)
    accounts = app.state.threadkeep.accounts
    keys = {name: accounts.add_user(name)[1] for name in ("alice", "bob")}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, keys


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _alice_objects(client: TestClient, key: str) -> dict[str, str]:
    made = client.post("/api/v1/conversations", json={"title": "alice's"}, headers=_auth(key))
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    message = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"role": "user", "content": "alice's secret plan"},
        headers=_auth(key),
    )
    assert message.status_code in (200, 201), message.text
    body = message.json()
    mid = (body[0] if isinstance(body, list) else body.get("items", [body])[0])["id"]
    sent = client.post(
        f"/api/v1/conversations/{cid}/send", json={"text": "alice's turn"}, headers=_auth(key)
    )
    assert sent.status_code == 200, sent.text
    # The send's stream: its run is in the data of its run.started event.
    started = next(
        json.loads(line.removeprefix("data: "))
        for line in sent.text.splitlines()
        if line.startswith("data: ") and '"type":"run.started"' in line
    )
    share = client.post(f"/api/v1/conversations/{cid}/shares", headers=_auth(key))
    assert share.status_code == 201, share.text
    return {
        "conversation_id": cid,
        "message_id": mid,
        "share_id": share.json()["id"],
        "run_id": started["data"]["run"]["id"],
        "token": share.json()["token"],
    }


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method, path, operation))
    return found


def _blank(text: str, ids: list[str]) -> str:
    for value in ids:
        text = text.replace(value, "<id>")
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)


def _request(
    client: TestClient, method: str, path: str, key: str, body: Any, query: dict[str, str]
) -> tuple[int, str]:
    kwargs: dict[str, Any] = {"headers": _auth(key), "params": query}
    if body is not None:
        kwargs["json"] = body
    response = client.request(method.upper(), path, **kwargs)
    return response.status_code, response.text


def test_every_id_route_is_a_404_for_another_user(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = api
    spec = client.get("/api/v1/openapi.json", headers=_auth(keys["alice"])).json()
    objects = _alice_objects(client, keys["alice"])
    before = client.get(
        f"/api/v1/conversations/{objects['conversation_id']}/messages",
        headers=_auth(keys["alice"]),
    ).json()

    checked = []
    problems = []
    for method, path, operation in _operations(spec):
        params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        if not params:
            continue
        if path in PUBLIC:
            continue
        names = [p["name"] for p in params]
        unknown = [name for name in names if name not in A_OBJECTS]
        if unknown:
            problems.append(f"{method.upper()} {path}: path parameter(s) {unknown} unknown here")
            continue
        needs_body = operation.get("requestBody", {}).get("required", False)
        if needs_body and (method, path) not in BODIES:
            problems.append(f"{method.upper()} {path}: needs an example body in BODIES")
            continue
        required_query = [
            p["name"]
            for p in operation.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        ]
        if required_query and (method, path) not in QUERIES:
            problems.append(f"{method.upper()} {path}: needs query values in QUERIES")
            continue
        body = BODIES.get((method, path))
        query = QUERIES.get((method, path), {})
        theirs = path
        random = path
        for name in names:
            theirs = theirs.replace("{" + name + "}", objects[name])
            random = random.replace("{" + name + "}", str(uuid.uuid4()))
        b_on_a = _request(client, method, theirs, keys["bob"], body, query)
        b_on_random = _request(client, method, random, keys["bob"], body, query)
        ids = [objects[name] for name in names]
        if b_on_a[0] != 404:
            problems.append(f"{method.upper()} {path}: bob on alice's object got {b_on_a[0]}")
        elif _blank(b_on_a[1], ids) != _blank(b_on_random[1], []):
            problems.append(
                f"{method.upper()} {path}: bob's 404 on alice's object differs from a random "
                f"id's: {b_on_a[1]!r} vs {b_on_random[1]!r}"
            )
        checked.append(f"{method.upper()} {path}")
    assert not problems, "\n".join(problems)
    # Every kind of object was tried, on reads and writes.
    assert any("{message_id}" in entry for entry in checked)
    assert "POST /api/v1/runs/{run_id}/cancel" in checked
    assert "POST /api/v1/conversations/{conversation_id}/send" in checked
    assert any(entry.startswith("DELETE") and "{share_id}" in entry for entry in checked)
    assert any(entry.startswith("PATCH") for entry in checked)

    # Alice's objects are untouched by everything bob tried.
    alice = _auth(keys["alice"])
    conversation = client.get(f"/api/v1/conversations/{objects['conversation_id']}", headers=alice)
    assert conversation.status_code == 200
    assert conversation.json()["title"] == "alice's"
    after = client.get(
        f"/api/v1/conversations/{objects['conversation_id']}/messages", headers=alice
    ).json()
    assert after == before
    run = client.get(f"/api/v1/runs/{objects['run_id']}", headers=alice)
    assert run.status_code == 200 and run.json()["status"] == "completed"
    shared = client.get(f"/share/{objects['token']}.json")
    assert shared.status_code == 200
    assert "alice's secret plan" in shared.text


def test_lists_search_and_export_never_show_another_users_data(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = api
    objects = _alice_objects(client, keys["alice"])
    bob = _auth(keys["bob"])
    client.post("/api/v1/conversations", json={"title": "bob's"}, headers=bob)
    for path, query in (
        ("/api/v1/conversations", {}),
        ("/api/v1/conversations", {"status": "all"}),
        ("/api/v1/search", {"q": "secret plan"}),
        ("/api/v1/search", {"q": "alice"}),
        ("/api/v1/shares", {}),
        ("/api/v1/export", {}),
        ("/api/v1/export", {"format": "jsonl"}),
        ("/api/v1/export", {"format": "markdown"}),
    ):
        response = client.get(path, params=query, headers=bob)
        assert response.status_code == 200, (path, query, response.text)
        for value in (objects["conversation_id"], objects["message_id"], "secret plan"):
            assert value not in response.text, (path, query)
    assert "bob's" in client.get("/api/v1/conversations", headers=bob).text


def test_a_revoked_share_token_is_a_404_like_a_random_one(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = api
    objects = _alice_objects(client, keys["alice"])
    revoked = client.delete(f"/api/v1/shares/{objects['share_id']}", headers=_auth(keys["alice"]))
    assert revoked.status_code == 204
    for path in sorted(PUBLIC):
        gone = client.get(path.replace("{token}", objects["token"]))
        random = client.get(path.replace("{token}", "x" * len(objects["token"])))
        assert gone.status_code == random.status_code == 404
        assert gone.text == random.text
