"""The sidebar in a real browser: a new user's path, live updates, grouping, paging.

One ``threadkeep serve`` (echo provider, no keys) serves the whole module, so data
accumulates: every test finds its items by id (``#item-{id}``), never by position.

* **A new user's path**: a first message sent from ``/`` streams the echo reply, the
  URL becomes ``/c/{id}`` and the generated title shows in the Today group; then
  rename in place, pin, archive and unarchive (through the archived view), export as
  JSON and Markdown (the downloaded files hold the conversation), and delete — the
  confirmation's Cancel keeps it, Delete removes it and, for the open conversation,
  goes back to ``/``.
* **Live**: what another client does through the REST API — create a conversation,
  rename it — shows in an open page without a reload, and so does a rename made in
  another tab.
* **Grouping**: conversations seeded with last-activity times across the buckets land
  under the right ``li.group-header`` in the reader's zone (pinned in the browser
  context, and deliberately far from UTC), pinned ones on top. Expected keys come from
  :func:`tests.web.browser.expected_group`, written independently of the page's code.
* **Paging**: more than one sidebar page of conversations loads as the list scrolls,
  with no group heading repeated at the page boundary.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.web.browser import (
    WebServer,
    api_client,
    expected_group,
    group_header_of,
    item,
    item_action,
    seed_conversation,
)
from tests.web.conftest import NewPage
from threadkeep import ConversationStore
from threadkeep.server.web.pages import SIDEBAR_PAGE

CONVERSATION_URL = re.compile(r"/c/([0-9a-f-]{36})$")
#: A reader far from UTC, so a server that grouped in UTC would be caught.
READER_ZONE = "Pacific/Auckland"


def _open_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL)
    found = CONVERSATION_URL.search(page.url)
    assert found is not None
    return found.group(1)


def _start_chat(page: Page, text: str) -> str:
    """Send ``text`` from a new chat; the streamed echo reply is shown and the run is
    over; returns the new id. (What the reply shows once stored is checked apart, in
    :func:`test_the_streamed_reply_becomes_the_stored_message`.)"""
    page.goto("/")
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")
    expect(page.locator("article.message[data-kind=assistant]").first).to_contain_text("Echo")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()
    return _open_id(page)


def test_the_streamed_reply_becomes_the_stored_message(page: Page) -> None:
    text = "Tell me about tide pools"
    cid = _start_chat(page, text)
    expect(page.locator("article.message.streaming")).to_have_count(0)
    user = page.locator("article.message[data-kind=user]")
    expect(user).to_have_count(1)
    expect(user.locator(".message-body")).to_have_text(text)
    reply = page.locator("article.message[data-kind=assistant]")
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".message-body")).to_contain_text(f"Echo: {text}")
    expect(reply.locator(".message-flag.incomplete")).to_have_count(0)
    # What a reload shows is the same.
    shown = reply.locator(".message-body").inner_text()
    page.reload()
    expect(page).to_have_url(re.compile(f"/c/{cid}$"))
    expect(reply.locator(".message-body")).to_have_text(shown)


def test_a_new_user_starts_a_chat_and_manages_it(page: Page, web_server: WebServer) -> None:
    cid = _start_chat(page, "Plan a weekend in Lisbon with good coffee")
    entry = item(page, cid)
    # The title is made in the background after the reply; the list follows it live.
    expect(entry.locator(".item-title")).to_have_text("Plan a weekend in Lisbon with")
    expect(entry.locator(".item-title")).not_to_have_class(re.compile("untitled"))
    expect(entry).to_have_attribute("data-group", "today")
    assert group_header_of(page, cid) == "today"
    expect(entry.locator(".item-badge")).to_have_text("echo")
    expect(entry.locator("time.item-time")).to_have_text("just now")

    # Rename in place.
    item_action(page, cid, "item-rename")
    rename = entry.locator("form.rename-form input.rename-input")
    expect(rename).to_be_focused()
    rename.fill("Lisbon weekend")
    rename.press("Enter")
    expect(entry.locator(".item-title")).to_have_text("Lisbon weekend")
    expect(page.locator("#conversation-title")).to_have_text("Lisbon weekend")
    expect(entry.locator("form.rename-form")).to_have_count(0)

    # Escape cancels a rename.
    item_action(page, cid, "item-rename")
    entry.locator("input.rename-input").fill("Not this")
    entry.locator("input.rename-input").press("Escape")
    expect(entry.locator(".item-title")).to_have_text("Lisbon weekend")

    # Pin: on top, in the pinned group; unpin: back in Today.
    item_action(page, cid, "item-pin")
    expect(entry).to_have_attribute("data-pinned", "true")
    expect(entry).to_have_attribute("data-group", "pinned")
    assert group_header_of(page, cid) == "pinned"
    first_header = page.locator("#conversation-list li.group-header").first
    expect(first_header).to_have_attribute("data-group", "pinned")
    expect(first_header).to_have_text("Pinned")
    expect(entry.locator(".item-pin")).to_have_text("Unpin")
    item_action(page, cid, "item-pin")
    expect(entry).to_have_attribute("data-pinned", "false")
    expect(entry).to_have_attribute("data-group", "today")

    # Archive: gone from the list, in the archived view; unarchive: back.
    item_action(page, cid, "item-archive")
    expect(entry).to_have_count(0)
    page.locator("#view-archived").click()
    expect(page.locator("#conversation-list")).to_have_attribute("data-view", "archived")
    expect(entry.locator(".item-title")).to_have_text("Lisbon weekend")
    item_action(page, cid, "item-unarchive")
    expect(entry).to_have_count(0)
    page.locator("#view-active").click()
    expect(page.locator("#conversation-list")).to_have_attribute("data-view", "active")
    expect(entry.locator(".item-title")).to_have_text("Lisbon weekend")

    # Export: JSON holds the messages, Markdown the text.
    with page.expect_download() as downloading:
        item_action(page, cid, "item-export-json")
    document = json.loads(downloading.value.path().read_text(encoding="utf-8"))
    dumped = json.dumps(document)
    assert cid in dumped
    assert "Plan a weekend in Lisbon with good coffee" in dumped
    assert "Echo: Plan a weekend in Lisbon with good coffee" in dumped
    with page.expect_download() as downloading:
        item_action(page, cid, "item-export-md")
    markdown = downloading.value.path().read_text(encoding="utf-8")
    assert "Lisbon weekend" in markdown
    assert "Echo: Plan a weekend in Lisbon with good coffee" in markdown

    # Delete: Cancel keeps it; Delete removes the open one and goes to a new chat.
    page.goto(f"/c/{cid}")
    item_action(page, cid, "item-delete")
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Lisbon weekend")
    page.locator("#confirm-no").click()
    expect(dialog).to_be_hidden()
    expect(entry).to_have_count(1)
    item_action(page, cid, "item-delete")
    page.locator("#confirm-yes").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#conversation")).to_have_attribute("data-conversation-id", "")
    expect(page.locator("#conversation-list li.list-note", has_text="Loading")).to_have_count(0)
    expect(entry).to_have_count(0)
    with api_client(web_server) as api:
        assert api.get(f"/conversations/{cid}").status_code == 404


def test_a_new_chat_is_the_current_item_of_the_list(page: Page) -> None:
    """The list marks the open conversation, also one just started from ``/`` (whose
    URL the page changed without loading a new page) and after a reload."""
    cid = _start_chat(page, "Which item is open now")
    link = item(page, cid).locator("a.item-link")
    expect(item(page, cid).locator(".item-title")).to_have_text("Which item is open now")
    expect(link).to_have_attribute("aria-current", "page")
    page.reload()
    expect(link).to_have_attribute("aria-current", "page")
    expect(page.locator("#conversation-list a[aria-current]")).to_have_count(1)


def test_deleting_another_conversation_keeps_the_open_one(
    page: Page, seed_store: ConversationStore
) -> None:
    other = seed_conversation(seed_store, title="Old notes to delete", messages=[("user", "x")])
    cid = _start_chat(page, "Keep this one open")
    item_action(page, other, "item-delete")
    page.locator("#confirm-yes").click()
    expect(item(page, other)).to_have_count(0)
    expect(page).to_have_url(re.compile(f"/c/{cid}$"))
    expect(item(page, cid)).to_have_count(1)


def test_changes_from_the_api_and_other_tabs_appear_live(
    new_page: NewPage, web_server: WebServer
) -> None:
    first = new_page().page
    first.goto("/")
    expect(first.locator("#conversation-list li.list-note", has_text="Loading")).to_have_count(0)
    with api_client(web_server) as api:
        made = api.post("/conversations", json={"title": "Made by another program"})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        expect(item(first, cid).locator(".item-title")).to_have_text("Made by another program")
        renamed = api.patch(f"/conversations/{cid}", json={"title": "Renamed by another program"})
        assert renamed.status_code == 200, renamed.text
        expect(item(first, cid).locator(".item-title")).to_have_text("Renamed by another program")
        sent = api.post("/send", json={"text": "A message sent by a script"})
        assert sent.status_code == 201, sent.status_code

    # Another tab (and the open conversation's own header) follow a rename made here.
    second = new_page().page
    second.goto(f"/c/{cid}")
    expect(second.locator("#conversation-title")).to_have_text("Renamed by another program")
    item_action(first, cid, "item-rename")
    first.locator(f"#item-{cid} input.rename-input").fill("Renamed in the first tab")
    first.locator(f"#item-{cid} input.rename-input").press("Enter")
    expect(item(second, cid).locator(".item-title")).to_have_text("Renamed in the first tab")
    expect(second.locator("#conversation-title")).to_have_text("Renamed in the first tab")
    # The conversation /send made (title from its first message) is listed too.
    expect(
        first.locator("#conversation-list .item-title", has_text="A message sent by a script")
    ).to_have_count(1)


def _local_noon(now: dt.datetime, zone: ZoneInfo, days_ago: int) -> dt.datetime:
    day = now.astimezone(zone).date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(12), zone).astimezone(dt.UTC)


def test_conversations_land_in_their_groups_in_the_readers_zone(
    new_page: NewPage, seed_store: ConversationStore
) -> None:
    zone = ZoneInfo(READER_ZONE)
    now = dt.datetime.now(dt.UTC)
    local_today = now.astimezone(zone).date()
    times = {
        "today": now - dt.timedelta(minutes=2),
        "yesterday": _local_noon(now, zone, 1),
        "three days ago": _local_noon(now, zone, 3),
        "twenty days ago": _local_noon(now, zone, 20),
        "two years ago": dt.datetime(local_today.year - 2, 6, 15, 12, tzinfo=zone),
    }
    # Two earlier months of this year, when this year has them (not in January and
    # February), each at least 30 days back.
    for back in (2, 4):
        if local_today.month - back >= 1:
            times[f"{back} months back"] = dt.datetime(
                local_today.year, local_today.month - back, 15, 12, tzinfo=zone
            )
    seeded = {
        seed_conversation(
            seed_store, title=f"Grouped: {name}", messages=[("user", name)], at=at
        ): at
        for name, at in times.items()
    }
    pinned = seed_conversation(
        seed_store, title="Grouped: pinned long ago", at=times["two years ago"], pinned=True
    )

    page = new_page(timezone_id=READER_ZONE).page
    page.goto("/")
    expect(item(page, pinned)).to_have_attribute("data-group", "pinned")
    first_header = page.locator("#conversation-list li.group-header").first
    expect(first_header).to_have_attribute("data-group", "pinned")
    assert group_header_of(page, pinned) == "pinned"
    keys = {cid: expected_group(at, now, zone) for cid, at in seeded.items()}
    assert len(set(keys.values())) == len(keys)  # one conversation per bucket
    for cid, key in keys.items():
        expect(item(page, cid)).to_have_attribute("data-group", key)
        assert group_header_of(page, cid) == key, (cid, key)
    labels = {
        key: page.locator(f"#conversation-list li.group-header[data-group='{key}']").text_content()
        for key in keys.values()
    }
    assert labels["today"] == "Today" and labels["yesterday"] == "Yesterday"
    assert labels["previous-7-days"] == "Previous 7 days"
    assert labels["previous-30-days"] == "Previous 30 days"
    assert labels[str(local_today.year - 2)] == str(local_today.year - 2)
    for key, label in labels.items():
        if re.fullmatch(r"\d{4}-\d{2}", key):
            month = dt.date(int(key[:4]), int(key[5:]), 1)
            assert label == month.strftime("%B")


def test_scrolling_the_list_loads_every_page_without_repeating_headings(
    page: Page, seed_store: ConversationStore
) -> None:
    now = dt.datetime.now(dt.UTC)
    ours = [
        seed_conversation(
            seed_store, title=f"Paged {number:02d}", at=now - dt.timedelta(hours=number)
        )
        for number in range(SIDEBAR_PAGE + 8)
    ]
    total = _active_count(seed_store)
    assert total > SIDEBAR_PAGE

    page.goto("/")
    items = page.locator("#conversation-list li.conversation-item")
    expect(items).to_have_count(SIDEBAR_PAGE)
    more = page.locator("#conversation-list li.load-more")
    while (shown := items.count()) < total:
        more.scroll_into_view_if_needed()
        expect(items).not_to_have_count(shown)
    expect(items).to_have_count(total)
    expect(more).to_have_count(0)
    for cid in ours:
        expect(item(page, cid)).to_have_count(1)
    headers = page.locator("#conversation-list li.group-header").evaluate_all(
        "nodes => nodes.map(node => node.dataset.group)"
    )
    assert len(headers) == len(set(headers)), headers
    ids = items.evaluate_all("nodes => nodes.map(node => node.dataset.id)")
    assert len(ids) == len(set(ids))


def _active_count(store: ConversationStore) -> int:
    count, cursor = 0, None
    while True:
        page = store.list_conversations(status="active", limit=100, cursor=cursor)
        count += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return count
