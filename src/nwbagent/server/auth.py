"""Who may touch which session.

A session is reachable only with its token: the ``X-Session-Token`` header, or the ``nwbagent_<id>`` cookie
(httponly, samesite=lax) set when the session was created, or a ``token`` query parameter for WebSockets,
which browsers cannot give headers. Only a hash of the token is stored. A wrong or missing token gets the
same 404 as an id that does not exist, so ids cannot be probed. Deployments can also require an API key on
every call (``NWBAGENT_API_KEYS``); the admin listing needs ``NWBAGENT_ADMIN_TOKEN``. A change made with the
cookie alone must also come from the service's own origin (``security.py``), since any page's requests carry
the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

COOKIE_PREFIX = "nwbagent_"
TOKEN_HEADER = "x-session-token"


class ApiError(Exception):
    """An HTTP error in the service's JSON shape ``{error, message, hint}`` (plus ``extra`` fields, e.g. a
    409's ``state`` and ``allowed``)."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        hint: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.hint = hint
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "hint": self.hint, **self.extra}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_name(session_id: str) -> str:
    return f"{COOKIE_PREFIX}{session_id}"


def presented_token(conn: HTTPConnection, session_id: str, *, allow_query: bool = False) -> str | None:
    token = conn.headers.get(TOKEN_HEADER) or conn.cookies.get(cookie_name(session_id))
    if token is None and allow_query:
        token = conn.query_params.get("token")
    return token


def token_from_cookie(conn: HTTPConnection, session_id: str) -> bool:
    """Whether the token :func:`presented_token` finds is the cookie, which any page's request carries."""
    return not conn.headers.get(TOKEN_HEADER) and cookie_name(session_id) in conn.cookies


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)


def not_found() -> ApiError:
    return ApiError(
        404,
        "not_found",
        "No session with this id is available to you.",
        "Check the id, and send the session's token (cookie or X-Session-Token header).",
    )


def api_key_owner(request: HTTPConnection, keys: list[str]) -> str | None:
    """The caller's API key id (a hash prefix, never the key), or None when keys are not required.

    Raises 401 when keys are configured and the request carries none of them.
    """
    if not keys:
        return None
    auth = request.headers.get("authorization", "")
    given = request.headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else None)
    if given is not None:
        for key in keys:
            if hmac.compare_digest(given.encode(), key.encode()):
                return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    raise ApiError(
        401,
        "api_key_required",
        "This deployment requires an API key.",
        "Send it as the X-API-Key header (or Authorization: Bearer <key>).",
    )


def bearer_matches(conn: HTTPConnection, secret: str | None) -> bool:
    """Whether ``Authorization: Bearer <secret>`` was sent (constant-time; False when no secret is set)."""
    if not secret:
        return False
    auth = conn.headers.get("authorization", "")
    given = auth[7:] if auth.lower().startswith("bearer ") else ""
    return hmac.compare_digest(given.encode(), secret.encode())


def require_admin(request: Request, admin_token: str | None) -> None:
    if not admin_token:
        raise ApiError(
            404, "not_found", "The admin listing is not enabled.", "Set NWBAGENT_ADMIN_TOKEN to enable it."
        )
    auth = request.headers.get("authorization", "")
    given = auth[7:] if auth.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(given.encode(), admin_token.encode()):
        raise ApiError(
            403, "forbidden", "Wrong or missing admin token.", "Send Authorization: Bearer <admin token>."
        )


def check_session_access(
    conn: HTTPConnection,
    session_id: str,
    stored: tuple[str | None, str | None] | None,
    owner: str | None,
    *,
    allow_query: bool = False,
) -> None:
    """The one access rule for a session, for REST and WebSocket alike: its token, and its owner when API
    keys are in use. ``stored`` is the session's (token hash, owner), None when there is no such session.
    Raises the same 404 whatever failed, so a caller learns nothing about sessions it cannot open."""
    if stored is None:
        raise not_found()
    token_hash, session_owner = stored
    if not token_matches(presented_token(conn, session_id, allow_query=allow_query), token_hash):
        raise not_found()
    if session_owner is not None and owner is not None and session_owner != owner:
        raise not_found()
