"""The browser-test machinery works end to end, before any page is tested.

What is guarded here: Debian's Chromium starts under Playwright (its version is
printed, so a test log says which browser ran); a real ``threadkeep serve`` answers it
on loopback — the browser loads ``/api/v1/health`` and reads the JSON — and stops with
status 0 at the module's end (the fixture checks); a store opened on the server's
SQLite file while it runs writes what the server then serves, with the times a test
gave; and the page watch sees a script's dialog and console message, and a request.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.web.browser import PageWatch, WebServer, seed_conversation
from threadkeep import ConversationStore


def test_chromium_starts_and_says_its_version(browser: Browser) -> None:
    print(f"Chromium {browser.version} (Debian's, driven by Playwright)")
    major = browser.version.split(".")[0]
    assert major.isdigit() and int(major) > 100


def test_the_browser_reads_the_health_of_a_real_server(page: Page, web_server: WebServer) -> None:
    response = page.goto("/api/v1/health")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    health = json.loads(page.locator("body").inner_text())
    assert health["status"] == "ok"
    assert health["database"]["engine"] == "sqlite"


def test_seeded_conversations_are_served_with_their_times(
    seed_store: ConversationStore, web_server: WebServer
) -> None:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=20)
    cid = seed_conversation(
        seed_store,
        title="Seeded through the library",
        messages=[("user", "hello"), ("assistant", "hello back")],
        at=at,
    )
    served = httpx.get(f"{web_server.url}/api/v1/conversations/{cid}", timeout=10)
    assert served.status_code == 200, served.text
    body = served.json()
    assert body["title"] == "Seeded through the library"
    assert dt.datetime.fromisoformat(body["updated_at"]) == at
    messages = httpx.get(f"{web_server.url}/api/v1/conversations/{cid}/messages", timeout=10)
    assert [m["content"] for m in messages.json()["items"]] == ["hello", "hello back"]


def test_the_watch_sees_dialogs_console_and_requests(page: Page, page_watch: PageWatch) -> None:
    page.goto("/api/v1/health")
    page.evaluate("() => { console.log('watched'); alert('seen'); }")
    page.evaluate("() => fetch('/xss-hit?probe=1')")
    expect(page.locator("body")).to_contain_text("ok")
    assert page_watch.dialogs == ["alert: seen"]
    assert "log: watched" in page_watch.console
    assert any(url.endswith("/xss-hit?probe=1") for url in page_watch.xss_hits)


def test_the_keyed_server_requires_its_key(keyed_server: WebServer) -> None:
    assert keyed_server.key is not None and keyed_server.user == "alice"
    listing = f"{keyed_server.url}/api/v1/conversations"
    assert httpx.get(listing, timeout=10).status_code == 401
    authorized = {"Authorization": f"Bearer {keyed_server.key}"}
    assert httpx.get(listing, headers=authorized, timeout=10).status_code == 200
