"""The web page's server side (``server/web/pages.py``): the page and its fragments.

What the browser tests (``tests/web``) see, checked here at the HTTP level on both
engines: the page opens a conversation at its end and never with its whole history,
the sidebar pages through conversations grouped by last activity without repeating a
heading, search hits open their message, another user's conversation is the same 404
as a missing one, a visitor who must sign in is sent to the login page, and content
reaches the HTML escaped or sanitized, never raw.
"""

from __future__ import annotations

from html.parser import HTMLParser

from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, add_user, app_state
from tests.web.xss_payloads import PAYLOADS
from threadkeep.models import MessageDraft
from threadkeep.server.web.pages import MESSAGE_PAGE, SIDEBAR_PAGE
from threadkeep.store import ConversationStore


def _local(client: TestClient) -> ConversationStore:
    return app_state(client).store.as_owner("local")


def _seed(client: TestClient, count: int, title: str = "Long one") -> str:
    store = _local(client)
    conversation = store.create_conversation(title=title)
    drafts = [
        MessageDraft(role="user" if n % 2 else "assistant", content=f"message number {n}")
        for n in range(1, count + 1)
    ]
    store.append_messages(conversation.id, drafts)
    return conversation.id


class _Collect(HTMLParser):
    """Tags and attributes of a page, for asserting structure without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
    parser = _Collect()
    parser.feed(html)
    return [
        attrs
        for name, attrs in parser.tags
        if name == tag and (cls is None or cls in (attrs.get("class") or "").split())
    ]


def test_the_page_is_served_with_its_scripts_and_no_inline_script(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    scripts = _tags(response.text, "script")
    assert scripts, "the page loads its scripts"
    assert all(str(s.get("src")).startswith("/static/") for s in scripts)
    assert "<style" not in response.text
    assert " style=" not in response.text
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    for script in scripts:
        served = client.get(str(script["src"]))
        assert served.status_code == 200
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_static_files_are_versioned_by_a_path_segment(client: TestClient) -> None:
    """Guards against a browser mixing scripts of two versions: the digest is in the
    path, so a module's relative imports are versioned too, and cached for good."""
    app_js = next(
        str(s["src"]) for s in _tags(client.get("/").text, "script") if "app.js" in str(s["src"])
    )
    digest = app_js.split("/")[2]
    imported = client.get(f"/static/{digest}/js/api.js")  # what app.js imports as ./api.js
    assert imported.status_code == 200
    assert "immutable" in imported.headers["cache-control"]
    stale = client.get("/static/0123456789ab/js/app.js")  # a page from before an upgrade
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    assert client.get(f"/static/{digest}/js/no-such.js").status_code == 404


def test_a_conversation_opens_at_its_last_page(client: TestClient) -> None:
    cid = _seed(client, MESSAGE_PAGE + 30)
    page = client.get(f"/c/{cid}").text
    seqs = [int(str(a["data-seq"])) for a in _tags(page, "article", "message")]
    assert seqs == list(range(31, MESSAGE_PAGE + 31))
    older = _tags(page, "div", "load-older")
    assert len(older) == 1
    assert older[0]["hx-get"] == f"/web/conversations/{cid}/messages?before_seq=31"
    assert not _tags(page, "div", "load-newer")


def test_older_and_newer_pages_of_messages(client: TestClient) -> None:
    cid = _seed(client, MESSAGE_PAGE + 30)
    older = client.get(f"/web/conversations/{cid}/messages", params={"before_seq": 31}).text
    seqs = [int(str(a["data-seq"])) for a in _tags(older, "article", "message")]
    assert seqs == list(range(1, 31))
    assert not _tags(older, "div", "load-older"), "nothing before the first message"
    newer = client.get(f"/web/conversations/{cid}/messages", params={"after_seq": 0}).text
    seqs = [int(str(a["data-seq"])) for a in _tags(newer, "article", "message")]
    assert seqs == list(range(1, MESSAGE_PAGE + 1))
    assert len(_tags(newer, "div", "load-newer")) == 1
    both = client.get(
        f"/web/conversations/{cid}/messages", params={"before_seq": 5, "after_seq": 1}
    )
    assert both.status_code == 422
    assert both.json()["code"] == "invalid_input"


def test_a_search_hit_opens_the_conversation_at_its_message(client: TestClient) -> None:
    cid = _seed(client, 200)
    target = _local(client).get_messages(cid, after_seq=99, limit=1)[0]
    hits = client.get("/web/search", params={"q": '"message number 100"'}).text
    links = [str(a["href"]) for a in _tags(hits, "a", "search-hit")]
    assert f"/c/{cid}?message={target.id}" in links
    assert "<mark>" in hits
    page = client.get(f"/c/{cid}", params={"message": target.id}).text
    articles = _tags(page, "article", "message")
    seqs = [int(str(a["data-seq"])) for a in articles]
    assert 100 in seqs
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert len(seqs) <= MESSAGE_PAGE + 1
    highlighted = [a for a in articles if "highlight" in str(a["class"]).split()]
    assert [a["data-id"] for a in highlighted] == [target.id]
    assert len(_tags(page, "div", "load-older")) == 1
    assert len(_tags(page, "div", "load-newer")) == 1


def test_the_sidebar_pages_without_repeating_a_heading(client: TestClient) -> None:
    store = _local(client)
    pinned = store.create_conversation(title="Pinned one", pinned=True)
    for n in range(SIDEBAR_PAGE + 5):
        store.create_conversation(title=f"Chat {n}")
    first = client.get("/web/sidebar").text
    groups = [g["data-group"] for g in _tags(first, "li", "group-header")]
    assert groups == ["pinned", "today"]
    items = _tags(first, "li", "conversation-item")
    assert len(items) == SIDEBAR_PAGE
    assert items[0]["data-id"] == pinned.id
    more = _tags(first, "li", "load-more")
    assert len(more) == 1
    next_url = str(more[0]["hx-get"])
    assert "after_group=today" in next_url
    second = client.get(next_url).text
    assert _tags(second, "li", "group-header") == [], "today continues without a heading"
    assert len(_tags(second, "li", "conversation-item")) == 6
    assert not _tags(second, "li", "load-more")


def test_the_archived_view_lists_archived_ones_by_time_only(client: TestClient) -> None:
    store = _local(client)
    kept = store.create_conversation(title="Still here")
    gone = store.create_conversation(title="Archived and pinned", pinned=True)
    store.archive_conversation(gone.id)
    archived = client.get("/web/sidebar", params={"view": "archived"}).text
    items = _tags(archived, "li", "conversation-item")
    assert [i["data-id"] for i in items] == [gone.id]
    assert [g["data-group"] for g in _tags(archived, "li", "group-header")] == ["today"]
    assert _tags(archived, "button", "item-unarchive")
    active = client.get("/web/sidebar").text
    assert [i["data-id"] for i in _tags(active, "li", "conversation-item")] == [kept.id]


def test_groups_follow_the_readers_time_zone(client: TestClient) -> None:
    _local(client).create_conversation(title="Now")
    page = client.get("/web/sidebar", headers={"X-Timezone": "Pacific/Kiritimati"}).text
    assert [g["data-group"] for g in _tags(page, "li", "group-header")] == ["today"]
    bad = client.get("/web/sidebar", headers={"X-Timezone": "No/Such_Zone"})
    assert bad.status_code == 200


def test_message_kinds_and_incomplete_replies_are_marked(client: TestClient) -> None:
    store = _local(client)
    conversation = store.create_conversation(title="Kinds")
    store.append_messages(
        conversation.id,
        [
            MessageDraft(role="user", content="hi"),
            MessageDraft(role="assistant", content='{"name": "search"}', kind="tool_call"),
            MessageDraft(role="tool", content="3 results", kind="tool_result"),
            MessageDraft(role="assistant", content="# Report", kind="system_artifact"),
            MessageDraft(role="assistant", content="the provider failed", kind="error"),
            MessageDraft(role="assistant", content="half a repl", status="incomplete"),
        ],
    )
    page = client.get(f"/c/{conversation.id}").text
    kinds = [a["data-kind"] for a in _tags(page, "article", "message")]
    assert kinds == ["user", "tool", "tool", "artifact", "error", "assistant"]
    assert len(_tags(page, "span", "incomplete")) == 1
    assert len(_tags(page, "button", "copy-message")) == 6


def test_content_is_escaped_or_sanitized_everywhere(client: TestClient) -> None:
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    store = _local(client)
    conversation = store.create_conversation(title=payload, tags=["<b>tag</b>"])
    store.append_messages(
        conversation.id,
        [
            MessageDraft(role="user", content=payload + " zqxw"),
            MessageDraft(role="tool", content=payload, kind="tool_result"),
        ],
    )
    pages = [
        client.get(f"/c/{conversation.id}").text,
        client.get("/web/sidebar").text,
        client.get("/web/search", params={"q": "zqxw"}).text,
        client.get(f"/web/conversations/{conversation.id}/header").text,
    ]
    for html in pages:
        assert "<script>window" not in html
        assert not _tags(html, "img")
        parser = _Collect()
        parser.feed(html)
        handlers = [(tag, a) for tag, attrs in parser.tags for a in attrs if a.startswith("on")]
        assert handlers == []
        assert "&lt;script&gt;" in html or "&lt;img" in html


def test_another_users_conversation_is_not_found(make_client: MakeClient) -> None:
    client = make_client()
    alice = add_user(client, "alice")
    bob = add_user(client, "bob")
    mine = app_state(client).store.as_owner("alice").create_conversation(title="Alice's")
    assert client.get(f"/c/{mine.id}", headers=alice.headers).status_code == 200
    for path in (
        f"/c/{mine.id}",
        f"/web/conversations/{mine.id}/messages?after_seq=0",
        f"/web/conversations/{mine.id}/header",
    ):
        response = client.get(path, headers=bob.headers)
        assert response.status_code == 404, path
        assert "Alice&#39;s" not in response.text and "Alice's" not in response.text
    listed = client.get("/web/sidebar", headers=bob.headers).text
    assert mine.id not in listed


def test_a_visitor_who_must_sign_in_goes_to_the_login_page(make_client: MakeClient) -> None:
    client = make_client()
    add_user(client, "alice")
    page = client.get("/c/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?message=x", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/c/0190a1b2")
    fragment = client.get("/web/sidebar")
    assert fragment.status_code == 401
    assert fragment.json()["code"] == "unauthorized"


def test_a_new_chat_offers_the_providers(client: TestClient) -> None:
    page = client.get("/").text
    options = [o["value"] for o in _tags(page, "option")]
    assert "echo" in options
    cid = _seed(client, 2)
    assert not _tags(client.get(f"/c/{cid}").text, "select")


def test_the_storage_warning_is_a_banner(make_client: MakeClient) -> None:
    client = make_client(storage_warning_bytes=1)
    page = client.get("/").text
    assert len(_tags(page, "div", "storage-warning")) == 1
    quiet = make_client()
    assert not _tags(quiet.get("/").text, "div", "storage-warning")


def test_an_old_link_lands_on_the_page_with_a_note(client: TestClient) -> None:
    """Guards against a deleted conversation's link (or a mistyped one) showing an
    error document instead of the page a person can go on from."""
    cid = _seed(client, 3)
    _local(client).delete_conversation(cid)
    for path in (f"/c/{cid}", "/c/not-a-conversation-id"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert len(_tags(response.text, "div", "not-found")) == 1
        assert _tags(response.text, "form")  # the composer: a new chat starts here


def test_a_gone_message_opens_the_conversation_at_its_end(client: TestClient) -> None:
    cid = _seed(client, 5)
    for message in ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "nonsense"):
        response = client.get(f"/c/{cid}", params={"message": message})
        assert response.status_code == 200
        seqs = [int(str(a["data-seq"])) for a in _tags(response.text, "article", "message")]
        assert seqs == [1, 2, 3, 4, 5]
        assert len(_tags(response.text, "div", "not-found")) == 1


class _Title(HTMLParser):
    """The text of a page's <title>, as a browser reads it (character references
    decoded, the element's text only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data


def test_every_payload_title_is_the_documents_title_as_text(client: TestClient) -> None:
    """The browser tests load a spread of whole pages (each load is slow); here every
    XSS payload as a title comes back as the <title>'s text, so none breaks out of it."""
    store = _local(client)
    for payload in PAYLOADS:
        conversation = store.create_conversation(title=payload)
        page = client.get(f"/c/{conversation.id}").text
        head = page[: page.index("</head>")]
        parser = _Title()
        parser.feed(head)
        assert parser.text == f"{conversation.title} · threadkeep"
        assert head.count("<title>") == 1 and head.count("</title>") == 1
        assert not [tag for tag, _ in _tags_in(head) if tag not in _HEAD_TAGS]


_HEAD_TAGS = {"html", "head", "meta", "title", "link", "script"}


def _tags_in(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collect()
    parser.feed(html)
    return parser.tags
