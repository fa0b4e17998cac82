"""Pieces both SDK-backed providers need: schema checks, usage tally, the per-call log record.

Kept private: the public surface is the :class:`~nwbagent.llm.base.Provider` protocol.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from nwbagent import metrics
from nwbagent.llm.base import ChatMessage, LLMError, LLMResult, Usage
from nwbagent.llm.pricing import cost_usd

log = logging.getLogger("nwbagent.llm")

MAX_REPORTED_ERRORS = 5


def check_output_schema(schema: dict[str, Any]) -> None:
    """Reject a schema no provider can honour before spending a request on it (a caller bug)."""
    if schema.get("type") != "object":
        raise LLMError('output_schema must be a JSON schema with "type": "object"', kind="unsupported")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        message = f"output_schema is not a valid JSON schema: {exc.message}"
        raise LLMError(message, kind="unsupported") from exc


def schema_problems(data: Any, schema: dict[str, Any]) -> list[str]:
    """Human-readable schema violations, worded so they can be sent back to the model as feedback."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
        if len(problems) >= MAX_REPORTED_ERRORS:
            break
    return problems


def schema_label(operation: str) -> str:
    """A name the APIs accept for a tool or response format, derived from the operation."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", operation)[:64] or "result"


def split_system(messages: list[ChatMessage]) -> tuple[str, list[ChatMessage]]:
    """System text joined in order, and the conversation without it."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    return system, [m for m in messages if m.role != "system"]


@dataclass
class Tally:
    """Usage of one ``complete`` call across re-asks, fallbacks and retries."""

    model: str
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)

    def add_response(self, input_tokens: int, output_tokens: int, retries: int) -> None:
        self.usage = self.usage.add(
            Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost_usd(self.model, input_tokens, output_tokens),
                calls=1,
                retries=retries,
            )
        )

    def add_retries(self, retries: int) -> None:
        self.usage = self.usage.add(Usage(retries=retries))

    @property
    def duration_s(self) -> float:
        return round(time.monotonic() - self.started, 3)


def log_call(provider: str, model: str, operation: str, tally: Tally, outcome: str) -> None:
    """One structured record per ``complete`` call; never includes prompts, replies or credentials."""
    usage = tally.usage
    log.log(
        logging.INFO if outcome == "ok" else logging.WARNING,
        "llm %s %s/%s %s in %.2fs (%d in, %d out tokens, %d retries)",
        operation,
        provider,
        model,
        outcome,
        tally.duration_s,
        usage.input_tokens,
        usage.output_tokens,
        usage.retries,
        extra={
            "provider": provider,
            "model": model,
            "operation": operation,
            "duration_s": tally.duration_s,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
            "calls": usage.calls,
            "retries": usage.retries,
            "outcome": outcome,
        },
    )
    metrics.llm_call(provider, operation, outcome, tally.duration_s, usage)


class SdkProvider:
    """What both SDK providers share: accounting, logging and error usage around one completion.

    Subclasses implement the wire format: ``_complete_text`` and ``_complete_structured`` (which validates
    against the schema and re-asks once).
    """

    name: str
    model: str

    def complete(
        self,
        messages: list[ChatMessage],
        output_schema: dict[str, Any] | None = None,
        *,
        operation: str = "chat",
    ) -> LLMResult:
        tally = Tally(self.model)
        try:
            if output_schema is None:
                text, data = self._complete_text(messages, operation, tally), None
            else:
                text, data = self._complete_structured(messages, output_schema, operation, tally)
        except LLMError as err:
            err.usage = tally.usage
            log_call(self.name, self.model, operation, tally, err.kind)
            raise
        log_call(self.name, self.model, operation, tally, "ok")
        return LLMResult(
            provider=self.name,
            model=self.model,
            text=text,
            data=data,
            usage=tally.usage,
            duration_s=tally.duration_s,
        )

    def _invalid_reply(self, operation: str, attempt: int, problem: str) -> None:
        log.info(
            "invalid structured reply (attempt %d): %s",
            attempt + 1,
            problem,
            extra={"provider": self.name, "model": self.model, "operation": operation},
        )

    def _no_valid_output(self, operation: str, problem: str) -> LLMError:
        return LLMError(
            f"{self.name} {operation}: no valid structured output after re-asking: {problem}",
            kind="invalid_output",
        )

    def _complete_text(self, messages: list[ChatMessage], operation: str, tally: Tally) -> str:
        raise NotImplementedError

    def _complete_structured(
        self, messages: list[ChatMessage], schema: dict[str, Any], operation: str, tally: Tally
    ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError
