"""One in-process message bus for the three agents.

Agents never import each other: each registers the actions it handles, with a pydantic model for the
request payload and one for the result, and talks to the others only through :meth:`Bus.call`. The bus
validates both directions, turns an unknown target or action into a typed error reply, runs blocking
handlers (conversions, inspections) in a worker thread so the caller's event loop never stalls, and logs
every message with its duration. Observers (the service's WebSocket, tests) see every message and event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nwbagent.agents.messages import BusError, BusErrorPayload, ErrorCode, Message
from nwbagent.errors import UserFacingError, internal_error

log = logging.getLogger("nwbagent.bus")

R = TypeVar("R", bound=BaseModel)
Handler = Callable[[Message, Any], "BaseModel | Awaitable[BaseModel]"]
Observer = Callable[[Message, "float | None"], None]


@dataclass(frozen=True)
class Action:
    """One action an agent handles: its name, payload and result models, and whether it blocks."""

    name: str
    payload: type[BaseModel]
    result: type[BaseModel]
    handler: Handler
    blocking: bool = False


@dataclass(frozen=True)
class Record:
    """What the bus keeps of each exchange: enough to count, time and audit a session's conversation."""

    request: Message
    reply: Message
    duration_s: float


class Bus:
    def __init__(self) -> None:
        self._actions: dict[str, dict[str, Action]] = {}
        self._observers: list[Observer] = []
        self._records: list[Record] = []
        self._lock = threading.Lock()

    def register(self, agent: str, actions: list[Action]) -> None:
        if agent in self._actions:
            raise ValueError(f"an agent named {agent!r} is already registered")
        self._actions[agent] = {a.name: a for a in actions}

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(message, duration)`` for every reply and event; returns an unsubscribe function."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    def records(self, session_id: str | None = None) -> list[Record]:
        with self._lock:
            return [r for r in self._records if session_id is None or r.request.session_id == session_id]

    def publish(self, message: Message) -> None:
        """An event with no reply (progress, state changes); safe to call from worker threads."""
        log.info(
            "event %s.%s",
            message.sender,
            message.action,
            extra={"session_id": message.session_id, "sender": message.sender, "event": message.action},
        )
        self._notify(message, None)

    async def request(self, message: Message) -> Message:
        """Deliver ``message`` and return the reply message (an ``error`` reply on any failure)."""
        started = time.perf_counter()
        reply = await self._dispatch(message)
        duration = time.perf_counter() - started
        with self._lock:
            self._records.append(Record(message, reply, duration))
        log.info(
            "%s -> %s.%s %s in %.1f ms",
            message.sender,
            message.target,
            message.action,
            "error" if reply.is_error else "ok",
            duration * 1000,
            extra={
                "message_id": message.id,
                "session_id": message.session_id,
                "sender": message.sender,
                "target": message.target,
                "action": message.action,
                "outcome": reply.payload.get("code") if reply.is_error else "ok",
                "duration_ms": round(duration * 1000, 2),
            },
        )
        self._notify(message, None)
        self._notify(reply, duration)
        return reply

    async def call(
        self,
        *,
        session_id: str,
        sender: str,
        target: str,
        action: str,
        payload: BaseModel | dict[str, Any],
        result: type[R],
    ) -> R:
        """Request and return the typed result; an error reply raises :class:`BusError`."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        reply = await self.request(
            Message(session_id=session_id, sender=sender, target=target, action=action, payload=data)
        )
        if reply.is_error:
            raise BusError(BusErrorPayload.model_validate(reply.payload))
        return result.model_validate(reply.payload)

    async def _dispatch(self, message: Message) -> Message:
        agent = self._actions.get(message.target)
        if agent is None:
            known = ", ".join(sorted(self._actions)) or "none"
            return self._error(
                message, "unknown_target", f"No agent named {message.target!r} (known: {known})."
            )
        spec = agent.get(message.action)
        if spec is None:
            known = ", ".join(sorted(agent))
            return self._error(
                message,
                "unknown_action",
                f"{message.target} has no action {message.action!r} (it handles: {known}).",
            )
        try:
            payload = spec.payload.model_validate(message.payload)
        except ValidationError as exc:
            return self._error(message, "invalid_payload", f"{message.target}.{message.action}: {exc}")
        try:
            if spec.blocking:
                outcome: Any = await asyncio.to_thread(spec.handler, message, payload)
            else:
                outcome = spec.handler(message, payload)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            result = spec.result.model_validate(
                outcome.model_dump() if isinstance(outcome, BaseModel) else outcome
            )
        except UserFacingError as exc:
            return self._error(
                message,
                "user_error",
                exc.problem,
                hint=exc.fix,
                path=exc.path,
                details=exc.details,
                reason=exc.code,
            )
        except Exception as exc:
            log.exception("handler %s.%s failed", message.target, message.action)
            bug = internal_error(exc)
            return self._error(message, "handler_failed", bug.problem, hint=bug.fix, details=bug.details)
        return Message(
            session_id=message.session_id,
            sender=message.target,
            target=message.sender,
            action=f"{message.action}.result",
            payload=result.model_dump(mode="json"),
            correlation_id=message.id,
        )

    @staticmethod
    def _error(
        message: Message,
        code: ErrorCode,
        text: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        details: str | None = None,
        reason: str | None = None,
    ) -> Message:
        payload = BusErrorPayload(
            code=code, message=text, hint=hint, path=path, details=details, reason=reason
        )
        return Message(
            session_id=message.session_id,
            sender="bus" if code in ("unknown_target", "unknown_action") else message.target,
            target=message.sender,
            action="error",
            payload=payload.model_dump(mode="json"),
            correlation_id=message.id,
        )

    def _notify(self, message: Message, duration: float | None) -> None:
        for observer in list(self._observers):
            try:
                observer(message, duration)
            except Exception:  # an observer must never break the conversation
                log.exception("bus observer failed")
