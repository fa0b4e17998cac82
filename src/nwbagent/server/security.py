"""Browser-facing defences: the ``Origin`` check and the security headers every response carries.

A session cookie is sent by the browser whatever page makes the request, and ``SameSite=Lax`` counts every
port of ``127.0.0.1`` as the same site: another app on this machine could otherwise abandon, convert or
delete a user's session, or read its live events over a WebSocket (WebSockets are not covered by CORS). So
a request authenticated by the cookie that changes something, and every WebSocket, must come from the
service's own origin (the ``Host`` it was reached at) or one listed in ``NWBAGENT_ALLOWED_ORIGINS``.
Requests without an ``Origin`` header are not from a page's script (browsers always send it on such
requests) and pass; a token sent as a header cannot be forged by another page at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nwbagent.server.auth import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Headers of every response unless it set its own (the pages and downloads set stricter or looser ones).
_ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-resource-policy": b"same-origin",
}
#: Data (JSON, metrics, the schema) is never a document to render or cache.
_DATA = {
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'",
    b"cache-control": b"no-store",
}
#: The interactive docs (off by default) load Swagger UI and ReDoc from a CDN with inline set-up code.
_DOCS = {
    b"content-security-policy": (
        b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
        b"style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
        b"font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
        b"https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
    ),
}
_DATA_PREFIXES = ("/api/", "/metrics", "/openapi.json")
_DOCS_PATHS = ("/docs", "/redoc")


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(conn: HTTPConnection, allowed: list[str]) -> bool:
    """Whether the request's ``Origin`` (if any) is the service itself or configured as allowed."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    if _normal(origin) in {_normal(a) for a in allowed}:
        return True
    parts = urlsplit(origin.strip())
    host = conn.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def origin_refused(conn: HTTPConnection) -> ApiError:
    shown = conn.headers.get("origin", "")[:200]
    return ApiError(
        403,
        "origin_not_allowed",
        f"Requests from the page at {shown!r} may not use this session's cookie.",
        "Use the nwbagent pages of this server, send the session token as the X-Session-Token header, or "
        "ask the operator to add the origin to NWBAGENT_ALLOWED_ORIGINS.",
    )


def security_headers(path: str) -> dict[bytes, bytes]:
    """The headers a response to ``path`` gets by default."""
    headers = dict(_ALWAYS)
    if path.startswith(_DATA_PREFIXES):
        headers.update(_DATA)
    elif path.startswith(_DOCS_PATHS):
        headers.update(_DOCS)
    return headers


class SecurityHeaders:
    """Pure ASGI middleware: adds :func:`security_headers` to responses that did not set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = security_headers(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in defaults.items() if k not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
