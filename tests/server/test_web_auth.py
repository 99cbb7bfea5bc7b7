"""The web page's sign-in, CSRF protection and security headers (SPEC S10, S8.2),
through real HTTP on both engines.

What is guarded here:

* signing in with an API key sets a session cookie that scripts cannot read
  (HttpOnly), that other sites' requests do not carry (SameSite=Lax), for the whole
  site, lasting ``web_session_days``, Secure over HTTPS — and never holding the key;
* a wrong key is the form again with 401 and a message that does not repeat the key;
* the cookie is its user for the API; signing out, expiry and revoking the key each
  end it server-side, so a copy of the old cookie is refused;
* a change made with the cookie needs the session's CSRF token (missing or wrong:
  403 ``csrf_failed``), a change made with a key does not;
* a change without a key from another site's page is refused — the loopback user's
  (who has no cookie and no token) and the login form's — while scripts and curl,
  which send no ``Origin``, pass;
* ``next`` after sign-in never leaves the site (open redirects);
* every response carries a strict Content-Security-Policy (no inline script or style)
  and the other security headers, without overwriting a route's own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, User, add_user, app_state
from threadkeep.db.schema import web_sessions
from threadkeep.server.auth import SESSION_COOKIE, session_csrf_token
from threadkeep.server.web import security

CONVERSATIONS = "/api/v1/conversations"
EVIL = "http://evil.example"
SELF = "http://testserver"  # TestClient's base URL

WebClient = Callable[..., TestClient]


@pytest.fixture
def make_web_client(make_client: MakeClient) -> WebClient:
    """``make_web_client(loopback=True, base_url=SELF, **settings)``: a started client
    of ``create_app`` that does not follow redirects (the tests read them)."""

    def make(*, loopback: bool = True, base_url: str = SELF, **settings: Any) -> TestClient:
        return make_client(loopback=loopback, base_url=base_url, follow_redirects=False, **settings)

    return make


_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def _page_token(client: TestClient, headers: dict[str, str] | None = None) -> str:
    """The CSRF token the page is rendered with (its ``<meta name="csrf-token">``)."""
    page = client.get("/", headers=headers)
    assert page.status_code == 200, page.text
    found = _META.search(page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def web(make_web_client: WebClient) -> TestClient:
    """A loopback server where keys are in use (so signing in is needed)."""
    return make_web_client()


def _sign_in(client: TestClient, user: User, next_path: str = "/") -> Any:
    return client.post("/login", data={"key": user.key, "next": next_path})


def _set_cookie(response: Any) -> str:
    [header] = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    return str(header)


def _attributes(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")]
    return {name.lower(): value for name, _, value in (part.partition("=") for part in parts[1:])}


def _token(client: TestClient) -> str:
    token = client.cookies.get(SESSION_COOKIE)
    assert token, "no session cookie"
    return str(token)


def _cookie(token: str) -> dict[str, str]:
    """A ``Cookie`` header with this session token (it wins over the client's jar)."""
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"


def _assert_csrf_failed(response: Any) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == "csrf_failed"


# ---------------------------------------------------------------------- signing in


def test_signing_in_sets_a_hardened_cookie(web: TestClient) -> None:
    """Guards against a session cookie that scripts can read (XSS steals it), that
    other sites' requests carry, or that holds the API key itself."""
    alice = add_user(web, "alice")
    response = _sign_in(web, alice, "/c/somewhere?message=1")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/c/somewhere?message=1"
    header = _set_cookie(response)
    name, _, value = header.split(";")[0].partition("=")
    assert name == SESSION_COOKIE and value.startswith("tks_")
    assert alice.key not in header and alice.key.split("_", 2)[2] not in header
    attributes = _attributes(header)
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == str(30 * 86_400)
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never return


def test_the_cookie_is_secure_over_https_and_lasts_the_setting(
    make_web_client: WebClient,
) -> None:
    client = make_web_client(base_url="https://testserver", web_session_days=2)
    alice = add_user(client, "alice")
    attributes = _attributes(_set_cookie(_sign_in(client, alice)))
    assert "secure" in attributes
    assert attributes["max-age"] == str(2 * 86_400)


def test_a_wrong_key_is_the_form_again_without_the_key(web: TestClient) -> None:
    alice = add_user(web, "alice")
    wrong = alice.key[:-6] + "AAAAAA"
    response = web.post("/login", data={"key": wrong, "next": "/c/x"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    page = response.text
    assert wrong not in page and wrong.split("_", 2)[2] not in page
    assert 'id="login-error"' in page and "not valid" in page
    assert 'name="key"' in page and 'value="/c/x"' in page  # the form, keeping next
    empty = web.post("/login", data={"key": "  "})
    assert empty.status_code == 401 and "Enter an API key" in empty.text


def test_the_login_page_is_a_form_that_needs_no_inline_script(web: TestClient) -> None:
    add_user(web, "alice")
    response = web.get("/login?next=/c/abc")
    assert response.status_code == 200
    page = response.text
    assert '<form id="login-form"' in page and 'method="post"' in page
    assert 'type="password"' in page and 'value="/c/abc"' in page
    assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_the_cookie_is_its_user_for_the_api(web: TestClient) -> None:
    alice = add_user(web, "alice")
    bob = add_user(web, "bob")
    theirs = web.post(CONVERSATIONS, json={"title": "bob's"}, headers=bob.headers)
    assert theirs.status_code == 201
    _sign_in(web, alice)
    mine = web.post(CONVERSATIONS, json={"title": "mine"}, headers=_csrf(web))
    assert mine.status_code == 201, mine.text
    listed = web.get(CONVERSATIONS)
    assert listed.status_code == 200, listed.text
    assert [item["title"] for item in listed.json()["items"]] == ["mine"]
    assert app_state(web).store.as_owner("alice").get_conversation(mine.json()["id"])


def test_a_server_on_a_public_address_takes_the_cookie_too(
    make_web_client: WebClient,
) -> None:
    client = make_web_client(loopback=False)
    _assert_unauthorized(client.get(CONVERSATIONS))
    assert client.get("/login").status_code == 200  # no key yet: the form, not a redirect
    alice = add_user(client, "alice")
    _sign_in(client, alice)
    assert client.get(CONVERSATIONS).status_code == 200


def test_signed_in_or_nothing_to_sign_in_to_the_login_page_moves_on(
    make_web_client: WebClient,
) -> None:
    client = make_web_client()  # loopback, no key: nobody needs to sign in
    response = client.get("/login?next=/c/abc")
    assert response.status_code == 303 and response.headers["location"] == "/c/abc"
    alice = add_user(client, "alice")
    assert client.get("/login").status_code == 200
    _sign_in(client, alice)
    response = client.get("/login?next=//evil.example")
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_never_leaves_the_site(web: TestClient, target: str) -> None:
    """Guards against an open redirect: a link to our login page must not send a person
    who signs in on to another site."""
    alice = add_user(web, "alice")
    response = _sign_in(web, alice, target)
    assert response.status_code == 303 and response.headers["location"] == "/"


# ------------------------------------------------------------- ending a session


def test_signing_out_ends_the_session_server_side(web: TestClient) -> None:
    """Guards against a sign-out that only deletes the browser's cookie: a copy of it
    (another tab, a stolen one) must stop working too."""
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    token = _token(web)
    response = web.post("/logout", data={"csrf_token": session_csrf_token(token)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    header = _set_cookie(response)
    assert header.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in header.lower()
    _assert_unauthorized(web.get(CONVERSATIONS, headers=_cookie(token)))


def test_signing_out_needs_the_csrf_token(web: TestClient) -> None:
    """Guards against another site signing a person out (forced logout)."""
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    _assert_csrf_failed(web.post("/logout"))
    _assert_csrf_failed(web.post("/logout", data={"csrf_token": "0" * 64}))
    assert web.get(CONVERSATIONS).status_code == 200  # still signed in
    by_header = web.post("/logout", headers=_csrf(web))
    assert by_header.status_code == 303


def test_signing_out_without_a_session_just_clears_the_cookie(web: TestClient) -> None:
    add_user(web, "alice")
    stale = "tks_0123456789abcdef_" + "A" * 43
    response = web.post("/logout", headers=_cookie(stale))
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_revoking_the_key_ends_its_sessions(web: TestClient) -> None:
    alice = add_user(web, "alice")
    add_user(web, "bob")  # keys stay in use once alice's is gone
    _sign_in(web, alice)
    assert web.get(CONVERSATIONS).status_code == 200
    app_state(web).accounts.revoke(alice.key)
    _assert_unauthorized(web.get(CONVERSATIONS))


def test_an_expired_session_is_refused(web: TestClient) -> None:
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    assert web.get(CONVERSATIONS).status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with app_state(web).store.database.engine.begin() as conn:
        conn.execute(web_sessions.update().values(expires_at=past))
    _assert_unauthorized(web.get(CONVERSATIONS))


def test_a_forged_or_stale_cookie_is_refused(web: TestClient) -> None:
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    session_id = _token(web).split("_")[1]
    forged = f"tks_{session_id}_{'A' * 43}"
    web.cookies.clear()
    for cookie in (forged, alice.key, "nonsense"):
        _assert_unauthorized(web.get(CONVERSATIONS, headers=_cookie(cookie)))


def test_a_stale_cookie_on_a_loopback_server_without_keys_is_the_local_user(
    make_web_client: WebClient,
) -> None:
    """Guards against locking the local user out: once the last key is revoked there
    is nothing to sign in to, and a cookie left from before must not make the page
    bounce between itself and the login page."""
    client = make_web_client()
    alice = add_user(client, "alice")
    _sign_in(client, alice)
    app_state(client).accounts.revoke("alice")
    assert _page_token(client) == ""
    made = client.post(CONVERSATIONS, json={"title": "still mine"})
    assert made.status_code == 201, made.text
    assert app_state(client).store.as_owner("local").get_conversation(made.json()["id"])


# ------------------------------------------------------------------------- CSRF


def _csrf(client: TestClient) -> dict[str, str]:
    """The header the page sends, with the token the page was given."""
    token = _page_token(client)
    assert token
    return {"X-CSRF-Token": token}


def test_the_page_gets_the_sessions_csrf_token(web: TestClient) -> None:
    alice = add_user(web, "alice")
    assert _page_token(web, headers=alice.headers) == ""
    _sign_in(web, alice)
    given = _page_token(web)
    assert given == session_csrf_token(_token(web)) and len(given) == 64
    _sign_in(web, alice)  # a new session has a token of its own
    assert _page_token(web) not in ("", given)


def test_a_change_made_with_the_cookie_needs_its_csrf_token(web: TestClient) -> None:
    """Guards against CSRF: another site's page can make the browser send the cookie
    (e.g. a same-site subdomain, or an old browser without SameSite), but it cannot
    read the page to learn the token."""
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    body = {"title": "t"}
    _assert_csrf_failed(web.post(CONVERSATIONS, json=body))
    _assert_csrf_failed(web.post(CONVERSATIONS, json=body, headers={"X-CSRF-Token": ""}))
    _assert_csrf_failed(web.post(CONVERSATIONS, json=body, headers={"X-CSRF-Token": "0" * 64}))
    # Another session's token does not fit this one.
    other = session_csrf_token(f"tks_0123456789abcdef_{'A' * 43}")
    _assert_csrf_failed(web.post(CONVERSATIONS, json=body, headers={"X-CSRF-Token": other}))
    assert web.get(CONVERSATIONS).json()["items"] == []
    made = web.post(CONVERSATIONS, json=body, headers=_csrf(web))
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    path = f"{CONVERSATIONS}/{cid}"
    _assert_csrf_failed(web.patch(path, json={"title": "x"}))
    _assert_csrf_failed(web.delete(path))
    assert web.patch(path, json={"title": "x"}, headers=_csrf(web)).status_code == 200
    assert web.delete(path, headers=_csrf(web)).status_code == 204


def test_every_api_change_made_with_the_cookie_needs_the_token(web: TestClient) -> None:
    """Guards against a state-changing route that skips the check — one added later
    that does not ask for the owner, say: every POST, PUT, PATCH and DELETE of the API
    refuses the cookie without the token."""
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    app = web.app
    assert isinstance(app, FastAPI)
    checked = 0
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "01890a5d-ac96-774b-bcce-b302099a8057", template)
        for method in sorted(set(operations) & {"post", "put", "patch", "delete"}):
            _assert_csrf_failed(web.request(method.upper(), path, json={}))
            checked += 1
    assert checked >= 11


def test_a_change_made_with_a_key_needs_no_csrf_token(web: TestClient) -> None:
    """A browser never adds an Authorization header by itself, so a request with one
    is not a forged one — also when the browser has a cookie, or says cross-site."""
    alice = add_user(web, "alice")
    _sign_in(web, alice)
    headers = {**alice.headers, "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    made = web.post(CONVERSATIONS, json={"title": "t"}, headers=headers)
    assert made.status_code == 201, made.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://testserver:8080"},  # another port is another origin
        {"Origin": "https://testserver"},  # and another scheme
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # e.g. another app on another localhost port
        {"Sec-Fetch-Site": "cross-site", "Origin": SELF},
    ],
)
def test_the_loopback_user_is_safe_from_other_sites(
    make_web_client: WebClient, headers: dict[str, str]
) -> None:
    """Guards against any web page the local user visits driving their threadkeep:
    with no key and no cookie there is no token, so a cross-site request is refused
    by what the browser says about where it comes from."""
    client = make_web_client()
    response = client.post(CONVERSATIONS, json={"title": "t"}, headers=headers)
    _assert_csrf_failed(response)
    assert "content-security-policy" in response.headers
    assert client.get(CONVERSATIONS).json()["items"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts: no browser, no Origin
        {"Origin": SELF},
        {"Origin": "HTTP://TestServer:80"},
        {"Sec-Fetch-Site": "same-origin", "Origin": SELF},
        {"Sec-Fetch-Site": "none"},  # typed by the person, a bookmark
        # A form post of our own page under a no-referrer policy: the browser's
        # Sec-Fetch-Site decides over an opaque Origin.
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    ],
)
def test_same_origin_and_non_browser_changes_pass(
    make_web_client: WebClient, headers: dict[str, str]
) -> None:
    client = make_web_client()
    made = client.post(CONVERSATIONS, json={"title": "t"}, headers=headers)
    assert made.status_code == 201, made.text


def test_the_public_url_is_an_origin_of_its_own(make_web_client: WebClient) -> None:
    """Behind a proxy the browser's Origin is the public name, not the Host we see."""
    client = make_web_client(public_url="https://chat.example.com/")
    headers = {"Origin": "https://chat.example.com"}
    assert client.post(CONVERSATIONS, json={}, headers=headers).status_code == 201
    _assert_csrf_failed(
        client.post(CONVERSATIONS, json={}, headers={"Origin": "https://chat.example.org"})
    )


def test_signing_in_from_another_site_is_refused(web: TestClient) -> None:
    """Guards against login CSRF: another site signing the browser in as the
    attacker's user, so that what the person then writes lands in the attacker's
    account."""
    alice = add_user(web, "alice")
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        response = web.post("/login", data={"key": alice.key, "next": "/"}, headers=headers)
        _assert_csrf_failed(response)
        assert "set-cookie" not in response.headers
    same = web.post("/login", data={"key": alice.key}, headers={"Origin": SELF})
    assert same.status_code == 303


# ---------------------------------------------------------------------- headers


def _assert_strict_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert csp == security.CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"


def test_every_response_carries_the_security_headers(web: TestClient) -> None:
    alice = add_user(web, "alice")
    for response in (
        web.get(CONVERSATIONS, headers=alice.headers),  # JSON
        web.get(CONVERSATIONS),  # 401
        web.get("/login"),  # HTML
        web.post("/login", data={"key": "wrong"}),  # the form again
        web.get("/api/v1/nothing-here"),  # 404
        web.post(CONVERSATIONS, headers={"Origin": EVIL}),  # refused here
        web.get("/api/v1/openapi.json"),
    ):
        _assert_strict_headers(response)
        assert len(response.headers.get_list("content-security-policy")) == 1


def test_the_api_docs_page_gets_a_policy_of_its_own(web: TestClient) -> None:
    """Swagger UI needs its CDN and an inline script; it gets exactly that, still no
    framing — the rest of the site stays strict."""
    response = web.get("/api/v1/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp == security.DOCS_CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"


def test_a_routes_own_policy_is_kept(web: TestClient) -> None:
    """The share page sends a policy of its own (with its inline style's hash)."""
    alice = add_user(web, "alice")
    cid = app_state(web).store.as_owner("alice").create_conversation(title="t").id
    made = web.post(f"{CONVERSATIONS}/{cid}/shares", headers=alice.headers)
    assert made.status_code == 201, made.text
    page = web.get(f"/share/{made.json()['token']}")
    assert page.status_code == 200
    policies = page.headers.get_list("content-security-policy")
    assert len(policies) == 1 and policies[0] != security.CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
