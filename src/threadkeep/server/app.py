"""``create_app(settings)``: the FastAPI app, its routers, middleware and lifecycle.

The app opens one store (the engine, migrations and broker are shared by every
request; each request gets ``store.as_owner(owner)``), one account registry, the
metrics, the daily cleanup schedule, and the agent runtime's run queue (one per app,
shared by every send: one run at a time per conversation, SPEC S4.5). At start it marks
runs orphaned by a previous process as interrupted (SPEC S4.7) and starts the broker's
cross-process listener and the schedule; at shutdown it stops them and closes the
store. Uvicorn's graceful shutdown lets in-flight requests finish first, so nothing
acknowledged is lost; sends still running after it are cancelled (their runs end
``cancelled``) and the titles being made are awaited before the store closes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from fastapi import FastAPI

from threadkeep import __version__
from threadkeep.accounts import Accounts
from threadkeep.server import errors, limits, schemas
from threadkeep.server.api import (
    conversations,
    events,
    health,
    messages,
    runs,
    search,
    send,
    shares,
    transfer,
)
from threadkeep.server.api import (
    metrics as metrics_api,
)
from threadkeep.server.broker import ServerBroker
from threadkeep.server.metrics import Metrics
from threadkeep.server.schedule import CleanupSchedule
from threadkeep.server.state import ServerState
from threadkeep.server.web import login, pages, security
from threadkeep.server.web.render import static_files
from threadkeep.settings import Settings
from threadkeep.store import open_store

__all__ = ["API_PREFIX", "create_app", "is_loopback"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(
    settings: Settings | None = None,
    *,
    loopback: bool | None = None,
    plugins: pluggy.PluginManager | None = None,
) -> FastAPI:
    """The app for ``settings`` (default: loaded from the environment and TOML).

    ``loopback``: whether the server is reachable from this machine only; by default
    read from ``settings.server_host``. It decides whether requests without an API key
    are the local user (``auth.py``). ``plugins``: the plugin manager the model
    providers are looked up in (default: the process's, with every installed plugin).
    """
    settings = settings if settings is not None else Settings.load()
    broker = ServerBroker()  # cross-process delivery is chosen at start, by the engine
    store = open_store(settings=settings, broker=broker)
    metrics = Metrics(store)
    state = ServerState(
        settings=settings,
        store=store,
        broker=broker,
        accounts=Accounts(store.database, settings),
        metrics=metrics,
        schedule=CleanupSchedule(store, settings, on_run=metrics.record_cleanup),
        loopback=is_loopback(settings.server_host) if loopback is None else loopback,
        plugins=plugins,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        interrupted = store.mark_interrupted_runs(all_owners=True)
        if interrupted:
            log.info("marked %d orphaned run(s) interrupted", len(interrupted))
        await broker.start(store)
        state.schedule.start()
        try:
            yield
        finally:
            await state.sends.close()  # before the store closes: runs end, titles land
            await state.schedule.stop()
            await broker.stop()
            store.close()

    app = FastAPI(
        title="threadkeep",
        version=__version__,
        summary="A durable conversation store for LLM chat apps and agents.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.threadkeep = state
    _document_components(app, schemas.send_event_components())
    errors.install(app)
    limits.install(app, settings)
    # Inside the metrics (its refusals are counted), outside the limits (their 413s
    # carry the headers too).
    security.install(app)
    state.metrics.install(app)
    routers = (conversations, messages, send, runs, search, transfer, shares, events, health)
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX)
    for module in (shares, metrics_api):
        app.include_router(module.public_router)
    # The web page (SPEC S10): its pages and fragments, the login page, static files,
    # and the headers and CSRF check every response and request goes through.
    app.include_router(login.router)
    app.include_router(pages.router)
    app.mount("/static", static_files(), name="static")
    return app


def _document_components(app: FastAPI, extra: dict[str, Any]) -> None:
    """Add to ``app``'s OpenAPI document component schemas that no route names as its
    model (what the events of a send's stream refer to); those it has are kept."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()  # FastAPI's, which it keeps as app.openapi_schema
            found = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in extra.items():
                found.setdefault(name, schema)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
