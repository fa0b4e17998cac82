"""The executor interface: where conversions run, so they never run in a request or on the event loop.

``run`` blocks the calling thread (the bus runs the Conversion agent's handler in a worker thread) until the
job ends, forwarding progress dicts to ``on_progress`` as they arrive (≤ 1 s behind the worker). Jobs wait in
a visible FIFO queue when all slots are busy. ``cancel`` stops a queued job at once and a running one as soon
as possible (local: the worker process is terminated; dask: a cancel flag the worker checks at each
progress step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel

from nwbagent.server.jobs import JobOutcome, JobSpec, JobStatus


class QueueEntry(BaseModel):
    job_id: str
    session_id: str
    kind: str
    status: JobStatus
    position: int | None = None  # 1 = next to start; None when running


class Executor(Protocol):
    name: str

    def run(self, spec: JobSpec, on_progress: Callable[[dict[str, Any]], None]) -> JobOutcome:
        """Run one job to its end; a cancelled job returns ``JobOutcome(status="cancelled")``."""
        ...

    def cancel(self, job_id: str) -> bool:
        """True when the job was queued or running and is now being cancelled."""
        ...

    def queue(self) -> list[QueueEntry]:
        """Running jobs first, then waiting ones with their 1-based position."""
        ...

    def health(self) -> dict[str, Any]:
        """{"ok": bool, "executor": name, "running": n, "queued": n, "slots": n, ...}."""
        ...

    def shutdown(self) -> None: ...
