"""Start-up after a crash: put every session back in a state a user can continue from.

A job that was queued or running when the server died is marked ``interrupted``; a session caught in
``previewing``, ``converting`` or ``inspecting`` moves to a state whose next step is a retry; temporary
files of cut-off writes are deleted, so a partial NWB file can never be offered for download (finished
files only ever appear by an atomic rename).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nwbagent import outputs
from nwbagent.agents.state import ChatTurn, SessionState, State
from nwbagent.agents.store import SessionStore
from nwbagent.agents.workflow import Workflow

log = logging.getLogger("nwbagent.server.recovery")

_ACTOR = "server"
_REASON = "interrupted by a server restart"
_NOTE = (
    "The server restarted while this session was {what}; nothing partial was kept. "
    "Say 'retry' (or press Retry) to run it again."
)


class _Job(Protocol):
    id: str
    session_id: str


class _Jobs(Protocol):
    def interrupt_unfinished(self) -> Sequence[_Job]: ...


@dataclass
class RecoveryReport:
    interrupted_jobs: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)


def recover(
    store: SessionStore, jobs: _Jobs, sessions_dir: Path, workflow: Workflow | None = None
) -> RecoveryReport:
    workflow = workflow or Workflow()
    report = RecoveryReport()
    report.interrupted_jobs = [job.id for job in jobs.interrupt_unfinished()]
    for session_id in store.list_ids():
        session = store.get(session_id)
        what = _settle(session, workflow)
        if what is None:
            continue
        session.chat.append(ChatTurn(role="system", text=_NOTE.format(what=what), agent=_ACTOR))
        store.save(session)
        report.sessions.append(session_id)
    for partial in list(outputs.leftovers(sessions_dir)):  # files and Zarr folders alike
        outputs.remove(partial)
        report.partial_files.append(str(partial))
    if report.interrupted_jobs or report.sessions or report.partial_files:
        log.warning(
            "recovered after a restart: %d jobs interrupted, %d sessions reset, %d partial files removed",
            len(report.interrupted_jobs),
            len(report.sessions),
            len(report.partial_files),
        )
    return report


def _settle(session: SessionState, workflow: Workflow) -> str | None:
    """Move a session out of a working state; returns what it was doing, or None if it was idle."""
    if session.state is State.previewing:
        workflow.transition(session, State.collecting_metadata, actor=_ACTOR, reason=_REASON)
        return "making the preview"
    if session.state is State.converting:
        workflow.transition(session, State.failed, actor=_ACTOR, reason=_REASON)
        return "converting"
    if session.state is State.inspecting:
        if session.output is not None:
            session.output.verdict = None
        workflow.transition(session, State.failed, actor=_ACTOR, reason=_REASON)
        return "inspecting the file"
    return None
