"""REST endpoints under ``/api``. Handlers only translate HTTP to agent turns and store reads: every
conversion runs in the executor, every blocking read in a thread, and errors are JSON ``{error, message,
hint}``.

A request that starts an agent turn is admitted first (``actions.py``): one the session's state does not
allow, or one that would wait behind a turn still running, is refused with 409 and the allowed actions
instead of being queued or answered "not now" with 200. Reads use the store's cached, read-only
``peek``; last use is noted in memory (``Service.seen``), so a read never waits for, or fails on, a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from starlette.requests import ClientDisconnect

from nwbagent import __version__, outputs
from nwbagent.agents.commands import command_in
from nwbagent.agents.state import SessionState, State
from nwbagent.agents.store import SessionNotFound
from nwbagent.agents.view import Turn
from nwbagent.agents.workflow import WITH_RESULT
from nwbagent.metadata import metadata_json_schema
from nwbagent.metadata.normalize import check_value
from nwbagent.server import actions
from nwbagent.server import health as checks
from nwbagent.server import results as results_
from nwbagent.server.actions import Action
from nwbagent.server.auth import (
    ApiError,
    api_key_owner,
    bearer_matches,
    check_session_access,
    cookie_name,
    hash_token,
    new_token,
    not_found,
    require_admin,
    token_from_cookie,
    token_matches,
)
from nwbagent.server.ratelimit import LimitClass, enforce
from nwbagent.server.runtime import SAMPLES, Service
from nwbagent.server.security import SAFE_METHODS, origin_allowed, origin_refused
from nwbagent.server.upload_rules import storage_failure
from nwbagent.server.uploads import UploadLimits, dir_size, receive_multipart, resolve_server_path
from nwbagent.server.validation import check_metadata_fields, storable
from nwbagent.vocabulary import vocabulary

log = logging.getLogger("nwbagent.server.api")

router = APIRouter(prefix="/api")

#: Downloads are files the service wrote from users' input (the HTML report holds their metadata): they
#: may style themselves and show their plots, and nothing more.
_DOWNLOAD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
}


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


ServiceDep = Annotated[Service, Depends(service)]


def caller(request: Request, svc: ServiceDep) -> str | None:
    """The API key owner when keys are required (401 otherwise), else None."""
    return api_key_owner(request, svc.settings.api_keys)


Caller = Annotated[str | None, Depends(caller)]


def session_id_for(session_id: str, request: Request, svc: ServiceDep, owner: Caller) -> str:
    """The session id once the caller has proved access to it; 404 otherwise, whatever the reason.

    A change made with the cookie alone must come from this service's own pages (``security.py``).
    """
    try:
        stored: tuple[str | None, str | None] | None = svc.store.access(session_id)
    except SessionNotFound:
        stored = None
    check_session_access(request, session_id, stored, owner)
    if (
        request.method not in SAFE_METHODS
        and token_from_cookie(request, session_id)
        and not origin_allowed(request, svc.settings.allowed_origins)
    ):
        raise origin_refused(request)
    svc.seen(session_id)
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
    text: Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(storable)]


class SourceIn(BaseModel):
    path: str | None = Field(default=None, max_length=8192)
    sample: str | None = Field(default=None, description=f"One of: {', '.join(SAMPLES)}", max_length=100)


class MetadataPatch(BaseModel):
    fields: dict[str, Any] = Field(max_length=100)


class ActionIn(BaseModel):
    argument: Annotated[str | None, Field(max_length=200), AfterValidator(storable)] = None


class ValuesIn(BaseModel):
    """Values a stream's reader needs: ``{"<stream handle>": {"sampling_frequency": "30000"}}``."""

    values: dict[str, dict[str, str | float | int]] = Field(max_length=100)


class PartsIn(BaseModel):
    """Acquisitions/segments to convert, e.g. ``["experiment2"]``; empty for all of them."""

    parts: list[str] = Field(default_factory=list, max_length=200)


# ---- admission: what the session may take now (see actions.py) -------------------------------------


async def _allowed(svc: Service, session: SessionState, *, busy: bool) -> list[str]:
    job = await asyncio.to_thread(svc.jobs.latest_for_session, session.id)
    active = job is not None and job.status in ("queued", "running")
    return svc.conversation.workflow.allowed_actions(session, busy=busy, job_active=active)


async def _admit(
    svc: Service,
    session_id: str,
    kind: Literal["action", "edit", "start", "chat"],
    action: Action | None = None,
) -> SessionState:
    """Refuse (409) a turn the session cannot take now; call right before ``svc.turn``.

    A turn still running (the reports after a conversion, a detection) is waited for, up to
    ``NWBAGENT_BUSY_WAIT_S``, so the request is judged against the state it will really meet; a longer one
    (a conversion) is a 409 ``session_busy``. No await comes between the last busy check and ``svc.turn``,
    which registers the turn before its first await: two racing requests cannot both be admitted.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + svc.settings.busy_wait_s
    while True:
        await svc.until_idle(session_id, deadline - loop.time())
        session = await asyncio.to_thread(svc.store.peek, session_id)
        if not svc.busy(session_id):
            break
        if loop.time() >= deadline:
            raise actions.busy(session, await _allowed(svc, session, busy=True))
    workflow = svc.conversation.workflow
    if kind == "action" and action is not None and not workflow.may(action, session):
        raise actions.refuse_action(action, session, workflow, await _allowed(svc, session, busy=False))
    if kind == "edit" and not actions.may_edit_metadata(session, workflow):
        why = workflow.explain(session, State.improving) if session.state in WITH_RESULT else None
        raise actions.not_now("Changing the metadata", session, await _allowed(svc, session, busy=False), why)
    if kind == "start" and not actions.may_start(session, workflow):
        raise actions.not_now("Giving new files", session, await _allowed(svc, session, busy=False), None)
    if kind in ("edit", "chat") and svc.store.near_limit(session_id):
        raise ApiError(
            413,
            "session_too_large",
            "This session's stored record has reached its size limit (NWBAGENT_MAX_SESSION_DOCUMENT_BYTES).",
            "Download what you need and start a new session, or ask the operator to raise the limit.",
        )
    return session


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
        sessions = [svc.store.peek(sid) for sid in ids]
        return [
            {"id": s.id, "state": s.state.value, "updated_at": s.updated_at.isoformat()} for s in sessions
        ]

    return await asyncio.to_thread(own)


@router.get("/sessions/{session_id}", dependencies=[StatusLimit])
async def get_session(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.peek, session_id)
    return svc.view(session)


@router.delete("/sessions/{session_id}", status_code=204, dependencies=[StatusLimit])
async def delete_session(session_id: SessionId, svc: ServiceDep) -> Response:
    """Files first: on a full disk that frees the space the database needs to record the deletion."""
    await asyncio.to_thread(svc.cancel, session_id)
    await asyncio.to_thread(svc.delete_files, session_id)
    with contextlib.suppress(SessionNotFound):  # deleted meanwhile (another request, the idle sweep)
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
    if start:
        await _admit(svc, session_id, "start")  # refuse before a byte is stored, not after
    uploads = svc.session_dir(session_id) / "uploads"
    try:
        await asyncio.to_thread(uploads.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_failure(exc) from None
    used = await asyncio.to_thread(dir_size, uploads)
    try:
        result = await receive_multipart(
            request.stream(),
            request.headers.get("content-type", ""),
            uploads,
            UploadLimits.from_settings(svc.settings),
            already_used_bytes=used,
        )
    except ClientDisconnect:
        # The client went away (closed the tab, lost the network); what it sent was removed. Normal.
        log.info("upload to session %s ended by the client; nothing was kept", session_id)
        return Response(status_code=400)
    body: dict[str, Any] = {"files": [dataclasses.asdict(f) for f in result.files]}
    body["total_bytes"] = result.total_bytes
    body["archives_extracted"] = result.archives_extracted
    if start:
        await asyncio.to_thread(svc.check_source, uploads, session_id)
        await _admit(svc, session_id, "start")
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
    await asyncio.to_thread(svc.check_source, source, session_id)
    await _admit(svc, session_id, "start")
    return _turn_response(await svc.turn(session_id, "start", {"source": str(source)}), session_id)


@router.post("/sessions/{session_id}/start", dependencies=[UploadLimit])
async def start_detection(session_id: SessionId, svc: ServiceDep) -> Response:
    """Detect what the uploaded files hold (after one or more uploads)."""
    uploads = svc.session_dir(session_id) / "uploads"
    if not uploads.is_dir() or not any(uploads.iterdir()):
        raise ApiError(409, "no_files", "No files were uploaded to this session yet.", "Upload files first.")
    await asyncio.to_thread(svc.check_source, uploads, session_id)
    await _admit(svc, session_id, "start")
    return _turn_response(await svc.turn(session_id, "start", {"source": str(uploads)}), session_id)


@router.get("/samples", dependencies=[_open_limit("status"), Depends(caller)])
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
    await _admit(svc, session_id, "chat")
    return _turn_response(await svc.turn(session_id, "user_message", {"text": body.text}), session_id)


@router.get("/sessions/{session_id}/metadata", dependencies=[StatusLimit])
async def get_metadata(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.peek, session_id)
    merged = session.merged_metadata()
    return {
        "values": {k: v for k, v in merged.model_dump(mode="json").items() if v is not None},
        "questions": [q.model_dump(mode="json") for q in session.open_questions()],
        "errors": merged.errors(),
    }


@router.patch("/sessions/{session_id}/metadata", dependencies=[StatusLimit])
async def patch_metadata(body: MetadataPatch, session_id: SessionId, svc: ServiceDep) -> Response:
    """Form edits, applied at once; refused (409) while the agents work or once the session is final,
    never queued to reopen a finished file later."""
    check_metadata_fields(body.fields, svc.settings.max_metadata_value_chars)
    await _admit(svc, session_id, "edit")
    return _turn_response(await svc.turn(session_id, "set_metadata", {"fields": body.fields}), session_id)


@router.patch("/sessions/{session_id}/values", dependencies=[StatusLimit])
async def patch_values(body: ValuesIn, session_id: SessionId, svc: ServiceDep) -> Response:
    """Answer the value questions (``kind == "value"``): a reader's argument the files lack."""
    payload = {"values": {u: {k: str(v) for k, v in given.items()} for u, given in body.values.items()}}
    await _admit(svc, session_id, "chat")
    return _turn_response(await svc.turn(session_id, "set_values", payload), session_id)


@router.post("/sessions/{session_id}/parts", dependencies=[StatusLimit])
async def select_parts(body: PartsIn, session_id: SessionId, svc: ServiceDep) -> Response:
    """Convert only some acquisitions or segments (the session view's ``parts.available``)."""
    await _admit(svc, session_id, "chat")
    return _turn_response(await svc.turn(session_id, "select_parts", {"parts": body.parts}), session_id)


@router.get("/schema/metadata", dependencies=[_open_limit("status"), Depends(caller)])
async def schema() -> dict[str, Any]:
    return metadata_json_schema()


@router.get("/vocabulary", dependencies=[_open_limit("status"), Depends(caller)])
async def vocabulary_endpoint() -> dict[str, Any]:
    """States, actions, importance levels, sources, download kinds and format names, each from its owner."""
    return await asyncio.to_thread(vocabulary)


class ValueIn(BaseModel):
    field: str = Field(max_length=64)
    value: str | list[str] | None = Field(default=None, max_length=200)
    species: str | None = Field(default=None, max_length=200)


@router.post("/metadata/check", dependencies=[_open_limit("status"), Depends(caller)])
async def check_metadata_value(body: ValueIn, svc: ServiceDep) -> dict[str, Any]:
    """One field as the server would save it (normalized) or why not, with an example: the forms' check."""
    value: Any = body.value
    if isinstance(value, str) and len(value) > 10_000:
        value = value[:10_000]
    return check_value(body.field, value, species=body.species, timezone=svc.settings.timezone)


@router.post("/sessions/{session_id}/actions/{action}", dependencies=[Depends(_action_limit)])
async def act(
    action: Action, session_id: SessionId, svc: ServiceDep, body: ActionIn | None = None
) -> Response:
    if action == "cancel":
        if await asyncio.to_thread(svc.cancel, session_id):
            return JSONResponse({"cancelled": True}, status_code=202)
        session = await asyncio.to_thread(svc.store.peek, session_id)
        allowed = await _allowed(svc, session, busy=svc.busy(session_id))
        refused = actions.not_now("'cancel'", session, allowed, "no conversion is queued or running")
        return JSONResponse({**refused.body(), "cancelled": False}, status_code=409)
    await _admit(svc, session_id, "action", action)
    payload = {"command": action, "argument": body.argument if body else None}
    return _turn_response(await svc.turn(session_id, "command", payload), session_id)


@router.get("/sessions/{session_id}/status", dependencies=[StatusLimit])
async def status(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.peek, session_id)
    job = await asyncio.to_thread(svc.job_for, session_id)
    busy = svc.busy(session_id)
    active = job is not None and job.get("status") in ("queued", "running")
    view = svc.view(session, job=job, chat=False)
    return {**view, "actions": view["allowed_actions"], "busy": busy, "active": active}


@router.get("/sessions/{session_id}/events/history", dependencies=[StatusLimit])
async def event_history(
    session_id: SessionId, svc: ServiceDep, after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0
) -> list[dict[str, Any]]:
    events = await asyncio.to_thread(svc.events.since, session_id, after)
    return [e.model_dump(mode="json") for e in events]


# ---- results and downloads ----------------------------------------------------------------------------


@router.get("/sessions/{session_id}/results", dependencies=[StatusLimit])
async def results(session_id: SessionId, svc: ServiceDep) -> dict[str, Any]:
    session = await asyncio.to_thread(svc.store.peek, session_id)
    return {
        "state": session.state.value,
        "verdict": session.verdict(),
        "findings": session.output.findings if session.output else {},
        "files": results_.links(session, 0),
        "all_files": results_.downloads(session),
    }


@router.get("/sessions/{session_id}/download/{kind}", dependencies=[StatusLimit])
async def download(
    kind: str,
    session_id: SessionId,
    svc: ServiceDep,
    file: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> FileResponse:
    if kind not in outputs.BY_NAME:
        raise not_found()
    session = await asyncio.to_thread(svc.store.peek, session_id)
    path = results_.final_file(session, kind, file)
    if path is None:
        raise ApiError(
            409,
            "no_result",
            "There is no finished file to download yet.",
            "Convert first; downloads appear when the file has been inspected.",
        )
    if not path.resolve().is_relative_to(svc.session_dir(session_id).resolve()):
        raise not_found()
    return FileResponse(
        path, filename=path.name, media_type=outputs.BY_NAME[kind].media_type, headers=_DOWNLOAD_HEADERS
    )


# ---- health and admin ---------------------------------------------------------------------------------


def _may_see_details(request: Request, svc: Service) -> bool:
    """Health details (paths, disk sizes, worker PIDs) are for API key holders and the admin; a service
    without keys is open to everyone anyway."""
    settings = svc.settings
    if not settings.api_keys:
        return True
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if bearer_matches(request, admin):
        return True
    try:
        api_key_owner(request, settings.api_keys)
    except ApiError:
        return False
    return True


@router.get("/health", dependencies=[_open_limit("health")])
async def health(request: Request, svc: ServiceDep) -> Response:
    """``ok`` only when a user's next request can succeed (see ``health.py``); 503 with the reasons
    otherwise."""
    from nwbagent.server.db.engine import check

    started = time.perf_counter()
    db_ok, db_detail = await asyncio.to_thread(check, svc.engine)
    writable = await asyncio.to_thread(checks.database_writable, svc.engine) if db_ok else (False, db_detail)
    min_free = svc.settings.min_free_disk_bytes
    url = svc.engine.url
    database = [Path(url.database)] if url.get_backend_name() == "sqlite" and url.database else []
    disk = await asyncio.to_thread(checks.disks, [svc.data_dir, svc.sessions_dir, *database], min_free)
    executor = svc.executor.health()
    reasons = checks.reasons(
        db_ok=db_ok,
        db_detail=db_detail,
        writable=writable,
        write_failure=svc.write_failure,
        executor=executor,
        disk=disk,
        min_free=min_free,
    )
    status_code = 503 if reasons else 200
    state = "degraded" if reasons else "ok"
    if not _may_see_details(request, svc):
        return JSONResponse({"status": state}, status_code=status_code)
    first_disk = disk[0] if disk else {"path": str(svc.data_dir), "free_bytes": None, "total_bytes": None}
    body = {
        "status": state,
        "reasons": reasons,
        "version": __version__,
        "database": {"ok": db_ok, "detail": db_detail, "writable": writable[0], "write_detail": writable[1]},
        "executor": executor,
        "llm": {"provider": svc.provider.name, "model": svc.provider.model},
        "disk": {**first_disk, "min_free_bytes": min_free, "filesystems": disk},
        "websocket_clients": svc.hub.subscriber_count(),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return JSONResponse(body, status_code=status_code)


@router.get("/admin/sessions")
async def admin_sessions(request: Request, svc: ServiceDep) -> list[dict[str, Any]]:
    admin = svc.settings.admin_token.get_secret_value() if svc.settings.admin_token else None
    require_admin(request, admin)

    def listing() -> list[dict[str, Any]]:
        out = []
        for sid in svc.store.list_ids():
            s = svc.store.peek(sid)
            owner = svc.store.owner(sid)
            out.append(
                {"id": s.id, "state": s.state.value, "updated_at": s.updated_at.isoformat(), "owner": owner}
            )
        return out

    return await asyncio.to_thread(listing)
