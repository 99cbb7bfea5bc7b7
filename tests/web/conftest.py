"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a real server.

The design (why these scopes, why a subprocess, how seeding works) is in
``tests/web/browser.py``'s docstring. The fixtures:

* ``chromium_path`` (session): ``THREADKEEP_TEST_CHROMIUM`` or ``/usr/bin/chromium``.
  When it (or Playwright) is missing the browser tests fail with ``CI=true`` and are
  skipped, with the reason, elsewhere.
* ``browser`` (module): Chromium launched headless; ``browser.version`` says which.
* ``web_server`` (module): ``threadkeep serve`` on loopback with no API key, so the
  page needs no login and every request is the local user; a :class:`WebServer` with
  ``url``, ``database``/``database_url``, ``user`` (``local``), ``key`` (``None``).
* ``keyed_server`` (module): the same, but ``threadkeep users add alice`` ran before it
  started, so the login page is in force; ``user`` is ``alice``, ``key`` her API key.
* ``seed_store`` (function): a ``ConversationStore`` for the local user on
  ``web_server``'s database; write with ``browser.seed_conversation`` (times included).
  For the keyed server, ``keyed_server.open_store()`` (owner ``alice``).
* ``new_page(server=None, *, width=1280, height=800, **context_options)``: a page in
  a browser context of its own (``base_url`` the server's URL, clipboard permissions
  granted for it), watched by a :class:`PageWatch`; returns a :class:`WatchedPage`.
  Every context is closed at teardown, and a page that threw an uncaught JavaScript
  error fails the test there.
* ``page`` / ``page_watch``: ``new_page()``'s page on ``web_server`` and its watch.

Browser modules (``test_browser_*.py``, ``test_page_*.py``) are not imported when
Playwright is missing (outside CI): they are reported as skipped, with the reason,
instead of failing to import. The other modules here do not need it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.web.browser import (
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    IN_CI,
    PageWatch,
    WebServer,
    add_user,
    browser_unavailable_reason,
)
from threadkeep import ConversationStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

#: The modules that drive the browser (the others here, such as the Markdown unit
#: tests, run without Playwright).
BROWSER_MODULES = ("test_browser_", "test_page_")
#: The user the keyed server's API key belongs to.
KEYED_USER = "alice"


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: the browser tests must run in CI", pytrace=False)
    pytest.skip(reason)


class _SkippedModule(pytest.Module):
    """A test module that cannot be imported without Playwright: skipped, not an error."""

    reason = ""

    def collect(self) -> NoReturn:
        raise pytest.skip.Exception(f"{self.path.name}: {self.reason}", allow_module_level=True)


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if not module_path.name.startswith(BROWSER_MODULES):
        return None
    reason = browser_unavailable_reason()
    if reason is None or IN_CI or not reason.startswith("Playwright"):
        return None  # the default collector (in CI a missing Playwright is an error)
    module = _SkippedModule.from_parent(parent, path=module_path)
    module.reason = reason
    return module


@pytest.fixture(scope="session")
def chromium_path() -> str:
    reason = browser_unavailable_reason()
    if reason is not None:
        _unavailable(reason)
    return CHROMIUM_PATH


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium for this module (module scope: see browser.py on asyncio)."""
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    try:
        launched = driver.chromium.launch(
            executable_path=chromium_path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        driver.stop()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``threadkeep serve`` on loopback without keys: the page needs no login."""
    server = WebServer.start(tmp_path_factory.mktemp("web-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``threadkeep serve`` on loopback once an API key exists: the login page rules."""
    home = tmp_path_factory.mktemp("keyed-server")
    key = add_user(home, KEYED_USER)
    server = WebServer.start(home, user=KEYED_USER, key=key)
    yield server
    server.stop()


@pytest.fixture
def seed_store(web_server: WebServer) -> Iterator[ConversationStore]:
    """The local user's store on ``web_server``'s database, for seeding."""
    with web_server.open_store() as store:
        yield store


@dataclasses.dataclass(frozen=True)
class WatchedPage:
    """A page in a context of its own, and what it did."""

    page: Page
    watch: PageWatch
    context: BrowserContext
    server: WebServer


NewPage = Callable[..., WatchedPage]


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    """``new_page(server=None, *, width=1280, height=800, **context_options)``; no
    ``server`` is ``web_server`` (started only then, so keyed-only modules skip it)."""
    made: list[WatchedPage] = []

    def make(
        server: WebServer | None = None,
        *,
        width: int = 1280,
        height: int = 800,
        **context_options: Any,
    ) -> WatchedPage:
        target: WebServer = server if server is not None else request.getfixturevalue("web_server")
        context = browser.new_context(
            viewport={"width": width, "height": height},
            base_url=target.url,
            **context_options,
        )
        # Copy buttons write to the clipboard; tests read it back.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=target.url)
        page = context.new_page()
        watch = PageWatch()
        watch.attach(page)
        watched = WatchedPage(page, watch, context, target)
        made.append(watched)
        return watched

    yield make
    for watched in made:
        watched.context.close()
    for watched in made:
        watched.watch.assert_no_page_errors()


@pytest.fixture
def watched_page(new_page: NewPage) -> WatchedPage:
    return new_page()


@pytest.fixture
def page(watched_page: WatchedPage) -> Page:
    """A 1280x800 page on ``web_server`` (``base_url`` set: ``page.goto("/")``)."""
    return watched_page.page


@pytest.fixture
def page_watch(watched_page: WatchedPage) -> PageWatch:
    """What ``page`` did: dialogs, console, errors, requests, CSP violations."""
    return watched_page.watch
