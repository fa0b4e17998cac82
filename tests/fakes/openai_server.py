"""A fake OpenAI Chat Completions API (``POST /v1/chat/completions``) for testing through the real SDK.

with FakeOpenAI() as fake:
    fake.json_reply({"subject_id": "m1"})
    provider = OpenAIProvider(base_url=fake.base_url, ...)
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from fakes.scripted import ErrorReply, Responder, ScriptedServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    429: "rate_limit_exceeded",
}

_ids = itertools.count(1)


def completion(
    content: str | None,
    *,
    model: str = "gpt-test",
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
) -> dict[str, Any]:
    """A Chat Completions response body."""
    return {
        "id": f"chatcmpl-{next(_ids):06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAI(ScriptedServer):
    api_path = "/v1/chat/completions"

    def __init__(self, default: Responder | None = None) -> None:
        super().__init__(default)

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url``: OpenAI-compatible servers are addressed with the ``/v1`` prefix."""
        return self.root_url + "/v1"

    def default_responder(self, request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        return completion("ok", model=str(request.get("model", "gpt-test")))

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        kind = error_type or ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}

    def text_reply(
        self,
        text: str | None,
        *,
        finish_reason: str = "stop",
        prompt_tokens: int = 10,
        completion_tokens: int = 5,
    ) -> None:
        self.respond(
            completion(
                text,
                finish_reason=finish_reason,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        )

    def json_reply(self, data: Any, *, prompt_tokens: int = 10, completion_tokens: int = 5) -> None:
        self.text_reply(json.dumps(data), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def rejects_json_schema(reply: Responder) -> Responder:
    """A responder for servers without ``json_schema`` support: 400 for it, ``reply`` for anything else."""

    def respond(request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        fmt = (request.get("response_format") or {}).get("type")
        if fmt == "json_schema":
            body = {
                "error": {
                    "message": "response_format json_schema is not supported",
                    "type": "invalid_request_error",
                }
            }
            return ErrorReply(400, body)
        return reply(request)

    return respond
