"""Per-client request limits, so one client cannot starve the others of conversions, LLM calls or the API.

Each endpoint belongs to a class (``convert``, ``upload``, ``chat_llm``, ``chat``, ``status``, ``health``)
whose limits come from ``NWBAGENT_LIMIT_<CLASS>`` ("5/hour;20/day": every part must hold). Requests are
counted, not outcomes: a conversion that is refused for the session's state still used a request, which is
what a limit on attempts is for, and the check can then happen before any work starts.

The strategy is the moving window: a fixed window lets a client spend twice its limit across a window
boundary (the end of one hour and the start of the next), which matters for scarce things like
conversions; a moving window never allows more than the limit in any period, and its reset time (when the
oldest counted request leaves the window) is exactly the ``Retry-After`` the client should wait. It keeps
one timestamp per counted request, which is cheap at these limits.

Who a client is: its API key when it sent a valid one, else its IP address; for the cheap status-like
classes, a session whose token it proved also counts as the client. The costly classes (conversions,
uploads, LLM chat) are never keyed by session: a session costs nothing to create, so per-session buckets
would let anyone reset their limit by starting a new one. ``X-Forwarded-For`` is believed only from a peer
listed in ``NWBAGENT_TRUSTED_PROXIES``, and then the right-most address not itself a trusted proxy is the
client: everything to its left was written by the client and could be anything.

Counts live in ``NWBAGENT_RATE_LIMIT_STORAGE`` (memory by default; ``redis://`` shares them between app
instances; ``?key_prefix=…`` on the URI keeps several deployments apart in one Redis). If that storage
fails, requests are let through and the failure logged: losing limits for a while is better than losing
the service. Concurrent WebSockets are counted in the app process only: a shared count would need every
instance to take back its connections when it dies, and a crashed instance would otherwise hold its
clients' slots forever; with several instances a client may therefore hold the cap on each.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.requests import HTTPConnection

from nwbagent.server.auth import ApiError, api_key_owner
from nwbagent.settings import Settings

log = logging.getLogger("nwbagent.server.ratelimit")

LimitClass = Literal["convert", "upload", "chat_llm", "chat", "status", "health"]
LIMIT_CLASSES: tuple[LimitClass, ...] = ("convert", "upload", "chat_llm", "chat", "status", "health")

#: Close code for a WebSocket refused by the connection cap: the WebSocket twin of HTTP 429. A refused
#: handshake would only show browsers a bare 1006, so the socket is accepted and then closed with this.
WS_CLOSE_RATE_LIMITED = 4429

_DEFAULT_PREFIX = "nwbagent-ratelimit"
_STORAGE_LOG_EVERY_S = 60.0


class RateLimited(ApiError):
    """A 429 that also says which limit was hit and when to come back."""

    def __init__(self, item: RateLimitItem, retry_after: int) -> None:
        limit = describe(item)
        super().__init__(
            429,
            "rate_limited",
            f"Too many requests: the limit is {limit}. Try again in {retry_after} s.",
            "Wait for Retry-After seconds; ask the operator to raise the limit if you need more.",
        )
        self.limit = limit
        self.period = item.get_expiry()
        self.retry_after = retry_after


def describe(item: RateLimitItem) -> str:
    """ "5 per 1 hour": the amount and the period in words, as a client would read it."""
    return f"{item.amount} per {item.multiples} {item.GRANULARITY.name}"


def rate_limited_response(exc: RateLimited) -> JSONResponse:
    body = {
        "error": exc.error,
        "message": exc.message,
        "hint": exc.hint,
        "retry_after": exc.retry_after,
        "limit": exc.limit,
        "period": exc.period,
    }
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after)})


def _async_storage_uri(uri: str) -> tuple[str, dict[str, Any]]:
    """The async form of a ``limits`` storage URI and its options.

    The async storage keeps a slow or unreachable Redis from blocking the event loop. Redis goes through
    redis-py (installed) rather than the default coredis, with short timeouts so a dead Redis costs a
    request about a second, not forever. ``key_prefix`` is taken from the query string because it is an
    option of the storage, not of the Redis connection.
    """
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "key_prefix"), _DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "key_prefix"])
    scheme = parts.scheme if parts.scheme.startswith("async+") else f"async+{parts.scheme}"
    options: dict[str, Any] = {}
    if "redis" in scheme or "valkey" in scheme:
        options = {"key_prefix": prefix, "socket_connect_timeout": 1.0, "socket_timeout": 1.0}
        if "redis" in scheme:
            options["implementation"] = "redispy"
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), options


class RateLimits:
    """The limits of one app: parsed once at start-up so a malformed limit fails the start, not a request."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.api_keys = settings.api_keys
        self.limits: dict[LimitClass, list[RateLimitItem]] = {
            name: parse_many(getattr(settings, f"limit_{name}")) for name in LIMIT_CLASSES
        }
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.max_websockets = settings.max_websockets_per_client
        self.storage_uri = settings.rate_limit_storage
        uri, options = _async_storage_uri(settings.rate_limit_storage)
        self.storage = storage_from_string(uri, wrap_exceptions=True, **options)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.websockets: Counter[str] = Counter()
        self._storage_logged_at = -math.inf

    # ---- who is asking -----------------------------------------------------------------------------

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def client_ip(self, conn: HTTPConnection) -> str:
        peer = conn.client.host if conn.client else "unknown"
        if not self.trusted or not self._trusted(peer):
            return peer
        chain = [a.strip() for h in conn.headers.getlist("x-forwarded-for") for a in h.split(",")]
        chain = [a for a in chain if a]
        for address in reversed(chain):
            if not self._trusted(address):
                return address
        # Every hop is a trusted proxy: the left-most is as close to the client as we can get.
        return chain[0] if chain else peer

    def client_key(
        self, conn: HTTPConnection, owner: str | None = None, session_id: str | None = None
    ) -> str:
        if owner is None and self.api_keys:
            # Endpoints open without a key (health) still count a caller that sent a valid one by its key.
            with contextlib.suppress(ApiError):
                owner = api_key_owner(conn, self.api_keys)
        if owner is not None:
            return f"key:{owner}"
        if session_id is not None:
            return f"session:{session_id}"
        return f"ip:{self.client_ip(conn)}"

    # ---- requests ------------------------------------------------------------------------------------

    async def check(self, name: LimitClass, key: str) -> None:
        """Count one request of ``key`` against every limit of class ``name``; 429 if any is spent.

        All limits are tested before any is counted, so a request refused by the daily limit does not also
        use up an hourly slot.
        """
        if not self.enabled:
            return
        items = self.limits[name]
        try:
            for item in items:
                if not await self.limiter.test(item, name, key):
                    raise await self._refusal(item, name, key)
            for item in items:
                if not await self.limiter.hit(item, name, key):
                    raise await self._refusal(item, name, key)  # lost a race with a concurrent request
        except StorageError as exc:
            self._storage_failed(exc)

    async def _refusal(self, item: RateLimitItem, name: LimitClass, key: str) -> RateLimited:
        stats = await self.limiter.get_window_stats(item, name, key)
        return RateLimited(item, max(1, math.ceil(stats.reset_time - time.time())))

    def _storage_failed(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._storage_logged_at >= _STORAGE_LOG_EVERY_S:
            self._storage_logged_at = now
            log.error(
                "rate-limit storage %s failed (%s); requests pass unlimited until it is back",
                self.storage_uri,
                exc.storage_error,
            )

    # ---- WebSockets ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def websocket_slot(self, key: str) -> Iterator[bool]:
        """Hold one of ``key``'s WebSocket slots while the block runs; yields False when none is free.

        Taking and checking a slot happen with no await in between, so two connections arriving together
        cannot both take the last one.
        """
        if not self.enabled:
            yield True
            return
        if self.websockets[key] >= self.max_websockets:
            yield False
            return
        self.websockets[key] += 1
        try:
            yield True
        finally:
            self.websockets[key] -= 1
            if self.websockets[key] <= 0:
                del self.websockets[key]


def rate_limits(conn: HTTPConnection) -> RateLimits | None:
    limits: RateLimits | None = getattr(conn.app.state, "rate_limits", None)
    return limits


#: Classes whose bucket belongs to the client (API key or IP), never to a session (see the module docstring).
_PER_CLIENT: frozenset[str] = frozenset({"convert", "upload", "chat_llm"})


async def enforce(
    request: Request, name: LimitClass, *, owner: str | None = None, session_id: str | None = None
) -> None:
    """Count this request against class ``name`` (no-op when the app has no limits installed)."""
    limits = rate_limits(request)
    if limits is not None and limits.enabled:
        session = None if name in _PER_CLIENT else session_id
        await limits.check(name, limits.client_key(request, owner, session))


def install_rate_limits(app: FastAPI, settings: Settings) -> RateLimits:
    """Attach the limits to ``app`` and answer their 429s with ``Retry-After``."""
    limits = RateLimits(settings)
    app.state.rate_limits = limits

    async def _handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimited)
        return rate_limited_response(exc)

    app.add_exception_handler(RateLimited, _handler)
    return limits
