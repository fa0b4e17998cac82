"""The session state machine: every edge, every guard, the refusals and the trace they leave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest

from nwbagent.agents.state import NwbSummary, Question, SessionState, State
from nwbagent.agents.workflow import TERMINAL, IllegalTransition, Workflow, _always
from nwbagent.errors import UserFacingError
from nwbagent.formats.model import DetectionResult, Unit, Unsupported

S = State
LIMIT = 2
WF = Workflow(max_improve_rounds=LIMIT)


def _unit(confidence: float, interface: str = "SpikeGLXRecordingInterface") -> Unit:
    return Unit(
        interface=interface,
        kwargs={"folder_path": "/data/run_g0", "stream_id": "imec0.ap"},
        category="recording",
        confidence=confidence,
        disambiguation=None if confidence >= 0.5 else "open the folder in the acquisition software",
    )


def good(state: State) -> SessionState:
    """A session in ``state`` with everything a forward step could ask for: sure units, passing preview."""
    unit = _unit(0.95)
    return SessionState(
        state=state,
        source_paths=["/data/run_g0"],
        detection=DetectionResult(path="/data/run_g0", units=[unit]),
        selected_units=[unit],
        preview=NwbSummary(nwb_path="/out/preview.nwb", verdict="PASSED"),
        output=NwbSummary(nwb_path="/out/sub-M12.nwb", verdict="PASSED"),
    )


def _unsure(s: SessionState) -> None:
    assert s.detection is not None
    s.detection.units = [_unit(0.3), _unit(0.3, "OpenEphysRecordingInterface")]
    s.selected_units = []


def _verdict(v: str) -> Callable[[SessionState], None]:
    def set_(s: SessionState) -> None:
        assert s.output is not None
        s.output.verdict = v  # type: ignore[assignment]

    return set_


def _open_question(importance: str = "CRITICAL") -> Callable[[SessionState], None]:
    def set_(s: SessionState) -> None:
        s.questions.append(
            Question(field="subject_id", text="Subject id?", example="M12", importance=importance)  # type: ignore[arg-type]
        )

    return set_


#: What a legal step needs beyond ``good`` (keyed by edge).
SATISFY: dict[tuple[State, State], Callable[[SessionState], None]] = {
    (S.files_received, S.needs_format_choice): _unsure,
    (S.previewing, S.collecting_metadata): _open_question("BEST_PRACTICE_VIOLATION"),
    (S.converting, S.failed): lambda s: setattr(s, "output", None),
    (S.inspecting, S.passed_with_issues): _verdict("PASSED_WITH_ISSUES"),
    (S.inspecting, S.failed): _verdict("FAILED"),
    (S.passed_with_issues, S.accepted): _verdict("PASSED_WITH_ISSUES"),
    (S.failed, S.converting): lambda s: setattr(s, "output", None),  # cancelled/interrupted: no verdict
}


@pytest.mark.parametrize("edge", list(WF.edges), ids=lambda e: f"{e[0].value}->{e[1].value}")
def test_every_legal_transition(edge: tuple[State, State]) -> None:
    source, target = edge
    session = good(source)
    SATISFY.get(edge, lambda s: None)(session)
    assert target in WF.allowed(session)
    assert WF.explain(session, target) is None

    entry = WF.transition(session, target, actor="test", reason=f"to {target.value}")

    assert session.state is target
    assert session.trace == [entry]
    assert (entry.from_state, entry.to_state) == (source, target)


def _set(**fields: object) -> Callable[[SessionState], None]:
    def apply(s: SessionState) -> None:
        for name, value in fields.items():
            setattr(s, name, value)

    return apply


def _no_units(s: SessionState) -> None:
    s.detection = DetectionResult(
        path="/data/x", unsupported=[Unsupported(path="/data/x/a.plx", reason="Plexon 2 is not supported")]
    )
    s.selected_units = []


def _rounds(n: int) -> Callable[[SessionState], None]:
    return _set(improve_rounds=n)


def _preview(verdict: str | None) -> Callable[[SessionState], None]:
    return _set(preview=NwbSummary(nwb_path="/out/p.nwb", verdict=verdict))  # type: ignore[arg-type]


FAILURES: list[tuple[State, State, Callable[[SessionState], None], str]] = [
    (S.created, S.files_received, _set(source_paths=[]), "no files or folders were given"),
    (S.files_received, S.files_received, _set(source_paths=[]), "no files or folders were given"),
    (S.files_received, S.detected, _set(detection=None), "detection has not run yet"),
    (S.files_received, S.detected, _no_units, "nothing NeuroConv can convert (/data/x/a.plx: Plexon 2"),
    (S.files_received, S.detected, _unsure, "detection is unsure about every unit"),
    (S.files_received, S.detected, _set(format_choice_pending=True), "has not answered yet"),
    (S.files_received, S.detected, _set(selected_units=[]), "no detected unit is selected"),
    (S.files_received, S.needs_format_choice, lambda s: None, "detection is confident"),
    (S.files_received, S.needs_format_choice, _set(detection=None), "detection has not run yet"),
    (S.files_received, S.needs_format_choice, _no_units, "nothing NeuroConv can convert"),
    (S.needs_format_choice, S.detected, _set(format_choice_pending=True), "has not chosen a reader"),
    (S.needs_format_choice, S.detected, _set(selected_units=[]), "no detected unit is selected"),
    (S.detected, S.files_received, _set(source_paths=[]), "no files or folders"),
    (S.needs_format_choice, S.files_received, _set(source_paths=[]), "no files or folders"),
    (S.detected, S.collecting_metadata, _set(selected_units=[]), "no detected unit is selected"),
    (S.collecting_metadata, S.previewing, _set(selected_units=[]), "no detected unit is selected"),
    (S.previewing, S.collecting_metadata, lambda s: None, "the preview passed and no question is open"),
    (S.previewing, S.ready, _set(preview=None), "no preview has been made yet"),
    (S.previewing, S.ready, _preview(None), "the preview has not been inspected yet"),
    (S.previewing, S.ready, _preview("FAILED"), "the preview failed NWB Inspector"),
    (S.previewing, S.ready, _open_question(), "critical questions are unanswered (subject_id)"),
    (S.ready, S.converting, _open_question(), "critical questions are unanswered"),
    (S.ready, S.converting, _preview("FAILED"), "the preview failed"),
    (S.converting, S.inspecting, _set(output=None), "the conversion has not written a file"),
    (S.converting, S.failed, lambda s: None, "the conversion wrote a file"),
    (S.inspecting, S.passed, _verdict("FAILED"), "verdict is FAILED, not PASSED"),
    (S.inspecting, S.passed, _set(output=None), "verdict is not available yet, not PASSED"),
    (S.inspecting, S.passed_with_issues, _verdict("PASSED"), "verdict is PASSED, not PASSED_WITH_ISSUES"),
    (S.inspecting, S.failed, _verdict("PASSED"), "verdict is PASSED, not FAILED"),
    (S.passed, S.accepted, _set(output=None), "only a file that passed inspection can be accepted"),
    (S.passed_with_issues, S.accepted, _verdict("FAILED"), "can be accepted (verdict: FAILED)"),
    (S.passed, S.improving, _rounds(LIMIT), "improved 2 times, the limit"),
    (S.passed_with_issues, S.improving, _rounds(LIMIT), "NWBAGENT_MAX_IMPROVE_ROUNDS=2"),
    (S.failed, S.improving, _rounds(LIMIT + 1), "improved 3 times"),
    (S.failed, S.converting, _verdict("FAILED"), "judged FAILED; ask to improve it"),
    (S.failed, S.converting, _set(output=None, preview=None), "no preview has been made yet"),
    (S.improving, S.previewing, _set(selected_units=[]), "no detected unit is selected"),
]


@pytest.mark.parametrize(
    ("source", "target", "spoil", "message"),
    FAILURES,
    ids=[f"{s.value}->{t.value}:{m[:30]}" for s, t, _, m in FAILURES],
)
def test_every_guard_failing(
    source: State, target: State, spoil: Callable[[SessionState], None], message: str
) -> None:
    session = good(source)
    spoil(session)
    before = session.model_copy(deep=True)

    assert target not in WF.allowed(session)
    explanation = WF.explain(session, target)
    assert explanation is not None and message in explanation
    with pytest.raises(IllegalTransition) as caught:
        WF.transition(session, target, actor="test", reason="should fail")

    err = caught.value
    assert isinstance(err, UserFacingError)
    assert err.problem == f"Cannot go from '{source.value}' to '{target.value}': {explanation}."
    assert err.fix == f"Possible now: {', '.join(s.value for s in WF.allowed(session)) or 'none'}."
    assert (err.from_state, err.to_state, err.why) == (source, target, explanation)
    assert err.possible == WF.allowed(session)
    assert session == before  # a refused step changes nothing


def test_every_guarded_edge_has_a_failing_case() -> None:
    guarded = {edge for edge, spec in WF.edges.items() if spec.guard is not _always}
    assert guarded == {(s, t) for s, t, _, _ in FAILURES}


def test_unguarded_edges_are_only_the_documented_ones() -> None:
    unguarded = {edge for edge, spec in WF.edges.items() if spec.guard is _always}
    expected = {(s, S.abandoned) for s in State if s not in TERMINAL}
    expected |= {(S.ready, S.collecting_metadata), (S.improving, S.collecting_metadata)}
    assert unguarded == expected


def test_states_are_exactly_the_fifteen() -> None:
    assert [s.value for s in State] == [
        "created", "files_received", "detected", "needs_format_choice", "collecting_metadata",
        "previewing", "ready", "converting", "inspecting", "passed", "passed_with_issues", "failed",
        "improving", "accepted", "abandoned",
    ]  # fmt: skip


def test_created_to_converting_is_refused_with_the_allowed_list() -> None:
    session = SessionState()
    with pytest.raises(IllegalTransition) as caught:
        WF.transition(session, S.converting, actor="user", reason="skip ahead")
    assert str(caught.value) == (
        "Cannot go from 'created' to 'converting': allowed next states are files_received, abandoned. "
        "Fix: Take one of those steps first."
    )
    assert caught.value.allowed == [S.files_received, S.abandoned]
    assert caught.value.possible == [S.abandoned]  # files_received needs a file first
    assert caught.value.to_dict()["allowed"] == ["files_received", "abandoned"]
    assert caught.value.code == "illegal_transition"
    assert session.state is S.created and session.trace == []


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(State))
def test_terminal_states_have_no_way_out(terminal: State, target: State) -> None:
    session = good(terminal)
    assert WF.allowed(session) == []
    with pytest.raises(IllegalTransition) as caught:
        WF.transition(session, target, actor="user", reason="again")
    assert f"'{terminal.value}' is final, no state follows it" in str(caught.value)
    assert caught.value.allowed == []
    assert "Start a new session" in caught.value.fix


def test_failed_file_cannot_be_accepted() -> None:
    session = good(S.failed)
    assert session.output is not None
    session.output.verdict = "FAILED"
    with pytest.raises(IllegalTransition) as caught:
        WF.transition(session, S.accepted, actor="user", reason="good enough")
    assert "allowed next states are converting, improving, abandoned" in str(caught.value)
    # Retrying the same conversion is pointless once a file was judged FAILED: only improve or abandon.
    assert caught.value.possible == [S.improving, S.abandoned]


def test_illegal_skips_are_refused() -> None:
    for source, target in [
        (S.files_received, S.previewing),
        (S.detected, S.ready),
        (S.collecting_metadata, S.converting),
        (S.previewing, S.converting),
        (S.improving, S.converting),
        (S.inspecting, S.accepted),
        (S.converting, S.passed),
    ]:
        assert (source, target) not in WF.edges
        with pytest.raises(IllegalTransition, match="allowed next states are"):
            WF.transition(good(source), target, actor="test", reason="skip")


def test_any_non_terminal_state_can_be_abandoned() -> None:
    for state in State:
        if state not in TERMINAL:
            session = SessionState(state=state)  # nothing else set: abandoning needs nothing
            WF.transition(session, S.abandoned, actor="user", reason="not today")
            assert session.state is S.abandoned


def _walk(session: SessionState, *targets: State, verdict: str = "PASSED") -> None:
    """Take the steps, filling in what the agents would (preview, output) right after entering a state."""
    for target in targets:
        WF.transition(session, target, actor="agent", reason=f"to {target.value}")
        if target is S.previewing:
            session.preview = NwbSummary(nwb_path="/out/preview.nwb", verdict="PASSED_WITH_ISSUES")
        if target is S.converting:
            session.output = NwbSummary(nwb_path="/out/file.nwb", verdict=verdict)  # type: ignore[arg-type]


def test_happy_path_records_the_whole_story() -> None:
    session = SessionState()
    session.source_paths = ["/data/run_g0"]
    WF.transition(session, S.files_received, actor="user", reason="uploaded")
    unit = _unit(0.95)
    session.detection = DetectionResult(path="/data/run_g0", units=[unit])
    session.selected_units = [unit]
    _walk(session, S.detected, S.collecting_metadata, S.previewing, S.ready, S.converting, S.inspecting)
    _walk(session, S.passed, S.accepted)

    assert [e.to_state for e in session.trace] == [
        S.files_received, S.detected, S.collecting_metadata, S.previewing, S.ready, S.converting,
        S.inspecting, S.passed, S.accepted,
    ]  # fmt: skip
    assert [e.from_state for e in session.trace[1:]] == [e.to_state for e in session.trace[:-1]]
    assert session.updated_at == session.trace[-1].at


def test_format_choice_round_trip() -> None:
    session = good(S.files_received)
    _unsure(session)
    assert WF.allowed(session) == [S.files_received, S.needs_format_choice, S.abandoned]
    WF.transition(session, S.needs_format_choice, actor="conversation", reason="two readers fit")
    assert (
        WF.explain(session, S.detected) == "no detected unit is selected for conversion; select at least one"
    )
    assert session.detection is not None
    session.selected_units = [session.detection.units[1]]  # the user picked Open Ephys (confidence 0.3)
    WF.transition(session, S.detected, actor="user", reason="chose OpenEphysRecordingInterface")
    assert session.state is S.detected


def test_agent_may_ask_for_a_choice_even_when_one_unit_is_confident() -> None:
    session = good(S.files_received)
    assert session.detection is not None
    session.detection.units.append(_unit(0.2, "PhySortingInterface"))
    assert S.needs_format_choice not in WF.allowed(session)
    session.format_choice_pending = True
    assert WF.allowed(session) == [S.files_received, S.needs_format_choice, S.abandoned]
    WF.transition(session, S.needs_format_choice, actor="conversation", reason="sorting reader unclear")
    assert "has not chosen" in (WF.explain(session, S.detected) or "")
    session.format_choice_pending = False
    WF.transition(session, S.detected, actor="user", reason="chose Phy")


def test_detection_that_finds_nothing_keeps_the_session_waiting_for_files() -> None:
    session = good(S.files_received)
    _no_units(session)
    assert WF.allowed(session) == [S.files_received, S.abandoned]
    WF.transition(session, S.files_received, actor="conversion", reason="detection found nothing convertible")
    assert session.state is S.files_received
    why = WF.explain(session, S.detected)
    assert why is not None and "Plexon 2 is not supported" in why and "add the folder" in why


def test_improve_rounds_are_bounded() -> None:
    session = good(S.passed)
    for round_ in range(1, LIMIT + 1):
        _walk(session, S.improving)
        assert session.improve_rounds == round_
        _walk(session, S.previewing, S.ready, S.converting, S.inspecting, S.passed)
    assert S.improving not in WF.allowed(session)
    with pytest.raises(IllegalTransition, match="improved 2 times, the limit"):
        WF.transition(session, S.improving, actor="user", reason="once more")
    assert session.improve_rounds == LIMIT
    WF.transition(session, S.accepted, actor="user", reason="fine")


def test_improving_after_failure_then_metadata() -> None:
    session = good(S.converting)
    session.output = None
    WF.transition(session, S.failed, actor="conversion", reason="NeuroConv raised ValueError")
    # No file was judged, so the same conversion may be retried as well as improved.
    assert WF.allowed(session) == [S.converting, S.improving, S.abandoned]
    _walk(session, S.improving, S.collecting_metadata, S.previewing, S.ready)
    _walk(session, S.converting, S.inspecting, S.passed_with_issues, S.accepted, verdict="PASSED_WITH_ISSUES")
    assert session.improve_rounds == 1


def test_limit_is_passed_down() -> None:
    workflow = Workflow(1)
    assert workflow.max_improve_rounds == 1
    session = good(S.failed)
    workflow.transition(session, S.improving, actor="user", reason="fix it")
    session.state = S.failed
    assert "NWBAGENT_MAX_IMPROVE_ROUNDS=1" in (workflow.explain(session, S.improving) or "")


def test_entering_a_state_clears_stale_results() -> None:
    session = good(S.collecting_metadata)
    WF.transition(session, S.previewing, actor="conversion", reason="stub")
    assert session.preview is None
    assert "no preview has been made yet" in (WF.explain(session, S.ready) or "")
    session.preview = NwbSummary(nwb_path="/out/p.nwb", verdict="PASSED")
    WF.transition(session, S.ready, actor="evaluation", reason="preview passed")
    WF.transition(session, S.converting, actor="user", reason="go")
    assert session.output is None
    assert session.preview is not None  # the preview is what the conversion was approved on


def test_trace_records_actor_reason_and_jsonable_input(tmp_path: Path) -> None:
    session = SessionState(source_paths=[str(tmp_path)])
    unit = _unit(0.9)
    entry = WF.transition(
        session,
        S.files_received,
        actor="user",
        reason="dropped a folder",
        input={"path": tmp_path, "unit": unit, "ids": {1, 2}},
    )
    assert entry.actor == "user" and entry.reason == "dropped a folder"
    assert entry.at.tzinfo is not None and entry.at.utcoffset() == UTC.utcoffset(None)
    assert entry.input["path"] == str(tmp_path)
    assert entry.input["unit"]["interface"] == "SpikeGLXRecordingInterface"
    assert sorted(entry.input["ids"]) == [1, 2]
    assert session.trace[-1] == entry
    assert SessionState.from_json(session.to_json()).trace == [entry]

    big = WF.transition(session, S.files_received, actor="user", reason="more", input="x" * 100_000)
    assert big.input["truncated"] is True
    assert big.input["chars"] == 100_002
    assert len(big.input["preview"]) == 4000
    assert WF.transition(session, S.abandoned, actor="user", reason="bye").input is None


def test_transition_accepts_state_names() -> None:
    session = good(S.created)
    WF.transition(session, "files_received", actor="user", reason="str works")  # type: ignore[arg-type]
    assert session.state is S.files_received
    with pytest.raises(ValueError):
        WF.transition(session, "nowhere", actor="user", reason="typo")  # type: ignore[arg-type]


def test_the_service_takes_its_limit_from_the_settings_it_is_given(tmp_path: Path) -> None:
    """One composition root: create_app(Settings(...)) reaches the workflow, no environment involved."""
    from fastapi.testclient import TestClient

    from nwbagent.server.app import create_app
    from nwbagent.settings import Settings

    app = create_app(Settings(max_improve_rounds=5, data_dir=str(tmp_path / "data"), llm_provider="rules"))
    with TestClient(app):
        workflow = app.state.service.conversation.workflow
        assert workflow.max_improve_rounds == 5
        session = good(S.failed)
        for _ in range(5):
            assert workflow.explain(session, S.improving) is None
            workflow.transition(session, S.improving, actor="user", reason="again")
            session.state = S.failed
        assert "=5" in (workflow.explain(session, S.improving) or "")
