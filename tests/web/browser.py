"""Browser tests' machinery: Debian's Chromium under Playwright, a real ``threadkeep serve``.

How it fits together, and why:

* **The browser** is Debian's ``chromium`` package, at ``THREADKEEP_TEST_CHROMIUM``
  (default ``/usr/bin/chromium``; ``scripts/test`` installs it with apt). Playwright for
  Python (the ``test`` extra) only drives it through ``executable_path``; nothing runs
  ``playwright install``, which would fetch a browser build from outside the
  distribution. The variable is read once, at import, before the suite's autouse
  fixture clears every ``THREADKEEP_*`` variable for each test.
* **Playwright's sync API and asyncio.** It runs its own event loop in a greenlet of
  the test's thread and leaves that loop marked as running between calls, so while it
  is started, ``asyncio.run`` in the same thread fails (and it refuses to start inside
  a running loop). ``tests/web/conftest.py`` therefore starts it per test module and
  stops it at the module's end: ``scripts/test`` runs ``--dist loadfile``, so a module
  stays on one xdist worker, and the other modules on that worker never see the loop.
* **The server** is the real command, ``python -m threadkeep serve``, in a subprocess
  on a free loopback port (``serve`` takes no port 0: ``--port`` starts at 1), with a
  ``THREADKEEP_HOME`` of its own and every other ``THREADKEEP_*`` variable removed. It
  is ready once ``/api/v1/health`` answers; it must print its URL as its first line,
  and stop on SIGTERM with exit status 0 (:meth:`WebServer.stop`).
* **Seeding.** Tests write through the library into the server's SQLite file while it
  runs (WAL lets the two processes share it): :meth:`WebServer.open_store`, then
  :func:`seed_conversation`. Times are set through the store's own bulk import
  (``import_conversations`` takes ``created_at``/``updated_at`` for the conversation
  and each message), so a test can place a conversation "20 days ago" without SQL.
  Live events on SQLite stay inside the server process (``server/broker.py``): what a
  test wants to see appear in an open page without a reload must go through the
  server's REST API, not through a seeding store.
* **Watching a page.** :class:`PageWatch` records what a page did that a test may have
  to rule out: JavaScript dialogs (each dismissed, so none blocks the page), console
  messages, uncaught errors, every request URL, and Content-Security-Policy
  violations (an init script — injected by Playwright, so outside the page's CSP —
  forwards ``securitypolicyviolation`` events to an exposed binding). The XSS
  detection contract of ``tests/web/xss_payloads.py``: a payload that runs sets
  ``window.__xss``, opens a dialog, logs ``__xss`` or requests ``/xss-hit``;
  :meth:`PageWatch.assert_no_script_ran` checks all of them. Reading ``window.__xss``
  sees one document only, so an init script also traps every *write* of it (a setter
  reporting to an exposed binding): a payload that runs on a page the test has since
  left is still caught.
* **Driving the page.** Small helpers the page tests share: :func:`item` and
  :func:`item_action` (an item's menu is a ``details``: its ``summary`` first),
  :func:`group_header_of` (the ``li.group-header`` an item sits under), and
  :func:`expected_group`, the sidebar's grouping rule written again for the tests from
  the SPEC, so the page's own code is checked against an independent statement of it.
  A server can take extra ``THREADKEEP_*`` settings (``WebServer.start(env=...)``),
  e.g. a provider's endpoint pointing at a fake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from tests.server.live import DEADLINE_S, free_port
from tests.web.xss_payloads import HIT_PATH, MARKER
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.server.auth import LOCAL_OWNER
from threadkeep.settings import DEFAULT_DB_FILE
from threadkeep.store.imports import ConversationImport, MessageImport

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, Request

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "IN_CI",
    "PageWatch",
    "SeedMessage",
    "WebServer",
    "api_client",
    "browser_unavailable_reason",
    "expected_group",
    "group_header_of",
    "item",
    "item_action",
    "seed_conversation",
    "seed_long_conversation",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: Read at import: the suite's autouse fixture removes THREADKEEP_* variables per test.
CHROMIUM_PATH = os.environ.get("THREADKEEP_TEST_CHROMIUM") or DEFAULT_CHROMIUM
#: Headless and quiet: no sandbox (containers run as root, where Chromium's sandbox
#: cannot start), no GPU, and none of the background traffic (updates, sync, QUIC
#: probes) that would make a request log noisy or reach the network.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
INSTALL_HINT = (
    "scripts/test installs Debian's chromium (apt-get install --no-install-recommends "
    "chromium); THREADKEEP_TEST_CHROMIUM names another binary"
)


def browser_unavailable_reason() -> str | None:
    """``None`` when Playwright imports and Chromium is there, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return (
            f"Playwright for Python is not installed ({error}); install the test extra: "
            "pip install -e '.[test]'"
        )
    if not os.access(CHROMIUM_PATH, os.X_OK):
        return f"Chromium not found at {CHROMIUM_PATH}; {INSTALL_HINT}"
    return None


# -- the server ----------------------------------------------------------------------


def server_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a server of its own: no ``THREADKEEP_*`` of the
    caller's (a developer's settings must not leak in), ``THREADKEEP_HOME`` = ``home``,
    then ``extra`` (a test's own settings, such as a provider's endpoint)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("THREADKEEP_") and name not in ("COLUMNS", "LINES")
    }
    environment["THREADKEEP_HOME"] = str(home)
    environment.update(extra or {})
    return environment


def command(database: Path, *args: str) -> list[str]:
    """``python -m threadkeep --db DATABASE ARGS``."""
    return [sys.executable, "-m", "threadkeep", "--db", str(database), *args]


def add_user(home: Path, name: str) -> str:
    """A new API key for ``name``, made with ``threadkeep users add`` (its last line)."""
    database = home / DEFAULT_DB_FILE
    added = subprocess.run(
        command(database, "users", "add", name),
        capture_output=True,
        text=True,
        env=server_environment(home),
        timeout=DEADLINE_S * 3,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


@dataclasses.dataclass
class WebServer:
    """A running ``threadkeep serve`` (see the module docstring).

    ``user`` is the owner a page's requests are (``local`` without keys; with a key,
    the key's user); ``key`` is that user's API key, ``None`` when no key exists.
    """

    url: str
    home: Path
    process: subprocess.Popen[bytes]
    user: str = LOCAL_OWNER
    key: str | None = None
    _stdout: IO[bytes] | None = None
    _stderr: IO[bytes] | None = None

    @property
    def database(self) -> Path:
        """The server's SQLite file."""
        return self.home / DEFAULT_DB_FILE

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/api/v1/health"

    @classmethod
    def start(
        cls,
        home: Path,
        *,
        user: str = LOCAL_OWNER,
        key: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WebServer:
        """Start ``serve`` over ``home``'s database; returns once it answers. ``env``
        adds variables (``THREADKEEP_*`` settings) to the server's environment."""
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        # Files, not pipes: uvicorn's access log goes to stdout, and a pipe nobody reads
        # would fill and stall the server.
        stdout = (home / "serve.out").open("wb")
        stderr = (home / "serve.err").open("wb")
        process = subprocess.Popen(
            command(home / DEFAULT_DB_FILE, "serve", "--host", "127.0.0.1", "--port", str(port)),
            stdout=stdout,
            stderr=stderr,
            env=server_environment(home, env),
        )
        server = cls(f"http://127.0.0.1:{port}", home, process, user, key, stdout, stderr)
        try:
            server._wait_ready()
        except BaseException:
            server.kill()
            raise
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE_S * 3
        while True:
            assert self.process.poll() is None, f"serve exited: {self.output()}"
            try:
                answer = httpx.get(self.health_url, timeout=2.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not answer: {self.output()}"
                time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        first = (self.home / "serve.out").read_text(errors="replace").splitlines()[:1]
        assert first and first[0].startswith(f"threadkeep is serving {self.url}"), first

    def output(self) -> str:
        """The tail of what the server wrote (stdout, then stderr)."""
        for stream in (self._stdout, self._stderr):
            if stream is not None and not stream.closed:
                stream.flush()
        return "\n".join(
            f"--- {name}\n" + (self.home / name).read_text(errors="replace")[-4000:]
            for name in ("serve.out", "serve.err")
        )

    def open_store(self) -> ConversationStore:
        """A store on the server's database for :attr:`user` (close it when done)."""
        return open_store(
            self.database, owner=self.user, settings=Settings.load(database_url=self.database_url)
        )

    def stop(self) -> None:
        """SIGTERM; the server must exit with status 0 (its output is in the failure)."""
        try:
            assert self.process.poll() is None, f"serve died early: {self.output()}"
            self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(DEADLINE_S * 2)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"serve did not exit on SIGTERM: {self.output()}") from None
            assert status == 0, f"serve exited with {status}: {self.output()}"
        finally:
            self.kill()

    def kill(self) -> None:
        """Make sure the process is gone and the log files closed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE_S)
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()


# -- seeding -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeedMessage:
    """A message to seed; ``role`` user/assistant/system/tool, ``kind`` as the store's."""

    role: str
    content: str
    kind: str = "text"
    status: str = "complete"


def seed_conversation(
    store: ConversationStore,
    *,
    title: str | None,
    messages: Sequence[SeedMessage | tuple[str, str]] = (),
    at: dt.datetime | None = None,
    pinned: bool = False,
    tags: Sequence[str] = (),
    status: str = "active",
    provider: str | None = None,
    model: str | None = None,
) -> str:
    """Write one conversation whose last activity (``updated_at``) is ``at`` (default
    now); its messages are one second apart, the last at ``at``. Returns its id.

    ``messages`` items are :class:`SeedMessage` or ``(role, content)`` pairs.
    """
    last = at if at is not None else dt.datetime.now(dt.UTC)
    drafts = [m if isinstance(m, SeedMessage) else SeedMessage(*m) for m in messages]
    count = len(drafts)
    first = last - dt.timedelta(seconds=max(count - 1, 0))
    result = store.import_conversations(
        [
            ConversationImport(
                import_key=f"web-test:{uuid.uuid4()}",
                place="tests/web seed",
                title=title,
                provider=provider,
                model=model,
                status=status,
                pinned=pinned,
                tags=tuple(tags),
                created_at=first,
                updated_at=last,
                messages=[
                    MessageImport(
                        role=draft.role,
                        content=draft.content,
                        kind=draft.kind,
                        status=draft.status,
                        created_at=first + dt.timedelta(seconds=index),
                        updated_at=first + dt.timedelta(seconds=index),
                    )
                    for index, draft in enumerate(drafts)
                ],
            )
        ]
    )
    (cid,) = result.conversation_ids
    return cid


def seed_long_conversation(
    store: ConversationStore, count: int, *, title: str = "A long conversation"
) -> str:
    """A conversation of ``count`` numbered messages, user and assistant in turn."""
    messages = [
        SeedMessage(
            "user" if index % 2 == 0 else "assistant",
            f"Message number {index + 1} of {count}.",
        )
        for index in range(count)
    ]
    return seed_conversation(store, title=title, messages=messages)


# -- watching a page -----------------------------------------------------------------

#: Forwards CSP violations to the exposed binding (an init script runs before the
#: page's own scripts and is not subject to its CSP).
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__threadkeepCspViolation(
    [event.effectiveDirective, event.blockedURI, event.sample].join(' | '));
}, true);
"""
#: Reports every write of ``window.__xss`` as it happens, so a payload that runs on a
#: page the test has already left is still seen (reading the flag sees one document).
#: Reading it stays ``undefined``, as the detection contract expects.
_FLAG_TRAP = """
Object.defineProperty(window, '__xss', {
  configurable: false,
  get() { return undefined; },
  set(value) { window.__threadkeepXssFlag(String(value) + ' at ' + location.href); },
});
"""


@dataclasses.dataclass
class PageWatch:
    """What a page did that a test may need to rule out (see the module docstring)."""

    dialogs: list[str] = dataclasses.field(default_factory=list)
    console: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    requests: list[str] = dataclasses.field(default_factory=list)
    csp_violations: list[str] = dataclasses.field(default_factory=list)
    flag_writes: list[str] = dataclasses.field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Listen to ``page`` (call before its first navigation)."""
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("request", self._on_request)
        page.expose_binding(
            "__threadkeepCspViolation",
            lambda _source, text: self.csp_violations.append(str(text)),
        )
        page.add_init_script(_CSP_LISTENER)
        page.expose_binding(
            "__threadkeepXssFlag", lambda _source, text: self.flag_writes.append(str(text))
        )
        page.add_init_script(_FLAG_TRAP)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    @property
    def xss_hits(self) -> list[str]:
        return [url for url in self.requests if HIT_PATH in url]

    def assert_no_script_ran(self, page: Page) -> None:
        """No injected script or markup took effect: no ``window.__xss``, no dialog, no
        request to ``/xss-hit``, no ``__xss`` logged (``xss_payloads``' contract)."""
        flag: Any = page.evaluate("typeof window.__xss")
        assert flag == "undefined", f"window.__xss was set ({flag})"
        assert self.flag_writes == [], f"window.__xss was set: {self.flag_writes}"
        assert self.dialogs == [], self.dialogs
        assert self.xss_hits == [], self.xss_hits
        # Only a script logs (the browser's own reports, such as CSP refusals, are
        # errors and warnings, and may quote the refused code).
        logged = [line for line in self.console if line.startswith(("log:", "info:", "debug:"))]
        assert [line for line in logged if MARKER in line] == [], logged

    def assert_no_page_errors(self) -> None:
        assert self.page_errors == [], f"uncaught errors in the page: {self.page_errors}"


# -- reading and driving the page ----------------------------------------------------

#: The ``li.group-header`` an item sits under: the nearest header before it.
_GROUP_OF_ITEM = """
(id) => {
  let node = document.getElementById(id);
  if (!node) return null;
  while ((node = node.previousElementSibling)) {
    if (node.matches('li.group-header')) return node.dataset.group;
  }
  return null;
}
"""


def group_header_of(page: Page, conversation_id: str) -> str | None:
    """The ``data-group`` of the sidebar header above ``#item-{conversation_id}``."""
    found: Any = page.evaluate(_GROUP_OF_ITEM, f"item-{conversation_id}")
    return None if found is None else str(found)


def item(page: Page, conversation_id: str) -> Locator:
    """The sidebar item of a conversation."""
    return page.locator(f"#item-{conversation_id}")


def item_action(page: Page, conversation_id: str, action: str) -> None:
    """Open the item's menu (its ``summary``, unless already open) and press
    ``action`` (a class: ``item-pin``). The page holds back redraws of the list while
    a menu is open, so the menu stays put until the action is pressed."""
    entry = item(page, conversation_id)
    if entry.locator("details.item-menu[open]").count() == 0:
        entry.locator("details.item-menu > summary").click()
    entry.locator(f".{action}").click()


def expected_group(at: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> str:
    """The sidebar group key of a conversation last active ``at``, seen at ``now`` by a
    reader in ``zone`` — written from the SPEC's rule for the tests, not imported from
    the page's code, so the two are checked against each other."""
    local = at.astimezone(zone)
    today = now.astimezone(zone).date()
    days = (today - local.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days <= 6:
        return "previous-7-days"
    if days <= 29:
        return "previous-30-days"
    if local.year == today.year:
        return f"{local.year:04d}-{local.month:02d}"
    return f"{local.year:04d}"


def api_client(server: WebServer) -> httpx.Client:
    """An HTTP client on the server's REST API (``/api/v1``), with its key if any: a
    client other than the page (as another program, or the CLI, would be)."""
    headers = {} if server.key is None else {"Authorization": f"Bearer {server.key}"}
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30)
