"""Conversions on a Dask cluster: the server only needs a scheduler address.

Anything that gives a ``distributed`` scheduler works, which is how HPC sites plug in: start a
``dask_jobqueue.SLURMCluster`` / ``PBSCluster`` (or ``dask scheduler`` plus ``dask worker`` jobs submitted by
hand) and set ``NWBAGENT_DASK_SCHEDULER`` to its ``tcp://host:port``. Workers must have ``nwbagent`` (with
NeuroConv) installed and see the same paths as the server: the request names the source and output folder,
nothing is copied. Dask workers are long-lived processes, so ``import neuroconv`` is paid once per worker.

Progress travels worker → scheduler → here through a ``distributed.Queue`` named per job (``Pub``/``Sub``
was removed from ``distributed``; the Queue is msgpack-only and marked experimental, but each item is a
small dict and a lost item only delays the bar). Cancellation cannot interrupt a thread, so it is
cooperative: a ``distributed.Variable`` named per job is checked by the worker-side progress sink at every
progress step, which raises :class:`JobCancelled`; the conversion then removes its own temporary file. A job
still waiting on the cluster is dropped with ``Future.cancel()``. Jobs first wait in a local FIFO with
``max_concurrent`` slots (default: the cluster's worker threads), so positions are exact and do not depend
on the scheduler's internal queueing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nwbagent.errors import UserFacingError, internal_error
from nwbagent.server.executors._shared import SlotLine, Throttle, Ticket
from nwbagent.server.executors.base import QueueEntry
from nwbagent.server.jobs import JobCancelled, JobOutcome, JobSpec, run_conversion_job

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.2
POLL_S = 0.1  # how often the progress queue is read: bounds worker → callback latency
CANCEL_WAIT_S = 15.0  # after this, run() returns cancelled without waiting for the worker's next step
STARTED_STAGE = "worker_started"
_CANCELLABLE_STAGES = {STARTED_STAGE, "starting", "writing"}  # after "written" the file is in place


def _names(job_id: str) -> tuple[str, str]:
    return f"nwbagent-progress-{job_id}", f"nwbagent-cancel-{job_id}"


# ---- the worker side (runs in a Dask worker thread) ---------------------------------------------------


def dask_conversion_job(request: dict[str, Any], job_id: str) -> dict[str, Any]:
    """``run_conversion_job`` with a sink that publishes progress and raises when the job was cancelled."""
    from distributed import Queue, Variable

    queue_name, flag_name = _names(job_id)
    queue = Queue(queue_name)
    flag = Variable(flag_name)

    def cancelled() -> bool:
        try:
            return bool(flag.get(timeout=1))
        except TimeoutError:  # unset: nobody asked
            return False

    def sink(event: dict[str, Any]) -> None:
        if event.get("stage") in _CANCELLABLE_STAGES and cancelled():
            raise JobCancelled(job_id)
        try:
            queue.put({**event, "sent_at": time.time()}, timeout=5)
        except Exception:  # progress is best effort; the result travels with the future
            log.warning("could not publish progress of job %s", job_id, exc_info=True)

    try:
        started = {"stage": STARTED_STAGE, "done_bytes": 0, "total_bytes": 0, "elapsed_s": 0.0}
        sink({**started, "percent": 0.0, "rate_mb_s": 0.0, "eta_s": None, "stub": request.get("stub")})
    except JobCancelled:
        return JobOutcome(status="cancelled").model_dump(mode="json")
    try:
        return run_conversion_job(request, sink)
    finally:
        with contextlib.suppress(Exception):
            queue.close()


# ---- the server side ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _DaskTicket(Ticket):
    future: Any = None
    worker_started: bool = False


class DaskExecutor:
    name = "dask"

    def __init__(
        self,
        address: Any,
        *,
        max_concurrent: int | None = None,
        connect_timeout_s: float = 5.0,
        cancel_wait_s: float = CANCEL_WAIT_S,
    ) -> None:
        """``address``: a scheduler address, or an existing ``distributed.Client`` (kept open on shutdown)."""
        from distributed import Client

        if isinstance(address, Client):
            self.client = address
            self._owns_client = False
        else:
            try:
                self.client = Client(address, timeout=f"{connect_timeout_s}s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise UserFacingError(
                    f"Cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}).",
                    fix="Start the scheduler (`dask scheduler`, or your dask-jobqueue cluster) and check "
                    "NWBAGENT_DASK_SCHEDULER, or use NWBAGENT_EXECUTOR=local.",
                    code="dask_unreachable",
                ) from exc
            self._owns_client = True
        self._address = str(self.client.scheduler_info().get("address", address))
        self._line = SlotLine(max_concurrent or max(1, self._worker_threads()))
        self._cancel_wait_s = cancel_wait_s
        self._closed = False

    def _worker_threads(self) -> int:
        workers = self.client.scheduler_info().get("workers", {})
        return sum(int(w.get("nthreads", 1)) for w in workers.values())

    # ---- Executor protocol ---------------------------------------------------------------------------

    def run(self, spec: JobSpec, on_progress: Callable[[dict[str, Any]], None]) -> JobOutcome:
        if self._closed:
            return JobOutcome(
                status="failed",
                error={
                    "code": "executor_closed",
                    "message": "The server is shutting down and accepts no new conversions.",
                    "hint": "Retry once the service is back.",
                    "path": None,
                },
            )
        ticket = _DaskTicket(spec)
        return self._line.run(ticket, lambda: self._execute(ticket, on_progress))

    def cancel(self, job_id: str) -> bool:
        ticket, running = self._line.find(job_id)
        if ticket is None or not ticket.request_cancel():
            return False
        if not running:
            self._line.cancel_waiting(ticket)
            return True
        from distributed import Variable

        assert isinstance(ticket, _DaskTicket)
        Variable(_names(job_id)[1], client=self.client).set(True)
        with ticket.lock:
            future, started = ticket.future, ticket.worker_started
        if future is not None and not started:  # still waiting on the cluster: drop it there
            future.cancel()
        return True

    def queue(self) -> list[QueueEntry]:
        return self._line.entries()

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        error = None
        try:
            info = dict(self.client.scheduler_info())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        workers: dict[str, Any] = info.get("workers", {})
        ok = error is None and not self._closed and self.client.status == "running"
        return {
            "ok": ok and bool(workers),
            "executor": self.name,
            "running": len(self._line.running()),
            "queued": len(self._line.waiting()),
            "slots": self._line.slots,
            "scheduler": info.get("address") or self._address,
            "workers": len(workers),
            "worker_threads": sum(int(w.get("nthreads", 1)) for w in workers.values()),
            "error": error,
        }

    def shutdown(self) -> None:
        self._closed = True
        for ticket in self._line.waiting() + self._line.running():
            with contextlib.suppress(Exception):
                self.cancel(ticket.job_id)
        self._line.wait_idle(self._cancel_wait_s + 5.0)
        if self._owns_client:
            self.client.close()

    # ---- one job -------------------------------------------------------------------------------------

    def _execute(self, ticket: _DaskTicket, on_progress: Callable[[dict[str, Any]], None]) -> JobOutcome:
        from distributed import Queue, Variable

        spec = ticket.spec
        queue_name, flag_name = _names(spec.job_id)
        queue = Queue(queue_name, client=self.client)
        flag = Variable(flag_name, client=self.client)
        flag.set(False)
        throttle = Throttle(on_progress, PROGRESS_INTERVAL_S)
        try:
            with ticket.lock:
                if ticket.cancel_requested:
                    return JobOutcome(status="cancelled")
                ticket.future = self.client.submit(
                    dask_conversion_job,
                    spec.request,
                    spec.job_id,
                    key=f"nwbagent-{spec.kind}-{spec.job_id}-{uuid.uuid4().hex[:6]}",
                    pure=False,
                )
            return self._follow(ticket, queue, throttle)
        finally:
            with contextlib.suppress(Exception):
                queue.close()
            with contextlib.suppress(Exception):
                flag.delete()

    def _follow(self, ticket: _DaskTicket, queue: Any, throttle: Throttle) -> JobOutcome:
        future = ticket.future
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        while not done.is_set():
            if ticket.cancel_at is not None and time.monotonic() - ticket.cancel_at > self._cancel_wait_s:
                future.cancel()  # the worker stops at its next progress step and cleans up there
                return JobOutcome(status="cancelled")
            due = throttle.due_in()
            done.wait(POLL_S if due is None else min(POLL_S, due))
            self._relay(ticket, queue, throttle)
        self._relay(ticket, queue, throttle)
        try:
            result = future.result()
        except Exception as exc:
            return self._future_failed(ticket, exc)
        if ticket.cancel_requested and result.get("status") == "cancelled":
            return JobOutcome(status="cancelled")
        if result.get("status") != "cancelled":
            throttle.finish()
        return JobOutcome.model_validate(result)

    def _relay(self, ticket: _DaskTicket, queue: Any, throttle: Throttle) -> None:
        """Forward what the worker has published so far.

        Polls with ``batch=True`` (returns at once, possibly empty) rather than a blocking ``get(timeout)``:
        the scheduler logs every timed-out ``queue_get`` as an error with a traceback.
        """
        try:
            items: list[Any] = list(queue.get(batch=True))
        except Exception:
            log.warning("reading progress of job %s failed", ticket.job_id, exc_info=True)
            return
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("stage") == STARTED_STAGE:
                with ticket.lock:
                    ticket.worker_started = True
            if not ticket.cancel_requested:
                throttle.offer(item)
        if throttle.due_in() == 0.0 and not ticket.cancel_requested:
            throttle.flush()

    def _future_failed(self, ticket: _DaskTicket, exc: Exception) -> JobOutcome:
        from concurrent.futures import CancelledError

        from distributed.scheduler import KilledWorker

        if ticket.cancel_requested or isinstance(exc, CancelledError):
            return JobOutcome(status="cancelled")
        if isinstance(exc, KilledWorker):
            error = {
                "code": "worker_died",
                "message": f"The Dask worker running this conversion died ({exc}).",
                "hint": "A worker that dies is usually out of memory: give the workers more memory, then "
                "retry.",
                "path": None,
            }
        else:
            bug = internal_error(exc)
            error = {
                "code": "handler_failed",
                "message": bug.problem,
                "hint": bug.fix,
                "path": None,
                "details": bug.details,
            }
        return JobOutcome(status="failed", error=error)
