"""Templates and static files of the web page, and the one way a page is rendered.

Templates are Jinja2 with autoescape on for every template: a value is text unless it
is :class:`markupsafe.Markup`, and the only Markup that holds message content comes
from ``markdown.py`` (rendered with raw HTML off, then cleaned by an allowlist
sanitizer). Every template gets ``csrf_token`` (the caller's, for the
``<meta name="csrf-token">`` the scripts send back in ``X-CSRF-Token``) and
``static(path)``, the URL of a static file with a digest of the static files in its
query string, so a browser never runs a script from an older version of the page.

The environment is built on first use and kept (templates are package data, read-only);
nothing is read at import.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from threadkeep.server.web import security

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "render", "static_files", "static_url"]

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"


@functools.cache
def _static_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(path: str) -> str:
    """The URL of a static file, versioned by the static files' digest."""
    return f"/static/{path}?v={_static_digest()}"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``csrf_token`` and ``static``."""
    values = {"csrf_token": security.csrf_token(request), "request": request, **context}
    body = _environment().get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def static_files() -> StaticFiles:
    """The app mounts this at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
