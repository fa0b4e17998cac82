"""The one interface every language-model provider implements, and the types it speaks.

LLM output is data, never authority: ``complete`` returns text or a dict validated against the caller's
JSON schema, plus usage; callers validate values against the metadata schema and ontologies again before
use, and fall back to the ``rules`` provider on any failure. Nothing an LLM returns is ever executed.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant"]


class ChatMessage(BaseModel):
    role: Role
    content: str


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    retries: int = 0

    def add(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            calls=self.calls + other.calls,
            retries=self.retries + other.retries,
        )


class LLMResult(BaseModel):
    """A completed call. ``data`` is set (and schema-valid) when an ``output_schema`` was given."""

    provider: str
    model: str
    text: str = ""
    data: dict[str, Any] | None = None
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0


class LLMError(Exception):
    """A call that did not produce a usable result; ``kind`` says whether retrying could help."""

    def __init__(
        self,
        message: str,
        *,
        kind: Literal["transient", "auth", "invalid_output", "unsupported", "config", "other"],
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.usage = usage or Usage()


@runtime_checkable
class Provider(Protocol):
    """``name`` is "anthropic", "openai" or "rules"; ``model`` the configured model id ("" for rules)."""

    name: str
    model: str

    def complete(
        self,
        messages: list[ChatMessage],
        output_schema: dict[str, Any] | None = None,
        *,
        operation: str = "chat",
    ) -> LLMResult:
        """Run one completion; raise :class:`LLMError` on failure (after the provider's own retries).

        With ``output_schema`` (a JSON schema for an object) the provider must return ``data`` validated
        against it (Anthropic: forced tool use; OpenAI-compatible: JSON schema response format or JSON mode),
        re-asking once on an invalid reply before raising ``LLMError(kind="invalid_output")``.
        ``operation`` labels the call for accounting and metrics (e.g. "extract_metadata", "answer").
        The ``rules`` provider always raises ``LLMError(kind="unsupported")``: callers use rules directly.
        """
        ...
