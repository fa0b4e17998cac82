"""The Conversation agent understanding people (issue 15): real agents, rules provider, a real recording.

A correction changes the saved value and the reply says from what; an unsure id is asked back, "yes"
saves it and "no" drops it, also across a restart (the question is stored with the session); a value never
swallows the next field, so the DANDI file name stays clean.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from nwbagent.agents.commands import StartRequest, UserMessageRequest
from nwbagent.agents.state import SessionState, State
from nwbagent.agents.store import JsonFileStore
from nwbagent.agents.system import AgentSystem
from nwbagent.agents.view import Turn
from nwbagent.llm.rules_provider import RulesProvider


@pytest.fixture
def recording(ephy_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def _say(system: AgentSystem, session_id: str, text: str) -> Turn:
    return asyncio.run(system.send(session_id, "user_message", UserMessageRequest(text=text)))


def _started(tmp_path: Path, recording: Path) -> tuple[AgentSystem, str]:
    system = AgentSystem(store=JsonFileStore(tmp_path / "sessions"), provider=RulesProvider())
    session = system.new_session(output_dir=str(tmp_path / "out"))
    turn = asyncio.run(system.send(session.id, "start", StartRequest(source=str(recording))))
    assert turn.state is State.collecting_metadata, turn.replies
    return system, session.id


def _values(system: AgentSystem, session_id: str) -> dict[str, object]:
    return system.store.get(session_id).merged_metadata().values()


def test_the_issue_chat_saves_clean_values_and_applies_the_correction(
    recording: Path, tmp_path: Path
) -> None:
    system, sid = _started(tmp_path, recording)
    turn = _say(
        system, sid, "Maria Garcia recorded a 12 week old female C57BL/6J mouse, ID M-042, at Stanford"
    )
    values = _values(system, sid)
    assert values["subject_id"] == "M-042" and values["experimenter"] == ["Garcia, Maria"]
    assert values["sex"] == "F" and values["institution"] == "Stanford University"
    assert turn.state is State.ready, turn.replies  # nothing critical left: the preview ran and passed

    turn = _say(system, sid, "Sorry, correction: the mouse was male, not female.")
    assert "Changed sex: F → M." in turn.replies
    assert not any(r.startswith("Noted:") for r in turn.replies)  # species did not change: not re-noted
    assert _values(system, sid)["sex"] == "M"
    assert turn.state is State.ready, turn.replies  # re-checked and previewed again with the new value

    turn = _say(system, sid, "The mouse ID is M-043 and the experimenter was Tom Becker")
    assert any("subject_id: M-042 → M-043" in r for r in turn.replies), turn.replies
    values = _values(system, sid)
    assert values["subject_id"] == "M-043" and values["experimenter"] == ["Becker, Tom"]
    assert turn.preview is not None and "sub-M-043" in turn.preview.nwb_path


def test_an_unsure_id_is_asked_back_yes_saves_it_no_drops_it(recording: Path, tmp_path: Path) -> None:
    system, sid = _started(tmp_path, recording)
    turn = _say(system, sid, "M17, F, 9 weeks, mouse")
    assert turn.replies[-1].startswith("Is the subject id 'M17'?"), turn.replies
    assert "subject_id" not in _values(system, sid)
    stored = system.store.get(sid)
    assert [p.value for p in stored.pending_confirmations] == ["M17"]

    # a restart between question and answer: the question was stored with the session
    system = AgentSystem(store=JsonFileStore(tmp_path / "sessions"), provider=RulesProvider())
    turn = _say(system, sid, "yes")
    assert _values(system, sid)["subject_id"] == "M17"
    assert system.store.get(sid).pending_confirmations == []
    assert turn.state is State.ready, turn.replies

    system2, sid2 = _started(tmp_path / "second", recording)
    _say(system2, sid2, "M17, F, 9 weeks, mouse")
    turn = _say(system2, sid2, "no")
    assert "OK, I did not save subject id = M17." in turn.replies
    assert "subject_id" not in _values(system2, sid2)
    assert turn.state is State.collecting_metadata  # still needs a subject id, and asks for it


def test_stored_sessions_without_pending_confirmations_still_load() -> None:
    raw = SessionState().model_dump(mode="json")
    raw.pop("pending_confirmations")
    assert SessionState.model_validate(raw).pending_confirmations == []
