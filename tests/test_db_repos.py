"""Jobs and events on both backends: the life of a job, crash recovery, and a bounded event history."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from conftest_db import engine, pg_engine, pg_url  # noqa: F401
from nwbagent.agents.state import SessionState
from nwbagent.server.db.models import EventRow
from nwbagent.server.db.repos import FINISHED, Event, EventRepo, Job, JobNotFound, JobRepo
from nwbagent.server.db.store import SqlStore
from nwbagent.server.jobs import JobKind, JobOutcome, JobSpec


@pytest.fixture
def session_ids(engine: Engine) -> list[str]:  # noqa: F811
    store = SqlStore(engine)
    ids = []
    for _ in range(2):
        state = SessionState()
        store.create(state)
        ids.append(state.id)
    return ids


@pytest.fixture
def jobs(engine: Engine) -> JobRepo:  # noqa: F811
    return JobRepo(engine)


def _spec(job_id: str, session_id: str, kind: JobKind = "convert") -> JobSpec:
    return JobSpec(job_id=job_id, session_id=session_id, kind=kind, request={"stub": kind == "preview"})


def test_job_lifecycle(jobs: JobRepo, session_ids: list[str]) -> None:
    sid = session_ids[0]
    created = jobs.create(_spec("j1", sid, "preview"), position=2)
    assert (created.status, created.kind, created.position) == ("queued", "preview", 2)
    assert jobs.get("j1") == created
    assert created.created_at.tzinfo is not None and not created.finished

    assert jobs.mark_running("j1")
    running = jobs.get("j1")
    assert running.status == "running" and running.started_at is not None and running.position is None
    assert not jobs.mark_running("j1")  # only from queued

    jobs.update_progress("j1", {"percent": 10.0, "stage": "ap"})
    jobs.update_progress("j1", {"percent": 55.5, "stage": "lf", "path": Path("/x/y.bin")})
    assert jobs.get("j1").progress == {"percent": 55.5, "stage": "lf", "path": "/x/y.bin"}

    error = {"code": "user_error", "message": "bad channel map", "hint": "fix it", "path": None}
    outcome = JobOutcome(status="failed", error=error).model_dump(mode="json")
    assert jobs.finish("j1", "failed", outcome)  # what the runtime passes: the JobOutcome dump
    done = jobs.get("j1")
    assert (done.status, done.error, done.outcome) == ("failed", error, outcome)
    assert done.finished and done.finished_at is not None and done.finished_at >= running.started_at
    assert not jobs.mark_running("j1")  # a finished job never runs again
    assert done.model_dump(mode="json")["status"] == "failed"  # the API serializes it as is


def test_success_and_lookups(jobs: JobRepo, session_ids: list[str]) -> None:
    a, b = session_ids
    assert jobs.latest_for_session(a) is None and jobs.list_for_session(a) == []
    jobs.create(_spec("first", a, "preview"))
    time.sleep(0.002)
    jobs.create(_spec("second", a))
    jobs.create(_spec("elsewhere", b))
    reply = {"outputs": [{"nwb_path": "/o.nwb"}]}
    jobs.finish("second", "succeeded", JobOutcome(status="succeeded", reply=reply).model_dump(mode="json"))

    assert [j.id for j in jobs.list_for_session(a)] == ["first", "second"]
    latest = jobs.latest_for_session(a)
    assert latest is not None and latest.id == "second" and latest.error is None
    assert latest.outcome is not None and latest.outcome["reply"] == reply
    assert jobs.set_position("first", 1) and jobs.get("first").position == 1
    with pytest.raises(JobNotFound) as caught:
        jobs.get("nope")
    assert caught.value.code == "job_not_found"
    assert not jobs.update_progress("nope", {"percent": 1}) and not jobs.finish("nope", "cancelled")
    with pytest.raises(ValueError, match="final status"):
        jobs.finish("first", "running")
    assert set(FINISHED) == {"succeeded", "failed", "cancelled", "interrupted"}


def test_interrupt_unfinished_after_a_crash(jobs: JobRepo, session_ids: list[str]) -> None:
    a, b = session_ids
    jobs.create(_spec("queued", a))
    jobs.create(_spec("running", b, "preview"))
    jobs.mark_running("running")
    jobs.update_progress("running", {"percent": 40})
    jobs.create(_spec("done", a))
    jobs.finish("done", "succeeded", {"status": "succeeded"})

    interrupted = jobs.interrupt_unfinished()
    assert sorted(j.id for j in interrupted) == ["queued", "running"]
    assert all(isinstance(j, Job) and j.status == "interrupted" and j.finished_at for j in interrupted)
    assert {j.session_id for j in interrupted} == {a, b}
    for job_id in ("queued", "running"):
        stored = jobs.get(job_id)
        assert stored.status == "interrupted" and stored.finished_at is not None
    assert jobs.get("running").progress == {"percent": 40}  # how far it got stays visible
    assert jobs.get("done").status == "succeeded"
    assert jobs.interrupt_unfinished() == []  # idempotent


def test_progress_updates_are_cheap(jobs: JobRepo, session_ids: list[str]) -> None:
    jobs.create(_spec("busy", session_ids[0]))
    started = time.perf_counter()
    for i in range(100):
        jobs.update_progress("busy", {"percent": i, "bytes": i * 1024})
    elapsed = time.perf_counter() - started
    assert jobs.get("busy").progress == {"percent": 99, "bytes": 99 * 1024}
    assert elapsed < 2.0, f"100 progress updates took {elapsed:.2f} s; they are called ~5/s per job"


def test_events_history_in_order_per_session(engine: Engine, session_ids: list[str]) -> None:  # noqa: F811
    a, b = session_ids
    events = EventRepo(engine)
    ids = [events.append(a, "state", {"to": f"s{i}"}) for i in range(5)]
    other = events.append(b, "reply", {"text": "hi"})
    assert ids == sorted(ids) and len(set(ids)) == 5 and other > ids[-1]

    history = events.since(a)
    assert [e.id for e in history] == ids and [e.payload["to"] for e in history] == [
        f"s{i}" for i in range(5)
    ]
    assert all(isinstance(e, Event) and e.session_id == a and e.at.tzinfo is not None for e in history)
    assert [e.id for e in events.since(a, ids[2])] == ids[3:]
    assert [e.id for e in events.since(a, 0, limit=2)] == ids[:2]
    assert events.since(a, ids[-1]) == []
    assert [e.id for e in events.since(b)] == [other]

    latest = events.latest(a, "state")
    assert latest is not None and latest.payload == {"to": "s4"}
    assert events.latest(a, "reply") is None and events.latest("nobody", "state") is None
    assert history[0].model_dump(mode="json")["payload"] == {"to": "s0"}  # what the history endpoint sends


def test_event_payloads_become_json(engine: Engine, session_ids: list[str]) -> None:  # noqa: F811
    events = EventRepo(engine)
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    events.append(session_ids[0], "message", {"path": Path("/a/b"), "when": at, "n": [1, 2.5, None]}, at=at)
    events.append(session_ids[0], "ping")
    stored = events.since(session_ids[0])
    assert stored[0].payload == {"path": "/a/b", "when": "2024-05-01T12:00:00Z", "n": [1, 2.5, None]}
    assert stored[0].at == at and stored[1].payload is None


def test_progress_events_are_pruned_others_kept(engine: Engine, session_ids: list[str]) -> None:  # noqa: F811
    a, b = session_ids
    events = EventRepo(engine, keep=5, prune_every=4)
    events.append(a, "state", {"to": "converting"})
    for i in range(30):
        events.append(a, "progress", {"percent": i})
        events.append(b, "progress", {"percent": i})
    events.append(a, "state", {"to": "inspecting"})

    def count(sid: str, type: str) -> int:
        with engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(EventRow)
                .where(EventRow.session_id == sid, EventRow.type == type)
            ).scalar_one()

    assert 5 <= count(a, "progress") <= 5 + 4 - 1  # bounded between prunes
    assert count(a, "state") == 2
    assert events.prune(a) >= 0 and count(a, "progress") == 5  # an explicit prune is exact
    kept = [e.payload["percent"] for e in events.since(a) if e.type == "progress"]
    assert kept == [25, 26, 27, 28, 29]  # the newest survive
    latest = events.latest(a, "progress")
    assert latest is not None and latest.payload == {"percent": 29}
    assert events.prune(b, keep=0) >= 1 and count(b, "progress") == 0
    with pytest.raises(ValueError):
        EventRepo(engine, keep=-1)
