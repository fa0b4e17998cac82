"""What a client sees of a session: one model for the reply to every input (``Turn``), the REST
session and status, and the WebSocket snapshot, so a page never has to merge two shapes of the same thing.

Built from the stored session by :func:`session_view`; the service adds what only it knows (whether a job
runs, the LLM in use, download links) into the same model's fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from nwbagent.agents.state import AutoFix, ChatTurn, NwbSummary, Question, SessionState, State
from nwbagent.agents.units import streams_view
from nwbagent.agents.workflow import STATE_LABELS, Workflow
from nwbagent.formats.model import DetectionResult
from nwbagent.llm.base import Usage


class SessionView(BaseModel):
    id: str
    state: State
    state_label: str
    created_at: datetime
    updated_at: datetime
    allowed: list[State] = Field(description="The states a step can lead to now")
    allowed_actions: list[str] = Field(description="The buttons that do something now")
    questions: list[Question] = Field(default_factory=list)
    auto_fixes: list[AutoFix] = Field(default_factory=list)
    detection: DetectionResult | None = None
    selected_units: list[str] = Field(default_factory=list)
    units: list[dict[str, Any]] = Field(default_factory=list)
    left_out: list[dict[str, Any]] = Field(default_factory=list)
    parts: dict[str, Any] = Field(default_factory=dict)
    choices: list[dict[str, Any]] = Field(default_factory=list)
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    preview: NwbSummary | None = None
    output: NwbSummary | None = None
    verdict: str | None = Field(default=None, description="The worst verdict of the last conversion's files")
    chat: list[ChatTurn] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    llm: dict[str, Any] | None = None
    busy: bool = False
    job: dict[str, Any] | None = None
    downloads: list[dict[str, Any]] = Field(
        default_factory=list, description="One entry per file: its links, filled by the service"
    )


class Turn(SessionView):
    """The view after one input, with what the agent said during it and the fixes it made then."""

    replies: list[str] = Field(default_factory=list)
    new_auto_fixes: list[AutoFix] = Field(default_factory=list)

    @property
    def session_id(self) -> str:
        return self.id


def session_view(
    session: SessionState,
    workflow: Workflow,
    *,
    job_active: bool = False,
    busy: bool = False,
    chat: bool = True,
) -> dict[str, Any]:
    """The fields of :class:`SessionView` for ``session`` (``chat=False`` leaves the history out)."""
    return {
        "id": session.id,
        "state": session.state,
        "state_label": STATE_LABELS[session.state],
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "allowed": workflow.allowed(session),
        "allowed_actions": workflow.allowed_actions(session, busy=busy, job_active=job_active),
        "questions": session.open_questions(),
        "auto_fixes": session.auto_fixes,
        "detection": session.detection,
        "selected_units": [u.label for u in session.selected_units],
        **streams_view(session),
        "preview": session.preview,
        "output": session.output,
        "verdict": session.verdict(),
        "chat": session.chat if chat else [],
        "usage": session.usage,
    }
