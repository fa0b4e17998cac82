"""Claude through the official ``anthropic`` SDK, with structured output via tool use.

Structured output: the caller's schema becomes the ``input_schema`` of one tool and we force that tool
with ``tool_choice``. Some current models (Claude Sonnet 5.5, Fable 5.1) reject a forced tool choice
with HTTP 400; we then ask again with ``tool_choice: auto`` plus an instruction to call the tool, and
remember that for the (endpoint, model) pair so later calls skip the failing request. Either way the
tool input is validated against the schema here; one re-ask on an invalid reply, then
``LLMError(kind="invalid_output")``.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import anthropic
from anthropic.types import Message, RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock

from nwbagent.llm._shared import (
    SdkProvider,
    Tally,
    check_output_schema,
    schema_label,
    schema_problems,
    split_system,
)
from nwbagent.llm.base import ChatMessage, LLMError
from nwbagent.llm.retry import Failure, RetryPolicy, call_with_retries, failure_for_status

log = logging.getLogger("nwbagent.llm")

DEFAULT_MODEL = "claude-sonnet-5-5"
# Room for adaptive thinking plus a metadata object; under the SDK's non-streaming limit.
DEFAULT_MAX_TOKENS = 8192
TOOL_NAME = "submit_result"

# (base_url, model) pairs whose API refused a forced tool choice; shared by all provider instances.
_NO_FORCED_TOOL: set[tuple[str, str]] = set()


def classify(exc: Exception) -> Failure | None:
    """Map an ``anthropic`` SDK exception onto the shared retry policy."""
    if isinstance(exc, anthropic.APITimeoutError):
        return Failure("transient", True, "request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return Failure("transient", True, f"connection error: {exc.message}")
    if isinstance(exc, anthropic.APIStatusError):
        message = exc.api_message or exc.message
        return failure_for_status(exc.status_code, message, exc.response.headers)
    if isinstance(exc, anthropic.AnthropicError):
        return Failure("other", False, str(exc))
    return None


def _rejects_forced_tool(err: LLMError) -> bool:
    cause = err.__cause__
    return isinstance(cause, anthropic.BadRequestError) and "tool_choice" in str(cause)


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    """The reply as request blocks, thinking included: the API wants thinking passed back unchanged."""
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, TextBlock) and block.text:
            blocks.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUseBlock):
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        elif isinstance(block, ThinkingBlock):
            blocks.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        elif isinstance(block, RedactedThinkingBlock):
            blocks.append({"type": "redacted_thinking", "data": block.data})
    return blocks


def _tool_input(message: Message, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The validated tool input, or what was wrong with the reply."""
    calls = [b for b in message.content if isinstance(b, ToolUseBlock) and b.name == TOOL_NAME]
    if not calls:
        cut = " (the reply hit the token limit)" if message.stop_reason == "max_tokens" else ""
        return None, f"you did not call the tool `{TOOL_NAME}`{cut}"
    data = calls[0].input
    problems = schema_problems(data, schema)
    if problems:
        return None, "the tool input does not match the schema: " + "; ".join(problems)
    return dict(data), None


class AnthropicProvider(SdkProvider):
    name: str = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        retry_policy: RetryPolicy | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._policy = retry_policy or RetryPolicy(max_retries=max_retries)
        # SDK retries off: retry.call_with_retries owns the policy and counts retries.
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )
        self._endpoint = str(self._client.base_url)

    def __repr__(self) -> str:
        return f"AnthropicProvider(model={self.model!r}, base_url={self._endpoint!r})"

    def _send(self, params: dict[str, Any], operation: str, tally: Tally) -> Message:
        try:
            message, retries = call_with_retries(
                lambda: self._client.messages.create(**cast(Any, params)),
                classify,
                self._policy,
                provider=self.name,
                operation=operation,
            )
        except LLMError as err:
            tally.add_retries(err.usage.retries)
            raise
        usage = message.usage
        tally.add_response(usage.input_tokens if usage else 0, usage.output_tokens if usage else 0, retries)
        return message

    def _base_params(self, system: str, conversation: list[dict[str, Any]]) -> dict[str, Any]:
        if not conversation:
            raise LLMError("no user message to send", kind="other")
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self._max_tokens,
            "messages": conversation,
        }
        if system:
            params["system"] = system
        return params

    def _complete_text(self, messages: list[ChatMessage], operation: str, tally: Tally) -> str:
        system, rest = split_system(messages)
        conversation: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in rest]
        message = self._send(self._base_params(system, conversation), operation, tally)
        return "".join(b.text for b in message.content if isinstance(b, TextBlock))

    def _complete_structured(
        self, messages: list[ChatMessage], schema: dict[str, Any], operation: str, tally: Tally
    ) -> tuple[str, dict[str, Any]]:
        check_output_schema(schema)
        system, rest = split_system(messages)
        instruction = f"Give your answer by calling the tool `{TOOL_NAME}` exactly once."
        system = f"{system}\n\n{instruction}" if system else instruction
        conversation: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in rest]
        tool = {
            "name": TOOL_NAME,
            "description": f"Record the result of '{schema_label(operation)}'. Its input is the answer.",
            "input_schema": schema,
        }
        key = (self._endpoint, self.model)
        problem = ""
        for attempt in range(2):
            params = self._base_params(system, conversation)
            params["tools"] = [tool]
            if key in _NO_FORCED_TOOL:
                params["tool_choice"] = {"type": "auto"}
                message = self._send(params, operation, tally)
            else:
                params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
                try:
                    message = self._send(params, operation, tally)
                except LLMError as err:
                    if not _rejects_forced_tool(err):
                        raise
                    log.info(
                        "model rejects forced tool choice; using tool_choice auto",
                        extra={"provider": self.name, "model": self.model, "operation": operation},
                    )
                    _NO_FORCED_TOOL.add(key)
                    params["tool_choice"] = {"type": "auto"}
                    message = self._send(params, operation, tally)
            text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
            data, found = _tool_input(message, schema)
            if data is not None:
                return text, data
            problem = found or "invalid reply"
            self._invalid_reply(operation, attempt, problem)
            if attempt == 0:
                self._append_reask(conversation, message, problem)
        raise self._no_valid_output(operation, problem)

    @staticmethod
    def _append_reask(conversation: list[dict[str, Any]], message: Message, problem: str) -> None:
        """Show the model its reply and what was wrong; every tool_use needs a matching tool_result."""
        reply = _assistant_blocks(message)
        feedback: list[dict[str, Any]] = []
        if reply:
            conversation.append({"role": "assistant", "content": reply})
            feedback = [
                {"type": "tool_result", "tool_use_id": b["id"], "content": problem, "is_error": True}
                for b in reply
                if b["type"] == "tool_use"
            ]
        feedback.append(
            {
                "type": "text",
                "text": f"Your previous reply was not usable: {problem}. Call the tool `{TOOL_NAME}` "
                "again, exactly once, with input that matches its schema.",
            }
        )
        conversation.append({"role": "user", "content": feedback})
