"""From the bus to the browser: every state change, agent message, reply and progress step of a session.

Bus observers are called from many threads (the event loop, the bus's worker threads, the executor's
progress reader). The hub turns each message into a small event, hands it to one writer thread that stores
it (so a late subscriber can catch up and the history survives a restart) and then fans it out to the
session's WebSocket queues on the event loop. One writer keeps the order; nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from nwbagent.agents.messages import Message

log = logging.getLogger("nwbagent.server.events")

#: Bus actions that are events in their own right; anything else is shown as an agent-to-agent message.
_EVENT_ACTIONS = {"progress", "state", "reply", "job"}
_SUBSCRIBER_BACKLOG = 1000


class EventSink(Protocol):
    def append(self, session_id: str, type: str, payload: dict[str, Any]) -> int: ...


def event_from_message(message: Message, duration: float | None) -> dict[str, Any]:
    """The public form of a bus message: what happened, never the (possibly large) payload of a request."""
    if message.action in _EVENT_ACTIONS:
        return {"type": message.action, "payload": message.payload}
    payload: dict[str, Any] = {
        "sender": message.sender,
        "target": message.target,
        "action": message.action,
        "message_id": message.id,
        "correlation_id": message.correlation_id,
    }
    if duration is not None:
        payload["duration_ms"] = round(duration * 1000, 1)
    if message.is_error:
        payload["error"] = {k: message.payload.get(k) for k in ("code", "message", "hint")}
    return {"type": "message", "payload": payload}


class EventHub:
    def __init__(self, sink: EventSink | None = None) -> None:
        self._sink = sink
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._write_loop, name="nwbagent-events", daemon=True)
        self._started = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        if self._started:
            self._inbox.put(None)
            self._thread.join(timeout=5)

    def observe(self, message: Message, duration: float | None) -> None:
        """Bus observer: safe from any thread, returns at once."""
        if not message.session_id:
            return
        event = event_from_message(message, duration)
        self.emit(message.session_id, event["type"], event["payload"])

    def emit(self, session_id: str, type: str, payload: dict[str, Any]) -> None:
        self._inbox.put(
            {"session_id": session_id, "type": type, "payload": payload, "at": datetime.now(UTC).isoformat()}
        )

    def subscribe(self, session_id: str) -> asyncio.Queue[dict[str, Any]]:
        """Call on the event loop; events emitted from now on arrive in the returned queue."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_SUBSCRIBER_BACKLOG)
        self._subscribers.setdefault(session_id, set()).add(q)
        return q

    def unsubscribe(self, session_id: str, q: asyncio.Queue[dict[str, Any]]) -> None:
        subs = self._subscribers.get(session_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._subscribers[session_id]

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _write_loop(self) -> None:
        while True:
            event = self._inbox.get()
            if event is None:
                return
            if self._sink is not None:
                try:
                    event["id"] = self._sink.append(event["session_id"], event["type"], event["payload"])
                except IntegrityError:
                    # The session was deleted while its work was still reporting (its rows cascade away):
                    # a normal end, nothing to store and nobody left to tell.
                    log.debug("event for deleted session %s dropped", event["session_id"])
                    continue
                except SQLAlchemyError as exc:  # a full disk must not stop live updates
                    log.warning("could not store event for session %s: %s", event["session_id"], exc)
                except Exception:
                    log.exception("could not store event for session %s", event["session_id"])
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # loop closing during shutdown
                    loop.call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: dict[str, Any]) -> None:
        for q in list(self._subscribers.get(event["session_id"], ())):
            if q.full():  # a stalled client loses its oldest events, never the server's memory
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)
