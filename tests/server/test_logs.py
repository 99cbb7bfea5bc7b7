"""The server's logs never hold message content, titles, keys, tokens or passwords.

The main test plants secrets — a provider key and a GitHub token in a title and in
message content, plain words in both, a real and a wrong API key in Authorization
headers, share tokens in paths, a search query, a password in the database URL — then
runs the real app under a real uvicorn on loopback at DEBUG, in both formats, through
successes, 4xx errors and a forced 500, and greps everything written (the root
handler, which uvicorn's loggers and every library's propagate to).

Guards against: uvicorn's access line printing a raw path (share token) or query
(what a person searched for), SQLAlchemy's INFO logging of statements with their
parameters (message content) when the level is DEBUG, a traceback carrying a secret
from an exception message, and records that bypass the redacting handler.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import secrets
import socket
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from threadkeep import ConversationStore, Settings
from threadkeep.models import Conversation
from threadkeep.server.app import create_app
from threadkeep.server.logs import (
    OWN_LOGGERS,
    RequestFilter,
    RequestInfo,
    configure_logging,
    current_request,
    log_config,
    masked_path,
)

DEADLINE = 30.0
_ALNUM = string.ascii_letters + string.digits

MANAGED_LOGGERS = (
    *OWN_LOGGERS,
    "uvicorn.asgi",
    "alembic",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "python_multipart",
)


def _random(length: int) -> str:
    # Keys look random: lower, upper and digits (what redact checks for).
    return "aZ9" + "".join(secrets.choice(_ALNUM) for _ in range(length - 3))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test configures logging for the whole process: put it back afterwards."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name in MANAGED_LOGGERS
        for logger in (logging.getLogger(name),)
    }
    yield
    for handler in root.handlers:
        if handler not in saved_root[1]:
            handler.close()
    root.handlers[:] = saved_root[1]
    root.setLevel(saved_root[0])
    for name, (level, handlers, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled


@contextmanager
def serving(app: FastAPI, config: dict[str, Any]) -> Iterator[str]:
    """``app`` under a real uvicorn on 127.0.0.1 (a free port), configured with ``config``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=config, access_log=True))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        sock.close()


def with_password(db_url: str, password: str) -> tuple[str, str]:
    """``db_url`` with a password in it (PostgreSQL's test server trusts local users,
    so a planted one is accepted); the password to look for. SQLite has none."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return db_url, password
    if url.password:
        return db_url, str(url.password)
    return url.set(password=password).render_as_string(hide_password=False), password


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_or_content_reaches_the_logs(
    db_url: str, log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_key = "sk-proj-" + _random(48)
    github_token = "ghp_" + _random(36)
    content_word = "zebra" + secrets.token_hex(6)
    title_word = "okapi" + secrets.token_hex(6)
    query_word = "quokka" + secrets.token_hex(6)
    share_like = secrets.token_urlsafe(32)
    wrong_key = f"tk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    database_url, password = with_password(db_url, "Planted-pw-" + secrets.token_hex(6))

    settings = Settings.load(
        database_url=database_url,
        log_level="DEBUG",
        log_format=log_format,
        public_url=f"https://admin:{password}@threadkeep.example",
    )
    app = create_app(settings, loopback=True)
    _user, key = app.state.threadkeep.accounts.add_user("alice")
    auth = {"Authorization": f"Bearer {key}"}
    written = io.StringIO()
    planted = [openai_key, github_token, content_word, title_word, query_word, share_like]
    planted += [wrong_key, key, password]

    with (
        serving(app, log_config(settings, stream=written)) as base,
        httpx.Client(base_url=base, timeout=DEADLINE) as http,
    ):
        made = http.post(
            "/api/v1/conversations", json={"title": f"{title_word} {openai_key}"}, headers=auth
        )
        assert made.status_code == 201, made.text
        conversation_id = made.json()["id"]
        messages = f"/api/v1/conversations/{conversation_id}/messages"
        content = f"{content_word}: my key is {openai_key}, token {github_token}"
        appended = http.post(messages, json={"role": "user", "content": content}, headers=auth)
        assert appended.status_code == 201, appended.text
        assert http.get(messages, headers=auth).status_code == 200
        renamed = http.patch(
            f"/api/v1/conversations/{conversation_id}",
            json={"title": f"{title_word} {github_token}"},
            headers=auth,
        )
        assert renamed.status_code == 200, renamed.text
        found = http.get("/api/v1/search", params={"q": content_word}, headers=auth)
        assert found.status_code == 200, found.text
        assert http.get("/api/v1/search", params={"q": query_word}, headers=auth).is_success
        shared = http.post(f"/api/v1/conversations/{conversation_id}/shares", headers=auth)
        assert shared.status_code == 201, shared.text
        token = shared.json()["token"]
        planted.append(token)
        assert http.get(f"/share/{token}").status_code == 200
        assert http.get(f"/share/{token}.json").status_code == 200
        # 4xx: no key, a wrong key, an unknown share, no route, bad input.
        assert http.get("/api/v1/conversations").status_code == 401
        wrong = {"Authorization": f"Bearer {wrong_key}"}
        assert http.get("/api/v1/conversations", headers=wrong).status_code == 401
        assert http.get(f"/share/{share_like}").status_code == 404
        assert http.get(f"/no/route/{share_like}?q={query_word}").status_code == 404
        bad = http.post(messages, json={"role": openai_key, "content": content}, headers=auth)
        assert bad.status_code == 422
        # 500: the store fails with a secret in the exception's message.
        detail = f"forced failure: {openai_key}"

        def broken(self: ConversationStore, conversation_id: str) -> Conversation:
            raise RuntimeError(detail)

        monkeypatch.setattr(ConversationStore, "get_conversation", broken)
        failed = http.get(f"/api/v1/conversations/{conversation_id}", headers=auth)
        assert failed.status_code == 500
        monkeypatch.undo()

    text = written.getvalue()
    for secret in planted:
        assert secret not in text, f"planted {secret[:12]}… found in the {log_format} log"
    if log_format == "json":
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        for entry in entries:
            assert {"time", "level", "logger", "message"} <= set(entry)
        shown = "\n".join(entry["message"] + entry.get("exception", "") for entry in entries)
    else:
        shown = text
    # The log is there, and says what happened without saying what was in it.
    assert "RuntimeError" in shown
    assert "forced failure: [REDACTED:openai]" in shown
    for line in (
        '"GET /share/{token} HTTP/1.1" 200',
        '"GET /share/{token}.json HTTP/1.1" 200',
        '"GET /share/{token} HTTP/1.1" 404',
        '"GET /api/v1/search HTTP/1.1" 200',
        '"GET /no/route/* HTTP/1.1" 404',
        '"GET /api/v1/conversations HTTP/1.1" 401',
        '"POST /api/v1/conversations/{conversation_id}/messages HTTP/1.1" 422',
        '"GET /api/v1/conversations/{conversation_id} HTTP/1.1" 500',
    ):
        assert line in shown, f"{line} not in {shown}"
    if log_format == "json":
        access = [e for e in entries if e["logger"] == "uvicorn.access"]
        assert {
            "method": "GET",
            "route": "/api/v1/conversations/{conversation_id}",
            "status": 500,
        } in [e["request"] for e in access]
        errors = [e for e in entries if e["level"] == "ERROR"]
        assert any("[REDACTED:openai]" in e.get("exception", "") for e in errors)
    else:
        assert " INFO uvicorn.access: " in text
        assert "[GET /api/v1/conversations/{conversation_id}]" in text


def test_third_party_loggers_are_held_at_warning() -> None:
    configure_logging(Settings.load(log_level="DEBUG"), stream=io.StringIO())
    assert logging.getLogger("threadkeep.server").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("uvicorn.access").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("alembic").getEffectiveLevel() == logging.INFO  # revision names
    for name in ("sqlalchemy.engine.Engine", "python_multipart.multipart", "httpx", "asyncio"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    configure_logging(Settings.load(log_level="ERROR"), stream=io.StringIO())
    assert logging.getLogger("threadkeep").getEffectiveLevel() == logging.ERROR
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.ERROR


def test_configuring_twice_writes_each_line_once() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(Settings.load(log_format="json"), stream=first)
    configure_logging(Settings.load(log_format="json"), stream=second)
    logging.getLogger("threadkeep.test").warning("only %s", "once")
    assert first.getvalue() == ""
    [line] = second.getvalue().splitlines()
    assert json.loads(line)["message"] == "only once"


def test_every_line_is_redacted_whoever_logs_it() -> None:
    written = io.StringIO()
    configure_logging(
        Settings.load(log_format="text", redact_patterns={"ticket": "TKT-[0-9]{6}"}),
        stream=written,
    )
    key = "sk-" + _random(40)
    api_key = f"tk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    logging.getLogger("some.library").warning("connecting with %s and %s", key, api_key)
    logging.getLogger("threadkeep").error("ticket TKT-123456 and Authorization: Bearer abcdefgh12")
    try:
        raise ValueError(f"bad {key}")
    except ValueError:
        logging.getLogger("threadkeep").exception("failed")
    text = written.getvalue()
    assert key not in text and api_key not in text
    assert "TKT-123456" not in text and "abcdefgh12" not in text
    assert "[REDACTED:threadkeep]" in text and "[REDACTED:ticket]" in text
    assert "ValueError: bad [REDACTED:openai]" in text


def test_the_config_can_be_sent_to_uvicorn_workers() -> None:
    """uvicorn sends its config to each worker process: no open stream in it."""
    config = log_config(Settings.load(log_format="json"))
    assert pickle.loads(pickle.dumps(config)) == config  # noqa: S301 - our own bytes


def test_masked_path() -> None:
    assert masked_path("/share/abc?x=1") == "/share/*"
    assert masked_path("/api/v1/conversations/0190-abc/messages") == (
        "/api/v1/conversations/*/messages"
    )
    assert masked_path("/no/route/here") == "/no/route/here"
    assert masked_path("/shares/plainword/x") == "/shares/*/x"
    assert masked_path("/") == "/"


def _access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 404),
        None,
    )


def test_the_access_line_names_the_route() -> None:
    token = current_request.set(RequestInfo("GET", "/share/{token}", 404))
    try:
        record = _access_record("/share/s3cret-t0ken?download=1")
        assert RequestFilter().filter(record)
    finally:
        current_request.reset(token)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /share/{token} HTTP/1.1" 404'
    assert record.request == {"method": "GET", "route": "/share/{token}", "status": 404}  # type: ignore[attr-defined]

    unrouted = _access_record("/x/s3cret-t0ken?q=private")
    assert RequestFilter().filter(unrouted)
    assert unrouted.getMessage() == '127.0.0.1:5000 - "GET /x/* HTTP/1.1" 404'
