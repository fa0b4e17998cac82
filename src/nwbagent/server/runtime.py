"""Everything one running service holds: database, repositories, executor, agents, event hub.

Built once at start-up (migrations, crash recovery, the bundled sample) and torn down at shutdown. The
Conversion agent gets a runner that sends conversions to the executor and records each as a job, so the
web process itself never converts.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from nwbagent import metrics
from nwbagent.agents.bus import Bus
from nwbagent.agents.contracts import ConvertReply, ConvertRequest
from nwbagent.agents.conversation import ConversationAgent, Turn
from nwbagent.agents.conversion import ConversionAgent
from nwbagent.agents.evaluation import EvaluationAgent
from nwbagent.agents.messages import Message
from nwbagent.agents.state import SessionState
from nwbagent.agents.units import streams_view
from nwbagent.errors import UserFacingError
from nwbagent.llm import get_provider_or_rules
from nwbagent.server.db.engine import make_engine, upgrade
from nwbagent.server.db.repos import EventRepo, JobRepo
from nwbagent.server.db.store import SqlStore
from nwbagent.server.events import EventHub
from nwbagent.server.executor_base import Executor
from nwbagent.server.executors import make_executor
from nwbagent.server.jobs import JobSpec
from nwbagent.server.recovery import recover
from nwbagent.settings import Settings

log = logging.getLogger("nwbagent.server")

SAMPLES = {"neuropixels": "Synthetic Neuropixels 1.0 SpikeGLX run (10 s, 385 channels, AP + LF)"}
_PROGRESS_DB_INTERVAL_S = 1.0


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
        self.store = SqlStore(self.engine)
        self.jobs = JobRepo(self.engine)
        self.events = EventRepo(self.engine)
        self.hub = EventHub(self.events)
        self.recovered = recover(self.store, self.jobs, self.sessions_dir)
        self.executor: Executor = make_executor(settings)
        self.provider, self.provider_note = get_provider_or_rules(settings)
        self.bus = Bus()
        self.bus.subscribe(self.hub.observe)
        ConversionAgent(self.bus, runner=self._run_on_executor)
        EvaluationAgent(self.bus)
        self.conversation = ConversationAgent(
            self.bus, self.store, self.provider, provider_note=self.provider_note
        )
        self._turns: dict[str, asyncio.Task[Turn]] = {}

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_dir / session_id

    def sample_path(self, name: str) -> Path:
        return self.data_dir / "samples" / name / "sample_g0"

    def ensure_samples(self) -> None:
        """The one-click sample: made once, shared read-only by every session that picks it."""
        from nwbagent.sample import make_spikeglx_sample

        folder = self.sample_path("neuropixels")
        if not (folder / "sample_g0_t0.imec0.ap.meta").exists():
            tmp = folder.parent.with_name("neuropixels.partial")
            shutil.rmtree(tmp, ignore_errors=True)
            made = make_spikeglx_sample(tmp, 10.0)
            shutil.rmtree(folder.parent, ignore_errors=True)
            tmp.rename(folder.parent)
            assert (folder.parent / made.name).exists()

    async def start(self) -> None:
        self.hub.start(asyncio.get_running_loop())
        await asyncio.to_thread(self.ensure_samples)
        await asyncio.to_thread(_warm_imports)

    async def stop(self) -> None:
        for task in list(self._turns.values()):
            task.cancel()
        await asyncio.to_thread(self.executor.shutdown)
        self.hub.stop()
        self.engine.dispose()

    # ---- agent turns, run out of the request ------------------------------------------------------

    async def turn(self, session_id: str, action: str, payload: dict[str, Any]) -> Turn | None:
        """Run one agent turn as a task; the result if it ends within ``turn_wait_s``, else None (202).

        The task keeps running after the request returns; its replies, state changes and progress reach the
        client through the session's events.
        """
        task = asyncio.create_task(self._send(session_id, action, payload))
        self._turns[f"{session_id}:{id(task)}"] = task
        task.add_done_callback(lambda t: self._turns.pop(f"{session_id}:{id(t)}", None))
        done, _ = await asyncio.wait({task}, timeout=self.settings.turn_wait_s)
        return task.result() if done else None

    async def _send(self, session_id: str, action: str, payload: dict[str, Any]) -> Turn:
        try:
            return await self.bus.call(
                session_id=session_id,
                sender="user",
                target="conversation",
                action=action,
                payload=payload,
                result=Turn,
            )
        except Exception as exc:
            self.hub.emit(session_id, "error", {"message": str(exc)})
            raise

    def busy(self, session_id: str) -> bool:
        return any(key.startswith(f"{session_id}:") and not t.done() for key, t in self._turns.items())

    # ---- conversions on the executor --------------------------------------------------------------

    def _run_on_executor(
        self, message: Message, request: ConvertRequest, progress: Callable[[dict[str, Any]], None]
    ) -> ConvertReply:
        """Runs in a bus worker thread: records the job, waits for the executor, reports progress."""
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

    def view(self, session: SessionState) -> dict[str, Any]:
        """What clients see of a session: the REST summary and the WebSocket snapshot are this one view."""
        return {
            "id": session.id,
            "state": session.state.value,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
            "allowed": [s.value for s in self.conversation.workflow.allowed(session)],
            "questions": [q.model_dump(mode="json") for q in session.open_questions()],
            "auto_fixes": [f.model_dump(mode="json") for f in session.auto_fixes],
            "detection": session.detection.model_dump(mode="json") if session.detection else None,
            "selected_units": [u.label for u in session.selected_units],
            **streams_view(session),
            "preview": session.preview.model_dump(mode="json") if session.preview else None,
            "output": session.output.model_dump(mode="json") if session.output else None,
            "chat": [t.model_dump(mode="json") for t in session.chat],
            "usage": session.usage.model_dump(),
            "llm": {"provider": self.provider.name, "model": self.provider.model, "notes": session.llm_notes},
            "busy": self.busy(session.id),
        }

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
