"""What the Conversation agent says: the lines of one turn as they are published, and the sentences it
builds from detection, inspection and metadata.

Kept apart from the workflow so wording can change without touching the steps, and so the steps read as
what happens rather than how it is put.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nwbagent.agents import contracts
from nwbagent.agents.bus import Bus
from nwbagent.agents.messages import BusError, Message
from nwbagent.agents.state import ChatTurn, Question, SessionState

NAME = contracts.CONVERSATION


class Reply:
    """Collects what the agent says during one turn, and publishes each line as it is said.

    A turn that runs a conversion can last minutes; publishing each line as a ``reply`` event lets a
    WebSocket client show it at once instead of when the turn ends.
    """

    def __init__(self, bus: Bus, session: SessionState) -> None:
        self.lines: list[str] = []
        self._bus = bus
        self._session = session

    def __call__(self, text: str) -> None:
        self.lines.append(text)
        self._session.chat.append(ChatTurn(role="assistant", text=text, agent=NAME))
        self._bus.publish(
            Message(
                session_id=self._session.id, sender=NAME, target="*", action="reply", payload={"text": text}
            )
        )


def given(source: str) -> str:
    """What the user gave, as they know it: the folder or file name, never the server's path."""
    path = Path(source)
    return path.name if path.name != "uploads" else "the uploaded files"


NEXT_FILES = (
    "You can give another folder or upload other files (the session starts again from them), or say "
    "'abandon' to start over."
)


def nothing_found(detection: Any) -> str:
    reasons = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in detection.unsupported)
    if detection.left_out:
        return "Nothing here can be converted as it is (see above)."
    return "I found no recording NeuroConv can convert here." + (
        f" Recognised but unsupported: {reasons}." if reasons else ""
    )


def worst(verdicts: list[Any]) -> Any:
    order = ("FAILED", "PASSED_WITH_ISSUES", "PASSED")
    known = [v for v in verdicts if v in order]
    return min(known, key=order.index) if known else None


def sum_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, n in one.items():
            total[key] = total.get(key, 0) + n
    return total


def merge_questions(old: list[Question], new: list[Question]) -> list[Question]:
    by_field = {q.field: q for q in old if not q.answered}
    by_field.update({q.field: q for q in new})
    return list(by_field.values())


def questions_text(session: SessionState) -> str:
    return " ".join(f"• {q.text}" for q in session.open_questions())


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no findings"


def shown_values(session: SessionState) -> dict[str, Any]:
    return {k: shown(v) for k, v in session.merged_metadata().values().items() if k != "identifier"}


def changes_since_last(session: SessionState) -> list[str]:
    """What differs from the metadata of the previous full conversion, so each retry says what changed."""
    if session.output is None or not session.output.values:
        return []
    before, now = session.output.values, shown_values(session)
    return [
        f"{k}: {before.get(k)!r} → {now.get(k)!r}"
        for k in sorted(set(before) | set(now))
        if before.get(k) != now.get(k)
    ]


def shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def error_text(exc: BusError) -> str:
    p = exc.payload
    where = f"{p.path}: " if p.path else ""
    return f"{where}{p.message}" + (f" Fix: {p.hint}" if p.hint else "")
