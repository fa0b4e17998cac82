"""The FastAPI application: ``create_app(settings)`` and the ``nwbagent serve`` entry point.

Every error leaves as JSON ``{error, message, hint}``: expected ones from their handlers below, and anything
unexpected as a 500 that names no internals (the traceback goes to the server log only). Middleware, from
the outside in: security headers, HTTP metrics, body limits, then the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from nwbagent import __version__
from nwbagent.agents.messages import BusError
from nwbagent.errors import UserFacingError
from nwbagent.server import api, ws
from nwbagent.server.auth import ApiError, api_key_owner
from nwbagent.server.bodies import BodyLimits
from nwbagent.server.metrics import install_metrics
from nwbagent.server.ratelimit import install_rate_limits
from nwbagent.server.runtime import SEEN_FLUSH_S, Service
from nwbagent.server.security import SecurityHeaders, security_headers
from nwbagent.server.uploads import UploadRejected
from nwbagent.settings import Settings, get_settings

log = logging.getLogger("nwbagent.server")

_SWEEP_EVERY_S = 600.0
_USER_ERROR_STATUS = {"illegal_transition": 409, "session_too_large": 413, "database_unavailable": 503}


def _error(status: int, error: str, message: str, hint: str | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "hint": hint, **extra}, status_code=status)


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's gist for a client: its first line, short (SQL errors carry statements below)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await asyncio.to_thread(Service, settings)
        app.state.service = svc
        await svc.start()
        background = [
            asyncio.create_task(_expire_idle(svc)),
            asyncio.create_task(_flush_seen(svc)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await svc.stop()

    app = FastAPI(
        title="nwbagent",
        version=__version__,
        description="Raw electrophysiology in, validated DANDI-ready NWB out.",
        lifespan=lifespan,
        # Served below instead: the schema needs an API key when keys are required, and the docs pages
        # (which load Swagger UI and ReDoc from a public CDN) are off unless NWBAGENT_DOCS_ENABLED.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_rate_limits(app, settings)
    app.add_middleware(
        BodyLimits, max_bytes=settings.max_json_bytes, idle_timeout_s=settings.body_idle_timeout_s
    )
    install_metrics(app, settings)  # outside the body limits and the routes: 413s and 429s are counted
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    app.include_router(ws.router)
    _install_schema_routes(app, settings)
    _install_error_handlers(app)

    web = Path(__file__).resolve().parent.parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(web / "index.html", headers=_PAGE_HEADERS)

    @app.get("/guided", include_in_schema=False)
    async def guided_page() -> FileResponse:
        return FileResponse(web / "guided.html", headers=_PAGE_HEADERS)

    return app


def _install_schema_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        api_key_owner(request, settings.api_keys)
        return JSONResponse(app.openapi())

    if not settings.docs_enabled:
        return

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="nwbagent API")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="nwbagent API")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(UploadRejected)
    async def _upload_rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return _error(exc.status_code, exc.error, exc.message, exc.hint)

    @app.exception_handler(UserFacingError)
    async def _user_error(request: Request, exc: UserFacingError) -> JSONResponse:
        status = _USER_ERROR_STATUS.get(exc.code, 400)
        return _error(status, exc.code, exc.paragraph() if exc.path else exc.problem, exc.fix)

    @app.exception_handler(BusError)
    async def _bus_error(request: Request, exc: BusError) -> JSONResponse:
        p = exc.payload
        if p.code in ("user_error", "invalid_payload"):
            message = f"{p.path}: {p.message}" if p.path else p.message
            code = p.reason or p.code
            return _error(_USER_ERROR_STATUS.get(code, 400), code, message, p.hint)
        return _error(
            500,
            p.code,
            f"The agents hit an internal error ({p.message.splitlines()[0][:300] if p.message else p.code}).",
            "This is a bug in nwbagent, not a problem with your data: try again, and tell the operator if it "
            "keeps happening (the server log has the details).",
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(
            422,
            "invalid_request",
            f"{where}: {first.get('msg', 'invalid request')}",
            "See /openapi.json for the request schema.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database error answering %s %s: %s", request.method, request.url.path, _first_line(exc))
        return _error(
            503,
            "database_unavailable",
            f"The database cannot serve this request right now ({_first_line(exc)}).",
            "Try again shortly; the operator can see what is wrong at /api/health.",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs in the outermost (server error) middleware, outside the security-headers one; the
        # exception is then re-raised by Starlette, so the traceback still reaches the server log.
        response = _error(
            500,
            "internal_error",
            f"The server hit an unexpected error ({type(exc).__name__}).",
            "This is a bug in nwbagent, not a problem with your data: try again, and tell the operator if it "
            "keeps happening (the server log has the details).",
        )
        response.headers.update({k.decode(): v.decode() for k, v in security_headers("/api/").items()})
        return response


async def _flush_seen(svc: Service) -> None:
    """Write sessions' last use every few seconds, off the request path (see ``Service.seen``)."""
    while True:
        await asyncio.sleep(SEEN_FLUSH_S)
        try:
            await asyncio.to_thread(svc.flush_seen)
        except Exception:
            log.exception("recording sessions' last use failed")


async def _expire_idle(svc: Service) -> None:
    """Remove sessions (and their files) nobody touched for ``session_idle_hours``."""
    while True:
        await asyncio.sleep(_SWEEP_EVERY_S)
        try:
            limit = timedelta(hours=svc.settings.session_idle_hours)
            for session_id in await asyncio.to_thread(svc.expire_idle, limit):
                log.info("expired idle session %s", session_id)
        except Exception:
            log.exception("idle-session sweep failed")


def serve(settings: Settings | None = None) -> None:
    """Run the service. The bundled sample is made before uvicorn starts, so a disk too small for it ends
    the start with one clear paragraph (``UserFacingError``) instead of a lifespan traceback."""
    import uvicorn

    from nwbagent.server.samples import ensure_sample

    settings = settings or get_settings()
    data_dir = Path(settings.data_dir).expanduser().resolve()
    ensure_sample(data_dir)
    uvicorn.Server(uvicorn_config(settings)).run()


def uvicorn_config(
    settings: Settings, app: FastAPI | None = None, log_level: str = "info", *, own_logging: bool = True
) -> Any:
    """How uvicorn serves the app, in one place: ``nwbagent serve`` and the tests' in-process servers
    listen exactly alike.

    ``own_logging=False`` leaves the process's logging as it is: uvicorn's own set-up runs ``dictConfig``,
    which closes every handler already installed (a test runner's, or an embedding program's).
    """
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    return uvicorn.Config(
        app or create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=LOGGING_CONFIG if own_logging else None,
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For for any peer in
        # FORWARDED_ALLOW_IPS (127.0.0.1 by default, i.e. every local client): the only trust in
        # forwarded headers is NWBAGENT_TRUSTED_PROXIES, applied by ratelimit.py.
        proxy_headers=False,
        forwarded_allow_ips=[],
        server_header=False,
    )


#: Pages load only their own scripts and styles: a Content-Security-Policy makes any injected markup inert.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
