"""Schemathesis against the app's own OpenAPI document, as two users.

Every operation gets at least 100 generated requests (fixed seed, so a failure
reproduces), each sent once as alice and once as bob, with every check Schemathesis has
(no server errors, status codes, content types, headers and bodies as documented,
valid data accepted, invalid data rejected). Both users own data first, so reads and
writes meet real rows as well as missing ones. SQLite only: the API layer is the same
on both engines and the store's own suites cover PostgreSQL.

The owner-wide event stream (``GET /api/v1/events``) is left out: a valid request opens
a stream that only ends when the client leaves, which a request-response check cannot
wait for (``tests/server/test_events.py`` covers it, its 422s and its 401s). A send's
stream (``POST /send``, ``POST /conversations/{id}/send``) ends with its run, so sends
are tried like any other operation. An operation with no input a negative example
could break (``/health``) has no negative run: Hypothesis reports that as
unsatisfiable, not as a failure.

A random id rarely names anything, so :func:`test_sends_and_runs_conform_to_their_openapi`
also aims the send and run routes at each user's own conversation and run, and checks
what they answer — every event of a send's stream among it — against the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as _checks
from schemathesis.core.result import Ok

from tests.server.conftest import User, add_user
from threadkeep import Settings
from threadkeep.server.app import create_app

ALL_CHECKS = list(_checks.CHECKS.get_all())

#: Operations whose successful answer is an endless stream (see the module doc).
STREAMS = {"GET /api/v1/events"}


@pytest.fixture
def two_users(tmp_path: Path) -> Iterator[tuple[Any, list[User]]]:
    app = create_app(Settings.load(database_url=str(tmp_path / "api.db")), loopback=False)
    with TestClient(app) as client:
        users = [add_user(client, "alice"), add_user(client, "bob")]
        for user in users:
            made = client.post(
                "/api/v1/conversations", json={"title": f"{user.name}'s"}, headers=user.headers
            )
            cid = made.json()["id"]
            client.post(
                f"/api/v1/conversations/{cid}/messages",
                json={"role": "user", "content": f"hello from {user.name}"},
                headers=user.headers,
            )
        yield app, users


def test_api_conforms_to_its_openapi(two_users: tuple[Any, list[User]]) -> None:
    app, users = two_users
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the OpenAPI document has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        if operation.label in STREAMS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                # 50 per operation and mode (two modes, two users each): about 7,000
                # requests, the suite's longest test at 100.
                max_examples=50,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                for user in users:
                    case.call_and_validate(headers=user.headers, checks=ALL_CHECKS)

            try:
                run()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{operation.label}: no valid request could be generated")
            except Exception as error:  # each operation's failure is reported, all run
                failures.append(f"{operation.label} [{mode.value}]: {error}")
            tried += 1
    assert tried >= 2 * 20, tried
    assert not failures, "\n\n".join(failures)


#: What a response says — its status, media type, headers and body, each event of an
#: event stream included — against the document. Looked up when a test runs:
#: Schemathesis registers its checks on first use, not when it is imported.
CONFORMANCE = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)

#: The send and run routes, and which path parameters to aim at the user's own objects.
OWN_OBJECTS = (
    ("POST", "/api/v1/send"),
    ("POST", "/api/v1/conversations/{conversation_id}/send"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("POST", "/api/v1/runs/{run_id}/cancel"),
)


def _started(stream: str) -> dict[str, Any]:
    """The data of a send stream's ``run.started`` event."""
    for line in stream.splitlines():
        if line.startswith("data: ") and '"type":"run.started"' in line:
            event: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return event
    raise AssertionError(f"no run.started in {stream[:500]!r}")


def test_sends_and_runs_conform_to_their_openapi(two_users: tuple[Any, list[User]]) -> None:
    app, users = two_users
    _checks.load_all_checks()
    checks = [check for check in _checks.CHECKS.get_all() if check.__name__ in CONFORMANCE]
    assert len(checks) == len(CONFORMANCE), [check.__name__ for check in checks]
    own: dict[str, dict[str, str]] = {}
    with TestClient(app) as client:
        for user in users:
            sent = client.post("/api/v1/send", json={"text": "first"}, headers=user.headers)
            assert sent.status_code == 201, sent.text
            started = _started(sent.text)
            own[user.name] = {
                "conversation_id": started["conversation_id"],
                "run_id": started["data"]["run"]["id"],
            }
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    statuses: dict[str, set[int]] = {}
    for method, path in OWN_OBJECTS:
        operation = schema[path][method]

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            for user in users:
                for name in case.path_parameters or {}:
                    case.path_parameters[name] = own[user.name][name]
                response = case.call_and_validate(headers=user.headers, checks=checks)
                statuses.setdefault(case.operation.label, set()).add(response.status_code)

        run()
    # The successes were among what was checked: streams of both kinds, and runs.
    assert 201 in statuses["POST /api/v1/send"], statuses
    assert 200 in statuses["POST /api/v1/conversations/{conversation_id}/send"], statuses
    assert 200 in statuses["GET /api/v1/runs/{run_id}"], statuses
    assert statuses["POST /api/v1/runs/{run_id}/cancel"] == {409}, statuses
