"""Prometheus metrics of the web service: ``/metrics``, per-route HTTP metrics and live service gauges.

Design: one process, no multiprocess mode. Everything worth counting is known in the server process:
a conversion's outcome comes back to the thread that waited for the executor (:meth:`Service.
_run_on_executor` counts it there, for the local *and* the Dask executor: a Dask worker on another machine
could never write into a local multiprocess directory anyway), inspections and LLM calls run here, and
uploads are received here. ``prometheus_client``'s multiprocess mode would add a directory of mmap files
to manage, forbid plain gauges and custom collectors, and still miss the Dask workers.

Gauges that describe the present (active sessions, queued and running jobs, open WebSockets) are computed
at scrape time from their source of truth (the session table, the executor's queue, the event hub's
subscribers) instead of being incremented and decremented along the way: they cannot drift, survive a
restart correctly, and cost nothing between scrapes.

HTTP requests are labelled by route *template* (``/api/sessions/{session_id}/status``), never by the raw
path: session ids are secrets of a kind and unbounded, so they must not become label values.

Who may scrape: with ``NWBAGENT_METRICS_TOKEN`` set, a scraper sends ``Authorization: Bearer <token>``
(Prometheus' ``authorization`` setting); otherwise, when API keys are required, any valid API key (or the
admin token) opens it; with neither, it is open like the rest of a keyless service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nwbagent import metrics as core_metrics
from nwbagent.agents.workflow import TERMINAL
from nwbagent.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.core import Metric

    from nwbagent.server.runtime import Service

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Sessions in these states no longer count as active (the workflow's terminal states).
FINISHED_STATES = tuple(sorted(state.value for state in TERMINAL))

#: Every metric family ``/metrics`` exposes (besides the process_* ones), for tests and dashboards.
METRIC_FAMILIES = frozenset(
    {
        "conversion_requests",
        "conversion_duration_seconds",
        "validation_checks",
        "inspector_findings",
        "llm_api_calls",
        "llm_api_duration_seconds",
        "llm_tokens",
        "file_upload_size_bytes",
        "active_sessions",
        "websocket_connections",
        "jobs_queued",
        "jobs_running",
        "http_requests",
        "http_request_duration_seconds",
    }
)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Add ``/metrics`` and the HTTP middleware to ``app``, or nothing at all when metrics are disabled.

    Call in ``create_app`` before the app starts (middleware cannot be added to a running app). The
    service is looked up on ``app.state`` at scrape time, since it only exists once the lifespan ran.
    """
    if not settings.metrics_enabled:
        return
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.process_collector import ProcessCollector

    core = core_metrics.enable()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Forward(core))
    registry.register(_ServiceCollector(app))
    ProcessCollector(registry=registry)
    requests = Counter(
        "http_requests",
        "HTTP requests answered, by method, route template and status code",
        ["method", "route", "status"],
        registry=registry,
    )
    durations = Histogram(
        "http_request_duration_seconds",
        "Time to answer an HTTP request (until the last body byte), by method and route template",
        ["method", "route"],
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    app.state.metrics_registry = registry
    app.add_middleware(_HttpMetrics, requests=requests, durations=durations)
    app.add_api_route(
        METRICS_PATH,
        _endpoint(registry, settings),
        methods=["GET"],
        include_in_schema=False,
        name="metrics",
    )


def require_scraper(request: Request, settings: Settings) -> None:
    """Raise a 401 ``ApiError`` unless the caller may read ``/metrics`` (see the module docstring)."""
    from nwbagent.server.auth import ApiError, api_key_owner, bearer_matches

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if bearer_matches(request, admin):
        return
    if token:
        if bearer_matches(request, token):
            return
        raise ApiError(
            401,
            "metrics_token_required",
            "Reading /metrics needs the metrics token.",
            "Send Authorization: Bearer <NWBAGENT_METRICS_TOKEN> (Prometheus: the job's authorization).",
        )
    api_key_owner(request, settings.api_keys)


def _endpoint(registry: CollectorRegistry, settings: Settings) -> Any:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def metrics(request: Request) -> Response:
        require_scraper(request, settings)
        # generate_latest runs the collectors, which query the database: keep it off the event loop.
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


class _Forward:
    """Exposes the core registry's metrics (LLM, inspection, conversion, upload) through the app's registry.

    The core metrics are process-wide (their hooks are called from code that knows nothing of apps), the
    HTTP and service metrics belong to one app; this joins them into one ``/metrics`` body.
    """

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()

    def describe(self) -> list[Metric]:
        return list(self._source.collect())


class _ServiceCollector:
    """Gauges read at scrape time from the running service (nothing before the lifespan started it)."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def describe(self) -> list[Metric]:
        return list(self._gauges({}))

    def collect(self) -> Iterator[Metric]:
        svc: Service | None = getattr(self._app.state, "service", None)
        if svc is None:
            return
        queue = svc.executor.queue()
        values = {
            "active_sessions": _active_sessions(svc),
            "websocket_connections": svc.hub.subscriber_count(),
            "jobs_queued": sum(1 for e in queue if e.status == "queued"),
            "jobs_running": sum(1 for e in queue if e.status == "running"),
        }
        yield from self._gauges(values)

    @staticmethod
    def _gauges(values: dict[str, int]) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        docs = {
            "active_sessions": "Sessions neither accepted nor abandoned (and not expired)",
            "websocket_connections": "Open WebSocket event streams",
            "jobs_queued": "Conversion jobs waiting for a free executor slot",
            "jobs_running": "Conversion jobs running now",
        }
        for name, doc in docs.items():
            yield GaugeMetricFamily(name, doc, value=values.get(name, 0))


def _active_sessions(svc: Service) -> int:
    """One indexed COUNT on the sessions table: cheap at any scrape interval."""
    from sqlalchemy import func, select

    from nwbagent.server.db.models import SessionRow

    query = (
        select(func.count())
        .select_from(SessionRow)
        .where(SessionRow.state.not_in(FINISHED_STATES), SessionRow.expired.is_(False))
    )
    with svc.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


class _HttpMetrics:
    """Pure ASGI middleware (not ``BaseHTTPMiddleware``): no extra task per request, streaming untouched.

    The route template is read after the app ran: the router stores the matched route in the scope it was
    given (the same dict this middleware holds), so a 404 for an unknown path has none and is "unmatched".
    """

    def __init__(self, app: ASGIApp, requests: Counter, durations: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.durations = durations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # an exception before any response is what ServerErrorMiddleware answers 500 to

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope)
            method = str(scope.get("method", "GET"))
            self.requests.labels(method, route, str(status[0])).inc()
            self.durations.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """``/api/sessions/{session_id}/status`` for a matched route, ``/static/{path}`` for a mount, else
    "unmatched" (so a scanner probing random paths adds one series, not one per path)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    raw = str(scope.get("path", ""))
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        if isinstance(candidate, Mount) and raw.startswith(candidate.path + "/"):
            return candidate.path + "/{path}"
    return UNMATCHED
