"""A scriptable JSON-over-HTTP server on 127.0.0.1, the base of the fake LLM APIs.

Providers are tested through the real SDKs over real HTTP, so retries, timeouts, headers and error
mapping are exercised exactly as in production; only the far end is fake. Replies come from a queue
(errors, fixed bodies or callables of the request); an empty queue falls back to a default responder,
so a whole conversation can be served by one function of the request.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


@dataclass
class ErrorReply:
    """An HTTP error with a JSON body; ``headers`` e.g. ``{"retry-after": "0"}``."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Responder = Callable[[dict[str, Any]], "dict[str, Any] | ErrorReply"]


@dataclass
class Reply:
    """A 200 reply: a fixed body or a callable of the request JSON (which may return an ErrorReply)."""

    body: dict[str, Any] | Responder
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


class ScriptedServer:
    """Subclasses say how errors look and where the API lives (``api_path``, ``base_url``)."""

    api_path = "/"

    def __init__(self, default: Responder | None = None) -> None:
        self.default: Responder = default or self.default_responder
        self.queue: deque[Reply | ErrorReply] = deque()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- to override -----------------------------------------------------------------------------
    def default_responder(self, request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        raise NotImplementedError

    def error_body(self, status: int, message: str, error_type: str | None) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self.root_url

    # --- scripting -------------------------------------------------------------------------------
    def push(self, *items: Reply | ErrorReply) -> None:
        with self._lock:
            self.queue.extend(items)

    def error(
        self,
        status: int,
        message: str = "scripted error",
        *,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
        times: int = 1,
        delay_s: float = 0.0,
    ) -> None:
        """Queue ``times`` identical HTTP errors in the API's own error format."""
        for _ in range(times):
            self.push(
                ErrorReply(status, self.error_body(status, message, error_type), dict(headers or {}), delay_s)
            )

    def respond(self, body: dict[str, Any] | Responder, *, delay_s: float = 0.0) -> None:
        self.push(Reply(body, delay_s))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """Queue replies that arrive only after ``seconds`` (for client timeouts)."""
        for _ in range(times):
            self.push(Reply(self.default, delay_s=seconds))

    @property
    def bodies(self) -> list[Any]:
        return [r.json for r in self.requests]

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        assert self._server is not None, "server not started; use it as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-llm-api"
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # wakes replies that are sleeping to provoke a timeout
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- serving ---------------------------------------------------------------------------------
    def _next(self) -> Reply | ErrorReply:
        with self._lock:
            return self.queue.popleft() if self.queue else Reply(self.default)

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            payload: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode("utf-8", "replace")
        clean = {k.lower(): ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, clean, payload))
        if method != "POST" or path.rstrip("/") != self.api_path:
            body = self.error_body(404, f"no route {method} {path}", None)
            return 404, {}, json.dumps(body).encode()
        item = self._next()
        if item.delay_s and self._stop.wait(item.delay_s):
            return 503, {}, b"{}"
        if isinstance(item, Reply):
            result = item.body(payload) if callable(item.body) else item.body
            if isinstance(result, ErrorReply):
                item = result
            else:
                return 200, dict(item.headers), json.dumps(result).encode()
        return item.status, dict(item.headers), json.dumps(item.body).encode()


def _make_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, headers, body = server.handle(self.command, self.path, dict(self.headers.items()), raw)
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to deliver

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
