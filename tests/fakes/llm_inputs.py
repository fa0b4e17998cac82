"""Inputs shared by the provider tests: one schema, one conversation, and a sleep that only records."""

from __future__ import annotations

from typing import Any

from nwbagent.llm.base import ChatMessage

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"subject_id": {"type": "string"}, "age_days": {"type": "integer"}},
    "required": ["subject_id"],
    "additionalProperties": False,
}
MESSAGES = [
    ChatMessage(role="system", content="You are a test."),
    ChatMessage(role="user", content="Subject m1, 60 days old."),
]


class Sleeps(list[float]):
    """Stands in for ``time.sleep`` in a RetryPolicy: the backoff is checked, never waited."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
