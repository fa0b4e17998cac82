"""The Conversation agent: talks to the user and decides the workflow.

It is the only agent that reads and writes the session store. For each user input it loads the session,
asks the Conversion and Evaluation agents for work through the bus (passing only what each needs), moves
the workflow state machine, and saves. The stub-first loop lives here: metadata is checked and a stub
preview inspected before the one full conversion, so problems are fixed while they are cheap.

With an LLM configured, metadata extraction and answers to questions use it; on any LLM failure the rules
take over and the user is told in one line. Commands (convert, accept, …) are never inferred by an LLM.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.agents import contracts as api
from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.messages import BusError, Message
from nwbagent.agents.state import AutoFix, ChatTurn, NwbSummary, Question, SessionState, State
from nwbagent.agents.store import SessionStore
from nwbagent.agents.workflow import Workflow
from nwbagent.formats.model import Unit
from nwbagent.llm.base import Provider, Usage
from nwbagent.metadata import from_user
from nwbagent.metadata.merge import merge
from nwbagent.metadata.schema import SessionMetadata
from nwbagent.nlmeta import answer_question, is_question
from nwbagent.nlmeta.dialogue import apply_reading, question, read_turn, reply_lines
from nwbagent.settings import get_settings

NAME = api.CONVERSATION

Command = Literal["preview", "convert", "accept", "improve", "abandon", "choose", "retry"]

#: Whole messages that are commands (the user typing a button's word); anything longer is content.
_COMMAND_WORDS: dict[str, Command] = {
    "preview": "preview",
    "convert": "convert",
    "start conversion": "convert",
    "run the conversion": "convert",
    "go": "convert",
    "accept": "accept",
    "accept it": "accept",
    "i accept": "accept",
    "improve": "improve",
    "improve it": "improve",
    "retry": "retry",
    "try again": "retry",
    "abandon": "abandon",
    "cancel": "abandon",
    "stop": "abandon",
}
_CHOOSE = re.compile(r"^(?:use|choose|pick)\s+(\S+)$", re.IGNORECASE)


def command_in(text: str) -> Command | None:
    """The command a whole chat message stands for, if any (the service limits typed "convert" like the
    button)."""
    return _COMMAND_WORDS.get(text.strip().lower().rstrip(".!"))


class StartRequest(BaseModel):
    source: str
    output_dir: str | None = None


class UserMessageRequest(BaseModel):
    text: str = Field(max_length=20_000)


class CommandRequest(BaseModel):
    command: Command
    argument: str | None = None


class SetMetadataRequest(BaseModel):
    fields: dict[str, Any]


class Turn(BaseModel):
    """What the user sees after each input: the agent's replies and where the session stands."""

    session_id: str
    state: State
    replies: list[str]
    questions: list[Question] = Field(default_factory=list)
    auto_fixes: list[AutoFix] = Field(default_factory=list)
    allowed: list[State] = Field(default_factory=list)
    preview: NwbSummary | None = None
    output: NwbSummary | None = None
    usage: Usage = Field(default_factory=Usage)


class _Reply:
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


class ConversationAgent:
    def __init__(
        self, bus: Bus, store: SessionStore, provider: Provider, *, provider_note: str | None = None
    ) -> None:
        self.bus = bus
        self.store = store
        self.provider = provider
        self.provider_note = provider_note
        self.workflow = Workflow()
        self._locks: dict[str, asyncio.Lock] = {}
        bus.register(
            NAME,
            [
                Action("start", StartRequest, Turn, self.start),
                Action("user_message", UserMessageRequest, Turn, self.user_message),
                Action("command", CommandRequest, Turn, self.command),
                Action("set_metadata", SetMetadataRequest, Turn, self.set_metadata),
            ],
        )

    # ---- entry points (one per action); each runs under the session's lock -------------------------

    async def start(self, message: Message, request: StartRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            session.output_dir = request.output_dir or session.output_dir
            session.source_paths = [request.source]
            if self.provider_note and self.provider_note not in session.llm_notes:
                session.llm_notes.append(self.provider_note)
                say(self.provider_note)
            await self._receive_files(session, say, request.source)

        return await self._turn(message, f"start: {request.source}", run)

    async def user_message(self, message: Message, request: UserMessageRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            text = request.text.strip()
            command = command_in(text)
            choose = _CHOOSE.match(text)
            if command is not None:
                await self._command(session, say, command, None)
            elif choose and session.state is State.needs_format_choice:
                await self._command(session, say, "choose", choose.group(1))
            elif is_question(text):
                self._answer(session, say, text)
            else:
                await self._metadata_from_text(session, say, text)

        return await self._turn(message, request.text, run)

    async def command(self, message: Message, request: CommandRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            await self._command(session, say, request.command, request.argument)

        return await self._turn(message, f"[{request.command}] {request.argument or ''}".strip(), run)

    async def set_metadata(self, message: Message, request: SetMetadataRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            layer = from_user(request.fields, evidence="entered in the metadata form")
            previous = session.metadata_layers.get("user")
            session.metadata_layers["user"] = merge(previous, layer) if previous else layer
            self._record_fixes(session, layer, request.fields)
            errors = layer.errors()
            for field, error in errors.items():
                say(f"{field}: {error}")
            if not errors:
                say("Saved: " + ", ".join(f"{k} = {_show(v)}" for k, v in layer.values().items()) + ".")
            await self._after_new_metadata(session, say)

        return await self._turn(message, f"[form] {sorted(request.fields)}", run)

    # ---- workflow steps ---------------------------------------------------------------------------

    async def _receive_files(self, session: SessionState, say: _Reply, source: str) -> None:
        await self._move(session, State.files_received, "user", "files given", {"source": source})
        try:
            found = await self._call(
                session, api.CONVERSION, "detect", api.DetectRequest(source=source), api.DetectReply
            )
        except BusError as exc:
            say(_error_text(exc))
            return
        session.detection = found.detection
        for warning in found.warnings:
            say(f"Note: {warning}")
        detection = found.detection
        if not detection.units:
            reasons = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in detection.unsupported)
            say(
                "I found no recording NeuroConv can convert here."
                + (f" Recognised but unsupported: {reasons}." if reasons else "")
                + " Please give the folder that holds the raw recording."
            )
            return
        confident = session.confident_units()
        say("I found: " + "; ".join(_describe(u) for u in detection.units) + ".")
        if confident:
            session.selected_units = confident
            skipped = [u for u in detection.units if u.confidence < 0.5]
            for unit in skipped:
                say(f"I left out {unit.label} because I am not sure what it is ({unit.disambiguation}).")
            await self._move(session, State.detected, NAME, "confident units", [u.label for u in confident])
            await self._collect(session, say)
        else:
            session.format_choice_pending = True
            await self._move(session, State.needs_format_choice, NAME, "only uncertain readings")
            say(self._choice_question(session))

    def _choice_question(self, session: SessionState) -> str:
        options = _options(session)
        units = session.detection.units if session.detection else []
        why = next((u.disambiguation for u in units if u.disambiguation), None)
        listing = "; ".join(f"{i}. {u.interface}" for i, u in enumerate(options, start=1))
        lead = why or "These files can be read in more than one way."
        return f"{lead} Choose one: {listing} (say e.g. 'use 1')."

    async def _collect(self, session: SessionState, say: _Reply) -> None:
        await self._move(session, State.collecting_metadata, NAME, "gather metadata for the selected units")
        source = session.source_paths[0]
        try:
            read = await self._call(
                session,
                api.CONVERSION,
                "read_metadata",
                api.ReadMetadataRequest(source=source, units=session.selected_units),
                api.ReadMetadataReply,
            )
        except BusError as exc:
            say(_error_text(exc))
            return
        session.metadata_layers.update(read.layers)
        start = read.layers.get("file", SessionMetadata()).get("session_start_time")
        if start is not None and "assumed" in start.evidence:
            assumption = "assumed" + start.evidence.split("assumed", 1)[1]
            session.auto_fixes.append(
                AutoFix(field="session_start_time", before=None, after=str(start.value), reason=assumption)
            )
            say(f"The start time in the files ({start.value}) has no time zone: {assumption}.")
        await self._check_then_preview(session, say)

    async def _check_then_preview(self, session: SessionState, say: _Reply) -> None:
        """Ask what only the user can answer; once nothing critical is open, make the stub preview."""
        checked = await self._call(
            session,
            api.EVALUATION,
            "check_metadata",
            api.CheckMetadataRequest(metadata=session.merged_metadata()),
            api.CheckMetadataReply,
        )
        session.questions = checked.questions
        critical = session.open_questions("CRITICAL")
        if critical:
            say("Before I convert, I need: " + " ".join(f"• {q.text}" for q in critical))
            return
        await self._preview(session, say)

    async def _preview(self, session: SessionState, say: _Reply) -> None:
        await self._move(session, State.previewing, NAME, "stub conversion and inspection")
        try:
            outputs = await self._convert(session, stub=True)
            nwb = outputs[0].nwb
            inspected = await self._call(
                session,
                api.EVALUATION,
                "inspect",
                api.InspectRequest(nwb_path=nwb, stub=True),
                api.InspectReply,
            )
        except BusError as exc:
            say(_error_text(exc))
            await self._move(
                session, State.collecting_metadata, NAME, "the preview could not be made", exc.payload.message
            )
            return
        result = inspected.inspection
        session.preview = NwbSummary(nwb_path=nwb, verdict=result.verdict, findings=result.counts)
        session.questions = _merge_questions(session.questions, inspected.questions)
        blocking = session.open_questions("CRITICAL") or result.verdict == "FAILED"
        if blocking:
            await self._move(
                session, State.collecting_metadata, NAME, "the preview needs answers", result.counts
            )
            say(f"The preview found problems ({_counts(result.counts)}). " + _ask(session))
            return
        await self._move(session, State.ready, NAME, "preview passed", result.counts)
        extra = f" Optional improvements: {_ask(session)}" if session.open_questions() else ""
        verdict = f"Preview: {result.verdict} ({_counts(result.counts)})."
        say(f"{verdict}{extra} Say 'convert' for the full conversion.")

    async def _full_conversion(self, session: SessionState, say: _Reply) -> None:
        changed = _changes_since_last(session)
        await self._move(session, State.converting, "user", "full conversion", {"changed": changed})
        if changed:
            say("Changed since the last conversion: " + "; ".join(changed) + ".")
        try:
            outputs = await self._convert(session, stub=False)
        except BusError as exc:
            await self._move(session, State.failed, NAME, "the conversion crashed", exc.payload.message)
            say(_error_text(exc) + " Say 'improve' to try again or 'abandon'.")
            return
        out = outputs[0]
        session.output = NwbSummary(nwb_path=out.nwb, values=_values(session))
        said = {turn.text for turn in session.chat}
        for warning in out.warnings:
            if f"Note: {warning}" not in said:
                say(f"Note: {warning}")
        await self._move(session, State.inspecting, NAME, "inspect the written file", out.nwb)
        inspected = await self._call(
            session,
            api.EVALUATION,
            "inspect",
            api.InspectRequest(nwb_path=out.nwb, stub=False),
            api.InspectReply,
        )
        result = inspected.inspection
        session.output.verdict = result.verdict
        session.output.findings = result.counts
        session.questions = inspected.questions
        target = {"PASSED": State.passed, "PASSED_WITH_ISSUES": State.passed_with_issues}.get(
            result.verdict, State.failed
        )
        await self._move(
            session, target, api.EVALUATION, f"inspector verdict {result.verdict}", result.counts
        )
        size = Path(out.nwb).stat().st_size / 1e6
        say(f"Wrote {out.nwb} ({size:.1f} MB): {result.verdict} ({_counts(result.counts)}).")
        await self._write_report(session, say, result)
        for finding in inspected.data_findings[:5]:
            say(f"• {finding.importance}: {finding.message} Fix: {finding.fix}")
        if target is State.failed:
            say(
                "This file is not DANDI-ready. "
                + (_ask(session) if session.questions else "")
                + " Say 'improve' or 'abandon'."
            )
        else:
            say("Say 'accept' to keep it, 'improve' to fix the remaining issues, or 'abandon'.")

    async def _write_report(self, session: SessionState, say: _Reply, inspection: Any) -> None:
        """Reports (HTML, PDF, JSON, text) with this session's trace and LLM usage, next to the file.

        A report that cannot be made is said, never fatal: the NWB file is the product.
        """
        if session.output is None:
            return
        request = api.ReportRequest(
            nwb_path=session.output.nwb_path,
            inspection=inspection,
            source=session.source_paths[0] if session.source_paths else None,
            units=session.selected_units,
            trace=session.trace,
            usage=session.usage,
            provider=self.provider.name,
            model=self.provider.model,
        )
        try:
            reply = await self._call(session, api.EVALUATION, "report", request, api.ReportReply)
        except BusError as exc:
            say(f"The report could not be written: {_error_text(exc)}")
            return
        say("Reports: " + ", ".join(sorted(reply.files)) + f" next to {Path(session.output.nwb_path).name}.")

    async def _command(
        self, session: SessionState, say: _Reply, command: Command, argument: str | None
    ) -> None:
        if command == "abandon":
            await self._move(session, State.abandoned, "user", "the user abandoned the session")
            say("Session abandoned. Nothing more will be converted.")
        elif command == "choose":
            await self._choose(session, say, argument)
        elif command == "preview":
            if session.state in (State.collecting_metadata, State.ready, State.improving):
                if session.state is State.ready:
                    await self._move(session, State.collecting_metadata, "user", "preview again")
                await self._preview(session, say)
            else:
                say(self._not_now(session, State.previewing))
        elif command == "convert":
            if session.state is State.ready:
                await self._full_conversion(session, say)
            elif session.state is State.collecting_metadata and not session.open_questions("CRITICAL"):
                await self._preview(session, say)
                if session.state is State.ready:
                    await self._full_conversion(session, say)
            else:
                say(self._not_now(session, State.converting))
        elif command == "accept":
            if self.workflow.explain(session, State.accepted) is None:
                await self._move(session, State.accepted, "user", "the user accepted the file")
                say(f"Accepted. Your DANDI-ready file: {session.output.nwb_path if session.output else ''}")
            else:
                say(self._not_now(session, State.accepted))
        elif command == "improve":
            await self._improve(session, say)
        elif command == "retry":
            await self._retry(session, say)

    async def _choose(self, session: SessionState, say: _Reply, argument: str | None) -> None:
        options = _options(session)
        chosen: Unit | None = None
        if argument and argument.isdigit() and 1 <= int(argument) <= len(options):
            chosen = options[int(argument) - 1]
        elif argument:
            chosen = next((u for u in options if u.interface.lower() == argument.lower()), None)
        if session.state is not State.needs_format_choice or chosen is None:
            say(
                "Nothing to choose right now."
                if session.state is not State.needs_format_choice
                else self._choice_question(session)
            )
            return
        session.selected_units = [chosen]
        session.format_choice_pending = False
        await self._move(session, State.detected, "user", "the user chose a reader", chosen.interface)
        say(f"Using {chosen.interface}.")
        await self._collect(session, say)

    async def _retry(self, session: SessionState, say: _Reply) -> None:
        """Repeat what was cut short (cancelled, crashed, interrupted by a restart) with the same inputs."""
        if session.state is State.failed:
            why = self.workflow.explain(session, State.converting)
            if why is None:
                say("Retrying the full conversion.")
                await self._full_conversion(session, say)
            else:
                say(f"I can't retry: {why}.")
        elif session.state is State.collecting_metadata and session.preview is None:
            await self._check_then_preview(session, say)
        else:
            say(self._not_now(session, State.converting))

    async def _improve(self, session: SessionState, say: _Reply) -> None:
        why = self.workflow.explain(session, State.improving)
        if why is not None:
            say(f"I can't improve now: {why}.")
            return
        await self._move(session, State.improving, "user", "the user asked to improve the file")
        limit = self.workflow.max_improve_rounds
        await self._move(session, State.collecting_metadata, NAME, "improve by changing metadata")
        say(
            f"Improvement round {session.improve_rounds} of {limit}. "
            + (_ask(session) or "Tell me what to change.")
        )

    async def _after_new_metadata(self, session: SessionState, say: _Reply) -> None:
        """New answers: re-check in collecting_metadata; from ready or a finished file, re-open the loop."""
        if session.state is State.ready:
            await self._move(session, State.collecting_metadata, "user", "the user changed metadata")
        elif session.state in (State.passed, State.passed_with_issues, State.failed):
            await self._improve(session, say)
            if session.state is not State.collecting_metadata:
                return
        if session.state is State.collecting_metadata:
            await self._check_then_preview(session, say)

    # ---- metadata from the user's words, and answers to questions ---------------------------------

    async def _metadata_from_text(self, session: SessionState, say: _Reply, text: str) -> None:
        before = session.merged_metadata()
        reading = await asyncio.to_thread(
            read_turn, text, before.values(), session.pending_confirmations, self.provider
        )
        self._account(session, say, reading.usage, reading.fallback_note)
        session.pending_confirmations = reading.ask
        if reading.empty:
            open_q = _ask(session)
            say("I found no metadata values in that." + (f" {open_q}" if open_q else ""))
            return
        layers = session.metadata_layers
        layers["user-text"] = apply_reading(layers.get("user-text"), reading)
        for f in reading.save:
            if str(f.value) != f.evidence and not isinstance(f.value, list):
                session.auto_fixes.append(
                    AutoFix(
                        field=f.field, before=f.evidence, after=f.value, reason="normalized from your words"
                    )
                )
        for line in reply_lines(reading, before, session.merged_metadata(), ask=False):
            say(line)
        if reading.save or reading.remove:
            await self._after_new_metadata(session, say)
        if (ask := question(reading.ask)) is not None:
            say(ask)  # last, so the specific question is what the user answers

    def _answer(self, session: SessionState, say: _Reply, text: str) -> None:
        answer = answer_question(text, self.provider)
        self._account(session, say, answer.usage, answer.fallback_note)
        say(answer.text)

    def _account(self, session: SessionState, say: _Reply, usage: Usage, note: str | None) -> None:
        session.usage = session.usage.add(usage)
        if note:
            session.llm_notes.append(note)
            say(note)

    # ---- plumbing ---------------------------------------------------------------------------------

    async def _convert(self, session: SessionState, *, stub: bool) -> list[Any]:
        layers = [session.metadata_layers[k] for k in ("user-text", "user") if k in session.metadata_layers]
        reply = await self._call(
            session,
            api.CONVERSION,
            "convert",
            api.ConvertRequest(
                source=session.source_paths[0],
                units=session.selected_units,
                layers=layers,
                output_dir=str(self._output_dir(session) / ("preview" if stub else "nwb")),
                stub=stub,
            ),
            api.ConvertReply,
        )
        return list(reply.outputs)

    def _output_dir(self, session: SessionState) -> Path:
        return Path(session.output_dir or Path(get_settings().work_dir) / session.id)

    async def _call(
        self, session: SessionState, target: str, action: str, payload: BaseModel, result: type[Any]
    ) -> Any:
        return await self.bus.call(
            session_id=session.id, sender=NAME, target=target, action=action, payload=payload, result=result
        )

    async def _move(
        self, session: SessionState, to: State, actor: str, reason: str, input: Any = None
    ) -> None:
        """Take a workflow step and persist it at once: a crash mid-turn must not lose a step taken."""
        self.workflow.transition(session, to, actor=actor, reason=reason, input=input)
        await asyncio.to_thread(self.store.save, session)
        self.bus.publish(
            Message(
                session_id=session.id,
                sender=NAME,
                target="*",
                action="state",
                payload={"state": to.value, "actor": actor, "reason": reason},
            )
        )

    def _not_now(self, session: SessionState, to: State) -> str:
        why = self.workflow.explain(session, to) or "not possible in this state"
        return f"Not now ({session.state.value}): {why}."

    def _record_fixes(self, session: SessionState, layer: SessionMetadata, raw: dict[str, Any]) -> None:
        for field, value in layer.values().items():
            before = raw.get(field)
            if before is not None and str(before) != str(value):
                session.auto_fixes.append(
                    AutoFix(field=field, before=before, after=value, reason="normalized")
                )

    async def _turn(self, message: Message, user_text: str, run: Any) -> Turn:
        lock = self._locks.setdefault(message.session_id, asyncio.Lock())
        async with lock:
            session = await asyncio.to_thread(self.store.get, message.session_id)
            fixes_before = len(session.auto_fixes)
            session.chat.append(ChatTurn(role="user", text=user_text))
            say = _Reply(self.bus, session)
            try:
                await run(session, say)
            finally:
                await asyncio.to_thread(self.store.save, session)
            return Turn(
                session_id=session.id,
                state=session.state,
                replies=say.lines,
                questions=session.open_questions(),
                auto_fixes=session.auto_fixes[fixes_before:],
                allowed=self.workflow.allowed(session),
                preview=session.preview,
                output=session.output,
                usage=session.usage,
            )


def _options(session: SessionState) -> list[Unit]:
    """Every reading offered for a format choice: the uncertain units and their alternatives, numbered."""
    options: list[Unit] = []
    for unit in session.detection.units if session.detection else []:
        options.append(unit)
        options.extend(
            Unit(
                interface=a.interface,
                kwargs=a.kwargs,
                streams=unit.streams,
                category=unit.category,
                confidence=a.confidence,
                evidence=[a.reason],
            )
            for a in unit.alternatives
        )
    return options


def _describe(unit: Unit) -> str:
    sure = "" if unit.confidence >= 0.5 else " (uncertain)"
    return f"{unit.label} [{unit.category}]{sure}"


def _merge_questions(old: list[Question], new: list[Question]) -> list[Question]:
    by_field = {q.field: q for q in old if not q.answered}
    by_field.update({q.field: q for q in new})
    return list(by_field.values())


def _ask(session: SessionState) -> str:
    return " ".join(f"• {q.text}" for q in session.open_questions())


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no findings"


def _values(session: SessionState) -> dict[str, Any]:
    return {k: _show(v) for k, v in session.merged_metadata().values().items() if k != "identifier"}


def _changes_since_last(session: SessionState) -> list[str]:
    """What differs from the metadata of the previous full conversion, so each retry says what changed."""
    if session.output is None or not session.output.values:
        return []
    before, now = session.output.values, _values(session)
    return [
        f"{k}: {before.get(k)!r} → {now.get(k)!r}"
        for k in sorted(set(before) | set(now))
        if before.get(k) != now.get(k)
    ]


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _error_text(exc: BusError) -> str:
    p = exc.payload
    where = f"{p.path}: " if p.path else ""
    return f"{where}{p.message}" + (f" Fix: {p.hint}" if p.hint else "")
