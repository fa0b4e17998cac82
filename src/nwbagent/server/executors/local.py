"""Conversions on this machine, one ``multiprocessing`` process per job, at most ``max_workers`` at once.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop a job that has started, and a user who
cancels a 20-minute conversion expects it to stop now. A process per job can be terminated, and its death
(segfault in a reader, the OOM killer) is seen through its sentinel instead of hanging a pool.

Why forkserver: ``import neuroconv`` and friends cost seconds. The fork server imports them once
(:data:`PRELOAD`) and forks every job from that warm process, so a job starts in milliseconds, without
forking the server itself (threads, sockets, an event loop: unsafe to fork). Python ignores a preload
module that fails to import, silently; each worker therefore reports which of them it found already
imported, and :meth:`LocalExecutor.health` shows the missing ones.

Each job talks to its ``run`` caller over its own one-way pipe: a worker killed mid-message can corrupt
only its own channel, never another job's (a shared ``multiprocessing.Queue`` would be corrupted).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from nwbagent import outputs
from nwbagent.errors import internal_error
from nwbagent.gc_tuning import tune_for_batch_work
from nwbagent.server.executors._shared import SlotLine, Throttle, Ticket
from nwbagent.server.executors.base import QueueEntry
from nwbagent.server.jobs import JobOutcome, JobSpec, run_conversion_job

log = logging.getLogger(__name__)

PRELOAD = [
    "nwbagent.server.executors._main_preload",  # the server's main script, which each job would re-import
    "nwbagent.server.executors.local",  # the worker entry point, unpickled in every job
    "nwbagent.server.jobs",
    "nwbagent.agents.contracts",  # ConvertRequest: imports the whole pipeline (~2 s on its own)
    "nwbagent.agents.conversion",  # convert_request, what every job runs
    "nwbagent.convert",
    "neuroconv",
    "neuroconv.datainterfaces",
    "pynwb",
    "h5py",
    "spikeinterface",
    "neo",
]

MAIN_ENV = "_NWBAGENT_FORKSERVER_MAIN"  # read by _main_preload in the fork server

CANCEL_GRACE_S = 3.0  # SIGTERM first; SIGKILL when the worker is still alive after this
EXIT_WAIT_S = 5.0  # a worker that sent its result but does not exit is killed after this
PROGRESS_INTERVAL_S = 0.2  # ≤ 5 callbacks per second
STARTED_STAGE = "worker_started"


# ---- the worker side (runs in the forked process) ----------------------------------------------------


def _die_with(server_pid: int) -> None:
    """A worker whose server crashed must stop, not finish a file no session will ever list.

    The worker's parent is the fork server, which exits when the server dies: Linux's parent-death signal
    covers that; a watchdog on the server's pid covers everything else.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(70)
            except PermissionError:
                continue

    threading.Thread(target=watch, name="nwbagent-server-watchdog", daemon=True).start()


def _worker_main(request: dict[str, Any], conn: Connection, server_pid: int | None = None) -> None:
    """Run one job and send ("started"|"progress"|"result", payload) messages; the result is sent last."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal: the server decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if server_pid is not None:
        _die_with(server_pid)
    missing = [m for m in PRELOAD if m not in sys.modules]
    conn.send(("started", {"pid": os.getpid(), "missing_preload": missing}))
    tune_for_batch_work()  # after the preloaded imports, which the freeze then leaves out of collections

    def sink(event: dict[str, Any]) -> None:
        conn.send(("progress", {**event, "sent_at": time.time()}))

    try:
        outcome = run_conversion_job(request, sink)
    except BaseException as exc:  # run_conversion_job reports expected failures itself; this is a bug
        bug = internal_error(exc)
        error = {"code": "handler_failed", "message": bug.problem, "hint": bug.fix, "details": bug.details}
        outcome = JobOutcome(status="failed", error=error).model_dump(mode="json")
    conn.send(("result", outcome))
    conn.close()


# ---- the server side ---------------------------------------------------------------------------------


_forkserver_lock = threading.Lock()


def _forkserver_context() -> Any:
    """The forkserver context with :data:`PRELOAD` set, and the fork server started in the background.

    The fork server is one per server process; preload only takes effect if it is set before the fork
    server starts, so this sets it once and starts the server right away (it imports while the service
    finishes starting up, and the first job does not pay the imports either).
    """
    ctx = multiprocessing.get_context("forkserver")
    with _forkserver_lock:
        main = sys.modules.get("__main__")
        main_file = getattr(main, "__file__", None)
        if main_file and getattr(getattr(main, "__spec__", None), "name", None) is None:
            if not os.path.isabs(main_file):  # the same path spawn.get_preparation_data hands each job
                origin = getattr(multiprocessing.process, "ORIGINAL_DIR", None) or os.getcwd()
                main_file = os.path.join(origin, main_file)
            if os.path.isfile(main_file):  # not for a main read from stdin or "-c": nothing to re-import
                os.environ[MAIN_ENV] = os.path.normpath(main_file)
        ctx.set_forkserver_preload(PRELOAD)
        multiprocessing.forkserver.ensure_running()
    return ctx


@dataclass(eq=False)
class _LocalTicket(Ticket):
    process: BaseProcess | None = None


class LocalExecutor:
    name = "local"

    def __init__(self, max_workers: int, *, cancel_grace_s: float = CANCEL_GRACE_S) -> None:
        self._line = SlotLine(max_workers)
        self._ctx = _forkserver_context()
        self._cancel_grace_s = cancel_grace_s
        self._closed = False
        self._stats_lock = threading.Lock()
        self.start_latencies: list[float] = []  # s from Process.start() to the worker's first message
        self.missing_preload: list[str] = []

    # ---- Executor protocol ---------------------------------------------------------------------------

    def run(self, spec: JobSpec, on_progress: Callable[[dict[str, Any]], None]) -> JobOutcome:
        if self._closed:
            return _closed_outcome()
        ticket = _LocalTicket(spec)
        return self._line.run(ticket, lambda: self._execute(ticket, on_progress))

    def cancel(self, job_id: str) -> bool:
        ticket, running = self._line.find(job_id)
        if ticket is None or not ticket.request_cancel():
            return False
        if running:
            assert isinstance(ticket, _LocalTicket)
            with ticket.lock:
                process = ticket.process
            if process is not None:
                _terminate(process)
        else:
            self._line.cancel_waiting(ticket)
        return True

    def queue(self) -> list[QueueEntry]:
        return self._line.entries()

    def health(self) -> dict[str, Any]:
        running = self._line.running()
        pids: dict[str, int | None] = {}
        for t in running:
            if isinstance(t, _LocalTicket) and t.process is not None:
                with contextlib.suppress(ValueError):  # closed between the two lines
                    if t.process.is_alive():
                        pids[t.job_id] = t.process.pid
        with self._stats_lock:
            latency = self.start_latencies[-1] if self.start_latencies else None
            missing = list(self.missing_preload)
        return {
            "ok": not self._closed,
            "executor": self.name,
            "running": len(running),
            "queued": len(self._line.waiting()),
            "slots": self._line.slots,
            "workers_alive": len(pids),
            "worker_pids": pids,
            "start_method": "forkserver",
            "preload_missing": missing,
            "last_start_latency_s": None if latency is None else round(latency, 3),
        }

    def shutdown(self) -> None:
        """Cancel every job and wait for their ``run`` calls to return (the processes are gone then)."""
        self._closed = True
        for ticket in self._line.waiting() + self._line.running():
            self.cancel(ticket.job_id)
        if not self._line.wait_idle(self._cancel_grace_s + EXIT_WAIT_S):
            for ticket in self._line.running():
                if isinstance(ticket, _LocalTicket) and ticket.process is not None:
                    ticket.process.kill()
            self._line.wait_idle(EXIT_WAIT_S)

    # ---- one job -------------------------------------------------------------------------------------

    def _execute(self, ticket: _LocalTicket, on_progress: Callable[[dict[str, Any]], None]) -> JobOutcome:
        spec = ticket.spec
        reader, writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker_main,
            args=(spec.request, writer, os.getpid()),
            name=f"nwbagent-job-{spec.job_id}",
            daemon=True,
        )
        launched = time.monotonic()
        try:
            process.start()
        except Exception as exc:
            reader.close()
            error = {
                "code": "worker_start_failed",
                "message": f"Could not start a conversion worker ({type(exc).__name__}: {exc}).",
                "hint": "Check the server's memory and process limits, then retry.",
            }
            return JobOutcome(status="failed", error=error)
        finally:
            writer.close()  # the worker holds the only write end now, so its death reads as EOF
        with ticket.lock:
            ticket.process = process
            cancelled_early = ticket.cancel_requested
        if cancelled_early:
            _terminate(process)
        throttle = Throttle(on_progress, PROGRESS_INTERVAL_S)
        exitcode: int | None = None
        try:
            result = self._follow(ticket, process, reader, throttle, launched)
        finally:
            reader.close()
            exitcode = _reap(process)
        if result is not None:  # the worker ended on its own terms (a late cancel loses to a finished job)
            throttle.finish()
            return JobOutcome.model_validate(result)
        _remove_partials(spec, since=launched)
        if ticket.cancel_requested:
            return JobOutcome(status="cancelled")
        return _died(exitcode)

    def _follow(
        self,
        ticket: _LocalTicket,
        process: BaseProcess,
        reader: Connection,
        throttle: Throttle,
        launched: float,
    ) -> dict[str, Any] | None:
        """Relay the worker's messages until it has exited or sent its result; the result, if any."""
        stub = bool(ticket.spec.request.get("stub"))
        while True:
            timeout = 0.5
            due = throttle.due_in()
            if due is not None:
                timeout = min(timeout, due)
            if ticket.cancel_at is not None and process.is_alive():
                kill_in = ticket.cancel_at + self._cancel_grace_s - time.monotonic()
                if kill_in <= 0:
                    process.kill()
                timeout = min(timeout, max(0.05, kill_in))
            ready = multiprocessing.connection.wait([reader, process.sentinel], timeout)
            if throttle.due_in() == 0.0:
                throttle.flush()
            if reader in ready:
                message = _receive(reader)
                if message is None:  # EOF: the worker closed its end, i.e. exited or is exiting
                    return None
                kind, payload = message
                if kind == "result":
                    return dict(payload)
                if kind == "started":
                    self._record_start(time.monotonic() - launched, list(payload["missing_preload"]))
                    throttle.offer(_started_event(stub))
                elif kind == "progress" and not ticket.cancel_requested:
                    throttle.offer(dict(payload))
                continue
            if process.sentinel in ready:  # exited; anything it sent before dying is still in the pipe
                while reader.poll(0):
                    message = _receive(reader)
                    if message is None:
                        break
                    if message[0] == "result":
                        return dict(message[1])
                return None

    def _record_start(self, latency: float, missing: list[str]) -> None:
        with self._stats_lock:
            self.start_latencies.append(latency)
            if missing and missing != self.missing_preload:
                log.warning(
                    "the fork server did not preload %s: every job pays these imports", ", ".join(missing)
                )
            self.missing_preload = missing


def _receive(reader: Connection) -> tuple[str, Any] | None:
    """One message, or None at EOF or when a killed worker left half a message behind."""
    try:
        kind, payload = reader.recv()
    except (EOFError, OSError):
        return None
    except Exception:  # a truncated pickle from a worker killed mid-send
        log.warning("unreadable message from a conversion worker", exc_info=True)
        return None
    return str(kind), payload


def _terminate(process: BaseProcess) -> None:
    with contextlib.suppress(Exception):
        if process.is_alive():
            process.terminate()


def _reap(process: BaseProcess) -> int | None:
    """Make sure the process is gone (it normally exits right after its result, else it is killed); its
    exit code."""
    process.join(EXIT_WAIT_S)
    if process.is_alive():
        process.kill()
        process.join(EXIT_WAIT_S)
    exitcode = process.exitcode
    with contextlib.suppress(ValueError):
        process.close()
    return exitcode


def _remove_partials(spec: JobSpec, *, since: float) -> None:
    """Delete the temporary outputs a killed worker could not remove itself.

    Every output is written under a temporary name (:mod:`nwbagent.outputs`) and renamed on success; a
    worker that was terminated leaves them behind. Only files changed since the job
    was launched are removed, so an older job's leftovers in the same folder are not this job's business.
    """
    output_dir = spec.request.get("output_dir")
    if not output_dir:
        return
    root = Path(output_dir)
    if not root.is_dir():
        return
    cutoff = time.time() - (time.monotonic() - since) - 1.0
    for path in list(outputs.leftovers(root, since=cutoff)):
        try:
            outputs.remove(path)
        except OSError:
            log.warning("could not remove %s after a stopped conversion", path, exc_info=True)


def _started_event(stub: bool) -> dict[str, Any]:
    """A progress event in the usual shape, so listeners learn the job left the line before any bytes move."""
    return {
        "stage": STARTED_STAGE,
        "done_bytes": 0,
        "total_bytes": 0,
        "elapsed_s": 0.0,
        "percent": 0.0,
        "rate_mb_s": 0.0,
        "eta_s": None,
        "stub": stub,
        "sent_at": time.time(),
    }


def _died(exitcode: int | None) -> JobOutcome:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name} (exit code {exitcode})"
        except ValueError:
            how = f"was killed by signal {-exitcode} (exit code {exitcode})"
    else:
        how = f"exited without a result (exit code {exitcode})"
    error = {
        "code": "worker_died",
        "message": f"The conversion worker {how}. Nothing partial was kept.",
        "hint": "A worker killed by SIGKILL was usually out of memory: free memory or lower "
        "max_concurrent_conversions, then retry. A crash in a file reader points at a damaged file.",
        "path": None,
    }
    return JobOutcome(status="failed", error=error)


def _closed_outcome() -> JobOutcome:
    error = {
        "code": "executor_closed",
        "message": "The server is shutting down and accepts no new conversions.",
        "hint": "Retry once the service is back.",
        "path": None,
    }
    return JobOutcome(status="failed", error=error)
