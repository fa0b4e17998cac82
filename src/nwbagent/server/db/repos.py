"""Jobs and events: what the service did for a session, kept so a restart or a late browser can catch up.

A job row follows a conversion from the queue to its end; after a crash, whatever was still queued or running
is marked ``interrupted`` so nobody waits for a worker that no longer exists. Events are the session's
WebSocket stream, stored so a client that connects late (or reconnects) gets the history; progress events
arrive several times a second, so only the newest few per session are kept.

Both repositories hand out plain pydantic models, never ORM objects, so callers can keep, serialize or pass
them across threads without a database session behind them.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, get_args

from pydantic import AwareDatetime, BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Row

from nwbagent.agents.state import utcnow
from nwbagent.errors import UserFacingError
from nwbagent.server.db.models import EventRow, JobRow
from nwbagent.server.jobs import JobKind, JobSpec, JobStatus

UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")
FINISHED: tuple[JobStatus, ...] = tuple(s for s in get_args(JobStatus) if s not in UNFINISHED)


def _plain(value: Any) -> Any:
    """JSON data whatever a caller passes (paths, datetimes, models), so a write never fails on a type."""
    return to_jsonable_python(value, fallback=str)


class JobNotFound(UserFacingError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"No job with id '{job_id}'.",
            fix="Jobs are removed with their session; start the conversion again.",
            code="job_not_found",
        )


class Job(BaseModel):
    id: str
    session_id: str
    kind: JobKind
    status: JobStatus
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    progress: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    position: int | None = None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


def _job(row: Row[Any]) -> Job:
    return Job.model_validate(row._mapping)


_JOB_COLUMNS = tuple(JobRow.__table__.c)


class JobRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, spec: JobSpec, *, position: int | None = None) -> Job:
        """Record a job as queued (``position``: its place in the executor's line, if it has one)."""
        job = Job(
            id=spec.job_id,
            session_id=spec.session_id,
            kind=spec.kind,
            status="queued",
            created_at=utcnow(),
            position=position,
        )
        with self.engine.begin() as conn:
            conn.execute(insert(JobRow).values(**job.model_dump()))
        return job

    def mark_running(self, job_id: str) -> bool:
        """Queued → running; False when the job is gone or already past running (e.g. cancelled)."""
        return self._update(
            job_id,
            {"status": "running", "started_at": utcnow(), "position": None},
            only_if=("queued",),
        )

    def update_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Keep only the newest progress: one indexed UPDATE, cheap enough for several calls a second."""
        return self._update(job_id, {"progress": _plain(progress)})

    def set_position(self, job_id: str, position: int | None) -> bool:
        return self._update(job_id, {"position": position}, only_if=("queued",))

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        outcome: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record the end of a job; ``error`` defaults to ``outcome['error']`` (a ``JobOutcome`` dump)."""
        if status not in FINISHED:
            raise ValueError(f"finish() needs a final status {FINISHED}, not {status!r}")
        if error is None and outcome is not None and isinstance(outcome.get("error"), dict):
            error = outcome["error"]
        return self._update(
            job_id,
            {
                "status": status,
                "finished_at": utcnow(),
                "position": None,
                "outcome": _plain(outcome),
                "error": _plain(error),
            },
        )

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_JOB_COLUMNS).where(JobRow.id == job_id)).one_or_none()
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    def list_for_session(self, session_id: str) -> list[Job]:
        """Oldest first."""
        query = (
            select(*_JOB_COLUMNS)
            .where(JobRow.session_id == session_id)
            .order_by(JobRow.created_at, JobRow.id)
        )
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query)]

    def latest_for_session(self, session_id: str) -> Job | None:
        query = (
            select(*_JOB_COLUMNS)
            .where(JobRow.session_id == session_id)
            .order_by(JobRow.created_at.desc(), JobRow.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return _job(row) if row is not None else None

    def unfinished(self) -> list[Job]:
        query = select(*_JOB_COLUMNS).where(JobRow.status.in_(UNFINISHED)).order_by(JobRow.created_at)
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query)]

    def interrupt_unfinished(self) -> list[Job]:
        """At start-up: no worker survives a restart, so every queued or running job ends as interrupted."""
        now = utcnow()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(*_JOB_COLUMNS)
                .where(JobRow.status.in_(UNFINISHED))
                .order_by(JobRow.created_at, JobRow.id)
                .with_for_update()
            ).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            conn.execute(
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.status.in_(UNFINISHED))
                .values(status="interrupted", finished_at=now, position=None)
            )
        return [
            _job(r).model_copy(update={"status": "interrupted", "finished_at": now, "position": None})
            for r in rows
        ]

    def _update(self, job_id: str, values: dict[str, Any], only_if: tuple[JobStatus, ...] = ()) -> bool:
        query = update(JobRow).where(JobRow.id == job_id)
        if only_if:
            query = query.where(JobRow.status.in_(only_if))
        with self.engine.begin() as conn:
            return conn.execute(query.values(**values)).rowcount == 1


class Event(BaseModel):
    id: int
    session_id: str
    at: AwareDatetime
    type: str
    payload: Any = None


_EVENT_COLUMNS = tuple(EventRow.__table__.c)


class EventRepo:
    """A session's event history; ``keep`` bounds how many events of each type in ``pruned`` survive.

    Pruning runs after every ``prune_every``-th such event of a session (counted per process), so between
    two prunes up to ``keep + prune_every - 1`` may exist; call :meth:`prune` for an exact cut.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        keep: int = 200,
        prune_every: int = 25,
        pruned: frozenset[str] = frozenset({"progress"}),
    ) -> None:
        if keep < 0 or prune_every < 1:
            raise ValueError("keep must be >= 0 and prune_every >= 1")
        self.engine = engine
        self.keep = keep
        self.prune_every = prune_every
        self.pruned = pruned
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def append(self, session_id: str, type: str, payload: Any = None, *, at: datetime | None = None) -> int:
        """Store an event; its id orders the session's history and is what ``since`` resumes from."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(EventRow).values(
                    session_id=session_id, type=type, payload=_plain(payload), at=at or utcnow()
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # always set for a single-row INSERT
            new_id = int(key[0])
        if type in self.pruned and self._due(session_id, type):
            self.prune(session_id, type)
        return new_id

    def since(self, session_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Events after ``after_id`` (0: from the start), oldest first, at most ``limit``."""
        query = (
            select(*_EVENT_COLUMNS)
            .where(EventRow.session_id == session_id, EventRow.id > after_id)
            .order_by(EventRow.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Event.model_validate(r._mapping) for r in conn.execute(query)]

    def latest(self, session_id: str, type: str) -> Event | None:
        query = (
            select(*_EVENT_COLUMNS)
            .where(EventRow.session_id == session_id, EventRow.type == type)
            .order_by(EventRow.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return Event.model_validate(row._mapping) if row is not None else None

    def prune(self, session_id: str, type: str = "progress", keep: int | None = None) -> int:
        """Delete all but the newest ``keep`` (default ``self.keep``) events of ``type``; returns how many."""
        keep = self.keep if keep is None else keep
        same = (EventRow.session_id == session_id, EventRow.type == type)
        query = delete(EventRow).where(*same)
        if keep > 0:
            oldest_kept = (
                select(EventRow.id)
                .where(*same)
                .order_by(EventRow.id.desc())
                .offset(keep - 1)
                .limit(1)
                .scalar_subquery()
            )
            query = query.where(EventRow.id < oldest_kept)
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    def _due(self, session_id: str, type: str) -> bool:
        key = (session_id, type)
        with self._lock:
            count = self._counts.get(key, 0) + 1
            if count >= self.prune_every:
                self._counts.pop(key, None)
                return True
            self._counts[key] = count
            return False
