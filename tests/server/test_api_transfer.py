"""Export and import through real HTTP, on SQLite and PostgreSQL (SPEC S6, S8.1).

What is guarded here:

* the download's ``Content-Disposition`` for any title — quotes, CR/LF, ``;``,
  backslashes, path separators, emoji, a right-to-left override — is one ASCII header
  line that no title can end or extend, whose ``filename*`` a standard parser decodes to
  the title;
* export → import through HTTP is the identity, and importing again duplicates nothing
  (also gzipped JSON Lines);
* what can be checked is checked before the first byte: a bad format, a filter with a
  bad value, another user's id are ordinary JSON errors;
* an export never contains another user's conversations;
* an import that fails names the file, never the server's temporary directory.
"""

from __future__ import annotations

import email.message
import email.utils
import gzip
import json
import re
import tempfile
import threading
import time
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import MakeClient, add_user
from tests.server.live import DEADLINE_S, ThreadServer
from tests.server.test_api_conversations import API, assert_error, create
from tests.server.test_api_messages import messages_url, seqs
from threadkeep import MessageDraft, Settings
from threadkeep.server.app import create_app
from threadkeep.server.auth import LOCAL_OWNER
from threadkeep.server.state import ServerState


def app_state_of(app: FastAPI) -> ServerState:
    state: ServerState = app.state.threadkeep
    return state


HOSTILE_TITLES = [
    'He said "hi"',
    "two\r\nSet-Cookie: evil=1",
    "party 🎉🎈",
    "semi; filename=evil.exe",
    "back\\slash and ../../etc/passwd",
    "résumé \u2013 naïve",
    "\u202eexe.txt",
    "日本語のタイトル",
    "100% sure",
    "x" * 500,
]

_HEADER = re.compile(
    r"""attachment; filename="([ -~]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)"""
)


def filename_of(value: str) -> tuple[str, str]:
    """The ASCII fallback and the decoded UTF-8 file name of a Content-Disposition."""
    assert value.isascii() and "\r" not in value and "\n" not in value, value
    match = _HEADER.fullmatch(value)
    assert match is not None, value
    fallback = match.group(1)
    assert '"' not in fallback and "\\" not in fallback
    # A standard parser sees exactly the two parameters, whatever the title held.
    parsed = email.message.Message()
    parsed["Content-Disposition"] = value
    params = parsed.get_params(header="content-disposition")
    assert params is not None
    assert [name for name, _ in params] == ["attachment", "filename", "filename"], params
    assert params[1][1] == fallback
    encoded = params[2][1]
    assert isinstance(encoded, tuple) and encoded[0] == "UTF-8", params
    decoded = email.utils.collapse_rfc2231_value(encoded)
    assert decoded == unquote(match.group(2), errors="strict")
    return fallback, decoded


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_content_disposition_for_any_title(client: TestClient, title: str) -> None:
    cid = create(client, title=title)["id"]
    response = client.get(f"{API}/conversations/{cid}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "set-cookie" not in response.headers
    [disposition] = response.headers.get_list("content-disposition")
    fallback, decoded = filename_of(disposition)
    assert decoded.endswith(".json") and fallback.endswith(".json")
    assert not any(ch in decoded for ch in "/\\\r\n\u202e")
    assert len(decoded) <= 130
    visible = "".join(ch if ch.isprintable() else " " for ch in title)
    first_word = next(word for word in re.split(r"[\s/\\]+", visible) if word)
    assert first_word[:20] in decoded
    document = response.json()
    assert document["conversations"][0]["title"] == title


def test_a_secret_in_the_title_stays_out_of_the_file_name(client: TestClient) -> None:
    """Guards against the header leaking what redaction masks in the document."""
    secret = "AKIAIOSFODNN7EXAMPLE"  # noqa: S105 - a made-up key, to be masked
    cid = create(client, title=f"keys {secret}")["id"]
    response = client.get(f"{API}/conversations/{cid}/export")
    assert secret not in response.headers["content-disposition"]
    assert secret not in response.text
    _, name = filename_of(response.headers["content-disposition"])
    assert name == "keys [REDACTED:aws].json"
    raw = client.get(f"{API}/conversations/{cid}/export", params={"redact": "false"})
    assert filename_of(raw.headers["content-disposition"])[1] == f"keys {secret}.json"


def test_untitled_and_compressed_names(client: TestClient) -> None:
    cid = create(client)["id"]
    response = client.get(f"{API}/conversations/{cid}/export", params={"format": "markdown"})
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    _, name = filename_of(response.headers["content-disposition"])
    assert name == f"conversation-{cid[:8]}.md"
    packed = client.get(f"{API}/export", params={"format": "jsonl", "gzip": "true"})
    assert packed.status_code == 200
    assert packed.headers["content-type"] == "application/gzip"
    _, name = filename_of(packed.headers["content-disposition"])
    assert re.fullmatch(r"threadkeep-export-\d{4}-\d{2}-\d{2}\.jsonl\.gz", name)
    lines = gzip.decompress(packed.content).decode().splitlines()
    assert json.loads(lines[0])["format"] == "threadkeep"


def _seed(client: TestClient) -> list[dict[str, Any]]:
    made = []
    for title, contents in (("one", ["hello", "world"]), ("two", ["a", "b", "c"])):
        conversation = create(client, title=title, tags=["t"], context={"k": title})
        client.post(
            messages_url(conversation["id"]),
            json={"messages": [{"role": "user", "content": text} for text in contents]},
        )
        made.append(conversation)
    return made


def _contents(client: TestClient) -> dict[str, list[tuple[int, str]]]:
    listing = client.get(f"{API}/conversations", params={"status": "all"}).json()["items"]
    return {
        item["title"]: [
            (m["seq"], m["content"]) for m in client.get(messages_url(item["id"])).json()["items"]
        ]
        for item in listing
    }


@pytest.mark.parametrize(("format", "compress"), [("json", False), ("jsonl", True)])
def test_export_then_import_is_the_identity(
    client: TestClient, format: str, compress: bool
) -> None:
    made = _seed(client)
    before = _contents(client)
    exported = client.get(f"{API}/export", params={"format": format, "gzip": compress})
    assert exported.status_code == 200, exported.text
    for conversation in made:
        assert client.delete(f"{API}/conversations/{conversation['id']}").status_code == 204
    imported = client.post(
        f"{API}/import",
        content=exported.content,
        headers={"content-type": "application/octet-stream"},
    )
    assert imported.status_code == 200, imported.text
    summary = imported.json()
    assert summary["format"] == "threadkeep"
    assert summary["conversations_imported"] == 2 and summary["messages_imported"] == 5
    assert _contents(client) == before
    again = client.post(f"{API}/import", content=exported.content).json()
    assert again["conversations_imported"] == 0 and again["conversations_skipped"] == 2
    assert _contents(client) == before


def test_a_large_export_streams_whole(client: TestClient) -> None:
    cid = create(client, title="big")["id"]
    text = "lorem ipsum " * 200
    for _ in range(3):
        batch = {"messages": [{"role": "user", "content": text} for _ in range(400)]}
        assert client.post(messages_url(cid), json=batch).status_code == 201
    response = client.get(f"{API}/export", params={"format": "jsonl"})
    assert response.status_code == 200
    assert len(response.content) > 2 * 1024 * 1024
    records = [json.loads(line) for line in response.content.splitlines()]
    assert sum(1 for r in records if r.get("type") == "message") == 1200


def test_errors_come_before_the_first_byte(client: TestClient) -> None:
    cid = create(client)["id"]
    assert_error(client.get(f"{API}/export", params={"format": "pdf"}), 422, "invalid_input")
    missing = client.get(
        f"{API}/export", params={"conversation_id": "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"}
    )
    assert_error(missing, 404, "not_found")
    both = client.get(f"{API}/export", params={"conversation_id": cid, "tag": "t"})
    assert_error(both, 422, "invalid_input")
    assert_error(client.get(f"{API}/export", params={"status": "gone"}), 422, "invalid_input")
    one = client.get(f"{API}/export", params={"conversation_id": cid})
    assert one.status_code == 200 and len(one.json()["conversations"]) == 1


def test_filtered_export(client: TestClient) -> None:
    _seed(client)
    create(client, title="other", tags=["u"])
    tagged = client.get(f"{API}/export", params={"tag": "t"}).json()
    assert sorted(c["title"] for c in tagged["conversations"]) == ["one", "two"]


def test_export_never_contains_another_users_data(make_client: MakeClient) -> None:
    client = make_client(loopback=False)
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    made = client.post(f"{API}/conversations", json={"title": "alice's"}, headers=alice.headers)
    theirs = made.json()["id"]
    everything = client.get(f"{API}/export", headers=bob.headers)
    assert everything.status_code == 200
    assert everything.json()["conversations"] == []
    one = client.get(f"{API}/export", params={"conversation_id": theirs}, headers=bob.headers)
    assert_error(one, 404, "not_found")
    assert_error(
        client.get(f"{API}/conversations/{theirs}/export", headers=bob.headers), 404, "not_found"
    )
    assert_error(client.get(f"{API}/export"), 401, "unauthorized")


def test_import_a_foreign_format_by_name(client: TestClient) -> None:
    chat = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    response = client.post(
        f"{API}/import",
        params={"filename": "../../chat.json"},
        content=json.dumps(chat).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "openai-messages"
    [item] = client.get(f"{API}/conversations").json()["items"]
    assert seqs(client.get(messages_url(item["id"]))) == [1, 2, 3]
    assert item["context"]["source"]["file"] == "chat.json"


def test_import_errors_are_4xx_and_name_no_server_path(client: TestClient) -> None:
    bad = client.post(
        f"{API}/import",
        params={"format": "threadkeep", "filename": "mine.json"},
        content=b'{"format": "threadkeep", "format_version": 1, "conversations": [{"id": 5}',
    )
    body = assert_error(bad, 422, "invalid_input")
    assert "mine.json" in body["message"]
    assert "threadkeep-upload-" not in body["message"]
    assert tempfile.gettempdir() not in body["message"]
    unknown = client.post(f"{API}/import", content=b"just some text\n")
    body = assert_error(unknown, 422, "invalid_input")
    assert "threadkeep-upload-" not in body["message"]
    assert_error(client.post(f"{API}/import", content=b""), 422, "invalid_input")
    named = client.post(f"{API}/import", params={"format": "word-doc"}, content=b"{}")
    assert_error(named, 422, "invalid_input")
    assert client.get(f"{API}/conversations").json()["items"] == []


def test_a_client_that_goes_away_stops_the_export(sqlite_url: str) -> None:
    """Guards against an abandoned download leaving its export thread blocked forever."""
    app = create_app(Settings.load(database_url=sqlite_url), loopback=True)
    store = app_state_of(app).store.as_owner(LOCAL_OWNER)
    conversation = store.create_conversation(title="big")
    drafts = [MessageDraft("user", "lorem ipsum " * 500) for _ in range(2000)]
    store.append_messages(conversation.id, drafts)
    with ThreadServer(app) as server:
        url = f"{server.url}{API}/export?format=jsonl"
        with httpx.stream("GET", url) as response:
            assert response.status_code == 200
            first = next(response.iter_bytes())
            assert first
        deadline = time.monotonic() + DEADLINE_S
        while any(thread.name == "threadkeep-export" for thread in threading.enumerate()):
            assert time.monotonic() < deadline, "the export thread kept running"
            time.sleep(0.05)
