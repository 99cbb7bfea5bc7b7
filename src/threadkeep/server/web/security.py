"""The headers every response carries, and the refusal of cross-site changes.

:func:`install` adds one pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``,
which would run each request in a task of its own and buffer streamed responses): it
costs a few list operations per request, on the ``http.response.start`` message only.

**Headers.** Every response gets, unless the route set the header itself (a share page
sends a CSP of its own, with its inline style's hash):

* ``Content-Security-Policy`` (:data:`CONTENT_SECURITY_POLICY`): everything from this
  origin only, nothing inline — no ``'unsafe-inline'``, no ``'unsafe-eval'`` — so a
  script that some message content smuggled into the DOM would not run; no framing
  (``frame-ancestors 'none'``), no ``<base>``, forms post here only;
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (for browsers older
  than ``frame-ancestors``), ``Referrer-Policy: same-origin`` (a conversation's URL
  never leaves in a ``Referer``; ``no-referrer`` would also make a browser send
  ``Origin: null`` on the page's own form posts, which the check below refuses),
  ``Cross-Origin-Opener-Policy: same-origin`` (a page we open, or that opens us, gets
  no handle on our window) and
  ``Cross-Origin-Resource-Policy: same-origin`` (another site cannot embed our
  responses as images or scripts).

FastAPI's Swagger page (``/api/v1/docs``) loads its script and style from a CDN and
starts with an inline script; it gets a policy of its own
(:data:`DOCS_CONTENT_SECURITY_POLICY`) that allows exactly that, rather than no policy:
it shows no stored content, and still may not be framed or post elsewhere.

**Cross-site changes.** A state-changing request (not GET, HEAD, OPTIONS) with no
``Authorization`` header — authenticated by the session cookie, or the loopback user
who needs nothing — is refused with ``403 {"code": "csrf_failed"}`` when a browser
says it comes from another site: ``Sec-Fetch-Site`` other than ``same-origin`` or
``none`` (``same-site`` too: another port of localhost is another app), or, from a
browser that does not send ``Sec-Fetch-Site``, an ``Origin`` whose scheme, host and
port are not this server's (the request's own, from ``Host`` and its scheme, or the
``public_url`` setting's). A request with neither
header (curl, scripts) passes: only browsers send them, and a browser always sends one
of them on a cross-site POST. This is what protects the loopback user, who has no
cookie and so no CSRF token, from any web page they visit; and the login form (login
CSRF). Cookie-authenticated changes must in addition carry the session's CSRF token
(``auth.py``); :func:`csrf_token` gives it to the page. A request with a key is not
checked: a browser never adds an ``Authorization`` header by itself.

Responses made outside the app's middleware — the bare 500 of an exception no handler
took — carry none of this; they are JSON, say nothing, and are not rendered.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadkeep.server.auth import SAFE_METHODS, session_csrf_token
from threadkeep.server.errors import error_response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DOCS_CONTENT_SECURITY_POLICY",
    "SecurityMiddleware",
    "csrf_token",
    "install",
    "safe_next",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *_COMMON]
_DOCS_HEADERS = [(b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()), *_COMMON]
_SAFE = frozenset(method.encode() for method in SAFE_METHODS)
_SAME_ORIGIN_SITES = frozenset({b"same-origin", b"none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int | None]


def _origin(scheme: str, netloc: str) -> Origin | None:
    """``(scheme, host, port)`` with the default port filled in; ``None`` if unreadable."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.username is not None:
        return None
    return scheme, parts.hostname, port if port is not None else _DEFAULT_PORTS.get(scheme)


def _sent_origin(value: str) -> Origin | None:
    """The origin of an ``Origin`` header (``None`` for ``null`` or anything odd)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return None
    return _origin(scheme.lower(), rest)


class SecurityMiddleware:
    """Adds the security headers; refuses cross-site state-changing requests without a
    key (see the module doc). ``docs_path``: where FastAPI's Swagger page is served;
    ``trusted_origin``: the ``public_url`` setting's origin, if any."""

    def __init__(
        self, app: ASGIApp, *, docs_path: str | None, trusted_origin: Origin | None
    ) -> None:
        self.app = app
        self.docs_path = docs_path
        self.trusted_origin = trusted_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = self.docs_path is not None and scope["path"].startswith(self.docs_path)
        extra = _DOCS_HEADERS if docs else _HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _value in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"].encode() not in _SAFE:
            refusal = self._cross_site(scope)
            if refusal is not None:
                response = error_response(403, "csrf_failed", refusal)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)

    def _cross_site(self, scope: Scope) -> str | None:
        """Why this request without a key is refused as cross-site; ``None`` if not."""
        origin = site = host = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                return None
            if name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value
            elif name == b"host":
                host = value
        if site is not None:
            # The browser's own word on where the request comes from, which no page
            # can set; when it is there, it decides.
            if site.lower() in _SAME_ORIGIN_SITES:
                return None
            return (
                "refused a change requested by another site's page "
                f"(Sec-Fetch-Site: {site.decode('latin-1')[:40]})"
            )
        if origin is None:
            return None
        sent = _sent_origin(origin.decode("latin-1"))
        if sent is not None and sent in (self.trusted_origin, self._own_origin(scope, host)):
            return None
        return (
            "refused a change requested by another site's page (its Origin is not this "
            "server's; behind a proxy, set public_url)"
        )

    @staticmethod
    def _own_origin(scope: Scope, host: bytes | None) -> Origin | None:
        scheme = str(scope.get("scheme", "http"))
        if host is not None:
            return _origin(scheme, host.decode("latin-1"))
        server = scope.get("server")
        if server is None or server[1] is None:
            return None
        return _origin(
            scheme, f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
        )


def install(app: FastAPI) -> None:
    """Add the middleware to ``app`` (after ``limits.install`` and before the metrics'
    observer, so a 413 gets the headers and a refused request is counted)."""
    state = getattr(app.state, "threadkeep", None)
    public_url = state.settings.public_url if state is not None else None
    trusted = None
    if public_url:
        split = urlsplit(public_url)
        trusted = _origin(split.scheme.lower(), split.netloc)
    app.add_middleware(SecurityMiddleware, docs_path=app.docs_url, trusted_origin=trusted)


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's web session, for the page to send back in
    ``X-CSRF-Token``; ``""`` unless the session cookie authenticated this request (its
    owner must have been resolved first: ``auth.current_owner``). No I/O."""
    if getattr(request.state, "threadkeep_auth", None) != "session":
        return ""
    token: str = request.state.threadkeep_session
    return session_csrf_token(token)


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this server, else ``"/"``: where to go after
    signing in, never another site (``//evil.example`` and ``/\\evil.example`` are
    read by browsers as another host)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ord(char) < 0x20 or char == "\x7f" for char in target)
        or len(target) > 2_000
    ):
        return "/"
    return target
