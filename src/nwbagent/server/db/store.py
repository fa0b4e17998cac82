"""Sessions in a SQL database, with the same contract as the file and memory stores.

The document stays the single source of truth (JSON text written by :class:`SessionState`); the columns
beside it serve the web service: who may open a session (a token hash and an API key owner, never a token),
when it was last used (idle expiry), its workflow state, and a queryable copy of its trace. Every write is one
transaction, and ``save`` relies only on ``UPDATE ... WHERE revision = ?`` for optimistic concurrency, which
both SQLite and PostgreSQL serialize correctly across threads and processes.

Reads that only look (status polls, the WebSocket snapshot) go through :meth:`SqlStore.peek`, which
parses a document once per revision and then answers from memory after one indexed look-up of the revision,
so polling stays cheap however large a session grows. Documents are capped (``max_document_bytes``): a
session cannot grow without bound and make every read of it slow for everyone.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from nwbagent.agents.state import SessionState, TraceEntry, utcnow
from nwbagent.agents.store import _ID, SessionExists, SessionNotFound, StaleSession, _check_id
from nwbagent.errors import UserFacingError
from nwbagent.server.db.models import SessionRow, TraceRow

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

T = TypeVar("T")

#: Parsed documents kept for :meth:`SqlStore.peek`, in total characters of their JSON.
_CACHE_CHARS = 64 * 1024 * 1024


class SessionTooLarge(UserFacingError):
    """The session's stored record would pass ``max_document_bytes``; the change was not saved."""

    def __init__(self, session_id: str, size: int, limit: int) -> None:
        self.session_id = session_id
        self.size = size
        self.limit = limit
        super().__init__(
            f"This session's stored record would grow to {size:,} bytes, past the limit of {limit:,} "
            "(NWBAGENT_MAX_SESSION_DOCUMENT_BYTES); the change was not saved.",
            fix="Download what you need and start a new session, or ask the operator to raise the limit.",
            code="session_too_large",
        )


class SqlStore:
    """A :class:`~nwbagent.agents.store.SessionStore` on SQLAlchemy, plus what the service needs."""

    def __init__(self, engine: Engine, *, max_document_bytes: int | None = None) -> None:
        self.engine = engine
        self.max_document_bytes = max_document_bytes
        self._cache: OrderedDict[str, tuple[int, int, SessionState]] = OrderedDict()
        self._cached_chars = 0
        self._lock = threading.Lock()

    # ---- the SessionStore protocol -------------------------------------------------------------------

    def create(self, state: SessionState, *, token_hash: str | None = None, owner: str | None = None) -> None:
        """Store a new session; ``token_hash`` is the sha256 hex of its token ("" = no token opens it)."""
        _check_id(state.id)
        if token_hash is not None and not _SHA256_HEX.match(token_hash):
            # Guards against the one mistake that cannot be undone: storing the token itself.
            raise ValueError("token_hash must be the lowercase sha256 hex digest of the session token")
        now = utcnow()
        document = self._bounded(state.id, state.to_json())
        row = {
            "id": state.id,
            "token_hash": token_hash or "",
            "owner": owner,
            "state": state.state.value,
            "revision": state.revision,
            "document": document,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "last_seen_at": now,
            "expired": False,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(SessionRow).values(**row))
                self._append_trace(conn, state.id, state.trace)
        except IntegrityError:
            raise SessionExists(state.id) from None

    def get(self, session_id: str) -> SessionState:
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.connect() as conn:
            text = conn.execute(
                select(SessionRow.document).where(SessionRow.id == session_id)
            ).scalar_one_or_none()
        if text is None:
            raise SessionNotFound(session_id)
        return SessionState.from_json(text)

    def save(self, state: SessionState) -> None:
        _check_id(state.id)
        revision, now = state.revision + 1, utcnow()
        document = self._bounded(
            state.id, state.model_copy(update={"revision": revision, "updated_at": now}).to_json()
        )
        with self.engine.begin() as conn:
            # Writing first takes the row (PostgreSQL) or database (SQLite) write lock before anything is
            # read, so a concurrent writer waits here and then finds the revision moved on.
            result = conn.execute(
                update(SessionRow)
                .where(SessionRow.id == state.id, SessionRow.revision == state.revision)
                .values(
                    document=document,
                    revision=SessionRow.revision + 1,
                    state=state.state.value,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                stored = conn.execute(
                    select(SessionRow.revision).where(SessionRow.id == state.id)
                ).scalar_one_or_none()
                if stored is None:
                    raise SessionNotFound(state.id)
                raise StaleSession(state.id, state.revision, stored)
            self._append_trace(conn, state.id, state.trace)
        # Only after the commit, so a failed save leaves the caller's copy saveable.
        state.revision, state.updated_at = revision, now

    def list_ids(self, owner: str | None = None) -> list[str]:
        """All session ids, or only those created under API key id ``owner``."""
        query = select(SessionRow.id).order_by(SessionRow.id)
        if owner is not None:
            query = query.where(SessionRow.owner == owner)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def delete(self, session_id: str) -> None:
        """Remove the session with its trace, jobs and events (foreign keys cascade)."""
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.begin() as conn:
            gone = conn.execute(delete(SessionRow).where(SessionRow.id == session_id)).rowcount != 1
        self._forget(session_id)
        if gone:
            raise SessionNotFound(session_id)

    def peek(self, session_id: str) -> SessionState:
        """The stored session, shared and read-only: callers must not change it (use :meth:`get` to).

        Costs one indexed look-up of the revision when the session has not changed since it was last
        parsed, whatever the size of its document.
        """
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        revision = self._column(session_id, SessionRow.revision)
        with self._lock:
            hit = self._cache.get(session_id)
            if hit is not None and hit[0] == revision:
                self._cache.move_to_end(session_id)
                return hit[2]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SessionRow.revision, SessionRow.document).where(SessionRow.id == session_id)
            ).one_or_none()
        if row is None:
            raise SessionNotFound(session_id)
        state = SessionState.from_json(row.document)
        with self._lock:
            self._forget_locked(session_id)
            self._cache[session_id] = (row.revision, len(row.document), state)
            self._cached_chars += len(row.document)
            while self._cached_chars > _CACHE_CHARS and len(self._cache) > 1:
                _, (_, chars, _) = self._cache.popitem(last=False)
                self._cached_chars -= chars
        return state

    # ---- access and expiry -------------------------------------------------------------------------

    def near_limit(self, session_id: str, headroom: int = 64 * 1024) -> bool:
        """Whether the session's document, as last peeked, is within ``headroom`` of the size limit: the
        next change would most likely be refused, so it is better refused before any work."""
        if self.max_document_bytes is None:
            return False
        with self._lock:
            hit = self._cache.get(session_id)
        return hit is not None and hit[1] >= self.max_document_bytes - headroom

    def access(self, session_id: str) -> tuple[str, str | None]:
        """Token hash and owner in one look-up: what every authenticated request needs first."""
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SessionRow.token_hash, SessionRow.owner).where(SessionRow.id == session_id)
            ).one_or_none()
        if row is None:
            raise SessionNotFound(session_id)
        return row.token_hash, row.owner

    def token_hash(self, session_id: str) -> str:
        """The stored hash to compare a presented token with ("" when the session has no token)."""
        return self._column(session_id, SessionRow.token_hash)

    def owner(self, session_id: str) -> str | None:
        """The API key id the session was created under, or None (created without API keys)."""
        return self._column(session_id, SessionRow.owner)

    def last_seen(self, session_id: str) -> datetime:
        return self._column(session_id, SessionRow.last_seen_at)

    def is_expired(self, session_id: str) -> bool:
        return self._column(session_id, SessionRow.expired)

    def touch(self, session_id: str) -> None:
        """Record that someone used the session now, restarting its idle clock."""
        self._update(session_id, last_seen_at=utcnow())

    def touch_many(self, seen: Mapping[str, datetime]) -> None:
        """Record several sessions' last use in one transaction; sessions deleted meanwhile are skipped."""
        if not seen:
            return
        with self.engine.begin() as conn:
            for session_id, at in seen.items():
                conn.execute(update(SessionRow).where(SessionRow.id == session_id).values(last_seen_at=at))

    def mark_expired(self, session_id: str) -> None:
        """Flag the session for removal: ``idle_ids`` returns it on the next sweep, however recent."""
        self._update(session_id, expired=True)

    def idle_ids(self, older_than: timedelta) -> list[str]:
        """Sessions nobody used for ``older_than`` and those marked expired, longest idle first."""
        cutoff = utcnow() - older_than
        query = (
            select(SessionRow.id)
            .where(or_(SessionRow.last_seen_at < cutoff, SessionRow.expired.is_(True)))
            .order_by(SessionRow.last_seen_at, SessionRow.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def trace(self, session_id: str) -> list[TraceEntry]:
        """The session's stored trace, read from the trace table rather than the document."""
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TraceRow).where(TraceRow.session_id == session_id).order_by(TraceRow.seq)
            ).all()
        if not rows:
            self._column(session_id, SessionRow.id)  # raises SessionNotFound if absent
        return [
            TraceEntry(
                at=r.at,
                from_state=r.from_state,
                to_state=r.to_state,
                actor=r.actor,
                reason=r.reason,
                input=r.input,
            )
            for r in rows
        ]

    # ---- helpers ---------------------------------------------------------------------------------

    def _bounded(self, session_id: str, document: str) -> str:
        if self.max_document_bytes is not None and len(document) > self.max_document_bytes // 4:
            size = len(document.encode("utf-8", "surrogatepass"))  # only long ones are worth encoding
            if size > self.max_document_bytes:
                raise SessionTooLarge(session_id, size, self.max_document_bytes)
        return document

    def _forget(self, session_id: str) -> None:
        with self._lock:
            self._forget_locked(session_id)

    def _forget_locked(self, session_id: str) -> None:
        old = self._cache.pop(session_id, None)
        if old is not None:
            self._cached_chars -= old[1]

    def _column(self, session_id: str, column: InstrumentedAttribute[T]) -> T:
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(column).where(SessionRow.id == session_id)).one_or_none()
        if row is None:
            raise SessionNotFound(session_id)
        value: T = row[0]
        return value

    def _update(self, session_id: str, **values: object) -> None:
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self.engine.begin() as conn:
            result = conn.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))
            if result.rowcount != 1:
                raise SessionNotFound(session_id)

    @staticmethod
    def _append_trace(conn: Connection, session_id: str, trace: list[TraceEntry]) -> None:
        """Copy the document's trace entries the table does not hold yet (the trace only ever grows)."""
        stored = conn.execute(
            select(func.count()).select_from(TraceRow).where(TraceRow.session_id == session_id)
        ).scalar_one()
        new = trace[stored:]
        if not new:
            return
        conn.execute(
            insert(TraceRow),
            [
                {
                    "session_id": session_id,
                    "seq": stored + offset,
                    "at": entry.at,
                    "from_state": entry.from_state.value,
                    "to_state": entry.to_state.value,
                    "actor": entry.actor,
                    "reason": entry.reason,
                    "input": entry.model_dump(mode="json", include={"input"})["input"],
                }
                for offset, entry in enumerate(new)
            ],
        )
