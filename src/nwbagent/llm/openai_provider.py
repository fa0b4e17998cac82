"""OpenAI and any OpenAI-compatible server (Ollama, vLLM, LM Studio) through the official ``openai`` SDK.

Structured output asks for ``response_format: json_schema`` (non-strict, so servers that only approximate
it still work). A server that rejects that with HTTP 400 gets one more try in JSON mode with the schema
written into the prompt, and we remember the fallback for that (endpoint, model). The reply is parsed and
validated here in every case; one re-ask on an invalid reply, then ``LLMError(kind="invalid_output")``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion

from nwbagent.llm._shared import (
    SdkProvider,
    Tally,
    check_output_schema,
    schema_label,
    schema_problems,
)
from nwbagent.llm.base import ChatMessage, LLMError
from nwbagent.llm.retry import Failure, RetryPolicy, call_with_retries, failure_for_status

log = logging.getLogger("nwbagent.llm")

DEFAULT_MODEL = "gpt-4o-mini"
# Local servers need no key, but the SDK refuses to build a client without one.
PLACEHOLDER_KEY = "not-needed"

# (base_url, model) pairs whose server refused ``json_schema`` but accepted JSON mode.
_JSON_MODE_ONLY: set[tuple[str, str]] = set()

_FENCE_RE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def classify(exc: Exception) -> Failure | None:
    """Map an ``openai`` SDK exception onto the shared retry policy."""
    if isinstance(exc, openai.APITimeoutError):
        return Failure("transient", True, "request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return Failure("transient", True, f"connection error: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        return failure_for_status(exc.status_code, exc.message, exc.response.headers)
    if isinstance(exc, openai.OpenAIError):
        return Failure("other", False, str(exc))
    return None


def _content(response: ChatCompletion) -> tuple[str | None, str | None]:
    """The reply text, or why there is none."""
    if not response.choices:
        return None, "the reply had no choices"
    choice = response.choices[0]
    if choice.finish_reason == "length":
        return choice.message.content, "the reply was cut off at the token limit"
    if choice.message.content is None:
        refusal = getattr(choice.message, "refusal", None)
        return None, f"the model refused: {refusal}" if refusal else "the reply was empty"
    return choice.message.content, None


def parse_json_object(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A schema-valid object from the reply text (tolerating a Markdown code fence), or the problem."""
    fenced = _FENCE_RE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(data, dict):
        return None, "the reply must be a JSON object"
    problems = schema_problems(data, schema)
    if problems:
        return None, "the JSON does not match the schema: " + "; ".join(problems)
    return data, None


def _with_schema_prompt(conversation: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON mode only promises JSON, so the schema has to travel in the prompt; one system message."""
    instruction = (
        "Reply with only a JSON object, no prose and no code fences, that matches this JSON schema:\n"
        + json.dumps(schema, indent=1)
    )
    if conversation and conversation[0]["role"] == "system":
        first = {"role": "system", "content": f"{conversation[0]['content']}\n\n{instruction}"}
        return [first, *conversation[1:]]
    return [{"role": "system", "content": instruction}, *conversation]


class OpenAIProvider(SdkProvider):
    name: str = "openai"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.model = model
        self._policy = retry_policy or RetryPolicy(max_retries=max_retries)
        # SDK retries off: retry.call_with_retries owns the policy and counts retries.
        self._client = openai.OpenAI(
            api_key=api_key or PLACEHOLDER_KEY, base_url=base_url, timeout=timeout_s, max_retries=0
        )
        self._endpoint = str(self._client.base_url)

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self._endpoint!r})"

    def _send(
        self,
        conversation: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
        operation: str,
        tally: Tally,
    ) -> ChatCompletion:
        if not conversation:
            raise LLMError("no message to send", kind="other")
        params: dict[str, Any] = {"model": self.model, "messages": conversation}
        if response_format is not None:
            params["response_format"] = response_format
        try:
            response, retries = call_with_retries(
                lambda: self._client.chat.completions.create(**cast(Any, params)),
                classify,
                self._policy,
                provider=self.name,
                operation=operation,
            )
        except LLMError as err:
            tally.add_retries(err.usage.retries)
            raise
        usage = response.usage
        tokens_in, tokens_out = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        tally.add_response(tokens_in, tokens_out, retries)
        return cast(ChatCompletion, response)

    def _complete_text(self, messages: list[ChatMessage], operation: str, tally: Tally) -> str:
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        text, _ = _content(self._send(cast(list[dict[str, Any]], conversation), None, operation, tally))
        return text or ""

    def _complete_structured(
        self, messages: list[ChatMessage], schema: dict[str, Any], operation: str, tally: Tally
    ) -> tuple[str, dict[str, Any]]:
        check_output_schema(schema)
        conversation: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in messages]
        json_schema_format = {
            "type": "json_schema",
            "json_schema": {"name": schema_label(operation), "schema": schema, "strict": False},
        }
        json_mode = {"type": "json_object"}
        key = (self._endpoint, self.model)
        problem = ""
        for attempt in range(2):
            if key in _JSON_MODE_ONLY:
                response = self._send(_with_schema_prompt(conversation, schema), json_mode, operation, tally)
            else:
                try:
                    response = self._send(conversation, json_schema_format, operation, tally)
                except LLMError as err:
                    if not isinstance(err.__cause__, openai.BadRequestError):
                        raise
                    log.info(
                        "server rejected json_schema response format; trying JSON mode",
                        extra={"provider": self.name, "model": self.model, "operation": operation},
                    )
                    prompted = _with_schema_prompt(conversation, schema)
                    response = self._send(prompted, json_mode, operation, tally)
                    _JSON_MODE_ONLY.add(key)
            text, found = _content(response)
            if found is None and text is not None:
                data, found = parse_json_object(text, schema)
                if data is not None:
                    return text, data
            problem = found or "invalid reply"
            self._invalid_reply(operation, attempt, problem)
            if attempt == 0:
                conversation.append({"role": "assistant", "content": text or ""})
                conversation.append(
                    {
                        "role": "user",
                        "content": f"Your previous reply was not usable: {problem}. Reply again with only "
                        "a JSON object that matches the schema.",
                    }
                )
        raise self._no_valid_output(operation, problem)
