"""The FastAPI application: ``create_app(settings)`` and the ``nwbagent serve`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from nwbagent import __version__
from nwbagent.agents.messages import BusError
from nwbagent.errors import UserFacingError
from nwbagent.server import api, ws
from nwbagent.server.auth import ApiError
from nwbagent.server.metrics import install_metrics
from nwbagent.server.ratelimit import install_rate_limits
from nwbagent.server.runtime import Service
from nwbagent.server.uploads import UploadRejected
from nwbagent.settings import Settings, get_settings

log = logging.getLogger("nwbagent.server")

_SWEEP_EVERY_S = 600.0


def _error(status: int, error: str, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "hint": hint}, status_code=status)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await asyncio.to_thread(Service, settings)
        app.state.service = svc
        await svc.start()
        sweeper = asyncio.create_task(_expire_idle(svc))
        try:
            yield
        finally:
            sweeper.cancel()
            await svc.stop()

    app = FastAPI(
        title="nwbagent",
        version=__version__,
        description="Raw electrophysiology in, validated DANDI-ready NWB out.",
        lifespan=lifespan,
    )
    install_rate_limits(app, settings)
    install_metrics(app, settings)  # outermost middleware: 429s are counted too
    app.include_router(api.router)
    app.include_router(ws.router)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.message, exc.hint)

    @app.exception_handler(UploadRejected)
    async def _upload_rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return _error(exc.status_code, exc.error, exc.message, exc.hint)

    @app.exception_handler(UserFacingError)
    async def _user_error(request: Request, exc: UserFacingError) -> JSONResponse:
        status = 409 if exc.code == "illegal_transition" else 400
        return _error(status, exc.code, exc.paragraph() if exc.path else exc.problem, exc.fix)

    @app.exception_handler(BusError)
    async def _bus_error(request: Request, exc: BusError) -> JSONResponse:
        p = exc.payload
        status = 400 if p.code in ("user_error", "invalid_payload") else 500
        message = f"{p.path}: {p.message}" if p.path else p.message
        return _error(status, p.code, message, p.hint)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(
            422,
            "invalid_request",
            f"{where}: {first.get('msg', 'invalid request')}",
            "See /docs for the schema.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    web = Path(__file__).resolve().parent.parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(web / "index.html", headers=_PAGE_HEADERS)

    @app.get("/guided", include_in_schema=False)
    async def guided_page() -> FileResponse:
        return FileResponse(web / "guided.html", headers=_PAGE_HEADERS)

    return app


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
    import uvicorn

    settings = settings or get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


#: Pages load only their own scripts and styles: a Content-Security-Policy makes any injected markup inert.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
