"""The page's layout and keyboard use in a real browser, and the README's screenshots.

* **Narrow screens**: at 375x812 nothing scrolls sideways — not the empty page, not a
  conversation with a wide table and a long code line (they scroll inside their own
  boxes) — and the sidebar opens as a drawer from ``#sidebar-toggle``.
* **Keyboard**: Ctrl+K and "/" (when not typing) focus the search box, Ctrl+Shift+O
  starts a new chat, Tab from the top of the page reaches the skip link and then the
  message box; in the composer Enter sends and Shift+Enter makes a new line.
* **Storage warning**: a server whose ``storage_warning_bytes`` is 1 shows the banner.
* **Screenshots**: a server of its own with a realistic history (written here), shown
  at desktop and phone sizes; the tests write ``docs/screenshots/desktop.png`` and
  ``mobile.png`` on every run, so the README's pictures are the page as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.browser import SeedMessage, WebServer, seed_conversation
from tests.web.conftest import NewPage
from threadkeep import ConversationStore

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 375, "height": 812}

WIDE_TABLE = "| " + " | ".join(f"column {n}" for n in range(24)) + " |\n"
WIDE_TABLE += "|" + "---|" * 24 + "\n"
WIDE_TABLE += "| " + " | ".join(f"value-{n}-abcdef" for n in range(24)) + " |\n"
LONG_CODE = "```python\nresult = " + " + ".join(f"term_{n}" for n in range(80)) + "\n```\n"


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], width


def test_a_phone_screen_never_scrolls_sideways(
    new_page: NewPage, seed_store: ConversationStore
) -> None:
    cid = seed_conversation(
        seed_store,
        title="A wide table and a long line",
        messages=[("user", "Show me everything"), ("assistant", WIDE_TABLE + "\n" + LONG_CODE)],
    )
    page = new_page(**PHONE).page
    page.goto("/")
    expect(page.locator("#composer-input")).to_be_visible()
    _no_sideways_scroll(page)
    page.goto(f"/c/{cid}")
    expect(page.locator("#messages table")).to_be_attached()
    expect(page.locator("#messages .code-block")).to_be_attached()
    _no_sideways_scroll(page)
    expect(page.locator("#composer-input")).to_be_in_viewport()

    # The sidebar is a drawer: closed at first, opened by the toggle.
    list_ = page.locator("#conversation-list")
    expect(list_).not_to_be_in_viewport()
    page.locator("#sidebar-toggle").click()
    expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#item-{cid}")).to_be_in_viewport()
    expect(page.locator("#search")).to_be_focused()
    _no_sideways_scroll(page)
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "false")


def test_keyboard_shortcuts(page: Page, seed_store: ConversationStore) -> None:
    cid = seed_conversation(seed_store, title="Shortcuts", messages=[("user", "hi")])
    page.goto(f"/c/{cid}")
    search = page.locator("#search")
    page.keyboard.press("Control+k")
    expect(search).to_be_focused()
    page.locator("#composer-input").focus()
    page.keyboard.type("a/b")  # "/" while typing is a character
    expect(page.locator("#composer-input")).to_have_value("a/b")
    expect(search).not_to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#conversation")).to_have_attribute("data-conversation-id", "")


def _phone_page_with_nothing_focused(new_page: NewPage) -> Page:
    # A phone-sized page: nothing is focused when it opens (a desktop page focuses
    # the message box at once), so Tab starts from the top of the document.
    page = new_page(**PHONE).page
    page.goto("/")
    expect(page.locator("#composer-input")).to_be_visible()
    return page


def test_tab_reaches_the_skip_link_then_the_message_box(new_page: NewPage) -> None:
    page = _phone_page_with_nothing_focused(new_page)
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_focused()
    expect(page.locator("a.skip-link")).to_be_in_viewport()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "composer-input":
            break
    expect(page.locator("#composer-input")).to_be_focused()


def test_the_skip_link_takes_the_focus_to_the_message_box(new_page: NewPage) -> None:
    page = _phone_page_with_nothing_focused(new_page)
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-input")).to_be_focused()


def test_enter_sends_and_shift_enter_makes_a_new_line(page: Page) -> None:
    page.goto("/")
    composer = page.locator("#composer-input")
    composer.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(composer).to_have_value("first line\nsecond line")
    expect(page.locator("#messages article.message")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    user = page.locator("#messages article.message[data-kind=user]")
    expect(user.locator(".message-source")).to_have_text(
        "first line\nsecond line", use_inner_text=False
    )
    expect(page.locator("#messages article.message[data-kind=assistant]")).to_contain_text("Echo")
    expect(composer).to_have_value("")


def test_a_storage_warning_shows_as_a_banner(new_page: NewPage, tmp_path: Path) -> None:
    server = WebServer.start(tmp_path / "full", env={"THREADKEEP_STORAGE_WARNING_BYTES": "1"})
    try:
        page = new_page(server).page
        page.goto("/")
        banner = page.locator("#banners .banner.storage-warning")
        expect(banner).to_be_visible()
        expect(banner).not_to_be_empty()
    finally:
        server.stop()


# -- screenshots ---------------------------------------------------------------------

RETRY_QUESTION = """I keep getting flaky `ConnectionError`s from an HTTP API. Can you write \
a small Python helper that retries a call with exponential backoff?"""

RETRY_ANSWER = """Here is a small, dependency-free helper. It:

- retries only the exceptions you name,
- waits `base * 2 ** attempt` seconds, capped at `cap`,
- adds jitter so many clients do not retry in lockstep.

```python
import random
import time


def retry(call, *, attempts=5, base=0.5, cap=8.0, errors=(ConnectionError,)):
    for attempt in range(attempts):
        try:
            return call()
        except errors:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))
```

| Attempt | Longest wait |
|--------:|-------------:|
| 1       | 0.5 s        |
| 2       | 1 s          |
| 3       | 2 s          |
| 4       | 4 s          |

Use it as `retry(lambda: client.get(url))`."""

FOLLOW_UP = "Nice. Should the last failure be re-raised or wrapped?"
FOLLOW_UP_ANSWER = """Re-raise it, as the helper does: the caller sees the real error and \
its traceback. Wrap it only if callers need to tell *gave up after retries* apart \
from a first failure."""


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, str]]:
    """A server with a history worth a picture; the conversation to show."""
    server = WebServer.start(tmp_path_factory.mktemp("showcase"))
    now = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)

    def ago(days: int, hours: int = 0) -> dt.datetime:
        return now - dt.timedelta(days=days, hours=hours)

    history = [
        ("Team offsite agenda", ago(9), True, "openai", "gpt-4o"),
        ("Regex for ISO 8601 dates", ago(0, 2), False, "openai", "gpt-4o"),
        ("Sourdough starter schedule", ago(1, 1), False, "anthropic", "claude-sonnet"),
        ("Postgres index on JSONB", ago(1, 5), False, "openai", "gpt-4o"),
        ("Packing list for Lisbon", ago(3), False, "echo", None),
        ("Explain CRDTs simply", ago(4), False, "anthropic", "claude-sonnet"),
        ("Resume bullet points", ago(12), False, "openai", "gpt-4o-mini"),
        ("Birthday gift ideas", ago(21), False, "echo", None),
    ]
    with server.open_store() as store:
        for title, at, pinned, provider, model in history:
            seed_conversation(
                store,
                title=title,
                messages=[("user", f"About: {title}"), ("assistant", "Sure, here goes.")],
                at=at,
                pinned=pinned,
                provider=provider,
                model=model,
            )
        shown = seed_conversation(
            store,
            title="Python retry helper with backoff",
            messages=[
                SeedMessage("user", RETRY_QUESTION),
                SeedMessage("assistant", RETRY_ANSWER),
                SeedMessage("user", FOLLOW_UP),
                SeedMessage("assistant", FOLLOW_UP_ANSWER),
            ],
            at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4),
            provider="openai",
            model="gpt-4o",
        )
    yield server, shown
    server.stop()


def _ready_for_a_picture(page: Page, cid: str) -> None:
    expect(page.locator(f"#item-{cid} a.item-link")).to_have_attribute("aria-current", "page")
    expect(page.locator("#minimap .minimap-dot")).to_have_count(4)
    expect(page.locator("#messages .copy-code")).to_have_count(1)
    # The picture starts at the question, not at the end where the page opens.
    page.locator("#messages-scroll").evaluate("element => { element.scrollTop = 0; }")
    expect(page.locator("#minimap .minimap-dot").first).to_have_class(re.compile(r"\bin-view\b"))
    page.evaluate("document.activeElement && document.activeElement.blur()")


def test_desktop_screenshot(new_page: NewPage, showcase: tuple[WebServer, str]) -> None:
    server, cid = showcase
    page = new_page(server, width=1280, height=800, timezone_id="UTC").page
    page.goto(f"/c/{cid}")
    _ready_for_a_picture(page, cid)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "desktop.png")
    assert (SCREENSHOTS / "desktop.png").stat().st_size > 10_000


def test_mobile_screenshot(new_page: NewPage, showcase: tuple[WebServer, str]) -> None:
    server, cid = showcase
    page = new_page(server, **PHONE, timezone_id="UTC").page
    page.goto(f"/c/{cid}")
    _ready_for_a_picture(page, cid)
    _no_sideways_scroll(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "mobile.png")
    assert (SCREENSHOTS / "mobile.png").stat().st_size > 10_000
