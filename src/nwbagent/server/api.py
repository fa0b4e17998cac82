"""REST endpoints under ``/api``. Handlers only translate HTTP to agent turns and store reads: every
conversion runs in the executor, every blocking read in a thread, and errors are JSON ``{error, message,
hint}``."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from nwbagent import __version__
from nwbagent.agents.conversation import Turn, command_in
from nwbagent.agents.state import SessionState, State
from nwbagent.agents.store import SessionNotFound
from nwbagent.metadata import metadata_json_schema
from nwbagent.server.auth import (
    ApiError,
    api_key_owner,
    cookie_name,
    hash_token,
    new_token,
    not_found,
    presented_token,
    require_admin,
    token_matches,
)
from nwbagent.server.ratelimit import LimitClass, enforce
from nwbagent.server.runtime import SAMPLES, Service
from nwbagent.server.uploads import UploadLimits, dir_size, receive_multipart, resolve_server_path

router = APIRouter(prefix="/api")

Action = Literal["preview", "convert", "accept", "improve", "abandon", "retry", "cancel", "choose"]
DOWNLOADS = {
    "nwb": "",
    "recipe": ".neuroconv.yml",
    "metadata": ".metadata.json",
    "report-html": ".report.html",
    "report-pdf": ".report.pdf",
    "report-json": ".report.json",
    "report-text": ".report.txt",
}
_FINISHED = {State.passed, State.passed_with_issues, State.failed, State.accepted}


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


ServiceDep = Annotated[Service, Depends(service)]


def caller(request: Request, svc: ServiceDep) -> str | None:
    """The API key owner when keys are required (401 otherwise), else None."""
    return api_key_owner(request, svc.settings.api_keys)


Caller = Annotated[str | None, Depends(caller)]


def session_id_for(session_id: str, request: Request, svc: ServiceDep, owner: Caller) -> str:
    """The session id once the caller has proved access to it; 404 otherwise, whatever the reason."""
    try:
        stored = svc.store.token_hash(session_id)
        session_owner = svc.store.owner(session_id)
    except SessionNotFound:
        raise not_found() from None
    if not token_matches(presented_token(request, session_id), stored):
        raise not_found()
    if session_owner is not None and owner is not None and session_owner != owner:
        raise not_found()
    svc.store.touch(session_id)
    return session_id


SessionId = Annotated[str, Depends(session_id_for)]


# ---- rate limits: which class each endpoint counts against (see ratelimit.py) -------------------------


def _limit(name: LimitClass) -> Any:
    """A session endpoint's limit. Depends on ``SessionId``, so it counts only callers who proved access
    and can key them by session; FastAPI resolves ``SessionId`` once per request either way."""

    async def dependency(request: Request, owner: Caller, session_id: SessionId) -> None:
        await enforce(request, name, owner=owner, session_id=session_id)

    return Depends(dependency)


def _open_limit(name: LimitClass) -> Any:
    """The limit of an endpoint outside any session: keyed by API key when one is sent, else IP."""

    async def dependency(request: Request) -> None:
        await enforce(request, name)

    return Depends(dependency)


async def _chat_limit(request: Request, svc: ServiceDep, owner: Caller, session_id: SessionId) -> None:
    """Chat answered by a language model costs money per message, so it has its own, tighter limit."""
    name: LimitClass = "chat" if svc.provider.name == "rules" else "chat_llm"
    await enforce(request, name, owner=owner, session_id=session_id)


async def _action_limit(request: Request, action: Action, owner: Caller, session_id: SessionId) -> None:
    """convert and retry start a full conversion; the other actions are what typing their word in the
    chat does, and count as chat."""
    name: LimitClass = "convert" if action in ("convert", "retry") else "chat"
    await enforce(request, name, owner=owner, session_id=session_id)


StatusLimit = _limit("status")
UploadLimit = _limit("upload")


# ---- models ------------------------------------------------------------------------------------------


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class SourceIn(BaseModel):
    path: str | None = None
    sample: str | None = Field(default=None, description=f"One of: {', '.join(SAMPLES)}")


class MetadataPatch(BaseModel):
    fields: dict[str, Any]


class ActionIn(BaseModel):
    argument: str | None = Field(default=None, max_length=200)


class ValuesIn(BaseModel):
    """Values a stream's reader needs: ``{"<stream handle>": {"sampling_frequency": "30000"}}``."""

    values: dict[str, dict[str, str | float | int]] = Field(max_length=100)


class PartsIn(BaseModel):
    """Acquisitions/segments to convert, e.g. ``["experiment2"]``; empty for all of them."""

    parts: list[str] = Field(default_factory=list, max_length=200)


def _turn_response(turn: Turn | None, session_id: str) -> Response:
    if turn is None:
        body = {
            "status": "running",
            "message": "The agents are still working; follow the session's events for their replies.",
            "events": f"/api/sessions/{session_id}/events",
        }
        return JSONResponse(body, status_code=202)
    return JSONResponse(turn.model_dump(mode="json"))


# ---- sessions -----------------------------------------------------------------------------------------


@router.post("/sessions", status_code=201, dependencies=[_open_limit("status")])
async def create_session(response: Response, svc: ServiceDep, owner: Caller) -> dict[str, Any]:
    """A new session and its token (also set as an httponly cookie). Keep the token: it is shown once."""
    token = new_token()
    session = SessionState()
    session.output_dir = str(svc.session_dir(session.id) / "out")
    await asyncio.to_thread(svc.store.create, session, token_hash=hash_token(token), owner=owner)
    response.set_cookie(cookie_name(session.id), token, httponly=True, samesite="lax", path="/")
    return {"id": session.id, "token": token, "state": session.state.value}


@router.get("/sessions", dependencies=[_open_limit("status")])
async def list_sessions(request: Request, svc: ServiceDep, owner: Caller) -> list[dict[str, Any]]:
    """The caller's own sessions: those whose token it presents (cookies) or, with API keys, its key's."""
    cookies = {k[len("nwbagent_") :]: v for k, v in request.cookies.items() if k.startswith("nwbagent_")}

    def own() -> list[dict[str, Any]]:
        ids: list[str] = []
        for sid, token in cookies.items():
            try:
                if token_matches(token, svc.store.token_hash(sid)):
                    ids.append(sid)
            except SessionNotFound:
                continue
        if owner is not None:
            ids.extend(i for i in svc.store.list_ids(owner=owner) if i not in ids)
        sessions = [svc.store.get(sid) for sid in ids]
        return [
            {"id": s.id, "state": s.state.value, "updated_at": s.updated_at.isoformat()} for s in sessions
        ]

    return await asyncio.to_thread(own)


@router.get("/sessions/{session_id}", dependencies=[StatusLimit])
async def get_session(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.get, session_id)
    return svc.view(session)


@router.delete("/sessions/{session_id}", status_code=204, dependencies=[StatusLimit])
async def delete_session(session_id: SessionId, svc: ServiceDep) -> Response:
    await asyncio.to_thread(svc.cancel, session_id)
    await asyncio.to_thread(svc.delete_files, session_id)
    await asyncio.to_thread(svc.store.delete, session_id)
    response = Response(status_code=204)
    response.delete_cookie(cookie_name(session_id), path="/")
    return response


# ---- files and sources --------------------------------------------------------------------------------


@router.post("/sessions/{session_id}/files", status_code=201, dependencies=[UploadLimit])
async def upload_files(
    request: Request, session_id: SessionId, svc: ServiceDep, start: bool = False
) -> Response:
    """Multipart upload of files (relative paths kept) or .zip/.tar(.gz) archives, streamed to disk."""
    uploads = svc.session_dir(session_id) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    used = await asyncio.to_thread(dir_size, uploads)
    result = await receive_multipart(
        request.stream(),
        request.headers.get("content-type", ""),
        uploads,
        UploadLimits.from_settings(svc.settings),
        already_used_bytes=used,
    )
    body: dict[str, Any] = {"files": [dataclasses.asdict(f) for f in result.files]}
    body["total_bytes"] = result.total_bytes
    body["archives_extracted"] = result.archives_extracted
    if start:
        turn = await svc.turn(session_id, "start", {"source": str(uploads)})
        body["turn"] = turn.model_dump(mode="json") if turn else {"status": "running"}
    return JSONResponse(body, status_code=201)


@router.post("/sessions/{session_id}/source", dependencies=[UploadLimit])
async def use_source(body: SourceIn, session_id: SessionId, svc: ServiceDep) -> Response:
    """Use the bundled sample or a server-side folder under NWBAGENT_DATA_ROOTS, then detect."""
    if body.sample is not None:
        if body.sample not in SAMPLES:
            raise ApiError(
                400,
                "unknown_sample",
                f"No sample named {body.sample!r}.",
                f"Choose one of: {', '.join(SAMPLES)}.",
            )
        source = svc.sample_path(body.sample)
    elif body.path is not None:
        source = resolve_server_path(body.path, svc.settings.data_roots)
    else:
        raise ApiError(
            400, "missing_source", "Give either 'path' or 'sample'.", 'e.g. {"sample": "neuropixels"}'
        )
    return _turn_response(await svc.turn(session_id, "start", {"source": str(source)}), session_id)


@router.post("/sessions/{session_id}/start", dependencies=[UploadLimit])
async def start_detection(session_id: SessionId, svc: ServiceDep) -> Response:
    """Detect what the uploaded files hold (after one or more uploads)."""
    uploads = svc.session_dir(session_id) / "uploads"
    if not uploads.is_dir() or not any(uploads.iterdir()):
        raise ApiError(409, "no_files", "No files were uploaded to this session yet.", "Upload files first.")
    return _turn_response(await svc.turn(session_id, "start", {"source": str(uploads)}), session_id)


@router.get("/samples", dependencies=[_open_limit("status")])
async def samples() -> list[dict[str, str]]:
    return [{"name": name, "description": text} for name, text in SAMPLES.items()]


# ---- conversation, metadata, actions ------------------------------------------------------------------


@router.post("/sessions/{session_id}/messages", dependencies=[Depends(_chat_limit)])
async def post_message(
    request: Request, body: MessageIn, session_id: SessionId, svc: ServiceDep, owner: Caller
) -> Response:
    if command_in(body.text) in ("convert", "retry"):
        # Typing "convert" starts the same conversion as the button: it must not dodge that limit.
        await enforce(request, "convert", owner=owner, session_id=session_id)
    return _turn_response(await svc.turn(session_id, "user_message", {"text": body.text}), session_id)


@router.get("/sessions/{session_id}/metadata", dependencies=[StatusLimit])
async def get_metadata(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.get, session_id)
    merged = session.merged_metadata()
    return {
        "values": {k: v for k, v in merged.model_dump(mode="json").items() if v is not None},
        "questions": [q.model_dump(mode="json") for q in session.open_questions()],
        "errors": merged.errors(),
    }


@router.patch("/sessions/{session_id}/metadata", dependencies=[StatusLimit])
async def patch_metadata(body: MetadataPatch, session_id: SessionId, svc: ServiceDep) -> Response:
    return _turn_response(await svc.turn(session_id, "set_metadata", {"fields": body.fields}), session_id)


@router.patch("/sessions/{session_id}/values", dependencies=[StatusLimit])
async def patch_values(body: ValuesIn, session_id: SessionId, svc: ServiceDep) -> Response:
    """Answer the value questions (``kind == "value"``): a reader's argument the files lack."""
    payload = {"values": {u: {k: str(v) for k, v in given.items()} for u, given in body.values.items()}}
    return _turn_response(await svc.turn(session_id, "set_values", payload), session_id)


@router.post("/sessions/{session_id}/parts", dependencies=[StatusLimit])
async def select_parts(body: PartsIn, session_id: SessionId, svc: ServiceDep) -> Response:
    """Convert only some acquisitions or segments (the session view's ``parts.available``)."""
    return _turn_response(await svc.turn(session_id, "select_parts", {"parts": body.parts}), session_id)


@router.get("/schema/metadata", dependencies=[_open_limit("status")])
async def schema() -> dict[str, Any]:
    return metadata_json_schema()


@router.post("/sessions/{session_id}/actions/{action}", dependencies=[Depends(_action_limit)])
async def act(
    action: Action, session_id: SessionId, svc: ServiceDep, body: ActionIn | None = None
) -> Response:
    if action == "cancel":
        cancelled = await asyncio.to_thread(svc.cancel, session_id)
        return JSONResponse({"cancelled": cancelled}, status_code=202 if cancelled else 409)
    payload = {"command": action, "argument": body.argument if body else None}
    return _turn_response(await svc.turn(session_id, "command", payload), session_id)


@router.get("/sessions/{session_id}/status", dependencies=[StatusLimit])
async def status(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.get, session_id)
    return {
        "id": session.id,
        "state": session.state.value,
        "allowed": [s.value for s in svc.conversation.workflow.allowed(session)],
        "questions": [q.model_dump(mode="json") for q in session.open_questions()],
        "job": await asyncio.to_thread(svc.job_for, session_id),
        "busy": svc.busy(session_id),
        "updated_at": session.updated_at.isoformat(),
    }


@router.get("/sessions/{session_id}/events/history", dependencies=[StatusLimit])
async def event_history(session_id: SessionId, svc: ServiceDep, after: int = 0) -> list[dict[str, Any]]:
    events = await asyncio.to_thread(svc.events.since, session_id, after)
    return [e.model_dump(mode="json") for e in events]


# ---- results and downloads ----------------------------------------------------------------------------


def _final_file(session: SessionState, kind: str, index: int = 0) -> Path | None:
    """A finished, judged output file of this session (``index`` into its files, one per acquisition),
    never a preview or a cut-off write."""
    files = session.outputs()
    if session.state not in _FINISHED or not 0 <= index < len(files) or files[index].verdict is None:
        return None
    nwb = Path(files[index].nwb_path)
    path = nwb if not DOWNLOADS[kind] else nwb.with_suffix(DOWNLOADS[kind])
    return path if path.is_file() else None


def _downloads(session: SessionState, index: int) -> dict[str, dict[str, Any]]:
    query = f"?file={index}" if index else ""
    files = {}
    for kind in DOWNLOADS:
        path = _final_file(session, kind, index)
        if path is not None:
            files[kind] = {
                "name": path.name,
                "size": path.stat().st_size,
                "url": f"/api/sessions/{session.id}/download/{kind}{query}",
            }
    return files


@router.get("/sessions/{session_id}/results", dependencies=[StatusLimit])
async def results(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.get, session_id)
    outputs = session.outputs()
    return {
        "state": session.state.value,
        "verdict": session.verdict(),
        "findings": session.output.findings if session.output else {},
        "files": _downloads(session, 0),
        "all_files": [
            {
                "index": i,
                "acquisition": out.acquisition,
                "verdict": out.verdict,
                "findings": out.findings,
                "files": _downloads(session, i),
            }
            for i, out in enumerate(outputs)
        ],
    }


@router.get("/sessions/{session_id}/download/{kind}", dependencies=[StatusLimit])
async def download(
    kind: Literal["nwb", "recipe", "metadata", "report-html", "report-pdf", "report-json", "report-text"],
    session_id: SessionId,
    svc: ServiceDep,
    file: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> FileResponse:
    session = await asyncio.to_thread(svc.store.get, session_id)
    path = _final_file(session, kind, file)
    if path is None:
        raise ApiError(
            409,
            "no_result",
            "There is no finished file to download yet.",
            "Convert first; downloads appear when the file has been inspected.",
        )
    if not path.resolve().is_relative_to(svc.session_dir(session_id).resolve()):
        raise not_found()
    return FileResponse(path, filename=path.name)


# ---- health and admin ---------------------------------------------------------------------------------


@router.get("/health", dependencies=[_open_limit("health")])
async def health(svc: ServiceDep) -> Response:
    from nwbagent.server.db.engine import check

    started = time.perf_counter()
    db_ok, db_detail = await asyncio.to_thread(check, svc.engine)
    disk = shutil.disk_usage(svc.data_dir)
    executor = svc.executor.health()
    body = {
        "status": "ok" if db_ok and executor.get("ok", False) else "degraded",
        "version": __version__,
        "database": {"ok": db_ok, "detail": db_detail},
        "executor": executor,
        "llm": {"provider": svc.provider.name, "model": svc.provider.model},
        "disk": {"path": str(svc.data_dir), "free_bytes": disk.free, "total_bytes": disk.total},
        "websocket_clients": svc.hub.subscriber_count(),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/admin/sessions")
async def admin_sessions(request: Request, svc: ServiceDep) -> list[dict[str, Any]]:
    admin = svc.settings.admin_token.get_secret_value() if svc.settings.admin_token else None
    require_admin(request, admin)

    def listing() -> list[dict[str, Any]]:
        out = []
        for sid in svc.store.list_ids():
            s = svc.store.get(sid)
            owner = svc.store.owner(sid)
            out.append(
                {"id": s.id, "state": s.state.value, "updated_at": s.updated_at.isoformat(), "owner": owner}
            )
        return out

    return await asyncio.to_thread(listing)
