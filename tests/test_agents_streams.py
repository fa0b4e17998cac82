"""The agents on folders that need more than metadata: a value the files lack, parts of a multi-acquisition
folder, a reading none of whose candidates fits, and streams left out with their fix. Real agents, rules
provider, real readers on the robustness corpus; no step may end in a state without a way forward."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

import corpus
from nwbagent.agents.commands import CommandRequest, StartRequest, UserMessageRequest
from nwbagent.agents.state import State
from nwbagent.agents.store import JsonFileStore
from nwbagent.agents.system import AgentSystem
from nwbagent.agents.view import Turn
from nwbagent.llm.rules_provider import RulesProvider

SUBJECT = "The mouse is M12, a 12 week old male mouse."


@pytest.fixture
def system(tmp_path: Path) -> AgentSystem:
    return AgentSystem(store=JsonFileStore(tmp_path / "sessions"), provider=RulesProvider())


def _send(system: AgentSystem, session_id: str, action: str, payload: Any) -> Turn:
    return asyncio.run(system.send(session_id, action, payload))


def _start(system: AgentSystem, source: Path, out: Path) -> tuple[str, Turn]:
    session = system.new_session(output_dir=str(out))
    return session.id, _send(system, session.id, "start", StartRequest(source=str(source)))


def _say(system: AgentSystem, session_id: str, text: str) -> Turn:
    return _send(system, session_id, "user_message", UserMessageRequest(text=text))


def _whitematter(ephy_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "wm"
    folder.mkdir()
    real = next((ephy_data / "whitematter").glob("*.bin"))
    shutil.copy(real, folder / "HSW_2024_12_12__10_28_23__70min_17sec__hsamp_64ch_stub.bin")
    return folder


def test_a_missing_value_is_asked_answered_in_chat_and_converts(
    system: AgentSystem, ephy_data: Path, tmp_path: Path
) -> None:
    sid, turn = _start(system, _whitematter(ephy_data, tmp_path), tmp_path / "out")
    assert turn.state is State.collecting_metadata, turn.replies
    (value,) = [q for q in turn.questions if q.kind == "value"]
    assert value.name == "sampling_frequency" and value.importance == "CRITICAL" and value.example == "25000"
    assert "sampling frequency" in value.text
    # a number inside a sentence about the animal is not taken for it
    turn = _say(system, sid, "It was a 12 week old mouse.")
    assert any(q.kind == "value" for q in turn.questions)
    turn = _say(system, sid, "25 kHz")
    assert not any(q.kind == "value" for q in turn.questions), turn.replies
    assert any("WhiteMatter Recording: sampling frequency (Hz) = 25000" in r for r in turn.replies), (
        turn.replies
    )
    session = system.store.get(sid)
    (unit,) = session.selected_units
    assert unit.kwargs["sampling_frequency"] == 25000.0 and unit.needs == []
    turn = _say(system, sid, SUBJECT + " Start time 2024-12-12 10:28:23 UTC.")
    assert turn.state in (State.ready, State.collecting_metadata), turn.replies
    if turn.state is State.ready:
        turn = _send(system, sid, "command", CommandRequest(command="convert"))
        assert turn.state in (State.passed, State.passed_with_issues, State.failed), turn.replies


def test_a_bad_value_is_refused_with_the_example(
    system: AgentSystem, ephy_data: Path, tmp_path: Path
) -> None:
    sid, _ = _start(system, _whitematter(ephy_data, tmp_path), tmp_path / "out")
    handle = system.store.get(sid).selected_units[0].kwargs["file_path"].rsplit("/", 1)[-1]
    turn = _send(system, sid, "set_values", {"values": {handle: {"sampling_frequency": "-3"}}})
    assert any("must be positive" in r and "25000" in r for r in turn.replies), turn.replies
    assert any(q.kind == "value" for q in turn.questions)


def test_only_one_experiment_of_a_node(system: AgentSystem, tmp_path: Path) -> None:
    node = corpus.build_openephys_multi_experiment(tmp_path / "case")
    sid, turn = _start(system, node, tmp_path / "out")
    assert any("3 separate acquisitions" in r for r in turn.replies), turn.replies
    turn = _say(system, sid, "only experiment 2 please")
    session = system.store.get(sid)
    assert {u.acquisition for u in session.selected_units} == {"experiment2"}, turn.replies
    assert session.parts == ["experiment2"]
    turn = _say(system, sid, SUBJECT)
    assert turn.state is State.ready, turn.replies
    turn = _send(system, sid, "command", CommandRequest(command="convert"))
    assert turn.state in (State.passed, State.passed_with_issues), turn.replies
    session = system.store.get(sid)
    assert [o.acquisition for o in session.outputs()] == ["experiment2"]
    assert "experiment2" in Path(session.outputs()[0].nwb_path).name


def test_every_experiment_becomes_its_own_file(system: AgentSystem, tmp_path: Path) -> None:
    node = corpus.build_openephys_multi_experiment(tmp_path / "case")
    sid, _ = _start(system, node, tmp_path / "out")
    turn = _say(system, sid, SUBJECT)
    assert turn.state is State.ready, turn.replies
    turn = _send(system, sid, "command", CommandRequest(command="convert"))
    session = system.store.get(sid)
    assert [o.acquisition for o in session.outputs()] == ["experiment1", "experiment2", "experiment3"]
    assert all(o.verdict in ("PASSED", "PASSED_WITH_ISSUES") for o in session.outputs())
    assert turn.state is State(session.verdict().lower())  # type: ignore[union-attr]
    assert all(Path(o.nwb_path).with_suffix(".report.html").is_file() for o in session.outputs())


def test_none_of_these_goes_back_to_files_with_a_way_forward(
    system: AgentSystem, ephy_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "abf"
    folder.mkdir()
    shutil.copy(ephy_data / "axon" / "File_axon_1.abf", folder)
    sid, turn = _start(system, folder, tmp_path / "out")
    assert turn.state is State.needs_format_choice
    choice = turn.replies[-1]
    assert "1." in choice and "2." in choice and "none of these" in choice
    turn = _say(system, sid, "none of these")
    assert turn.state is State.files_received
    assert any("other files" in r or "another folder" in r for r in turn.replies), turn.replies
    assert State.files_received in turn.allowed and State.abandoned in turn.allowed


def test_a_left_out_stream_is_said_with_its_fix_and_the_rest_converts(
    system: AgentSystem, ephy_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", folder)
    ap = folder / "TEST_20210920_0_g0_t0.imec0.ap.meta"
    (folder / "TEST_20210920_0_g0_t0.imec0.lf.meta").write_text(
        ap.read_text().replace(".imec0.ap.bin", ".imec0.lf.bin")
    )
    sid, turn = _start(system, folder, tmp_path / "out")
    left = [r for r in turn.replies if r.startswith("I left out imec0.lf")]
    assert left and "is missing next to it" in left[0] and "To bring it back" in left[0], turn.replies
    assert turn.state is State.collecting_metadata
    assert any(u.stream == "imec0.ap" for u in system.store.get(sid).selected_units)


def test_a_folder_with_nothing_convertible_says_what_to_do(system: AgentSystem, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("lab notes")
    _, turn = _start(system, folder, tmp_path / "out")
    assert turn.state is State.files_received
    assert "another folder" in turn.replies[-1] and "abandon" in turn.replies[-1]
    assert State.files_received in turn.allowed
