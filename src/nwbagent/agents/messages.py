"""Typed messages: the only way agents talk to each other.

Every request and every reply is a :class:`Message`; a reply carries the request's id as
``correlation_id``. Payloads are validated against the pydantic model the handling agent registered for the
action, so an agent never receives (or returns) a payload it did not declare.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ErrorCode = Literal["unknown_target", "unknown_action", "invalid_payload", "handler_failed", "user_error"]


def _now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    session_id: str
    sender: str
    target: str
    action: str
    payload: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
    created_at: datetime = Field(default_factory=_now)

    @property
    def is_error(self) -> bool:
        return self.action == "error"


class BusErrorPayload(BaseModel):
    """What an ``error`` reply carries: a machine code plus the user-facing problem and fix when known."""

    code: ErrorCode
    message: str
    hint: str | None = None
    path: str | None = None
    details: str | None = Field(default=None, description="The underlying message, for technical details")
    reason: str | None = Field(
        default=None,
        description="For a user_error, the error's own code (missing_data_file, needs_value, ...): what "
        "a client acts on",
    )


class BusError(Exception):
    """Raised by :meth:`Bus.call` when the reply is an error, so callers can't ignore a failure."""

    def __init__(self, payload: BusErrorPayload) -> None:
        super().__init__(payload.message)
        self.payload = payload
