"""The page's defences in a real browser: CSP, no inline code, XSS, login and CSRF.

* **CSP and markup**: every page answers with a Content-Security-Policy whose scripts
  come from the origin only (no ``'unsafe-inline'``, no ``'unsafe-eval'``), and its
  HTML has no inline script, no ``<style>`` and no ``style`` attribute, so the policy
  costs the page nothing.
* **XSS**: every payload of ``tests/web/xss_payloads.py`` is stored as a user and an
  assistant message, as a conversation title and (when short enough) as a tag, then
  shown everywhere it appears — each conversation (its messages and
  ``#conversation-title``), the sidebar list (scrolled to its end), the archived view
  and search results. The watch (``PageWatch``) sees any execution: a write of
  ``window.__xss`` (trapped by an init script, on every page visited), a dialog, a
  ``/xss-hit`` request, a logged marker. Titles must read back as exactly the text
  stored (text, not markup). CSP violations may be reported — that is the policy
  blocking — but nothing may run.
* **Login** (``keyed_server``): a page without a session goes to ``/login``; a wrong
  key is refused; the right one opens the page with an HttpOnly, SameSite cookie the
  page's script cannot read; a state-changing ``fetch`` without the CSRF token is
  refused, with it accepted; signing out ends the session for good.

Payload tokens: each stored text gets a search token (``zqxm…``, ``zqxt…``) after it,
one per small batch, so a search lists one batch's hits, within the sidebar's limit.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from playwright.sync_api import Page, Response, expect

if TYPE_CHECKING:
    from playwright._impl._api_structures import SetCookieParam

from tests.web.browser import PageWatch, SeedMessage, WebServer, seed_conversation
from tests.web.conftest import NewPage, WatchedPage
from tests.web.xss_payloads import PAYLOADS
from threadkeep import ConversationStore
from threadkeep.inputs import MAX_TAG_LENGTH
from threadkeep.server.web.pages import SEARCH_HITS

#: Payloads per message conversation (each as a user and an assistant message).
MESSAGE_BATCH = 25
#: Payloads per search: two hits each (user and assistant) must fit the sidebar's list.
SEARCH_BATCH = SEARCH_HITS // 2 - 1
#: Title payloads per search.
TITLE_SEARCH_BATCH = SEARCH_HITS - 2
#: Every how many conversations a whole page is loaded (see the titles test).
WHOLE_PAGE_STRIDE = 7

BLANKS = re.compile(r"[\x00-\x20\x7f]+")

_NO_HANDLERS = """
root => Array.from(root.querySelectorAll('*')).flatMap(el =>
  Array.from(el.attributes)
    .filter(a => /^on/i.test(a.name)
      || (/^(href|src|action|formaction|xlink:href)$/i.test(a.name)
          && /^\\s*(javascript|vbscript|data):/i.test(a.value)))
    .map(a => el.tagName + ' ' + a.name + '=' + a.value))
"""


class _Markup(HTMLParser):
    """What of a page's HTML could be inline code or style."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.scripts = 0
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        if tag == "script":
            self.scripts += 1
            self.inline_scripts += "src" not in names
        if tag == "style":
            self.styles.append("<style>")
        if "style" in names:
            self.styles.append(f"<{tag} style>")
        self.styles.extend(f"<{tag} {name}>" for name in names if name.startswith("on"))


def _assert_strict(response: Response | None) -> None:
    assert response is not None and response.status == 200, response
    policy = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, policy
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, policy
    assert "frame-ancestors" in directives, policy
    markup = _Markup()
    markup.feed(response.text())
    assert markup.scripts > 0
    assert markup.inline_scripts == 0
    assert markup.styles == []


def test_pages_have_a_strict_policy_and_no_inline_code(
    page: Page, seed_store: ConversationStore
) -> None:
    cid = seed_conversation(
        seed_store,
        title="Policy",
        messages=[("user", "A table?"), ("assistant", "| a | b |\n|---|---|\n| 1 | 2 |")],
    )
    _assert_strict(page.goto("/"))
    _assert_strict(page.goto(f"/c/{cid}"))
    _assert_strict(page.goto("/?view=archived"))


def _search(page: Page, watch: PageWatch, token: str, expected: int) -> None:
    page.locator("#search").fill(token)
    hits = page.locator("#search-results a.search-hit")
    expect(hits).to_have_count(expected)
    expect(page.locator("#search-results .hit-snippet mark").first).to_have_text(token)
    watch.assert_no_script_ran(page)


def _check_open_page(page: Page, watch: PageWatch) -> None:
    found = page.locator("#messages").evaluate(_NO_HANDLERS)
    assert found == [], found
    watch.assert_no_script_ran(page)


def test_payloads_as_messages_run_nowhere(new_page: NewPage, seed_store: ConversationStore) -> None:
    batches: list[tuple[str, tuple[str, ...]]] = []
    for start in range(0, len(PAYLOADS), MESSAGE_BATCH):
        payloads = PAYLOADS[start : start + MESSAGE_BATCH]
        messages: list[SeedMessage] = []
        for offset, payload in enumerate(payloads):
            token = f"zqxm{(start + offset) // SEARCH_BATCH}"
            messages += [
                SeedMessage("user", f"{payload}\n\n{token}"),
                SeedMessage("assistant", f"{payload}\n\n{token}"),
            ]
        title = f"Hostile messages {start // MESSAGE_BATCH}"
        batches.append((seed_conversation(seed_store, title=title, messages=messages), payloads))

    watched = new_page()
    page, watch = watched.page, watched.watch
    for cid, payloads in batches:
        page.goto(f"/c/{cid}")
        expect(page.locator("#messages article.message")).to_have_count(2 * len(payloads))
        # Each message's stored text is what the page holds for copying: as text.
        sources = page.locator("#messages .message-source").evaluate_all(
            "nodes => nodes.map(n => n.textContent)"
        )
        assert [s.rsplit("\n\n", 1)[0] for s in sources[::2]] == list(payloads)
        _check_open_page(page, watch)

    page.goto("/")
    for group in range(0, (len(PAYLOADS) - 1) // SEARCH_BATCH + 1):
        size = len(PAYLOADS[group * SEARCH_BATCH : (group + 1) * SEARCH_BATCH])
        _search(page, watch, f"zqxm{group}", 2 * size)
    watch.assert_no_script_ran(page)


def _scroll_to_end(page: Page, expected: int) -> None:
    items = page.locator("#conversation-list li.conversation-item")
    more = page.locator("#conversation-list li.load-more")
    expect(items.first).to_be_attached()
    while more.count():
        shown = items.count()
        more.scroll_into_view_if_needed()
        expect(items).not_to_have_count(shown)
    expect(items).to_have_count(expected)


def _titles_in_list(page: Page, ids: dict[str, str]) -> None:
    shown = page.locator("#conversation-list li.conversation-item").evaluate_all(
        "nodes => nodes.map(n => [n.dataset.id, n.querySelector('.item-title').textContent])"
    )
    titles = dict(shown)
    for cid, title in ids.items():
        assert titles.get(cid) == title, (cid, title, titles.get(cid))


def test_payloads_as_titles_and_tags_run_nowhere(
    new_page: NewPage, web_server: WebServer, seed_store: ConversationStore
) -> None:
    active: dict[str, str] = {}
    archived: dict[str, str] = {}
    tagged: dict[str, str] = {}
    for index, payload in enumerate(PAYLOADS):
        title = f"{payload} zqxt{index // TITLE_SEARCH_BATCH}"
        tags = [payload] if len(payload) <= MAX_TAG_LENGTH and payload.strip() else []
        cid = seed_conversation(
            seed_store,
            title=title,
            messages=[("user", "titled by a payload")],
            tags=tags,
            status="archived" if index % 2 else "active",
        )
        (archived if index % 2 else active)[cid] = title
        if tags:
            tagged[cid] = seed_store.get_conversation(cid).tags[0]
    with web_server.open_store() as store:
        total_active = sum(1 for _ in _all(store, "active"))
        total_archived = sum(1 for _ in _all(store, "archived"))

    watched = new_page()
    page, watch = watched.page, watched.watch
    page.goto("/")
    _scroll_to_end(page, total_active)
    _titles_in_list(page, active)
    watch.assert_no_script_ran(page)
    page.locator("#view-archived").click()
    expect(page.locator("#conversation-list")).to_have_attribute("data-view", "archived")
    _scroll_to_end(page, total_archived)
    _titles_in_list(page, archived)
    watch.assert_no_script_ran(page)

    # Search looks in active conversations: the hits are the group's active titles.
    for group in range(0, (len(PAYLOADS) - 1) // TITLE_SEARCH_BATCH + 1):
        indexes = range(group * TITLE_SEARCH_BATCH, (group + 1) * TITLE_SEARCH_BATCH)
        _search(
            page, watch, f"zqxt{group}", sum(1 for i in indexes if i < len(PAYLOADS) and i % 2 == 0)
        )

    # Each conversation's header — its title and tags — as the page redraws it when
    # a title changes (the fragment swapped in by the page's own code path), for every
    # payload; and whole pages, where the title is also the document's <title>, for a
    # spread of them (every page load costs a tenth of a second; the server renders
    # the <title> of every payload in tests/server/test_web_pages.py).
    everything = {**active, **archived}
    for cid, title in everything.items():
        shown = page.evaluate(_REDRAW_HEADER, cid)
        assert shown["title"] == title, (shown, title)
        assert shown["tags"] == ([tagged[cid]] if cid in tagged else []), shown
    _check_open_page(page, watch)
    for cid, title in list(everything.items())[::WHOLE_PAGE_STRIDE]:
        page.goto(f"/c/{cid}", wait_until="domcontentloaded")
        expect(page.locator("#conversation-title")).to_have_text(title, use_inner_text=False)
        # document.title collapses white space (and the parser turns some control
        # characters into it): compare with runs of both as one space.
        shown_title, stored = (BLANKS.sub(" ", t).strip() for t in (page.title(), title))
        assert shown_title == f"{stored} · threadkeep"
        _check_open_page(page, watch)


#: What ``messages.refreshHeader`` does when a conversation changes: fetch its header
#: fragment and put it in place; then read back what the page shows.
_REDRAW_HEADER = """
async (cid) => {
  const response = await fetch(`/web/conversations/${cid}/header`);
  const template = document.createElement('template');
  template.innerHTML = await response.text();
  document.getElementById('conversation-head').replaceChildren(template.content);
  return {
    title: document.getElementById('conversation-title').textContent,
    tags: Array.from(document.querySelectorAll('#conversation-tags .tag'), (t) => t.textContent),
  };
}
"""


def _all(store: ConversationStore, status: str) -> list[str]:
    found, cursor = [], None
    while True:
        page = store.list_conversations(status=status, limit=100, cursor=cursor)
        found += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return found


# -- login, cookie and CSRF ----------------------------------------------------------

_CREATE = """async (withToken) => {
  const headers = {'Content-Type': 'application/json'};
  if (withToken) headers['X-CSRF-Token'] =
    document.querySelector('meta[name=csrf-token]').content;
  const r = await fetch('/api/v1/conversations',
    {method: 'POST', headers, body: JSON.stringify({title: 'from the page'})});
  return r.status;
}"""


def _signed_in(new_page: NewPage, server: WebServer) -> WatchedPage:
    """A page whose context holds a session, made by posting the key to ``/login``
    from the context's own request client (not through the form)."""
    watched = new_page(server)
    signed = watched.context.request.post(
        f"{server.url}/login", form={"key": server.key or "", "next": "/"}, max_redirects=0
    )
    assert signed.status == 303, signed.text()
    watched.page.goto("/")
    expect(watched.page).to_have_url(re.compile(r"/$"))
    return watched


def test_a_page_without_a_session_goes_to_the_login_page(
    new_page: NewPage, keyed_server: WebServer
) -> None:
    page = new_page(keyed_server).page
    page.goto("/c/00000000-0000-7000-8000-000000000000")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fc%2F|/login\?next=/c/"))
    _assert_strict(page.goto("/login"))
    expect(page.locator("#login-key")).to_be_visible()


def test_the_login_form_refuses_a_wrong_key_and_takes_the_right_one(
    new_page: NewPage, keyed_server: WebServer
) -> None:
    assert keyed_server.key is not None
    page = new_page(keyed_server).page
    page.goto("/")
    page.locator("#login-key").fill("tk_not-a-real-key")
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-key")).to_have_value("")
    page.locator("#login-key").fill(keyed_server.key)
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#conversation-list")).to_be_visible()


def test_the_session_cookie_is_hidden_and_changes_need_the_csrf_token(
    new_page: NewPage, keyed_server: WebServer
) -> None:
    watched = _signed_in(new_page, keyed_server)
    page = watched.page
    expect(page.locator("#conversation-list")).to_be_visible()
    (session,) = watched.context.cookies()
    assert session.get("httpOnly") is True
    assert session.get("sameSite") in ("Lax", "Strict")
    cookies = page.evaluate("document.cookie")
    assert session["name"] not in cookies and session["value"] not in cookies
    assert page.evaluate(_CREATE, False) == 403
    assert page.evaluate(_CREATE, True) == 201


def test_signing_out_ends_the_session(new_page: NewPage, keyed_server: WebServer) -> None:
    watched = _signed_in(new_page, keyed_server)
    page, context = watched.page, watched.context
    (cookie,) = context.cookies()
    session: SetCookieParam = {
        "name": cookie["name"],
        "value": cookie["value"],
        "url": keyed_server.url,
    }
    page.locator("#logout-form button").click()
    expect(page).to_have_url(re.compile(r"/login"))
    # The old cookie, put back, opens nothing: the session ended on the server.
    context.add_cookies([session])
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("fetch('/api/v1/conversations').then(r => r.status)") == 401
