"""Who a request is (SPEC S8.2), through real HTTP on both engines.

What is guarded here:

* loopback with no keys: the local user, no header needed;
* once any key exists, a request without a key is 401 even on loopback — also when
  the key was added by the CLI while the server runs;
* a server bound to another address needs a key even when none exists;
* a valid key is its user (and only sees that user's data); a revoked, unknown or
  malformed key, or another scheme, is 401 with ``WWW-Authenticate: Bearer`` and the
  ``{"code", "message"}`` body;
* the public share pages need no key, whatever the rules for the API.

The routes exercised are the share routes (``/api/v1/shares``), which resolve the
owner through the same ``Owner``/``OwnerStore`` dependency as every other route.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.server.conftest import MakeClient, add_user, app_state
from threadkeep.accounts import Accounts
from threadkeep.cli.main import app as cli_app
from threadkeep.server.auth import LOCAL_OWNER

SHARES = "/api/v1/shares"


def _conversation(client: TestClient, owner: str, title: str = "t") -> str:
    return app_state(client).store.as_owner(owner).create_conversation(title=title).id


def invoke(*args: str) -> Result:
    """``threadkeep ARGS``, in-process, as an operator would run it beside the server."""
    return CliRunner().invoke(cli_app, list(args))


def _assert_unauthorized(response: Any) -> None:
    # (Any: TestClient answers with the httpx package Starlette found, httpx or httpx2.)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == "unauthorized"


def test_loopback_without_keys_is_the_local_user(client: TestClient) -> None:
    cid = _conversation(client, LOCAL_OWNER)
    made = client.post(f"/api/v1/conversations/{cid}/shares")
    assert made.status_code == 201, made.text
    assert [item["id"] for item in client.get(SHARES).json()["items"]] == [made.json()["id"]]


def test_once_a_key_exists_loopback_needs_one_too(client: TestClient) -> None:
    """Guards against the loopback exemption outliving the first key."""
    alice = add_user(client, "alice")
    _assert_unauthorized(client.get(SHARES))
    assert client.get(SHARES, headers=alice.headers).status_code == 200


def test_a_key_added_by_the_cli_while_serving_counts_at_once(
    client: TestClient, db_url: str
) -> None:
    assert client.get(SHARES).status_code == 200
    result = invoke("--db", db_url, "users", "add", "alice")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    _assert_unauthorized(client.get(SHARES))
    assert client.get(SHARES, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    revoked = invoke("--db", db_url, "users", "revoke", "alice", "--yes")
    assert revoked.exit_code == 0, revoked.stderr
    _assert_unauthorized(client.get(SHARES, headers={"Authorization": f"Bearer {key}"}))
    # No unrevoked key is left: loopback serves the local user again.
    assert client.get(SHARES).status_code == 200


def test_a_public_bind_needs_a_key_even_when_none_exists(make_client: MakeClient) -> None:
    public = make_client(loopback=False)
    _assert_unauthorized(public.get(SHARES))
    alice = add_user(public, "alice")
    _assert_unauthorized(public.get(SHARES))
    assert public.get(SHARES, headers=alice.headers).status_code == 200


def test_a_key_is_its_user_and_sees_only_their_data(client: TestClient) -> None:
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    cid = _conversation(client, "alice")
    made = client.post(f"/api/v1/conversations/{cid}/shares", headers=alice.headers)
    assert made.status_code == 201
    assert len(client.get(SHARES, headers=alice.headers).json()["items"]) == 1
    assert client.get(SHARES, headers=bob.headers).json()["items"] == []
    by_bob = client.post(f"/api/v1/conversations/{cid}/shares", headers=bob.headers)
    assert by_bob.status_code == 404


def test_a_revoked_key_is_refused_at_once(client: TestClient, db_url: str) -> None:
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    assert client.get(SHARES, headers=alice.headers).status_code == 200
    # Revoked through a separate connection, as `threadkeep users revoke` would.
    state = app_state(client)
    Accounts(state.store.database, state.settings).revoke("alice")
    _assert_unauthorized(client.get(SHARES, headers=alice.headers))
    assert client.get(SHARES, headers=bob.headers).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-key",
        "Bearer tk_0123456789abcdef_" + "A" * 43,
        "Basic YWxpY2U6c2VjcmV0",
        "Token {key}",
        "{key}",
        "Bearer {key}x",
    ],
)
def test_bad_credentials_are_401(client: TestClient, header: str) -> None:
    alice = add_user(client, "alice")
    response = client.get(SHARES, headers={"Authorization": header.format(key=alice.key)})
    _assert_unauthorized(response)
    assert alice.key not in response.text


def test_the_scheme_is_case_insensitive(client: TestClient) -> None:
    alice = add_user(client, "alice")
    assert client.get(SHARES, headers={"Authorization": f"bearer {alice.key}"}).status_code == 200


def test_a_wrong_key_is_401_even_where_no_key_is_needed(client: TestClient) -> None:
    """A client that sends a key should hear it is wrong, not be let in as local."""
    _assert_unauthorized(client.get(SHARES, headers={"Authorization": "Bearer nope"}))
    assert client.get(SHARES).status_code == 200


def test_share_pages_need_no_key(make_client: MakeClient) -> None:
    public = make_client(loopback=False)
    alice = add_user(public, "alice")
    cid = _conversation(public, "alice", "hello")
    made = public.post(f"/api/v1/conversations/{cid}/shares", headers=alice.headers).json()
    assert public.get(f"/share/{made['token']}").status_code == 200
    assert public.get(f"/share/{made['token']}.json").json()["title"] == "hello"
