"""Templates and static files of the web page, and the one way a page is rendered.

Templates are Jinja2 with autoescape on for every template: a value is text unless it
is :class:`markupsafe.Markup`, and the only Markup that holds message content comes
from ``markdown.py`` (rendered with raw HTML off, then cleaned by an allowlist
sanitizer). Every template gets ``csrf_token`` (the caller's, for the
``<meta name="csrf-token">`` the scripts send back in ``X-CSRF-Token``) and
``static(path)``, the URL of a static file under a digest of all the static files
(``/static/<digest>/js/app.js``). The digest is a path segment, not a query string, so
the scripts' relative imports (``./api.js``) carry it too: every file of one version
of the page is cached by the browser for good (``immutable``, no request at all on
the next page load) and a new version is new URLs — a browser never mixes scripts of
two versions. A URL with another digest (a page loaded before an upgrade) still gets
the current file, marked ``no-cache``.

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
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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
    """The URL of a static file, under the static files' digest."""
    return f"/static/{_static_digest()}/{path}"


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
    values = {"csrf_token": security.csrf_token(request), **context}
    body = _environment().get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)


_FOREVER = "public, max-age=31536000, immutable"


class _VersionedStaticFiles(StaticFiles):
    """Static files under ``<digest>/``: cached for good when the digest is current."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        digest, _, rest = path.partition("/")
        response = await super().get_response(rest, scope)
        if response.status_code in (200, 304):
            current = digest == _static_digest()
            response.headers["Cache-Control"] = _FOREVER if current else "no-cache"
        return response


def static_files() -> StaticFiles:
    """The app mounts this at ``/static``."""
    return _VersionedStaticFiles(directory=STATIC_DIR)
