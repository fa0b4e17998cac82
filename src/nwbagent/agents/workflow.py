"""The legal steps of a session, and the conditions under which each may be taken.

Agents propose; this module disposes. An agent that wants to move a session calls
:meth:`Workflow.transition`, which refuses a step that does not follow from the current state or whose
guard does not hold, and records every step it allows in the session's trace. Guards are plain predicates
on :class:`SessionState` fields so the same rules hold whether the step comes from the LLM, a button or a
test, and each failing guard explains itself in words a user can act on.

Transitions (``from -> to: why the edge exists``)::

    created             -> files_received       the user gave files or folders
    files_received      -> files_received       more files added, or detection found nothing convertible
                                                (the session waits here for other files; see below)
    files_received      -> detected             detection found at least one confident unit
    files_received      -> needs_format_choice  every unit is a guess, or an agent asked the user to choose
    needs_format_choice -> detected             the user chose a reader
    detected            -> files_received       the user added/replaced files after detection: re-detect
    needs_format_choice -> files_received       same, while a choice was pending, or "none of these"
    detected            -> collecting_metadata  units selected; gather metadata
    collecting_metadata -> previewing           stub conversion + inspection (some unit lacks no value)
    previewing          -> collecting_metadata  the preview raised questions or failed
    previewing          -> ready                preview not FAILED and no open CRITICAL question
    ready               -> collecting_metadata  the user edits metadata before converting
    ready               -> converting           full conversion
    converting          -> inspecting           a file was written
    converting          -> failed               the conversion crashed (no file)
    inspecting          -> passed | passed_with_issues | failed   per the inspector's verdict
    inspecting          -> failed               also when the inspection was interrupted (no verdict)
    failed              -> converting           retry, when no file was judged: the conversion was
                                                cancelled, crashed or interrupted by a server restart
    passed, passed_with_issues -> accepted | improving
    failed              -> improving            (accepting a FAILED file is not allowed)
    improving           -> collecting_metadata | previewing
    every non-terminal  -> abandoned
    accepted, abandoned are terminal.

Detection that finds nothing convertible is not a state: the (empty) ``DetectionResult`` is stored, the
session stays in ``files_received`` (recorded by the ``files_received -> files_received`` step with the
reason), and ``explain(session, detected)`` tells the user why. Adding files moves it on.

Side effects of entering a state, kept here so no agent can forget them: entering ``previewing`` clears the
old preview and entering ``converting`` clears the old output (a result belongs to the inputs it was made
from); entering ``improving`` counts one improve round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nwbagent.agents.state import CONFIDENT, SessionState, State, TraceEntry, jsonable_input, utcnow
from nwbagent.errors import UserFacingError

#: A guard returns None when the step may be taken, else why not (one sentence naming the fix).
Guard = Callable[[SessionState], str | None]

#: States nothing follows: the session is over (metrics count the others as active).
TERMINAL: frozenset[State] = frozenset({State.accepted, State.abandoned})
#: States that hold a judged file of the last full conversion: its downloads are offered.
WITH_RESULT: frozenset[State] = frozenset(
    {State.passed, State.passed_with_issues, State.failed, State.accepted}
)
#: What each state is called on a page.
STATE_LABELS: dict[State, str] = {
    State.created: "Waiting for a recording",
    State.files_received: "Files received",
    State.detected: "Format detected",
    State.needs_format_choice: "Please choose how to read the files",
    State.collecting_metadata: "Collecting metadata",
    State.previewing: "Trying a short preview conversion",
    State.ready: "Ready to convert",
    State.converting: "Converting",
    State.inspecting: "Inspecting the NWB file",
    State.passed: "Passed inspection",
    State.passed_with_issues: "Passed with issues",
    State.failed: "Failed inspection",
    State.improving: "Improving",
    State.accepted: "Accepted",
    State.abandoned: "Abandoned",
}
#: The buttons a page shows, what each is called, and the state it asks for (for the explanation of why
#: it is not possible now; :meth:`Workflow.may` says when each does something).
ACTIONS: dict[str, tuple[str, State | None]] = {
    "preview": ("Preview", State.previewing),
    "convert": ("Convert", State.converting),
    "accept": ("Accept", State.accepted),
    "improve": ("Improve", State.improving),
    "retry": ("Retry", State.converting),
    "choose": ("Choose", State.detected),
    "cancel": ("Cancel", None),
    "abandon": ("Abandon", State.abandoned),
}


@dataclass(frozen=True)
class Edge:
    source: State
    target: State
    guard: Guard
    why: str


class IllegalTransition(UserFacingError):
    """A step the workflow refuses.

    ``allowed`` lists every state that follows ``from_state`` in the table; ``possible`` the ones whose guard
    holds right now, which is what a UI should offer instead.
    """

    def __init__(
        self, from_state: State, to_state: State, why: str, allowed: list[State], possible: list[State]
    ) -> None:
        self.from_state = from_state
        self.to_state = to_state
        self.why = why
        self.allowed = allowed
        self.possible = possible
        if to_state in allowed:
            fix = f"Possible now: {_names(possible)}."
        elif allowed:
            fix = "Take one of those steps first."
        else:
            fix = "Start a new session to convert again."
        super().__init__(
            f"Cannot go from '{from_state.value}' to '{to_state.value}': {why}.",
            fix=fix,
            code="illegal_transition",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "allowed": [s.value for s in self.allowed],
            "possible": [s.value for s in self.possible],
        }


def _names(states: list[State]) -> str:
    return ", ".join(s.value for s in states) if states else "none"


# ------------------------------------------------------------------------------------------------ guards


def _always(session: SessionState) -> str | None:
    return None


def _has_sources(session: SessionState) -> str | None:
    if not session.source_paths:
        return "no files or folders were given; add at least one recording file or folder"
    return None


def _nothing_found(session: SessionState) -> str:
    assert session.detection is not None
    reasons = [f"{u.path}: {u.reason}" for u in session.detection.unsupported] + session.detection.warnings
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return f"detection found nothing NeuroConv can convert{detail}; add the folder holding the raw recording"


def _confident_detection(session: SessionState) -> str | None:
    if session.detection is None:
        return "detection has not run yet"
    if not session.detection.units:
        return _nothing_found(session)
    if not session.confident_units():
        return (
            f"detection is unsure about every unit (confidence below {CONFIDENT}); "
            "the user must choose a reader (needs_format_choice)"
        )
    if session.format_choice_pending:
        return "the user was asked to choose a reader and has not answered yet"
    return _units_selected(session)


def _choice_needed(session: SessionState) -> str | None:
    if session.detection is None:
        return "detection has not run yet"
    if not session.detection.units:
        return _nothing_found(session)
    if session.confident_units() and not session.format_choice_pending:
        return "detection is confident and no choice was asked of the user; go to detected"
    return None


def _choice_made(session: SessionState) -> str | None:
    if session.format_choice_pending:
        return "the user has not chosen a reader yet; ask them to pick one of the detected readers"
    return _units_selected(session)


def _units_selected(session: SessionState) -> str | None:
    if not session.selected_units:
        return "no detected unit is selected for conversion; select at least one"
    return None


def _units_ready(session: SessionState) -> str | None:
    """Something can be converted now: a selected unit that lacks no value."""
    missing = _units_selected(session)
    if missing:
        return missing
    if not session.ready_units():
        needs = ", ".join(f"{u.label}: {u.needs[0].label}" for u in session.selected_units)
        return f"every selected stream still needs a value the files lack ({needs}); give it first"
    return None


def _preview_problems(session: SessionState) -> str | None:
    if session.open_questions():
        return None
    if session.preview is None or session.preview.verdict in (None, "FAILED"):
        return None
    return "the preview passed and no question is open; go to ready (or edit metadata from ready)"


def _preview_ok(session: SessionState) -> str | None:
    preview = session.preview
    if preview is None:
        return "no preview has been made yet; run the stub conversion and its inspection first"
    if preview.verdict is None:
        return "the preview has not been inspected yet"
    if preview.verdict == "FAILED":
        return "the preview failed NWB Inspector; fix the reported problems and preview again"
    critical = session.open_questions("CRITICAL")
    if critical:
        fields = ", ".join(dict.fromkeys(q.field for q in critical))
        return f"critical questions are unanswered ({fields}); answer them first"
    return None


def _file_written(session: SessionState) -> str | None:
    if session.output is None:
        return "the conversion has not written a file"
    return None


def _no_file(session: SessionState) -> str | None:
    if session.output is not None:
        return "the conversion wrote a file; inspect it (inspecting) rather than declaring failure"
    return None


def _verdict_is(verdict: str) -> Guard:
    def guard(session: SessionState) -> str | None:
        got = session.verdict()
        if got != verdict:
            return f"the inspector's verdict is {got or 'not available yet'}, not {verdict}"
        return None

    return guard


def _failed_or_interrupted(session: SessionState) -> str | None:
    got = session.verdict()
    if got not in (None, "FAILED"):
        return f"the inspector's verdict is {got}, not FAILED"
    return None


def _retryable(session: SessionState) -> str | None:
    """Retry repeats the same conversion, so it is only for failures that say nothing about the file."""
    if session.verdict() is not None:
        return (
            f"the file was converted and judged {session.verdict()}; ask to improve it instead of "
            "retrying the same conversion"
        )
    return _preview_ok(session)


def _acceptable(session: SessionState) -> str | None:
    got = session.verdict()
    if got not in ("PASSED", "PASSED_WITH_ISSUES"):
        return f"only a file that passed inspection can be accepted (verdict: {got or 'none'})"
    return None


def _rounds_left(limit: int) -> Guard:
    def guard(session: SessionState) -> str | None:
        if session.improve_rounds >= limit:
            return (
                f"this file has been improved {session.improve_rounds} times, the limit "
                f"(NWBAGENT_MAX_IMPROVE_ROUNDS={limit}); accept it as it is or start a new session"
            )
        return None

    return guard


def build_edges(max_improve_rounds: int) -> list[Edge]:
    """The transition table; ``max_improve_rounds`` bounds the improve loop so a session always ends."""
    S = State
    edges = [
        Edge(S.created, S.files_received, _has_sources, "the user gave files or folders"),
        Edge(S.files_received, S.files_received, _has_sources, "more files, or detection found nothing"),
        Edge(S.files_received, S.detected, _confident_detection, "detection found confident units"),
        Edge(S.files_received, S.needs_format_choice, _choice_needed, "the user must pick a reader"),
        Edge(S.needs_format_choice, S.detected, _choice_made, "the user chose a reader"),
        Edge(S.detected, S.files_received, _has_sources, "files added or replaced: re-detect"),
        Edge(S.needs_format_choice, S.files_received, _has_sources, "files added or replaced: re-detect"),
        Edge(S.detected, S.collecting_metadata, _units_selected, "gather metadata for the selected units"),
        Edge(S.collecting_metadata, S.previewing, _units_ready, "stub conversion and inspection"),
        Edge(S.previewing, S.collecting_metadata, _preview_problems, "the preview needs answers"),
        Edge(S.previewing, S.ready, _preview_ok, "the preview is good enough to convert"),
        Edge(S.ready, S.collecting_metadata, _always, "the user edits metadata before converting"),
        Edge(S.ready, S.converting, _preview_ok, "full conversion"),
        Edge(S.converting, S.inspecting, _file_written, "inspect the written file"),
        Edge(S.converting, S.failed, _no_file, "the conversion crashed"),
        Edge(S.inspecting, S.passed, _verdict_is("PASSED"), "the inspector passed the file"),
        Edge(S.inspecting, S.passed_with_issues, _verdict_is("PASSED_WITH_ISSUES"), "passed, with issues"),
        Edge(S.inspecting, S.failed, _failed_or_interrupted, "the inspector failed the file, or was stopped"),
    ]
    improve = _rounds_left(max_improve_rounds)
    for done in (S.passed, S.passed_with_issues):
        edges.append(Edge(done, S.accepted, _acceptable, "the user accepts the file"))
        edges.append(Edge(done, S.improving, improve, "the user wants a better file"))
    edges.append(Edge(S.failed, S.improving, improve, "try to fix the failed file"))
    edges.append(Edge(S.failed, S.converting, _retryable, "retry a conversion that never produced a verdict"))
    edges.append(Edge(S.improving, S.collecting_metadata, _always, "improve by changing metadata"))
    edges.append(Edge(S.improving, S.previewing, _units_ready, "improve without new answers"))
    edges.extend(Edge(s, S.abandoned, _always, "the user gave up") for s in State if s not in TERMINAL)
    return edges


class Workflow:
    """The transition table and the rules for taking a step; stateless, one instance serves all sessions."""

    def __init__(self, max_improve_rounds: int = 3) -> None:
        self.max_improve_rounds = max_improve_rounds
        self.edges: dict[tuple[State, State], Edge] = {
            (e.source, e.target): e for e in build_edges(max_improve_rounds)
        }

    def targets(self, state: State) -> list[State]:
        """Every state an edge leads to from ``state``, guards ignored, in ``State`` order."""
        return [t for t in State if (state, t) in self.edges]

    def allowed(self, session: SessionState) -> list[State]:
        """The next states whose guard holds now: what a UI should offer."""
        return [
            t for t in self.targets(session.state) if self.edges[(session.state, t)].guard(session) is None
        ]

    def may(self, action: str, session: SessionState) -> bool:
        """Whether the button ``action`` does something now: the Conversation agent takes exactly these
        steps for it (``_command``), so a client that checks here is never answered "not now"."""
        state = session.state
        if action == "preview":
            return state in (State.collecting_metadata, State.ready, State.improving)
        if action == "convert":
            return state is State.ready or (
                state is State.collecting_metadata and not session.open_questions("CRITICAL")
            )
        if action == "retry":
            if state is State.failed:
                return self.explain(session, State.converting) is None
            return state is State.collecting_metadata and session.preview is None
        if action == "choose":
            return state is State.needs_format_choice
        target = ACTIONS[action][1] if action in ACTIONS else None
        return target is not None and self.explain(session, target) is None

    def allowed_actions(
        self, session: SessionState, *, busy: bool = False, job_active: bool = False
    ) -> list[str]:
        """The buttons that do something now (``cancel`` only while a conversion is queued or running;
        nothing else while the agents are still busy with an earlier request)."""
        if busy:
            return ["cancel"] if job_active else []
        names = [a for a in ACTIONS if a != "cancel" and self.may(a, session)]
        return names + (["cancel"] if job_active else [])

    def explain(self, session: SessionState, to: State) -> str | None:
        """Why ``to`` cannot be reached now, or None when it can."""
        edge = self.edges.get((session.state, State(to)))
        if edge is None:
            if session.state in TERMINAL:
                return f"'{session.state.value}' is final, no state follows it"
            return f"allowed next states are {_names(self.targets(session.state))}"
        return edge.guard(session)

    def transition(
        self, session: SessionState, to: State, *, actor: str, reason: str, input: Any = None
    ) -> TraceEntry:
        """Take one step (mutating ``session``) or raise :class:`IllegalTransition` leaving it untouched."""
        to = State(to)
        why = self.explain(session, to)
        if why is not None:
            raise IllegalTransition(
                session.state, to, why, self.targets(session.state), self.allowed(session)
            )
        entry = TraceEntry(
            at=utcnow(),
            from_state=session.state,
            to_state=to,
            actor=actor,
            reason=reason,
            input=jsonable_input(input),
        )
        if to is State.previewing:
            session.preview = None
        elif to is State.converting:
            session.output = None
            session.more_outputs = []
        elif to is State.improving:
            session.improve_rounds += 1
        session.state = to
        session.trace.append(entry)
        session.updated_at = entry.at
        return entry
