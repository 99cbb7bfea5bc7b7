"""Share links over HTTP (SPEC S6.5, S8.2), on both engines.

What is guarded here:

* making a link answers 201 with its id, URL and token (the URL from ``public_url``,
  else the request's base URL), and the answer is not cached;
* the public page and JSON need no key, mask secrets planted in the title and the
  content, escape every value, send the no-store / no-referrer / noindex headers, and
  reveal nothing else (no owner, no conversation id, no other conversation);
* a revoked link, and a link whose conversation was deleted, are 404 exactly like a
  random token;
* user B gets a 404 on user A's conversation and share, identical to a random id's.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, User, add_user, app_state
from threadkeep import MessageDraft
from threadkeep.ids import new_id

SECRET = "sk-proj-" + "Zx9Wv7Ut5Sr3Qp1On9Ml7Kj5Ih3Gf1Ed"
RANDOM_TOKEN = "R" * 43


def _plant(client: TestClient, owner: str) -> str:
    """A conversation of ``owner`` with a secret in its title and content, and markup."""
    store = app_state(client).store.as_owner(owner)
    conversation = store.create_conversation(
        title=f"<b>ops</b> {SECRET}", context={"repo": "confidential-repo"}
    )
    store.append_messages(
        conversation.id,
        [
            MessageDraft(role="user", content=f'<script>alert("x")</script> key={SECRET}'),
            MessageDraft(role="assistant", content="Use the vault & rotate it."),
        ],
    )
    store.create_conversation(title="another conversation entirely")
    return conversation.id


def _share(client: TestClient, cid: str, user: User | None = None) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/conversations/{cid}/shares", headers=user.headers if user else None
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _without_ids(body: dict[str, Any], *ids: str) -> dict[str, Any]:
    message = body["message"]
    for value in ids:
        message = message.replace(value, "<id>")
    return {**body, "message": message}


def test_making_a_link(client: TestClient) -> None:
    cid = _plant(client, "local")
    made = _share(client, cid)
    assert {"id", "url", "token", "created_at"} <= set(made)
    assert made["url"] == f"http://testserver/share/{made['token']}"
    assert made["conversation_id"] == cid and made["message_count"] == 2
    assert made["redacted"] == {"openai": 2}
    assert SECRET not in str(made)
    listed = client.get("/api/v1/shares").json()
    assert [item["id"] for item in listed["items"]] == [made["id"]]
    assert "token" not in listed["items"][0] and listed["next_cursor"] is None


def test_the_url_starts_with_public_url(make_client: MakeClient) -> None:
    client = make_client(public_url="https://chats.example.org/tk/")
    made = _share(client, _plant(client, "local"))
    assert made["url"] == f"https://chats.example.org/tk/share/{made['token']}"


def test_the_public_json_is_redacted_and_reveals_nothing_else(client: TestClient) -> None:
    cid = _plant(client, "local")
    made = _share(client, cid)
    response = client.get(f"/share/{made['token']}.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]
    data = response.json()
    assert data["title"] == "<b>ops</b> [REDACTED:openai]"
    assert [m["content"] for m in data["messages"]] == [
        '<script>alert("x")</script> key=[REDACTED:openai]',
        "Use the vault & rotate it.",
    ]
    for leak in (SECRET, cid, made["id"], "local", "confidential-repo", "another conversation"):
        assert leak not in response.text


def test_the_public_page_is_redacted_escaped_and_reveals_nothing_else(
    client: TestClient,
) -> None:
    cid = _plant(client, "local")
    made = _share(client, cid)
    page = client.get(f"/share/{made['token']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    assert "[REDACTED:openai]" in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&lt;b&gt;ops&lt;/b&gt;" in text and "vault &amp; rotate" in text
    assert "<script" not in text and "<b>" not in text
    for leak in (SECRET, cid, made["id"], "local", "confidential-repo", "another conversation"):
        assert leak not in text


def test_markup_in_roles_and_kinds_cannot_break_out(client: TestClient) -> None:
    """Every value of the snapshot is escaped, attributes included."""
    from threadkeep.server.api.shares import render_page
    from threadkeep.sharing import SharedMessage, Snapshot

    at = app_state(client).store.create_conversation().created_at
    evil = '"><script>x</script>'
    html = render_page(Snapshot(evil, at, at, (SharedMessage(evil, evil, evil, evil, at),)))
    assert evil not in html and "<script" not in html
    assert html.count("&quot;&gt;&lt;script&gt;x&lt;/script&gt;") == 8


def test_revoked_and_deleted_links_are_404_like_a_random_token(client: TestClient) -> None:
    cid = _plant(client, "local")
    revoked, deleted = _share(client, cid), _share(client, cid)
    other = app_state(client).store.as_owner("local").create_conversation(title="gone")
    on_deleted = _share(client, other.id)
    assert client.delete(f"/api/v1/shares/{revoked['id']}").status_code == 204
    app_state(client).store.as_owner("local").delete_conversation(other.id)
    random_json = client.get(f"/share/{RANDOM_TOKEN}.json")
    random_page = client.get(f"/share/{RANDOM_TOKEN}")
    assert random_json.status_code == random_page.status_code == 404
    assert random_json.json()["code"] == "not_found"
    for token in (revoked["token"], on_deleted["token"]):
        assert client.get(f"/share/{token}.json").json() == random_json.json()
        page = client.get(f"/share/{token}")
        assert (page.status_code, page.json()) == (404, random_page.json())
    assert client.get(f"/share/{deleted['token']}.json").status_code == 200
    assert client.delete(f"/api/v1/shares/{revoked['id']}").status_code == 404


def test_another_user_gets_the_404_of_a_random_id(client: TestClient) -> None:
    """Guards against an IDOR: bob uses alice's conversation id and share id."""
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    cid = _plant(client, "alice")
    made = _share(client, cid, alice)
    unknown = new_id()

    mine = client.post(f"/api/v1/conversations/{cid}/shares", headers=bob.headers)
    random = client.post(f"/api/v1/conversations/{unknown}/shares", headers=bob.headers)
    assert mine.status_code == random.status_code == 404
    assert _without_ids(mine.json(), cid) == _without_ids(random.json(), unknown)

    mine = client.delete(f"/api/v1/shares/{made['id']}", headers=bob.headers)
    random = client.delete(f"/api/v1/shares/{unknown}", headers=bob.headers)
    assert mine.status_code == random.status_code == 404
    assert _without_ids(mine.json(), made["id"]) == _without_ids(random.json(), unknown)

    assert client.get("/api/v1/shares", headers=bob.headers).json()["items"] == []
    listed = client.get(f"/api/v1/shares?conversation_id={cid}", headers=bob.headers)
    assert listed.json()["items"] == []
    # Alice's link still works, and is still hers.
    assert client.get(f"/share/{made['token']}.json").status_code == 200
    assert len(client.get("/api/v1/shares", headers=alice.headers).json()["items"]) == 1


def test_listing_pages_and_bad_input(client: TestClient) -> None:
    cid = _plant(client, "local")
    ids = [_share(client, cid)["id"] for _ in range(3)]
    first = client.get("/api/v1/shares?limit=2").json()
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    rest = client.get(f"/api/v1/shares?limit=2&cursor={first['next_cursor']}").json()
    assert [item["id"] for item in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    for query in ("limit=0", "limit=abc", "cursor=garbage", "conversation_id=nope"):
        response = client.get(f"/api/v1/shares?{query}")
        assert response.status_code == 422, query
        assert response.json()["code"] == "invalid_input"
    bad = client.post("/api/v1/conversations/not-a-uuid/shares")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert client.delete("/api/v1/shares/not-a-uuid").status_code == 422


def test_tokens_in_urls_match_the_documented_shape(client: TestClient) -> None:
    made = _share(client, _plant(client, "local"))
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", made["token"])
    assert client.get(f"/share/{made['token']}.txt").status_code == 404
