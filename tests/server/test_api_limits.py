"""Request body limits (SPEC S8.4): 413 before a body past its limit is read.

What is guarded here, through the app and through a real uvicorn on loopback:

* a body whose ``Content-Length`` is over ``max_request_bytes`` is answered 413 with
  the JSON error and **none** of it is read;
* a chunked body (no length given) is cut off at the first chunk past the limit: of a
  64 MiB body the server reads the limit and one more message of the server's;
* the import upload has its own, larger limit (``import_max_bytes``) in place of the
  general one, enforced the same two ways, and leaves no temporary file behind;
* the paths with a limit of their own are routes that exist.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from tests.server.conftest import MakeClient
from tests.server.live import ThreadServer
from tests.server.test_api_conversations import API, assert_error, create
from threadkeep import Settings
from threadkeep.server.app import create_app
from threadkeep.server.limits import LARGE_BODY_PATHS

CHUNK = 64 * 1024
SENT_AT_MOST = 64 * 1024 * 1024


class Observed:
    """An ASGI app around the real one that counts the body bytes the app pulls from the
    server and records the statuses it answers with."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.body_bytes = 0
        self.last_message = 0
        self.statuses: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.last_message = len(message.get("body", b""))
                self.body_bytes += self.last_message
            return message

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, counting_receive, watching_send)


def chunks(counter: list[int]) -> Iterator[bytes]:
    """A body of up to 64 MiB sent chunked; ``counter[0]`` counts the chunks produced."""
    for _ in range(SENT_AT_MOST // CHUNK):
        counter[0] += 1
        yield b"[" * CHUNK


def post_chunked(url: str, **kwargs: Any) -> tuple[int | None, list[int]]:
    """POST a 64 MiB chunked body; the status if a response came back, and the count of
    chunks the client produced before the server stopped it."""
    produced = [0]
    try:
        response = httpx.post(url, content=chunks(produced), timeout=30.0, **kwargs)
    except httpx.TransportError:
        return None, produced  # the server closed while the client was still sending
    return response.status_code, produced


def test_a_declared_oversized_body_is_413_unread(make_client: MakeClient) -> None:
    client = make_client(max_request_bytes=4096)
    body = {"title": "x" * 5000}
    response = client.post(f"{API}/conversations", json=body)
    error = assert_error(response, 413, "too_large")
    assert "max_request_bytes" in error["message"] and "4,096" in error["message"]
    assert response.headers["connection"] == "close"
    assert client.get(f"{API}/conversations").json()["items"] == []
    # No length given: cut off while it is read, with the same JSON error.
    chunked = client.post(
        f"{API}/conversations",
        content=iter([b'{"title": "', b"x" * 3000, b"x" * 3000, b'"}']),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in chunked.request.headers
    error = assert_error(chunked, 413, "too_large")
    assert "max_request_bytes" in error["message"]
    # Under the limit, the same route works.
    assert create(client, title="x" * 100)["title"] == "x" * 100


def test_the_import_has_its_own_limit(make_client: MakeClient) -> None:
    client = make_client(max_request_bytes=1024, import_max_bytes=64 * 1024)
    conversation = create(client, title="import me")
    for _ in range(4):
        message = {"role": "user", "content": "words " * 80}
        response = client.post(f"{API}/conversations/{conversation['id']}/messages", json=message)
        assert response.status_code == 201, response.text
    document = client.get(f"{API}/export").content
    assert 1024 < len(document) < 64 * 1024
    client.delete(f"{API}/conversations/{conversation['id']}")
    imported = client.post(f"{API}/import", content=document)
    assert imported.status_code == 200, imported.text
    too_big = client.post(f"{API}/import", content=b" " * (64 * 1024 + 1))
    error = assert_error(too_big, 413, "too_large")
    assert "import_max_bytes" in error["message"]


def test_large_body_paths_are_routes(client: TestClient) -> None:
    """Guards against a limit of its own kept for a path that moved."""
    for path in LARGE_BODY_PATHS:
        response = client.post(path, content=b"")
        assert response.status_code not in (404, 405), f"{path} is no route: {response.text}"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this process go to a directory of the test's own."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def observed(sqlite_url: str, private_tmp: Path) -> Iterator[tuple[str, Observed]]:
    """A real uvicorn on loopback serving the app behind an :class:`Observed`."""
    del private_tmp
    settings = Settings.load(
        database_url=sqlite_url, max_request_bytes=256 * 1024, import_max_bytes=512 * 1024
    )
    watcher = Observed(create_app(settings, loopback=True))
    with ThreadServer(cast(FastAPI, watcher)) as server:
        yield server.url, watcher


def test_a_chunked_body_is_cut_off_at_the_limit(observed: tuple[str, Observed]) -> None:
    """Guards against a body without a length being read (or buffered) whole."""
    url, watcher = observed
    status, produced = post_chunked(f"{url}{API}/conversations")
    assert watcher.statuses == [413]
    assert status in (413, None)
    # The body stopped being read at the first message (of whatever size the server
    # gathered) that passed the limit.
    assert watcher.body_bytes - watcher.last_message <= 256 * 1024 < watcher.body_bytes
    assert produced[0] < SENT_AT_MOST // CHUNK
    assert httpx.get(f"{url}{API}/conversations").json()["items"] == []


def test_a_declared_oversized_body_is_not_read_by_the_server(
    observed: tuple[str, Observed],
) -> None:
    url, watcher = observed
    try:
        response = httpx.post(f"{url}{API}/conversations", content=b"{" * (8 * 1024 * 1024))
        assert response.status_code == 413
        assert response.json()["code"] == "too_large"
    except httpx.TransportError:
        pass  # the server answered and closed before the client finished sending
    assert watcher.statuses == [413]
    assert watcher.body_bytes == 0


def test_a_chunked_import_is_cut_off_and_leaves_nothing(
    observed: tuple[str, Observed], private_tmp: Path
) -> None:
    url, watcher = observed
    status, produced = post_chunked(f"{url}{API}/import")
    assert watcher.statuses == [413]
    assert status in (413, None)
    assert watcher.body_bytes - watcher.last_message <= 512 * 1024 < watcher.body_bytes
    assert produced[0] < SENT_AT_MOST // CHUNK
    assert list(private_tmp.iterdir()) == []
