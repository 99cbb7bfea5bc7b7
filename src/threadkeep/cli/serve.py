"""``threadkeep serve``: the REST API (and what else the app mounts) under uvicorn.

One command, the embedded SQLite default, ``http://127.0.0.1:8765``: the URL is
printed first, then uvicorn serves ``server.app.create_app``. Orphaned runs are marked
interrupted by the app at start; SIGTERM and SIGINT are uvicorn's graceful shutdown —
the listening socket closes, in-flight requests (an append waiting for its commit)
finish, then the store closes — so nothing acknowledged is lost — and the command exits
with status 0.

Safety: bound to anything but a loopback address, the API needs keys, and with none
configured the command refuses to start (exit 2), saying how to create one — unless
the operator passes ``--insecure-no-auth``, which serves everyone who can reach the
port as the one local user, with a warning at start.

``--workers N`` runs N processes (uvicorn's supervisor); each builds its own app from
the environment, so the flags given here are handed to them as ``THREADKEEP_*``
variables (and ``THREADKEEP_SERVE_NO_AUTH`` for ``--insecure-no-auth``). On SQLite
they share the file (its write lock orders them); on PostgreSQL, events reach every
process's clients through LISTEN/NOTIFY.

Speed: uvicorn runs on uvloop and parses HTTP with httptools (dependencies of the
package; uvicorn picks them when present), and the objects made while starting are
frozen out of the garbage collector's full collections (:func:`freeze_startup_objects`).

Logging is ``server/logs.py``'s (``log_format``, ``log_level``), in this process and in
every worker: uvicorn's access line names the route template, never the raw path or
its query string (a search query is the user's own words).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from threadkeep.accounts import Accounts
from threadkeep.cli._context import DbOption, cli_settings
from threadkeep.cli.output import errors_to_exit_codes, say, warn
from threadkeep.errors import InvalidInput
from threadkeep.server.app import create_app, is_loopback
from threadkeep.server.logs import configure_logging, log_config
from threadkeep.settings import Settings
from threadkeep.store import open_store

__all__ = ["app", "app_from_environment"]

log = logging.getLogger(__name__)

app = typer.Typer()

#: Set (to ``1``) in the environment of worker processes started with --insecure-no-auth.
NO_AUTH_VARIABLE = "THREADKEEP_SERVE_NO_AUTH"
#: Seconds uvicorn waits for open connections (event streams) at shutdown before it
#: cancels them; requests such as appends finish well within it.
GRACEFUL_SHUTDOWN_SECONDS = 30


def url_of(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def _has_keys(settings: Settings) -> bool:
    with open_store(settings=settings) as store:
        return Accounts(store.database, settings).has_keys()


def _refusal(host: str) -> InvalidInput:
    return InvalidInput(
        f"refusing to serve on {host}, which is not a loopback address, without API keys: "
        "anyone who can reach it would read and change every conversation. Create a key "
        "with `threadkeep users add NAME` (requests then need `Authorization: Bearer "
        "<key>`), or bind 127.0.0.1, or — only on a network you trust entirely — pass "
        "--insecure-no-auth"
    )


def _stopped(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise SystemExit(0)


def app_from_environment() -> FastAPI:
    """The app of a worker process (``--workers`` > 1): settings from the environment."""
    no_auth = os.environ.get(NO_AUTH_VARIABLE) == "1"
    made = create_app(Settings.load(), loopback=True if no_auth else None)
    freeze_startup_objects()
    return made


def freeze_startup_objects() -> None:
    """Take everything alive once the app is built — modules, the app with its routes
    and schemas, the engine — out of the garbage collector's sight (``gc.freeze``).

    They live as long as the process, yet each full collection scans them all again:
    measured under the HTTP load benchmark at 60-100 ms per full collection, about
    twice a second, with every request in flight waiting (that was the p99). Frozen, a
    full collection walks only what the requests made: a few milliseconds. Garbage is
    collected first, so nothing dead is kept.
    """
    gc.collect()
    gc.freeze()


@app.command(rich_help_panel="Server")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to bind (default: the server_host setting, 127.0.0.1). Any "
            "non-loopback address needs API keys.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=1,
            max=65535,
            help="Port to listen on (default: the server_port setting, 8765).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", metavar="N", min=1, max=64, help="Server processes to run."),
    ] = 1,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve a non-loopback address without API keys: everyone who can reach "
            "it is the local user. Only for a network you trust entirely.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run the HTTP server: the REST API under `/api/v1` on http://127.0.0.1:8765.

    The URL is printed at start. Stop it with Ctrl-C or SIGTERM: requests in flight
    finish first, so nothing acknowledged is lost. Bound to an address other than
    loopback it requires API keys (`threadkeep users add NAME`) and refuses to start
    without one.

    Examples:

        threadkeep serve
        threadkeep serve --port 9000 --db ~/chats.db
        threadkeep serve --host 0.0.0.0 --workers 4
    """
    with errors_to_exit_codes():
        overrides: dict[str, object] = {}
        if host is not None:
            overrides["server_host"] = host
        if port is not None:
            overrides["server_port"] = port
        settings = cli_settings(ctx, db, **overrides)
        bind, listen = settings.server_host, settings.server_port
        unprotected = not is_loopback(bind) and not _has_keys(settings)
        if unprotected and not insecure_no_auth:
            raise _refusal(bind)
        # After the check, so that a refusal is its one error line.
        configure_logging(settings)
        if unprotected:
            warn(
                f"--insecure-no-auth: serving {bind} with NO authentication; everyone who "
                "can reach this port reads and changes every conversation"
            )
            log.warning("serving %s without authentication (--insecure-no-auth)", bind)
        # Unprotected: requests without a key are the local user, as on loopback.
        loopback = True if unprotected else None
        factory = workers > 1
        if factory:
            # Each worker builds its app from the environment: hand it the flags.
            for name, value in overrides.items():
                os.environ[f"THREADKEEP_{name.upper()}"] = str(value)
            if settings.database_url is not None:
                os.environ["THREADKEEP_DATABASE_URL"] = settings.database_url
            if unprotected:
                os.environ[NO_AUTH_VARIABLE] = "1"
            target: str | FastAPI = f"{__name__}:app_from_environment"
        else:
            target = create_app(settings, loopback=loopback)
            freeze_startup_objects()
    say(f"threadkeep is serving {url_of(bind, listen)}  (API: {url_of(bind, listen)}/api/v1)")
    sys.stdout.flush()
    # Uvicorn shuts down gracefully on these, then raises the signal again for the
    # handler in place before it ran: ours makes that a clean exit (status 0).
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    uvicorn.run(
        target,
        host=bind,
        port=listen,
        factory=factory,
        workers=workers if factory else None,
        log_config=log_config(settings),
        log_level=settings.log_level.lower(),
        access_log=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
