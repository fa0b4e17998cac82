"""Request bodies are bounded in size and in patience.

Every body except an upload is at most ``NWBAGENT_MAX_JSON_BYTES``: a larger ``Content-Length`` is
answered 413 before a byte is read, and a chunked body is cut off at the limit. Such bodies are read here
in full (they are small) and handed to the app in one piece.

A client that stops sending mid-body holds a socket and, for an upload, an open part file. Any body that
sends nothing for ``NWBAGENT_BODY_IDLE_TIMEOUT_S`` is given up: a small one is answered 408 here, an upload
fails inside :func:`~nwbagent.server.uploads.receive_multipart`, which removes what it wrote and answers 408.
Only silence counts, not total time: a slow but steady multi-gigabyte upload is fine.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nwbagent.server.upload_rules import UploadRejected, human_bytes

#: Endpoints whose bodies are streamed to disk under their own limits (uploads.py), not buffered here.
_STREAMED = re.compile(r"^/api/sessions/[^/]+/files/?$")


def body_timeout(seconds: float) -> UploadRejected:
    return UploadRejected(
        408,
        "body_timeout",
        f"The request body stopped arriving: nothing came for {seconds:g} s.",
        "Check the connection and send the request again; partial uploads were removed.",
    )


class BodyLimits:
    """Pure ASGI middleware (streaming untouched, no task per request)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, idle_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _STREAMED.match(scope.get("path", "")):
            await self.app(scope, self._patient(receive), send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send, declared)
            return
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                exc = body_timeout(self.idle_timeout_s)
                await _answer(send, exc.status_code, exc.to_dict())
                return
            if message["type"] != "http.request":  # the client left before the body was complete
                await self.app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._too_large(send, None)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay(whole, receive), send)

    def _patient(self, receive: Receive) -> Receive:
        complete = False

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                raise body_timeout(self.idle_timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        return timed

    async def _too_large(self, send: Send, declared: int | None) -> None:
        size = f"is {declared:,} bytes" if declared is not None else "is larger than that"
        await _answer(
            send,
            413,
            {
                "error": "body_too_large",
                "message": f"The request body {size}; the limit is {human_bytes(self.max_bytes)} "
                "(NWBAGENT_MAX_JSON_BYTES).",
                "hint": "Send less: metadata values are short text, and files go to the upload endpoint.",
            },
        )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that hands out ``first``, then defers to the real one (which reports the disconnect)."""
    pending: list[Message] = [first]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
