"""The executors with real worker processes and real recordings: conversion with progress, the FIFO line,
cancellation of waiting and running jobs, a worker killed mid-job, a user error inside the job, and the same
conversion and cancellation on a real Dask LocalCluster."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nwbagent.agents.contracts import ConvertRequest
from nwbagent.errors import UserFacingError
from nwbagent.formats import detect
from nwbagent.metadata import from_user
from nwbagent.sample import make_spikeglx_sample
from nwbagent.server.executors import make_executor
from nwbagent.server.executors.base import Executor
from nwbagent.server.executors.dask import DaskExecutor
from nwbagent.server.executors.local import LocalExecutor
from nwbagent.server.jobs import JobOutcome, JobSpec
from nwbagent.settings import Settings

USER = {
    "subject_id": "M12",
    "species": "house mouse",
    "sex": "male",
    "age": "12 weeks",
    "session_start_time": "2021-09-20T10:00:00+02:00",
}


# ---- fixtures -------------------------------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


@pytest.fixture(scope="module")
def real_src(ephy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real")
    return _copy(ephy_data / "spikeglx" / "TEST_20210920_0_g0", root / "TEST_20210920_0_g0")


@pytest.fixture(scope="module")
def long_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of Neuropixels AP+LF (~480 MB). Jobs that must still be writing when cancelled convert it with
    NeuroConv's writer (``long_spec``): ~10 s, where the direct-chunk writer takes ~1 s."""
    return make_spikeglx_sample(tmp_path_factory.mktemp("long"), 20.0)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(1)
    yield executor
    executor.shutdown()


def long_spec(source: Path, output_dir: Path) -> JobSpec:
    return spec_for(source, output_dir, fast_write=False)


def spec_for(
    source: Path, output_dir: Path, *, kind: str = "convert", fast_write: bool | None = None
) -> JobSpec:
    request = ConvertRequest(
        source=str(source),
        units=detect(source).units,
        layers=[from_user(USER)],
        output_dir=str(output_dir),
        stub=False,
        fast_write=fast_write,
    )
    return JobSpec(
        job_id=uuid.uuid4().hex,
        session_id=f"s-{uuid.uuid4().hex[:6]}",
        kind="convert" if kind == "convert" else "preview",
        request=request.model_dump(mode="json"),
    )


class Background:
    """``executor.run`` in a thread, as the service calls it, recording progress with arrival times."""

    def __init__(self, executor: Executor, spec: JobSpec) -> None:
        self.spec = spec
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.outcome: JobOutcome | None = None
        self.ended_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(executor,), daemon=True)
        self._thread.start()

    def _run(self, executor: Executor) -> None:
        self.outcome = executor.run(self.spec, lambda e: self.events.append((time.monotonic(), e)))
        self.ended_at = time.monotonic()

    def stages(self) -> list[str]:
        return [e["stage"] for _, e in self.events]

    def wait(self, timeout: float) -> JobOutcome:
        self._thread.join(timeout)
        assert self.outcome is not None, f"job {self.spec.job_id} did not end within {timeout} s"
        return self.outcome


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def leftovers(folder: Path) -> list[Path]:
    """Anything a stopped conversion could have left: temporary names and finished outputs alike."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if ".partial" in p.name or p.suffix == ".nwb"]


def writing(job: Background) -> bool:
    return any(e["stage"] == "writing" for _, e in job.events)


# ---- LocalExecutor ------------------------------------------------------------------------------------


def test_local_converts_a_real_recording_with_progress(
    local: LocalExecutor, real_src: Path, tmp_path: Path
) -> None:
    job = Background(local, spec_for(real_src, tmp_path / "out"))
    outcome = job.wait(120)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.reply is not None
    nwb = Path(outcome.reply["outputs"][0]["nwb"])
    assert nwb.exists() and nwb.parent.parent == tmp_path / "out"
    stages = job.stages()
    assert stages[0] == "worker_started"
    assert "starting" in stages and stages[-1] == "written"
    last = job.events[-1][1]
    assert last["percent"] == 100.0 and last["done_bytes"] == last["total_bytes"] == 1000 * 385 * 2
    # worker → callback well under a second
    assert all(arrived_wall - e["sent_at"] < 1.0 for arrived_wall, e in _wall(job.events))
    # ≤ 5 callbacks per second
    times = [t for t, _ in job.events]
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))
    health = local.health()
    assert health["ok"] and health["running"] == 0 and health["workers_alive"] == 0
    assert health["preload_missing"] == []
    assert not [p for p in (tmp_path / "out").rglob("*") if ".partial" in p.name]


def _wall(events: list[tuple[float, dict[str, Any]]]) -> list[tuple[float, dict[str, Any]]]:
    """Arrival times on the wall clock, comparable with the worker's ``sent_at``."""
    offset = time.time() - time.monotonic()
    return [(t + offset, e) for t, e in events]


def test_local_second_job_starts_fast_thanks_to_preload(
    local: LocalExecutor, real_src: Path, tmp_path: Path
) -> None:
    """The fork server has neuroconv & co. imported: a job's worker runs within a fraction of a second."""
    outcome = local.run(spec_for(real_src, tmp_path / "out"), lambda e: None)
    assert outcome.status == "succeeded", outcome.error
    assert local.start_latencies[-1] < 0.5, local.start_latencies


def test_local_line_positions_and_cancelling_queued_and_running_jobs(
    local: LocalExecutor, long_src: Path, real_src: Path, tmp_path: Path
) -> None:
    long_out = tmp_path / "long"
    first = Background(local, long_spec(long_src, long_out))
    wait_for(lambda: local.health()["workers_alive"] == 1, 30, "the long job to start")
    second = Background(local, spec_for(real_src, tmp_path / "second"))
    wait_for(lambda: len(local.queue()) == 2, 5, "the second job to queue")
    third = Background(local, spec_for(real_src, tmp_path / "third"))
    wait_for(lambda: len(local.queue()) == 3, 5, "the third job to queue")

    line = local.queue()
    assert [(e.job_id, e.status, e.position) for e in line] == [
        (first.spec.job_id, "running", None),
        (second.spec.job_id, "queued", 1),
        (third.spec.job_id, "queued", 2),
    ]
    assert local.health()["queued"] == 2

    # A waiting job leaves the line at once; the one behind it moves up.
    assert local.cancel(third.spec.job_id)
    assert third.wait(2).status == "cancelled"
    assert [(e.job_id, e.position) for e in local.queue()] == [
        (first.spec.job_id, None),
        (second.spec.job_id, 1),
    ]

    # A running job is stopped mid-write, its process is gone and it leaves nothing behind.
    wait_for(lambda: writing(first), 60, "the long job to write")
    pid = local.health()["worker_pids"][first.spec.job_id]
    asked = time.monotonic()
    assert local.cancel(first.spec.job_id)
    assert not local.cancel(first.spec.job_id)  # a second cancel changes nothing
    assert first.wait(10).status == "cancelled"
    assert first.ended_at is not None and first.ended_at - asked < 5.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert leftovers(long_out) == []

    # The freed slot goes to the next in line.
    assert second.wait(60).status == "succeeded"
    assert local.queue() == []
    assert not local.cancel("no-such-job")


def test_local_worker_killed_mid_job_fails_with_worker_died(
    local: LocalExecutor, long_src: Path, tmp_path: Path
) -> None:
    job = Background(local, long_spec(long_src, tmp_path / "out"))
    wait_for(lambda: writing(job), 60, "the job to write")
    os.kill(local.health()["worker_pids"][job.spec.job_id], signal.SIGKILL)
    outcome = job.wait(10)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "worker_died"
    assert "SIGKILL" in outcome.error["message"] and "exit code -9" in outcome.error["message"]
    assert outcome.error["hint"]
    assert leftovers(tmp_path / "out") == []
    assert local.health()["running"] == 0


def test_local_user_error_in_the_job_is_a_failed_outcome(
    local: LocalExecutor, ephy_data: Path, tmp_path: Path
) -> None:
    src = _copy(ephy_data / "spikeglx" / "TEST_20210920_0_g0", tmp_path / "src" / "TEST_20210920_0_g0")
    spec = spec_for(src, tmp_path / "out")  # detected while the .bin was there
    next(src.glob("*.bin")).unlink()
    outcome = local.run(spec, lambda e: None)
    assert outcome.status == "failed" and outcome.error is not None
    # the error's own code survives the worker, its category beside it
    assert outcome.error["code"] == "read_failed" and outcome.error["kind"] == "user_error"
    assert "data file" in outcome.error["message"] and outcome.error["hint"]


def test_local_shutdown_cancels_what_runs_and_refuses_new_jobs(long_src: Path, tmp_path: Path) -> None:
    executor = LocalExecutor(1)
    job = Background(executor, long_spec(long_src, tmp_path / "out"))
    wait_for(lambda: executor.health()["workers_alive"] == 1, 30, "the job to start")
    executor.shutdown()
    assert job.wait(1).status == "cancelled"
    assert not executor.health()["ok"]
    refused = executor.run(spec_for(long_src, tmp_path / "again"), lambda e: None)
    assert refused.status == "failed" and refused.error and refused.error["code"] == "executor_closed"


# ---- make_executor ------------------------------------------------------------------------------------


def test_make_executor_local_and_dask_misconfigured() -> None:
    executor = make_executor(Settings(executor="local", max_concurrent_conversions=2))
    try:
        assert isinstance(executor, LocalExecutor)
        assert executor.health()["slots"] == 2
    finally:
        executor.shutdown()
    with pytest.raises(UserFacingError) as missing:
        make_executor(Settings(executor="dask", dask_scheduler=None))
    assert missing.value.code == "dask_not_configured"
    started = time.monotonic()
    with pytest.raises(UserFacingError) as unreachable:
        make_executor(Settings(executor="dask", dask_scheduler="tcp://127.0.0.1:9"))
    assert unreachable.value.code == "dask_unreachable"
    assert time.monotonic() - started < 15


# ---- DaskExecutor -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskExecutor(client)
        yield executor
        executor.shutdown()


def test_dask_converts_a_real_recording_with_progress(
    dask_executor: DaskExecutor, real_src: Path, tmp_path: Path
) -> None:
    health = dask_executor.health()
    assert health["ok"] and health["workers"] == 1 and health["slots"] == 1
    assert health["scheduler"].startswith("tcp://")
    job = Background(dask_executor, spec_for(real_src, tmp_path / "out"))
    outcome = job.wait(120)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.reply is not None and Path(outcome.reply["outputs"][0]["nwb"]).exists()
    stages = job.stages()
    assert stages[0] == "worker_started" and stages[-1] == "written", stages
    assert job.events[-1][1]["percent"] == 100.0
    assert all(arrived - e["sent_at"] < 1.0 for arrived, e in _wall(job.events))
    assert dask_executor.queue() == []


def test_dask_cancels_a_running_and_a_queued_job(
    dask_executor: DaskExecutor, long_src: Path, real_src: Path, tmp_path: Path
) -> None:
    first = Background(dask_executor, long_spec(long_src, tmp_path / "long"))
    second = Background(dask_executor, spec_for(real_src, tmp_path / "second"))
    wait_for(lambda: len(dask_executor.queue()) == 2, 10, "both jobs to be known")
    assert [e.position for e in dask_executor.queue()] == [None, 1]
    assert dask_executor.cancel(second.spec.job_id)
    assert second.wait(2).status == "cancelled"

    wait_for(lambda: writing(first), 60, "the long job to write")
    asked = time.monotonic()
    assert dask_executor.cancel(first.spec.job_id)
    assert first.wait(20).status == "cancelled"
    assert first.ended_at is not None
    print(f"dask cancel took {first.ended_at - asked:.2f} s")
    assert first.ended_at - asked < 10.0
    wait_for(lambda: leftovers(tmp_path / "long") == [], 10, "the worker to remove its temporary file")
    assert dask_executor.queue() == []


def test_job_cancelled_from_the_progress_sink_is_a_cancelled_outcome(long_src: Path, tmp_path: Path) -> None:
    """convert_units wraps exceptions from the write; a cancel raised by the sink must still read as one."""
    from nwbagent.server.jobs import JobCancelled, run_conversion_job

    def sink(event: dict[str, Any]) -> None:
        if event["stage"] == "writing":
            raise JobCancelled("test")

    out = tmp_path / "out"
    result = run_conversion_job(long_spec(long_src, out).request, sink)
    assert result["status"] == "cancelled", result
    assert leftovers(out) == []
