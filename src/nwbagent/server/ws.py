"""``/api/sessions/{id}/events``: a session's live events over a WebSocket.

A subscriber is registered before the snapshot is read, so nothing that happens in between is lost: a late
subscriber first gets the current state (``snapshot``), then every event as it happens. Browsers cannot set
headers on a WebSocket, so the token may also come from the cookie or a ``token`` query parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from nwbagent.agents.store import SessionNotFound
from nwbagent.server.auth import presented_token, token_matches
from nwbagent.server.runtime import Service

router = APIRouter(prefix="/api")

_PING_S = 20.0


@router.websocket("/sessions/{session_id}/events")
async def events(websocket: WebSocket, session_id: str) -> None:
    svc: Service = websocket.app.state.service
    token = presented_token(websocket, session_id, allow_query=True)
    try:
        stored = await asyncio.to_thread(svc.store.token_hash, session_id)
    except SessionNotFound:
        stored = None
    await websocket.accept()
    if not token_matches(token, stored):
        # Accept-then-close so the client reads a "not found" code, the WebSocket twin of the REST 404.
        await websocket.close(code=4404, reason="No session with this id is available to you.")
        return
    queue = svc.hub.subscribe(session_id)
    try:
        await websocket.send_json({"type": "snapshot", "payload": await _snapshot(svc, session_id)})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=_PING_S)
            except TimeoutError:
                await websocket.send_json({"type": "ping"})
                continue
            await websocket.send_json(event)
    except WebSocketDisconnect:
        pass
    finally:
        svc.hub.unsubscribe(session_id, queue)
        with contextlib.suppress(Exception):
            await websocket.close()


async def _snapshot(svc: Service, session_id: str) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.get, session_id)
    job = await asyncio.to_thread(svc.job_for, session_id)
    return {
        "state": session.state.value,
        "allowed": [s.value for s in svc.conversation.workflow.allowed(session)],
        "questions": [q.model_dump(mode="json") for q in session.open_questions()],
        "preview": session.preview.model_dump(mode="json") if session.preview else None,
        "output": session.output.model_dump(mode="json") if session.output else None,
        "job": job,
        "chat": [t.model_dump(mode="json") for t in session.chat[-50:]],
    }
