"""Everything one conversion session knows, as one JSON document.

The agents are stateless between messages: whatever they learn (files, detection, answers, previews, chat)
lives here, so a session survives a restart of the service and can be handed from one worker to another.
Only JSON-friendly types are used, and ``schema_version`` lets a newer nwbagent read an older document.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import DetectionResult, LeftOut, Unit
from nwbagent.inspect.model import Verdict
from nwbagent.llm.base import Usage
from nwbagent.metadata.check import ImportanceName
from nwbagent.metadata.merge import merge
from nwbagent.metadata.schema import SessionMetadata
from nwbagent.sentences.rules import ExtractedField

#: Bumped whenever a stored document would no longer validate; add a migration to ``MIGRATIONS`` with it.
SCHEMA_VERSION = 1

#: ``MIGRATIONS[n]`` turns a raw version-``n`` document into a version-``n + 1`` one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: A trace input larger than this (as JSON) is cut: the trace explains decisions, it is not a data store.
MAX_INPUT_CHARS = 4000


#: Below this a detected unit is a guess the user must confirm (the same threshold ``select_units`` uses).
CONFIDENT = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


class State(StrEnum):
    created = "created"
    files_received = "files_received"
    detected = "detected"
    needs_format_choice = "needs_format_choice"
    collecting_metadata = "collecting_metadata"
    previewing = "previewing"
    ready = "ready"
    converting = "converting"
    inspecting = "inspecting"
    passed = "passed"
    passed_with_issues = "passed_with_issues"
    failed = "failed"
    improving = "improving"
    accepted = "accepted"
    abandoned = "abandoned"


class TraceEntry(BaseModel):
    """One step, with who took it and why, so a user (or a reviewer) can replay how a file came to be."""

    at: AwareDatetime = Field(default_factory=utcnow)
    from_state: State
    to_state: State
    actor: str = Field(description="Who moved the session: 'user', 'conversation', 'conversion', ...")
    reason: str
    input: Any = Field(default=None, description="What prompted the step, JSON-able, cut when huge")


class Question(BaseModel):
    """Something only the user can answer; CRITICAL ones block conversion until answered.

    ``kind`` says what answers it: a metadata field (``field`` is the schema name), or a value one stream's
    reader needs (``field`` is ``<unit>:<name>``, ``unit`` the stream's handle, ``name`` the reader's
    argument) that the files lack, such as a sampling frequency.
    """

    field: str
    text: str
    example: str | None = None
    importance: ImportanceName
    answered: bool = False
    kind: Literal["metadata", "value"] = "metadata"
    unit: str | None = None
    name: str | None = None


class AutoFix(BaseModel):
    """A value nwbagent changed on its own; kept so the user can see and undo it."""

    field: str
    before: Any = None
    after: Any = None
    reason: str


class NwbSummary(BaseModel):
    """A written NWB file and what NWB Inspector made of it (``verdict`` is None until inspected)."""

    nwb_path: str
    verdict: Verdict | None = None
    findings: dict[str, int] = Field(default_factory=dict, description="Finding counts per importance")
    at: AwareDatetime = Field(default_factory=utcnow)
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="The metadata values the file was written with, so a retry can say what changed",
    )
    acquisition: str | None = Field(default=None, description="The acquisition it holds, when several")
    left_out: list[LeftOut] = Field(
        default_factory=list, description="Streams that are not in this file, each with why and the fix"
    )


class ChatTurn(BaseModel):
    role: Literal["user", "assistant", "system"]
    text: str
    at: AwareDatetime = Field(default_factory=utcnow)
    agent: str | None = Field(default=None, description="Which agent spoke, for assistant/system turns")


class SessionState(BaseModel):
    """One session; ``revision`` is the store's optimistic-concurrency counter, not a workflow value."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=lambda: secrets.token_urlsafe(16))
    revision: int = 0
    created_at: AwareDatetime = Field(default_factory=utcnow)
    updated_at: AwareDatetime = Field(default_factory=utcnow)
    state: State = State.created
    trace: list[TraceEntry] = Field(default_factory=list)
    source_paths: list[str] = Field(default_factory=list, description="Files or folders the user gave")
    detection: DetectionResult | None = None
    selected_units: list[Unit] = Field(default_factory=list)
    format_choice_pending: bool = Field(
        default=False,
        description="An agent asked the user to choose a reader even though some unit is confident",
    )
    metadata_layers: dict[str, SessionMetadata] = Field(
        default_factory=dict, description="Layer name ('file', 'user', 'user-text', ...) -> its values"
    )
    questions: list[Question] = Field(default_factory=list)
    auto_fixes: list[AutoFix] = Field(default_factory=list)
    preview: NwbSummary | None = Field(default=None, description="The stub conversion and its inspection")
    output: NwbSummary | None = Field(default=None, description="The full conversion and its inspection")
    more_outputs: list[NwbSummary] = Field(
        default_factory=list,
        description="The other files of the same full conversion (one per acquisition), each inspected",
    )
    parts: list[str] = Field(
        default_factory=list, description="Acquisitions/segments the user picked ('experiment2'); empty = all"
    )
    improve_rounds: int = 0
    chat: list[ChatTurn] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    llm_notes: list[str] = Field(default_factory=list)
    output_dir: str | None = None
    pending_confirmations: list[ExtractedField] = Field(
        default_factory=list,
        description="Values read from the chat that the agent asked the user to confirm (yes/no) next turn",
    )

    def merged_metadata(self) -> SessionMetadata:
        """All layers combined by source precedence, losers kept as provenance."""
        return merge(*self.metadata_layers.values())

    def confident_units(self) -> list[Unit]:
        return [u for u in self.detection.units if u.confidence >= CONFIDENT] if self.detection else []

    def ready_units(self) -> list[Unit]:
        """Selected units with every value they need: what a conversion converts now."""
        return [u for u in self.selected_units if not u.needs]

    def outputs(self) -> list[NwbSummary]:
        """Every file of the last full conversion, the primary first."""
        return ([self.output] if self.output is not None else []) + list(self.more_outputs)

    def verdict(self) -> Verdict | None:
        """The session's verdict: the worst of its files' (None while any file is not judged yet)."""
        files = self.outputs()
        if not files or any(f.verdict is None for f in files):
            return None
        order = ("FAILED", "PASSED_WITH_ISSUES", "PASSED")
        return min((f.verdict for f in files if f.verdict is not None), key=order.index)

    def open_questions(self, importance: ImportanceName | None = None) -> list[Question]:
        return [
            q for q in self.questions if not q.answered and (importance is None or q.importance == importance)
        ]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        """Read a stored document, migrating older versions and refusing newer ones."""
        return cls.model_validate(migrate(json.loads(text)))


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw stored document up to ``SCHEMA_VERSION``.

    A newer document is refused rather than read partially: dropping fields we do not know would lose the
    user's answers on the next save.
    """
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise UserFacingError(
            f"Session {data.get('id', '?')} was saved by a newer nwbagent (format {version}; "
            f"this one reads up to {SCHEMA_VERSION}).",
            fix="Upgrade nwbagent to open this session.",
            code="session_too_new",
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
        data["schema_version"] = version
    return data


def jsonable_input(value: Any, limit: int = MAX_INPUT_CHARS) -> Any:
    """``value`` as plain JSON data; when its JSON is longer than ``limit``, a marked, cut preview instead.

    Anything JSON cannot hold (paths, models, objects) becomes its JSON form or its ``str``, so an agent can
    pass whatever triggered a step without first thinking about serialization.
    """
    from pydantic_core import to_jsonable_python

    plain = to_jsonable_python(value, fallback=str)
    text = json.dumps(plain, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return plain
    return {"truncated": True, "chars": len(text), "preview": text[:limit]}
