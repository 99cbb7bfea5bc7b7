"""The conversation view in a real browser: URL state, search, minimap, copy, Markdown,
message kinds, and the composer's stop button and errors.

Most tests use the module's echo server and conversations seeded through the library
(``seed_conversation``), each found by its id. The composer's stop and failure paths
need a provider that can be held mid-reply or made to fail: a second server, whose
``openai`` provider talks to the fake OpenAI-compatible server of the runtime tests
(``tests/runtime/fake_openai.py``), a real HTTP server on loopback.

What "in view" means is the browser's: ``to_be_in_viewport`` (an IntersectionObserver
in Playwright), so no test reads scroll offsets to decide it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.runtime.fake_openai import FakeOpenAI, Reply
from tests.web.browser import SeedMessage, WebServer, seed_conversation, seed_long_conversation
from tests.web.conftest import NewPage
from threadkeep import ConversationStore
from threadkeep.server.web.pages import MESSAGE_PAGE

MARKDOWN_REPLY = """Here is the plan:

- read the *config*
- retry **three** times

| attempt | wait |
|---------|------|
| 1       | 1 s  |
| 2       | 2 s  |

```python
def wait(attempt):
    return 2 ** attempt
```
"""
CODE = "def wait(attempt):\n    return 2 ** attempt\n"


def _numbered(count: int, word: str = "") -> list[SeedMessage]:
    return [
        SeedMessage("user" if i % 2 == 0 else "assistant", f"Line {i + 1} of the talk {word}")
        for i in range(count)
    ]


def _dots_match_messages(page: Page) -> None:
    """One minimap dot per loaded message (once the page's rebuild has run)."""
    articles = page.locator("#messages article.message").count()
    expect(page.locator("#minimap .minimap-dot")).to_have_count(articles)


def test_a_reload_keeps_the_open_conversation(page: Page, seed_store: ConversationStore) -> None:
    cid = seed_conversation(
        seed_store,
        title="Kept across reloads",
        messages=[("user", "Where was I?"), ("assistant", "Right here.")],
    )
    page.goto(f"/c/{cid}")
    page.reload()
    expect(page).to_have_url(re.compile(f"/c/{cid}$"))
    expect(page.locator("#conversation")).to_have_attribute("data-conversation-id", cid)
    expect(page.locator("#conversation-title")).to_have_text("Kept across reloads")
    expect(page.locator("#messages article.message .message-body")).to_have_text(
        ["Where was I?", "Right here."]
    )
    expect(page).to_have_title(re.compile("Kept across reloads"))


def test_search_finds_a_message_and_opens_the_conversation_at_it(
    page: Page, seed_store: ConversationStore
) -> None:
    messages = _numbered(120)
    messages[6] = SeedMessage("assistant", "The quokka sanctuary opens at nine.")
    cid = seed_conversation(seed_store, title="Island trip", messages=messages)
    page.goto("/")
    page.locator("#search").fill("quokka")
    hit = page.locator("#search-results a.search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator(".hit-title")).to_have_text("Island trip")
    expect(hit.locator(".hit-snippet mark")).to_have_text(re.compile("quokka", re.IGNORECASE))
    hit.click()
    expect(page).to_have_url(re.compile(rf"/c/{cid}\?message=[0-9a-f-]+$"))
    mid = page.url.rsplit("=", 1)[1]
    target = page.locator(f"#m-{mid}")
    expect(target).to_have_class(re.compile(r"\bhighlight\b"))
    expect(target).to_contain_text("quokka sanctuary")
    expect(target).to_be_in_viewport()
    expect(page.locator("article.message.highlight")).to_have_count(1)


def test_the_minimap_follows_the_view_and_scrolls_on_click(
    page: Page, seed_store: ConversationStore
) -> None:
    cid = seed_conversation(seed_store, title="Minimap", messages=_numbered(40))
    page.goto(f"/c/{cid}")
    articles = page.locator("#messages article.message")
    expect(articles).to_have_count(40)
    _dots_match_messages(page)
    dots = page.locator("#minimap .minimap-dot")
    # Opened at its end: the last message is in view, its dot enlarged, the first not.
    expect(articles.last).to_be_in_viewport()
    expect(dots.last).to_have_class(re.compile(r"\bin-view\b"))
    expect(dots.first).not_to_have_class(re.compile(r"\bin-view\b"))
    expect(dots.first).to_have_attribute("data-target", str(articles.first.get_attribute("id")))
    expect(dots.first).to_have_attribute("data-kind", "user")
    expect(dots.nth(1)).to_have_attribute("data-kind", "assistant")

    page.locator("#messages-scroll").evaluate("element => { element.scrollTop = 0; }")
    expect(dots.first).to_have_class(re.compile(r"\bin-view\b"))
    expect(dots.last).not_to_have_class(re.compile(r"\bin-view\b"))

    # A click on the dot of a message out of view brings it into view.
    expect(articles.last).not_to_be_in_viewport()
    dots.last.dispatch_event("click")
    expect(articles.last).to_be_in_viewport()
    expect(dots.last).to_have_class(re.compile(r"\bin-view\b"))


def test_a_long_conversation_opens_at_its_end_and_loads_older_messages(
    page: Page, seed_store: ConversationStore
) -> None:
    cid = seed_long_conversation(seed_store, 2000)
    page.goto(f"/c/{cid}")
    articles = page.locator("#messages article.message")
    expect(articles).to_have_count(MESSAGE_PAGE)
    expect(articles.last).to_contain_text("Message number 2000 of 2000.")
    expect(articles.first).to_contain_text(f"Message number {2001 - MESSAGE_PAGE} of 2000.")
    expect(articles.last).to_be_in_viewport()
    _dots_match_messages(page)
    rail = page.locator("#minimap").bounding_box()
    assert rail is not None
    boxes = page.locator("#minimap .minimap-dot").evaluate_all(
        "dots => dots.map(d => { const b = d.getBoundingClientRect();"
        " return [b.left, b.top, b.right, b.bottom]; })"
    )
    right, bottom = rail["x"] + rail["width"], rail["y"] + rail["height"]
    for left, top, dot_right, dot_bottom in boxes:
        assert rail["x"] - 0.5 <= left and dot_right <= right + 0.5, (rail, left, dot_right)
        assert rail["y"] - 0.5 <= top and dot_bottom <= bottom + 0.5, (rail, top, dot_bottom)

    # A click near the top of the rail scrolls to the first loaded message.
    first = articles.first
    expect(first).not_to_be_in_viewport()
    page.mouse.click(rail["x"] + rail["width"] / 2, rail["y"] + 2)
    expect(page.locator(f"#m-{first.get_attribute('data-id')}")).to_be_in_viewport()

    # Scrolling up loads older messages, and the rail gets their dots.
    page.locator("#messages-scroll").evaluate("element => { element.scrollTop = 0; }")
    expect(articles).not_to_have_count(MESSAGE_PAGE)
    assert articles.count() > MESSAGE_PAGE
    expect(page.locator("#messages article.message").first).to_contain_text(
        f"Message number {2001 - 2 * MESSAGE_PAGE} of 2000."
    )
    _dots_match_messages(page)
    seqs = articles.evaluate_all("nodes => nodes.map(n => Number(n.dataset.seq))")
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_copy_puts_the_message_source_and_code_on_the_clipboard(
    page: Page, seed_store: ConversationStore
) -> None:
    cid = seed_conversation(
        seed_store,
        title="Copying",
        messages=[("user", "How long should I wait?"), ("assistant", MARKDOWN_REPLY)],
    )
    page.goto(f"/c/{cid}")
    reply = page.locator("article.message[data-kind=assistant]")
    reply.locator("button.copy-message").click()
    expect(page.locator("#toast")).to_have_text("Copied")
    expect(page.locator("#toast")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == MARKDOWN_REPLY

    reply.locator("button.copy-code").click()
    expect(reply.locator("button.copy-code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").rstrip("\n") == CODE.rstrip("\n")


def test_markdown_kinds_and_flags_are_shown(page: Page, seed_store: ConversationStore) -> None:
    cid = seed_conversation(
        seed_store,
        title="Every kind",
        messages=[
            SeedMessage("user", "Show me"),
            SeedMessage("assistant", MARKDOWN_REPLY),
            SeedMessage("assistant", '{"name": "search", "q": "tides"}', kind="tool_call"),
            SeedMessage("tool", "3 results", kind="tool_result"),
            SeedMessage("system", "report.csv (12 rows)", kind="system_artifact"),
            SeedMessage("assistant", "The provider failed: 503", kind="error"),
            SeedMessage("assistant", "I was cut off in the mid", status="incomplete"),
        ],
    )
    page.goto(f"/c/{cid}")
    articles = page.locator("#messages article.message")
    expect(articles).to_have_count(7)
    kinds = articles.evaluate_all("nodes => nodes.map(n => n.dataset.kind)")
    assert kinds == ["user", "assistant", "tool", "tool", "artifact", "error", "assistant"]
    body = articles.nth(1).locator(".message-body")
    expect(body.locator("table th")).to_have_text(["attempt", "wait"])
    expect(body.locator("table tbody tr")).to_have_count(2)
    expect(body.locator("ul > li")).to_have_text(["read the config", "retry three times"])
    expect(body.locator("ul em")).to_have_text("config")
    expect(body.locator(".code-block pre code")).to_have_text(CODE)
    expect(body.locator(".code-block button.copy-code")).to_have_count(1)
    expect(articles.last.locator(".message-flag.incomplete")).to_be_visible()
    expect(articles.last).to_have_attribute("data-status", "incomplete")
    expect(page.locator("#messages .message-flag.incomplete")).to_have_count(1)
    expect(articles.nth(2).locator(".message-body")).to_contain_text('"name": "search"')
    _dots_match_messages(page)
    dot_kinds = page.locator("#minimap .minimap-dot").evaluate_all(
        "dots => dots.map(d => d.dataset.kind)"
    )
    assert dot_kinds == kinds


# -- the composer against a provider that can be held or made to fail ------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake of each test's own: its script holds that test's replies only."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def openai_server(fake_openai: FakeOpenAI, tmp_path: Path) -> Iterator[WebServer]:
    """``serve`` whose ``openai`` provider is the fake."""
    home = tmp_path / "openai-server"
    server = WebServer.start(
        home,
        env={
            "THREADKEEP_OPENAI_BASE_URL": fake_openai.url,
            "THREADKEEP_OPENAI_API_KEY": "sk-test-fake",
            "THREADKEEP_OPENAI_MODEL": "gpt-fake",
        },
    )
    yield server
    server.stop()


def _send_with_openai(page: Page, text: str) -> None:
    page.goto("/")
    page.locator("#provider-select").select_option("openai")
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")


def test_stop_ends_the_run_and_keeps_the_partial_reply(
    new_page: NewPage, openai_server: WebServer, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Reply(text=["Once upon a time ", "there was", " more"], hold_after=1))
    page = new_page(openai_server).page
    _send_with_openai(page, "Tell me a long story")
    streaming = page.locator("article.message.streaming[data-kind=assistant]")
    expect(streaming).to_contain_text("Once upon a time")
    expect(page.locator("#stop-button")).to_be_visible()
    page.locator("#stop-button").click()
    expect(page.locator("#composer-status .status-notice")).to_contain_text("Stopped")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(streaming).to_have_count(0)
    reply = page.locator("article.message[data-kind=assistant]")
    expect(reply).to_have_count(1)
    expect(reply.locator(".message-body")).to_have_text("Once upon a time")
    expect(reply.locator(".message-flag.incomplete")).to_be_visible()
    expect(page.locator("#conversation-provider")).to_have_text(re.compile(r"^openai"))
    assert fake_openai.client_left.wait(30)
    # It is stored so: a reload shows the same.
    page.reload()
    expect(reply.locator(".message-flag.incomplete")).to_be_visible()
    expect(reply.locator(".message-body")).to_have_text("Once upon a time")


def test_a_provider_failure_is_shown_in_the_composer(
    new_page: NewPage, openai_server: WebServer, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Reply(status=500, error_message="the fake model is down", retry_after_ms=1))
    page = new_page(openai_server).page
    _send_with_openai(page, "Are you there?")
    error = page.locator("#composer-status .status-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("failed")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()
