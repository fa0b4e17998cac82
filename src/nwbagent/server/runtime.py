"""Everything one running service holds: database, repositories, executor, agents, event hub.

Built once at start-up (migrations, crash recovery, the bundled sample) and torn down at shutdown. The
Conversion agent gets a runner that sends conversions to the executor and records each as a job, so the
web process itself never converts; before a job is sent, its source is checked again (``sources.py``), so
a symbolic link planted after detection cannot smuggle a file from outside the allowed roots into an NWB
file.

Sessions' last use is recorded in memory and written in batches (:meth:`Service.seen`): a request that
only reads must not wait for a write, nor fail when the disk is full or the database read-only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from nwbagent import metrics
from nwbagent.agents.config import AgentConfig
from nwbagent.agents.contracts import ConvertReply, ConvertRequest
from nwbagent.agents.messages import Message
from nwbagent.agents.state import SessionState, utcnow
from nwbagent.agents.system import AgentSystem
from nwbagent.agents.view import SessionView, Turn, session_view
from nwbagent.agents.workflow import Workflow
from nwbagent.errors import UserFacingError
from nwbagent.llm import get_provider_or_rules
from nwbagent.server import results
from nwbagent.server.db.engine import make_engine, upgrade
from nwbagent.server.db.repos import EventRepo, JobRepo
from nwbagent.server.db.store import SqlStore
from nwbagent.server.events import EventHub
from nwbagent.server.executors import make_executor
from nwbagent.server.executors.base import Executor
from nwbagent.server.jobs import JobSpec
from nwbagent.server.recovery import recover
from nwbagent.server.samples import SAMPLES, ensure_sample, sample_path
from nwbagent.server.sources import Root, check_source, overlap, root_of
from nwbagent.server.upload_rules import UploadRejected
from nwbagent.settings import Settings

log = logging.getLogger("nwbagent.server")

__all__ = ["SAMPLES", "Service"]

_PROGRESS_DB_INTERVAL_S = 1.0
#: How often recorded last-use times are written to the database.
SEEN_FLUSH_S = 15.0
#: Longest a walk over a source may run: ten times what detection itself would look at.
_CHECK_FACTOR = 10


def _warm_imports() -> None:
    """Detection, metadata reading and inspection run in this process: pay their imports (seconds) at
    start-up rather than in the first user's first request."""
    import neuroconv.datainterfaces  # noqa: F401
    import nwbinspector  # noqa: F401

    from nwbagent.formats import registry

    registry.covered_interface_names()


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.database_url or f"sqlite:///{self.data_dir / 'nwbagent.db'}"
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.store = SqlStore(self.engine, max_document_bytes=settings.max_session_document_bytes)
        self.jobs = JobRepo(self.engine)
        self.events = EventRepo(self.engine)
        self.hub = EventHub(self.events)
        # Without the size cap: a session stored before the cap existed must still be put back in order.
        config = AgentConfig.from_settings(settings)
        self.recovered = recover(
            SqlStore(self.engine), self.jobs, self.sessions_dir, Workflow(config.max_improve_rounds)
        )
        self.executor: Executor = make_executor(settings)
        self.provider, self.provider_note = get_provider_or_rules(settings)
        self.system = AgentSystem(
            self.store,
            self.provider,
            config=config,
            provider_note=self.provider_note,
            runner=self._run_on_executor,
        )
        self.bus = self.system.bus
        self.bus.subscribe(self.hub.observe)
        self.conversation = self.system.conversation
        self._turns: dict[str, asyncio.Task[Turn]] = {}
        self._seen: dict[str, datetime] = {}
        self._seen_lock = threading.Lock()
        #: Why the last batch of writes failed (for health), None once one succeeds again.
        self.write_failure: str | None = None
        self._own = self._own_folders(url)
        self.roots = [Root.of(r, r, forbidden=self._own) for r in settings.data_roots]
        for root in self.roots:
            clash = overlap(root.path, [self.data_dir, *self._own])
            if clash is not None:
                log.warning(
                    "the data root %s overlaps this service's own folder %s: sessions' files and the "
                    "database there are refused as sources, but keep NWBAGENT_DATA_DIR and "
                    "NWBAGENT_WORK_DIR outside NWBAGENT_DATA_ROOTS",
                    root.label,
                    clash,
                )

    def _own_folders(self, url: str) -> list[Path]:
        """Folders (and the database file) no session may read: other sessions live there. The work dir
        counts once it exists (the service itself writes outputs into each session's folder)."""
        own = [self.sessions_dir.resolve()]
        work = Path(self.settings.work_dir).expanduser().resolve()
        if work.exists():
            own.append(work)
        if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database:
            own.append(Path(self.engine.url.database).expanduser().resolve())
        return own

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_dir / session_id

    def sample_path(self, name: str) -> Path:
        return sample_path(self.data_dir, name)

    def ensure_samples(self) -> None:
        """The one-click sample: made once, shared read-only by every session that picks it."""
        ensure_sample(self.data_dir)

    async def start(self) -> None:
        self.hub.start(asyncio.get_running_loop())
        await asyncio.to_thread(self.ensure_samples)
        await asyncio.to_thread(_warm_imports)

    async def stop(self) -> None:
        for task in list(self._turns.values()):
            task.cancel()
        await asyncio.to_thread(self.flush_seen)
        await asyncio.to_thread(self.executor.shutdown)
        self.hub.stop()
        self.engine.dispose()

    # ---- last use, recorded without a write per request ------------------------------------------

    def seen(self, session_id: str) -> None:
        """Note that the session was used now; written by the next :meth:`flush_seen`."""
        with self._seen_lock:
            self._seen[session_id] = utcnow()

    def flush_seen(self) -> None:
        """Write the recorded last-use times; on failure keep them for the next try and tell health."""
        with self._seen_lock:
            batch, self._seen = self._seen, {}
        if not batch:
            return
        try:
            self.store.touch_many(batch)
        except SQLAlchemyError as exc:
            with self._seen_lock:
                self._seen = {**batch, **self._seen}
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            failure = reason[0] if reason else type(exc).__name__
            if failure != self.write_failure:
                log.warning("could not record sessions' last use (will retry): %s", failure)
            self.write_failure = failure
            return
        self.write_failure = None

    # ---- what a session may read ---------------------------------------------------------------------

    def source_roots(self, session_id: str) -> list[Root]:
        """Where a session's source may come from: its own folder, the samples, the data roots."""
        own = Root.of(self.session_dir(session_id), "this session's uploads")
        samples = Root.of(self.data_dir / "samples", "the bundled samples")
        return [own, samples, *self.roots]

    def check_source(self, source: Path, session_id: str) -> None:
        """Refuse (``UploadRejected``) a source that is, or holds a link to, anything outside its root.

        Blocking: walks the source. Call from a thread.
        """
        real = source.resolve()
        root = root_of(real, self.source_roots(session_id))
        if root is None:
            raise UploadRejected(
                403,
                "path_not_allowed",
                "The session's source is no longer inside the folders this server may read.",
                "Choose the recording again.",
            )
        check_source(real, root, max_entries=_CHECK_FACTOR * self.settings.detect_max_files)

    # ---- agent turns, run out of the request ------------------------------------------------------

    async def turn(self, session_id: str, action: str, payload: dict[str, Any]) -> Turn | None:
        """Run one agent turn as a task; the result if it ends within ``turn_wait_s``, else None (202).

        The task keeps running after the request returns; its replies, state changes and progress reach the
        client through the session's events.
        """
        task = asyncio.create_task(self._send(session_id, action, payload))
        self._turns[f"{session_id}:{id(task)}"] = task
        task.add_done_callback(lambda t: self._turn_done(session_id, t))
        done, _ = await asyncio.wait({task}, timeout=self.settings.turn_wait_s)
        return task.result() if done else None

    async def _send(self, session_id: str, action: str, payload: dict[str, Any]) -> Turn:
        try:
            return await self.system.send(session_id, action, payload)
        except Exception as exc:
            self.hub.emit(session_id, "error", {"message": str(exc)})
            raise

    def _turn_done(self, session_id: str, task: asyncio.Task[Turn]) -> None:
        self._turns.pop(f"{session_id}:{id(task)}", None)
        # A turn that outlived its request has no one to raise to; its error already went out as an
        # event. Retrieving it here keeps asyncio from logging "exception was never retrieved".
        if not task.cancelled():
            task.exception()

    async def until_idle(self, session_id: str, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the session's running turns to end; returns either way."""
        running = [t for k, t in self._turns.items() if k.startswith(f"{session_id}:") and not t.done()]
        if running and timeout > 0:
            await asyncio.wait(running, timeout=timeout)

    def busy(self, session_id: str) -> bool:
        return any(key.startswith(f"{session_id}:") and not t.done() for key, t in self._turns.items())

    # ---- conversions on the executor --------------------------------------------------------------

    def _run_on_executor(
        self, message: Message, request: ConvertRequest, progress: Callable[[dict[str, Any]], None]
    ) -> ConvertReply:
        """Runs in a bus worker thread: records the job, waits for the executor, reports progress."""
        try:
            self.check_source(Path(request.source), message.session_id)
        except UploadRejected as exc:
            raise UserFacingError(exc.message, fix=exc.hint, code=exc.error) from None
        spec = JobSpec(
            job_id=uuid.uuid4().hex,
            session_id=message.session_id,
            kind="preview" if request.stub else "convert",
            request=request.model_dump(mode="json"),
        )
        self.jobs.create(spec)
        self._publish_queue()
        last_saved = [0.0]
        running = [False]
        started_at: list[float] = []

        def on_progress(payload: dict[str, Any]) -> None:
            if not running[0]:
                running[0] = True
                started_at.append(time.monotonic())
                self.jobs.mark_running(spec.job_id)
                self._publish_job(spec, "running")
            now = time.monotonic()
            if now - last_saved[0] >= _PROGRESS_DB_INTERVAL_S or payload.get("percent", 0) >= 100:
                last_saved[0] = now
                self.jobs.update_progress(spec.job_id, payload)
            progress({**payload, "job_id": spec.job_id})

        outcome = self.executor.run(spec, on_progress)
        if spec.kind == "convert":  # stub previews are seconds long and would blur conversion times
            duration = time.monotonic() - started_at[0] if started_at else None
            metrics.conversion_finished([u.interface for u in request.units], outcome.status, duration)
        self.jobs.finish(spec.job_id, outcome.status, outcome.model_dump(mode="json"))
        self._publish_job(spec, outcome.status)
        self._publish_queue()
        if outcome.status == "succeeded" and outcome.reply is not None:
            return ConvertReply.model_validate(outcome.reply)
        if outcome.status == "cancelled":
            raise UserFacingError(
                "The conversion was cancelled; nothing partial was kept.",
                fix="Say 'retry' to run it again.",
                code="cancelled",
            )
        error = outcome.error or {}
        raise UserFacingError(
            str(error.get("message") or "The conversion failed."),
            fix=str(error.get("hint") or "Say 'retry' to run it again, or 'improve' to change the metadata."),
            path=error.get("path"),
            code=str(error.get("code") or "conversion_failed"),
            details=error.get("details"),
        )

    def _publish_job(self, spec: JobSpec, status: str) -> None:
        self.hub.emit(spec.session_id, "job", {"job_id": spec.job_id, "kind": spec.kind, "status": status})

    def _publish_queue(self) -> None:
        """Tell every waiting session its place in line."""
        for entry in self.executor.queue():
            self.hub.emit(entry.session_id, "job", entry.model_dump(mode="json"))

    def view(
        self, session: SessionState, *, job: dict[str, Any] | None = None, chat: bool = True
    ) -> dict[str, Any]:
        """What clients see of a session: the REST session and status, the WebSocket snapshot and every
        turn's reply are this one model (:class:`~nwbagent.agents.view.SessionView`)."""
        busy = self.busy(session.id)
        active = job is not None and job.get("status") in ("queued", "running")
        fields = session_view(session, self.conversation.workflow, job_active=active, busy=busy, chat=chat)
        view = SessionView(
            **fields,
            llm={"provider": self.provider.name, "model": self.provider.model, "notes": session.llm_notes},
            busy=busy,
            job=job,
            downloads=results.downloads(session),
        )
        return view.model_dump(mode="json")

    def job_for(self, session_id: str) -> dict[str, Any] | None:
        """The session's latest job with its live queue position."""
        job = self.jobs.latest_for_session(session_id)
        if job is None:
            return None
        data = job.model_dump(mode="json")
        for entry in self.executor.queue():
            if entry.job_id == job.id:
                data["position"] = entry.position
        return data

    def cancel(self, session_id: str) -> bool:
        job = self.jobs.latest_for_session(session_id)
        if job is None or job.status not in ("queued", "running"):
            return False
        return self.executor.cancel(job.id)

    def expire_idle(self, older_than: timedelta) -> list[str]:
        """Remove sessions nobody touched for ``older_than``, with their files; busy ones are kept."""
        self.flush_seen()
        removed = []
        for session_id in self.store.idle_ids(older_than):
            if self.busy(session_id):
                continue
            self.cancel(session_id)
            self.delete_files(session_id)
            self.store.delete(session_id)
            removed.append(session_id)
        return removed

    def delete_files(self, session_id: str) -> None:
        shutil.rmtree(self.session_dir(session_id), ignore_errors=True)
