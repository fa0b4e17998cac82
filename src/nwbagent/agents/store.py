"""Where sessions live between messages, behind one small interface.

Stores hold JSON text, never live objects: what comes back from ``get`` is a fresh copy, so an agent's
half-finished edits are invisible to others until it saves, and everything stored is proven to survive a
restart. Writes use optimistic concurrency: ``save`` succeeds only when the caller edited the revision the
store still holds, so two agents working on one session cannot silently overwrite each other. A database
implementation needs only ``UPDATE ... SET data=?, revision=revision+1 WHERE id=? AND revision=?`` and a
row-count check to honour the same contract.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from nwbagent import outputs
from nwbagent.agents.state import SessionState, utcnow
from nwbagent.errors import UserFacingError

#: Ids are ``secrets.token_urlsafe`` output; anything else is refused so an id can never name a path.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class SessionNotFound(UserFacingError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(
            f"No session with id '{session_id}'.",
            fix="Check the session link, or start a new session (finished ones may have been deleted).",
            code="session_not_found",
        )


class SessionExists(UserFacingError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(
            f"A session with id '{session_id}' already exists.",
            fix="Create sessions with a fresh SessionState(); ids are random.",
            code="session_exists",
        )


class StaleSession(UserFacingError):
    """Someone saved the session after this copy was read; reload, re-apply the change, save again."""

    def __init__(self, session_id: str, expected: int, stored: int) -> None:
        self.session_id = session_id
        self.expected = expected
        self.stored = stored
        super().__init__(
            f"Session '{session_id}' changed while this step was running (read revision {expected}, "
            f"stored revision {stored}).",
            fix="Reload the session and repeat the step.",
            code="stale_session",
        )


@runtime_checkable
class SessionStore(Protocol):
    """Persistence for :class:`SessionState`; all methods are synchronous and safe across threads."""

    def create(self, state: SessionState) -> None:
        """Store a new session (raises :class:`SessionExists` if the id is taken)."""
        ...

    def get(self, session_id: str) -> SessionState:
        """An independent copy of the stored session (raises :class:`SessionNotFound`)."""
        ...

    def save(self, state: SessionState) -> None:
        """Store ``state`` if its ``revision`` is the stored one, then bump ``revision`` and ``updated_at``
        on both; raises :class:`StaleSession` otherwise and :class:`SessionNotFound` if it was deleted."""
        ...

    def list_ids(self) -> list[str]: ...

    def delete(self, session_id: str) -> None:
        """Remove the session (raises :class:`SessionNotFound` if absent)."""
        ...


class _TextStore:
    """The concurrency and copy rules, over four primitives a backend supplies as raw text operations."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # Backends implement these; they are only called with a valid id and with the lock held.
    def _read(self, session_id: str) -> str | None:
        raise NotImplementedError

    def _write(self, session_id: str, text: str) -> None:
        raise NotImplementedError

    def _remove(self, session_id: str) -> bool:
        raise NotImplementedError

    def _ids(self) -> list[str]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def create(self, state: SessionState) -> None:
        _check_id(state.id)
        with self._locked():
            if self._read(state.id) is not None:
                raise SessionExists(state.id)
            self._write(state.id, state.to_json())

    def get(self, session_id: str) -> SessionState:
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self._locked():
            text = self._read(session_id)
        if text is None:
            raise SessionNotFound(session_id)
        return SessionState.from_json(text)

    def save(self, state: SessionState) -> None:
        _check_id(state.id)
        with self._locked():
            text = self._read(state.id)
            if text is None:
                raise SessionNotFound(state.id)
            stored = SessionState.from_json(text).revision
            if stored != state.revision:
                raise StaleSession(state.id, state.revision, stored)
            revision, now = state.revision + 1, utcnow()
            self._write(
                state.id, state.model_copy(update={"revision": revision, "updated_at": now}).to_json()
            )
        # Only after the write succeeded, so a failed save leaves the caller's copy saveable.
        state.revision, state.updated_at = revision, now

    def list_ids(self) -> list[str]:
        with self._locked():
            return sorted(self._ids())

    def delete(self, session_id: str) -> None:
        if not _ID.match(session_id):
            raise SessionNotFound(session_id)
        with self._locked():
            if not self._remove(session_id):
                raise SessionNotFound(session_id)


def _check_id(session_id: str) -> None:
    if not _ID.match(session_id):
        raise UserFacingError(
            f"'{session_id}' is not a valid session id.",
            fix="Use the id a new SessionState() was given (letters, digits, '-' and '_').",
            code="invalid_session_id",
        )


class InMemoryStore(_TextStore):
    """For tests and a single-process service: fast, and as strict about copies as a real store."""

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[str, str] = {}

    def _read(self, session_id: str) -> str | None:
        return self._data.get(session_id)

    def _write(self, session_id: str, text: str) -> None:
        self._data[session_id] = text

    def _remove(self, session_id: str) -> bool:
        return self._data.pop(session_id, None) is not None

    def _ids(self) -> list[str]:
        return list(self._data)


class JsonFileStore(_TextStore):
    """One ``<id>.json`` per session in ``folder``: survives restarts with nothing but a disk.

    Each write goes to a temporary file that replaces the old one in a single rename, so a crash leaves the
    old or the new document, never half of one. On POSIX an ``flock`` on ``.lock`` extends the revision
    check to other processes sharing the folder.
    """

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder).expanduser()
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            try:
                import fcntl
            except ImportError:  # Windows: one process per folder
                yield
                return
            with open(self.folder / ".lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self, session_id: str) -> str | None:
        try:
            return self._path(session_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _write(self, session_id: str, text: str) -> None:
        outputs.write_atomic(self._path(session_id), text, durable=True)

    def _remove(self, session_id: str) -> bool:
        try:
            self._path(session_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def _ids(self) -> list[str]:
        return [p.stem for p in self.folder.glob("*.json") if _ID.match(p.stem)]
