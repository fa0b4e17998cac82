"""``/api/sessions/{id}/events``: a session's live events over a WebSocket.

A subscriber is registered before the snapshot is read, so nothing that happens in between is lost: a late
subscriber first gets the current state (``snapshot``), then every event as it happens. Browsers cannot set
headers on a WebSocket, so the token may also come from the cookie or a ``token`` query parameter.

Each client (see ``ratelimit.py``: its API key, else its address; never the session, which is free to
create) may hold at most ``NWBAGENT_MAX_WEBSOCKETS_PER_CLIENT`` connections at once, over all its sessions;
one more is accepted and closed with code 4429, the WebSocket twin of HTTP 429. WebSockets are not covered
by CORS, so one opened by a page of another origin is closed with 4403 (``security.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from nwbagent.agents.store import SessionNotFound
from nwbagent.server.auth import ApiError, api_key_owner, check_session_access
from nwbagent.server.ratelimit import WS_CLOSE_RATE_LIMITED, rate_limits
from nwbagent.server.runtime import Service
from nwbagent.server.security import origin_allowed

#: Close code for a WebSocket opened by a page of a foreign origin: the twin of HTTP 403.
WS_CLOSE_FORBIDDEN = 4403

router = APIRouter(prefix="/api")

_PING_S = 20.0


@router.websocket("/sessions/{session_id}/events")
async def events(websocket: WebSocket, session_id: str) -> None:
    svc: Service = websocket.app.state.service
    if not origin_allowed(websocket, svc.settings.allowed_origins):
        await websocket.accept()
        await websocket.close(code=WS_CLOSE_FORBIDDEN, reason="Pages of another origin may not listen here.")
        return
    try:
        stored: tuple[str | None, str | None] | None = await asyncio.to_thread(svc.store.access, session_id)
    except SessionNotFound:
        stored = None
    await websocket.accept()
    try:
        owner = api_key_owner(websocket, svc.settings.api_keys)
        check_session_access(websocket, session_id, stored, owner, allow_query=True)
    except ApiError:
        # Accept-then-close so the client reads a "not found" code, the WebSocket twin of the REST 404;
        # the same rule as REST (token, and the owner when API keys are in use) decided it.
        await websocket.close(code=4404, reason="No session with this id is available to you.")
        return
    limits = rate_limits(websocket)
    if limits is None:
        await _serve(websocket, svc, session_id)
        return
    with limits.websocket_slot(limits.client_key(websocket)) as granted:
        if not granted:
            await websocket.close(
                code=WS_CLOSE_RATE_LIMITED,
                reason=f"Too many connections: at most {limits.max_websockets} at once per client.",
            )
            return
        await _serve(websocket, svc, session_id)


async def _serve(websocket: WebSocket, svc: Service, session_id: str) -> None:
    """Forward the session's events until the client leaves.

    The client's close is watched for, not just discovered on the next send: otherwise a closed socket
    would keep its connection slot (and its hub queue) until the next ping, up to ``_PING_S`` later.
    """
    queue = svc.hub.subscribe(session_id)
    closed = asyncio.create_task(_until_closed(websocket))
    getter: asyncio.Task[Any] | None = None
    try:
        await websocket.send_json({"type": "snapshot", "payload": await _snapshot(svc, session_id)})
        while True:
            getter = getter or asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, closed}, timeout=_PING_S, return_when="FIRST_COMPLETED")
            if closed in done:
                break
            if getter in done:
                event, getter = getter.result(), None
                await websocket.send_json(event)
            else:
                await websocket.send_json({"type": "ping"})
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()
        if getter is not None:
            getter.cancel()
        svc.hub.unsubscribe(session_id, queue)
        with contextlib.suppress(Exception):
            await websocket.close()


async def _until_closed(websocket: WebSocket) -> None:
    """Return when the client disconnects; clients send nothing this endpoint needs, so it is dropped."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _snapshot(svc: Service, session_id: str) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.peek, session_id)
    job = await asyncio.to_thread(svc.job_for, session_id)
    return svc.view(session, job=job)
