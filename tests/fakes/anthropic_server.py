"""A fake Anthropic Messages API (``POST /v1/messages``) for testing providers through the real SDK.

with FakeAnthropic() as fake:
    fake.error(429, headers={"retry-after": "0"})
    fake.tool_reply({"subject_id": "m1"})
    provider = AnthropicProvider(api_key="test", base_url=fake.base_url, ...)
"""

from __future__ import annotations

import itertools
from typing import Any

from fakes.scripted import ErrorReply, Responder, ScriptedServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_ids = itertools.count(1)


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(name: str, tool_input: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": block_id or f"toolu_{next(_ids):04d}",
        "name": name,
        "input": tool_input,
    }


def message(
    content: list[dict[str, Any]],
    *,
    model: str = "claude-test",
    stop_reason: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
) -> dict[str, Any]:
    """A Messages API response body."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def requested_tool(request: dict[str, Any]) -> str:
    """The name of the first tool in the request (what a forced tool_choice would make the model call)."""
    tools = request.get("tools") or []
    return str(tools[0]["name"]) if tools else "no_tool"


class FakeAnthropic(ScriptedServer):
    api_path = "/v1/messages"

    def __init__(self, default: Responder | None = None) -> None:
        super().__init__(default)

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url``: the SDK appends ``/v1/messages`` itself."""
        return self.root_url

    def default_responder(self, request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        return message([text_block("ok")], model=str(request.get("model", "claude-test")))

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        kind = error_type or ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}

    def text_reply(self, text: str, *, input_tokens: int = 10, output_tokens: int = 5) -> None:
        self.respond(message([text_block(text)], input_tokens=input_tokens, output_tokens=output_tokens))

    def tool_reply(
        self,
        tool_input: dict[str, Any],
        *,
        text: str | None = None,
        input_tokens: int = 10,
        output_tokens: int = 5,
    ) -> None:
        """Queue a reply calling whichever tool the request offers, with ``tool_input``."""

        def build(request: dict[str, Any]) -> dict[str, Any]:
            blocks = [text_block(text)] if text else []
            blocks.append(tool_use_block(requested_tool(request), tool_input))
            return message(blocks, input_tokens=input_tokens, output_tokens=output_tokens)

        self.respond(build)
