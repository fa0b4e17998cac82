"""Sessions survive JSON, stores hand out copies and refuse stale writes, files outlive processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nwbagent.agents.state import (
    AutoFix,
    ChatTurn,
    NwbSummary,
    Question,
    SessionState,
    State,
)
from nwbagent.agents.store import (
    InMemoryStore,
    JsonFileStore,
    SessionExists,
    SessionNotFound,
    SessionStore,
    StaleSession,
)
from nwbagent.agents.workflow import Workflow
from nwbagent.convert.run import file_metadata, select_units
from nwbagent.errors import UserFacingError
from nwbagent.formats.detect import detect
from nwbagent.llm.base import Usage
from nwbagent.metadata import from_user

SPIKEGLX = Path("spikeglx/TEST_20210920_0_g0")


@pytest.fixture(scope="module")
def rich(ephy_data: Path) -> SessionState:
    """A session that has been through every kind of step, built from a real recording."""
    source = ephy_data / SPIKEGLX
    wf = Workflow(max_improve_rounds=3)
    session = SessionState(source_paths=[str(source)], output_dir="/tmp/out")
    wf.transition(session, State.files_received, actor="user", reason="uploaded", input={"path": source})
    session.detection = detect(source)
    session.selected_units = select_units(session.detection)
    wf.transition(session, State.detected, actor="conversion", reason="SpikeGLX", input=session.detection)
    session.metadata_layers = file_metadata(session.selected_units, source)
    session.metadata_layers["user"] = from_user({"subject_id": "M12", "species": "mouse", "sex": "F"})
    session.metadata_layers["user-text"] = from_user({"age": "12 weeks"}, evidence="said in chat")
    session.metadata_layers["user-text"].age.source = "user-text"  # type: ignore[union-attr]
    wf.transition(session, State.collecting_metadata, actor="conversation", reason="ask")
    session.questions = [
        Question(field="age", text="How old?", example="P90D", importance="CRITICAL", answered=True),
        Question(field="lab", text="Lab?", example="Smith Lab", importance="BEST_PRACTICE_SUGGESTION"),
    ]
    session.auto_fixes = [
        AutoFix(field="species", before="mouse", after="Mus musculus", reason="common name")
    ]
    session.chat = [
        ChatTurn(role="user", text="It's a 12 week old female mouse, M12 — ünïcode ok?"),
        ChatTurn(role="assistant", text="Thanks! Which lab?", agent="conversation"),
    ]
    session.usage = Usage(input_tokens=1200, output_tokens=300, cost_usd=0.0123, calls=2, retries=1)
    session.llm_notes = ["age given as '12 weeks' normalized to P84D"]
    wf.transition(session, State.previewing, actor="conversion", reason="stub")
    session.preview = NwbSummary(
        nwb_path="/tmp/out/preview.nwb", verdict="PASSED_WITH_ISSUES", findings={"a": 1}
    )
    wf.transition(session, State.ready, actor="evaluation", reason="preview ok")
    wf.transition(session, State.converting, actor="user", reason="go")
    session.output = NwbSummary(
        nwb_path="/tmp/out/sub-M12.nwb",
        verdict="PASSED",
        findings={"CRITICAL": 0},
        values={"subject_id": "M12"},
    )
    wf.transition(session, State.inspecting, actor="conversion", reason="written")
    wf.transition(session, State.passed, actor="evaluation", reason="clean")
    wf.transition(session, State.improving, actor="user", reason="add the lab")
    return session


def test_rich_state_json_round_trip(rich: SessionState) -> None:
    assert rich.detection is not None and rich.detection.units
    assert set(rich.metadata_layers) == {"default", "inferred", "file", "user", "user-text"}
    dumped = rich.model_dump(mode="json")
    text = json.dumps(dumped)  # plain JSON, no custom encoder

    again = SessionState.model_validate(json.loads(text))
    assert again == rich
    assert SessionState.from_json(rich.to_json()) == rich
    assert again.merged_metadata() == rich.merged_metadata()
    merged = again.merged_metadata()
    assert merged.subject_id is not None and merged.subject_id.value == "M12"
    assert merged.age is not None and (merged.age.value, merged.age.source) == ("P84D", "user-text")
    start = merged.session_start_time
    assert start is not None and start.source == "file"
    assert isinstance(start.value, datetime) and start.value.tzinfo is not None  # not a string after JSON
    assert isinstance(start.overridden[0].value, datetime)  # the trail too (the date in the folder name)
    assert again.selected_units[0].interface == "SpikeGLXRecordingInterface"
    assert again.trace[0].input == {"path": rich.source_paths[0]}
    assert again.trace[1].input["units"][0]["interface"] == "SpikeGLXRecordingInterface"
    assert again.improve_rounds == 1 and again.state is State.improving
    assert again.open_questions() == [rich.questions[1]]
    assert dumped["schema_version"] == 1


def test_datetimes_restored_but_raw_errors_kept() -> None:
    layer = from_user({"session_start_time": "2021-09-20T14:13:34+02:00"})
    bad = from_user({"date_of_birth": "2021-13-45"})
    assert bad.date_of_birth is not None and bad.date_of_birth.error is not None
    session = SessionState(metadata_layers={"user": layer, "user-text": bad})
    again = SessionState.from_json(session.to_json())
    start = again.metadata_layers["user"].session_start_time
    assert start is not None and start.value == datetime(2021, 9, 20, 12, 13, 34, tzinfo=UTC)
    assert again.metadata_layers["user-text"].values() == {"date_of_birth": "2021-13-45"}


def test_ids_are_unguessable_and_distinct() -> None:
    ids = {SessionState().id for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) >= 21 for i in ids)  # 16 random bytes


def test_newer_schema_is_refused_older_needs_no_guess() -> None:
    data = SessionState().model_dump(mode="json")
    data["schema_version"] = 99
    with pytest.raises(UserFacingError) as caught:
        SessionState.from_json(json.dumps(data))
    assert caught.value.code == "session_too_new"


StoreFactory = Callable[[Path], SessionStore]
STORES: dict[str, StoreFactory] = {
    "memory": lambda _: InMemoryStore(),
    "files": lambda folder: JsonFileStore(folder / "sessions"),
}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SessionStore:
    return STORES[request.param](tmp_path)


def test_store_protocol(store: SessionStore) -> None:
    assert isinstance(store, SessionStore)


def test_crud(store: SessionStore, rich: SessionState) -> None:
    state = rich.model_copy(deep=True)
    store.create(state)
    other = SessionState()
    store.create(other)
    assert store.list_ids() == sorted([state.id, other.id])
    assert store.get(state.id) == state
    with pytest.raises(SessionExists):
        store.create(state)

    store.delete(other.id)
    assert store.list_ids() == [state.id]
    for missing in (other.id, "nope", "../../etc/passwd", ""):
        with pytest.raises(SessionNotFound) as caught:
            store.get(missing)
        assert caught.value.code == "session_not_found"
    with pytest.raises(SessionNotFound):
        store.delete(other.id)
    with pytest.raises(SessionNotFound):
        store.save(other)
    with pytest.raises(UserFacingError, match="not a valid session id"):
        store.create(SessionState(id="../escape"))


def test_fetched_copies_are_isolated(store: SessionStore) -> None:
    original = SessionState(source_paths=["/a"])
    store.create(original)
    original.source_paths.append("/changed-after-create")

    fetched = store.get(original.id)
    assert fetched.source_paths == ["/a"]
    fetched.source_paths.append("/b")
    fetched.state = State.files_received
    assert store.get(original.id).source_paths == ["/a"]
    assert store.get(original.id).state is State.created

    store.save(fetched)
    assert store.get(original.id).source_paths == ["/a", "/b"]
    assert store.get(original.id) is not store.get(original.id)


def test_save_bumps_revision_and_refuses_stale_copies(store: SessionStore) -> None:
    state = SessionState()
    store.create(state)
    first, second = store.get(state.id), store.get(state.id)
    assert first.revision == second.revision == 0

    first.llm_notes.append("first")
    before = first.updated_at
    store.save(first)
    assert first.revision == 1 and first.updated_at > before
    assert store.get(state.id).revision == 1

    second.llm_notes.append("second")
    with pytest.raises(StaleSession) as caught:
        store.save(second)
    assert (caught.value.expected, caught.value.stored) == (0, 1)
    assert "Reload the session" in str(caught.value)
    assert second.revision == 0  # a refused save leaves the copy as it was
    assert store.get(state.id).llm_notes == ["first"]

    store.save(first)  # the holder of the latest revision keeps going
    assert store.get(state.id).revision == 2


def test_concurrent_writers_lose_nothing(store: SessionStore) -> None:
    state = SessionState()
    store.create(state)
    per_thread, threads = 10, 4

    def work(name: str) -> None:
        for i in range(per_thread):
            while True:
                copy = store.get(state.id)
                copy.llm_notes.append(f"{name}-{i}")
                try:
                    store.save(copy)
                    break
                except StaleSession:
                    continue

    workers = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    final = store.get(state.id)
    assert final.revision == per_thread * threads
    assert len(final.llm_notes) == per_thread * threads


def test_json_file_store_survives_a_restart(tmp_path: Path, rich: SessionState) -> None:
    folder = tmp_path / "sessions"
    first = JsonFileStore(folder)
    state = rich.model_copy(deep=True)
    first.create(state)
    first.save(state)

    reborn = JsonFileStore(folder)  # a new process would start exactly like this
    assert reborn.list_ids() == [state.id]
    assert reborn.get(state.id) == state
    assert {p.name for p in folder.iterdir()} == {".lock", f"{state.id}.json"}  # no temp files left


def test_json_file_store_read_and_written_by_another_process(tmp_path: Path, rich: SessionState) -> None:
    folder = tmp_path / "sessions"
    store = JsonFileStore(folder)
    state = rich.model_copy(deep=True)
    store.create(state)
    script = """
import json, sys
from nwbagent.agents.store import JsonFileStore
from nwbagent.agents.workflow import Workflow
store = JsonFileStore(sys.argv[1])
session = store.get(sys.argv[2])
Workflow(max_improve_rounds=3).transition(session, "previewing", actor="other-process", reason="restart")
store.save(session)
print(json.dumps({"state": session.state.value, "units": len(session.detection.units),
                  "subject": session.merged_metadata().subject_id.value, "revision": session.revision}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), state.id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert rich.detection is not None
    assert json.loads(done.stdout) == {
        "state": "previewing",
        "units": len(rich.detection.units),
        "subject": "M12",
        "revision": 1,
    }
    after = store.get(state.id)
    assert after.state is State.previewing and after.trace[-1].actor == "other-process"
    with pytest.raises(StaleSession):
        store.save(state)  # our copy predates the other process's save


def test_json_file_store_ignores_leftover_temp_files(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    (tmp_path / ".abc.123.tmp").write_text("{half a docu")
    (tmp_path / "notes.txt").write_text("not a session")
    assert store.list_ids() == []
