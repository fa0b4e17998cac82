"""Which requests a session can take right now, decided before any agent turn starts.

An action the session's state does not allow used to reach the Conversation agent, which answered "Not
now (...)" with HTTP 200, and a request that arrived while a turn (a conversion) was running waited behind
it and was applied afterwards, where it could silently reopen a finished session. Both are now refused up
front with ``409 {error, message, hint, state, allowed}``: ``allowed`` is what the client may do instead.

Which button does something is the workflow's rule (``Workflow.may``, ``Workflow.allowed_actions``), the
same the Conversation agent follows, so a refusal here is exactly a step the agent would not take; the chat
keeps answering in words, since a typed message is a conversation, not a button.
"""

from __future__ import annotations

from typing import Literal

from nwbagent.agents.state import SessionState, State
from nwbagent.agents.workflow import ACTIONS, TERMINAL, Workflow
from nwbagent.server.auth import ApiError

Action = Literal["preview", "convert", "accept", "improve", "abandon", "retry", "cancel", "choose"]
_FINISHED = frozenset({State.passed, State.passed_with_issues, State.failed})


def may_edit_metadata(session: SessionState, workflow: Workflow) -> bool:
    """A form edit is applied at once and may reopen a finished file, so only where that is possible."""
    if session.state in TERMINAL:
        return False
    if session.state in _FINISHED:
        return workflow.explain(session, State.improving) is None
    return True


def may_start(session: SessionState, workflow: Workflow) -> bool:
    """New files (or a new source) restart detection, which the workflow allows only before converting."""
    return State.files_received in workflow.targets(session.state)


def not_now(what: str, session: SessionState, allowed: list[str], why: str | None) -> ApiError:
    reason = f": {why}" if why else ""
    return ApiError(
        409,
        "not_allowed_now",
        f"{what} is not possible while the session is {session.state.value}{reason}.",
        f"Possible now: {', '.join(allowed)}." if allowed else "Start a new session to convert again.",
        extra={"state": session.state.value, "allowed": allowed},
    )


def refuse_action(action: Action, session: SessionState, workflow: Workflow, allowed: list[str]) -> ApiError:
    target = ACTIONS[action][1] if action in ACTIONS else None
    why = workflow.explain(session, target) if target is not None else None
    return not_now(f"'{action}'", session, allowed, why)


def busy(session: SessionState, allowed: list[str]) -> ApiError:
    return ApiError(
        409,
        "session_busy",
        f"The session is busy ({session.state.value}): the agents are still working on an earlier "
        "request, and this one would only be applied after it.",
        "Wait until the session's events report the end (or GET .../status shows busy: false), then send it "
        "again" + (", or cancel the conversion." if "cancel" in allowed else "."),
        extra={"state": session.state.value, "allowed": allowed},
    )
