"""What both executors share: a first-come-first-served line in front of a fixed number of slots, and
the throttle between a worker's progress and the caller's callback.

Each ``Executor.run`` call holds its own thread, so the line is just a condition those threads wait on: a
job leaves the line only when it is at the head and a slot is free, which keeps positions honest (a user
told "2nd in line" is never overtaken) and lets a waiting job be cancelled by removing it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nwbagent.server.executors.base import QueueEntry
from nwbagent.server.jobs import JobOutcome, JobSpec

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Ticket:
    """One job's place: in line, then in a slot; ``lock`` guards what cancel and run both touch."""

    spec: JobSpec
    cancel_requested: bool = False
    cancel_at: float | None = None
    started_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    def request_cancel(self) -> bool:
        """Mark the job cancelled; False when it already was (a second cancel changes nothing)."""
        with self.lock:
            if self.cancel_requested:
                return False
            self.cancel_requested = True
            self.cancel_at = time.monotonic()
            return True


class SlotLine:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"an executor needs at least one slot, got {slots}")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: dict[str, Ticket] = {}

    def acquire(self, ticket: Ticket) -> bool:
        """Wait in line for a slot; False when the ticket was cancelled while it waited."""
        with self._cond:
            self._waiting.append(ticket)
            while True:
                if ticket.cancel_requested:
                    if ticket in self._waiting:
                        self._waiting.remove(ticket)
                    self._cond.notify_all()
                    return False
                if self._waiting[0] is ticket and len(self._running) < self.slots:
                    self._waiting.popleft()
                    ticket.started_at = time.monotonic()
                    self._running[ticket.job_id] = ticket
                    self._cond.notify_all()  # the next in line may fit in another free slot
                    return True
                self._cond.wait()

    def release(self, ticket: Ticket) -> None:
        with self._cond:
            self._running.pop(ticket.job_id, None)
            self._cond.notify_all()

    def find(self, job_id: str) -> tuple[Ticket | None, bool]:
        """The job's ticket and whether it is running (False: waiting)."""
        with self._cond:
            if job_id in self._running:
                return self._running[job_id], True
            for ticket in self._waiting:
                if ticket.job_id == job_id:
                    return ticket, False
        return None, False

    def cancel_waiting(self, ticket: Ticket) -> None:
        """Wake the ticket's thread so it leaves the line at once."""
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def running(self) -> list[Ticket]:
        with self._cond:
            return list(self._running.values())

    def waiting(self) -> list[Ticket]:
        with self._cond:
            return list(self._waiting)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job holds a slot or waits; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running or self._waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def entries(self) -> list[QueueEntry]:
        with self._cond:
            running = [
                QueueEntry(job_id=t.job_id, session_id=t.spec.session_id, kind=t.spec.kind, status="running")
                for t in self._running.values()
            ]
            waiting = [
                QueueEntry(
                    job_id=t.job_id,
                    session_id=t.spec.session_id,
                    kind=t.spec.kind,
                    status="queued",
                    position=i,
                )
                for i, t in enumerate(self._waiting, start=1)
            ]
        return running + waiting

    def run(self, ticket: Ticket, execute: Callable[[], JobOutcome]) -> JobOutcome:
        """Wait for a slot, run ``execute`` unless the job was cancelled meanwhile, free the slot."""
        if not self.acquire(ticket):
            return JobOutcome(status="cancelled")
        try:
            if ticket.cancel_requested:
                return JobOutcome(status="cancelled")
            return execute()
        finally:
            self.release(ticket)


class Throttle:
    """At most one callback per ``interval`` s; an event that comes too soon is held, never dropped for good.

    The newest held event replaces an older one (progress is cumulative, so only the latest matters) and
    goes out as soon as the interval has passed or the job ends, so the final 100 % always arrives.
    """

    def __init__(self, callback: Callable[[dict[str, Any]], None], interval: float = 0.2) -> None:
        self._callback = callback
        self._interval = interval
        self._last = float("-inf")
        self._pending: dict[str, Any] | None = None
        self.delivered = 0

    def offer(self, event: dict[str, Any]) -> None:
        self._pending = event
        if time.monotonic() - self._last >= self._interval:
            self.flush()

    def due_in(self) -> float | None:
        """Seconds until the held event is due, None when nothing is held."""
        if self._pending is None:
            return None
        return max(0.0, self._last + self._interval - time.monotonic())

    def finish(self) -> None:
        """Deliver the held event at its due time (at most one interval away): the rate holds to the end."""
        due = self.due_in()
        if due:
            time.sleep(due)
        self.flush()

    def flush(self) -> None:
        event, self._pending = self._pending, None
        if event is None:
            return
        self._last = time.monotonic()
        self.delivered += 1
        try:
            self._callback(event)
        except Exception:  # a broken listener must not take the job down with it
            log.exception("progress callback failed")
