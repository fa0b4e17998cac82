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
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.agents import contracts
from nwbagent.agents import units as streams
from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.config import AgentConfig
from nwbagent.agents.messages import BusError, Message
from nwbagent.agents.state import AutoFix, ChatTurn, NwbSummary, Question, SessionState, State
from nwbagent.agents.store import SessionStore
from nwbagent.agents.view import Turn, session_view
from nwbagent.agents.workflow import Workflow
from nwbagent.formats.model import Unit
from nwbagent.llm.base import Provider, Usage
from nwbagent.metadata import from_user
from nwbagent.metadata.merge import merge
from nwbagent.metadata.schema import SessionMetadata
from nwbagent.sentences import answer_question, is_question
from nwbagent.sentences.dialogue import apply_reading, question, read_turn, reply_lines

NAME = contracts.CONVERSATION

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
_NONE = re.compile(r"^(?:none|none of (?:these|them|those)|neither|no(?:ne)? fits?|not these)[.!]?$", re.I)


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


class SetValuesRequest(BaseModel):
    """Values a stream's reader needs that the files lack: ``{unit handle: {argument: value}}``."""

    values: dict[str, dict[str, Any]]


class SelectPartsRequest(BaseModel):
    """Acquisitions or segments to convert ("experiment2", "g0 t1"); an empty list means all of them."""

    parts: list[str] = Field(default_factory=list, max_length=200)


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
        self,
        bus: Bus,
        store: SessionStore,
        provider: Provider,
        *,
        provider_note: str | None = None,
        config: AgentConfig | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.provider = provider
        self.provider_note = provider_note
        self.config = config or AgentConfig()
        self.workflow = Workflow(self.config.max_improve_rounds)
        self._locks: dict[str, asyncio.Lock] = {}
        bus.register(
            NAME,
            [
                Action("start", StartRequest, Turn, self.start),
                Action("user_message", UserMessageRequest, Turn, self.user_message),
                Action("command", CommandRequest, Turn, self.command),
                Action("set_metadata", SetMetadataRequest, Turn, self.set_metadata),
                Action("set_values", SetValuesRequest, Turn, self.set_values),
                Action("select_parts", SelectPartsRequest, Turn, self.select_parts),
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

        return await self._turn(message, "Files given: " + _given(request.source), run, event=True)

    async def user_message(self, message: Message, request: UserMessageRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            text = request.text.strip()
            command = command_in(text)
            choose = _CHOOSE.match(text)
            values = streams.values_in_text(text, session.open_questions())
            parts = streams.parts_in_text(text, session.confident_units())
            if command is not None:
                await self._command(session, say, command, None)
            elif choose and session.state is State.needs_format_choice:
                await self._command(session, say, "choose", choose.group(1))
            elif _NONE.match(text) and session.state is State.needs_format_choice:
                await self._command(session, say, "choose", "none")
            elif values:
                await self._set_values(session, say, values)
            elif parts is not None and session.state not in _BUSY_OR_DONE:
                await self._select_parts(session, say, parts)
            elif is_question(text):
                self._answer(session, say, text)
            else:
                await self._metadata_from_text(session, say, text)

        return await self._turn(message, request.text, run)

    async def command(self, message: Message, request: CommandRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            await self._command(session, say, request.command, request.argument)

        return await self._turn(message, _action_text(request), run, event=True)

    async def set_metadata(self, message: Message, request: SetMetadataRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            layer = from_user(
                request.fields, evidence="entered in the metadata form", timezone=self.config.timezone
            )
            previous = session.metadata_layers.get("user")
            session.metadata_layers["user"] = merge(previous, layer) if previous else layer
            self._record_fixes(session, layer, request.fields)
            errors = layer.errors()
            for field, error in errors.items():
                say(f"{field}: {error}")
            if not errors:
                say("Saved: " + ", ".join(f"{k} = {_show(v)}" for k, v in layer.values().items()) + ".")
            await self._after_new_metadata(session, say)

        return await self._turn(
            message, "Saved in the form: " + ", ".join(sorted(request.fields)), run, event=True
        )

    async def set_values(self, message: Message, request: SetValuesRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            await self._set_values(session, say, request.values)

        given = "; ".join(f"{k} = {v}" for values in request.values.values() for k, v in values.items())
        return await self._turn(message, f"Values given: {given}", run, event=True)

    async def select_parts(self, message: Message, request: SelectPartsRequest) -> Turn:
        async def run(session: SessionState, say: _Reply) -> None:
            await self._select_parts(session, say, request.parts)

        picked = ", ".join(request.parts) or "all parts"
        return await self._turn(message, f"Parts picked: {picked}", run, event=True)

    # ---- workflow steps ---------------------------------------------------------------------------

    async def _receive_files(self, session: SessionState, say: _Reply, source: str) -> None:
        await self._move(session, State.files_received, "user", "files given", {"source": source})
        try:
            found = await self._call(
                session,
                contracts.CONVERSION,
                "detect",
                contracts.DetectRequest(source=source),
                contracts.DetectReply,
            )
        except BusError as exc:
            say(_error_text(exc) + " " + _NEXT_FILES)
            return
        session.detection = found.detection
        session.parts = []
        detection = found.detection
        for warning in detection.warnings:
            say(f"Note: {warning}")
        for item in detection.left_out:
            say(streams.left_out_text(item))
        if not detection.units:
            say(_nothing_found(detection) + " " + _NEXT_FILES)
            return
        confident = session.confident_units()
        say("I found: " + "; ".join(streams.describe(u) for u in detection.units) + ".")
        if confident:
            session.selected_units = confident
            skipped = [u for u in detection.units if u.confidence < 0.5]
            for unit in skipped:
                say(f"I left out {unit.label} because I am not sure what it is ({unit.disambiguation}).")
            offer = streams.parts_offer(confident)
            if offer:
                say(offer)
            await self._move(session, State.detected, NAME, "confident units", [u.label for u in confident])
            await self._collect(session, say)
        else:
            session.format_choice_pending = True
            await self._move(session, State.needs_format_choice, NAME, "only uncertain readings")
            say(self._choice_question(session))

    def _choice_question(self, session: SessionState) -> str:
        options = streams.reading_options(session)
        units = session.detection.units if session.detection else []
        why = next((u.disambiguation for u in units if u.disambiguation), None)
        listing = " ".join(
            f"{i}. {streams.describe(u)}: {streams.reason(u)}." for i, u in enumerate(options, start=1)
        )
        lead = why or "These files can be read in more than one way."
        return (
            f"{lead} Choose one: {listing} Say e.g. 'use 1', or 'none of these' if none of them produced "
            "your files."
        )

    async def _collect(self, session: SessionState, say: _Reply) -> None:
        if session.state is not State.collecting_metadata:
            await self._move(
                session, State.collecting_metadata, NAME, "gather metadata for the selected units"
            )
        if not session.ready_units():
            await self._check_then_preview(session, say)
            return
        source = session.source_paths[0]
        try:
            read = await self._call(
                session,
                contracts.CONVERSION,
                "read_metadata",
                contracts.ReadMetadataRequest(
                    source=source, units=session.ready_units(), timezone=self.config.timezone
                ),
                contracts.ReadMetadataReply,
            )
        except BusError as exc:
            say(_error_text(exc) + " Say 'retry' to read the files again, or give other files.")
            return
        self._take_left_out(session, say, read.left_out)
        for note in read.notes:
            say(f"Note: {note}")
        session.metadata_layers.update(read.layers)
        start = read.layers.get("file", SessionMetadata()).get("session_start_time")
        if start is not None and "assumed" in start.evidence:
            assumption = "assumed" + start.evidence.split("assumed", 1)[1]
            session.auto_fixes.append(
                AutoFix(field="session_start_time", before=None, after=str(start.value), reason=assumption)
            )
            say(f"The start time in the files ({start.value}) has no time zone: {assumption}.")
        await self._check_then_preview(session, say)

    def _take_left_out(self, session: SessionState, say: _Reply, items: list[Any]) -> None:
        """Units whose reader could not open them: a missing value becomes a question, the rest are said."""
        waiting = {(i.unit.interface, str(i.unit.kwargs)): i.unit for i in items if i.unit and i.unit.needs}
        dropped = {(i.unit.interface, str(i.unit.kwargs)) for i in items if i.unit and not i.unit.needs}
        kept: list[Unit] = []
        for unit in session.selected_units:
            key = (unit.interface, str(unit.kwargs))
            if key in dropped:
                continue
            kept.append(waiting.get(key, unit))
        session.selected_units = kept
        said = {turn.text for turn in session.chat}
        for item in items:
            if item.unit is not None and item.unit.needs:
                continue
            if session.detection is not None and item.label not in {
                x.label for x in session.detection.left_out
            }:
                session.detection.left_out.append(item)
            text = streams.left_out_text(item)
            if text not in said:
                say(text)

    async def _check_then_preview(self, session: SessionState, say: _Reply) -> None:
        """Ask what only the user can answer; once nothing critical is open, make the stub preview."""
        checked = await self._call(
            session,
            contracts.EVALUATION,
            "check_metadata",
            contracts.CheckMetadataRequest(metadata=session.merged_metadata()),
            contracts.CheckMetadataReply,
        )
        session.questions = checked.questions + streams.value_questions(session)
        if not session.selected_units:
            say(
                "Nothing is left to convert: every stream was left out (see above). Give other files, or "
                "say 'abandon' to start over."
            )
            return
        critical = session.open_questions("CRITICAL")
        if critical:
            say("Before I convert, I need: " + " ".join(f"• {q.text}" for q in critical))
            return
        await self._preview(session, say)

    async def _preview(self, session: SessionState, say: _Reply) -> None:
        await self._move(session, State.previewing, NAME, "stub conversion and inspection")
        try:
            outputs = await self._convert(session, stub=True)
            inspections = [await self._inspect(session, out.nwb, stub=True) for out in outputs]
        except BusError as exc:
            say(_error_text(exc) + " Change what the message says and say 'preview', or give other files.")
            await self._move(
                session, State.collecting_metadata, NAME, "the preview could not be made", exc.payload.message
            )
            return
        self._say_left_out(session, say, outputs)
        verdict = _worst([i.inspection.verdict for i in inspections])
        counts = _sum_counts([i.inspection.counts for i in inspections])
        session.preview = NwbSummary(nwb_path=outputs[0].nwb, verdict=verdict, findings=counts)
        asked = session.questions
        for inspected in inspections:
            asked = _merge_questions(asked, inspected.questions)
        session.questions = asked
        blocking = session.open_questions("CRITICAL") or verdict == "FAILED"
        if blocking:
            await self._move(session, State.collecting_metadata, NAME, "the preview needs answers", counts)
            say(f"The preview found problems ({_counts(counts)}). " + _ask(session))
            return
        await self._move(session, State.ready, NAME, "preview passed", counts)
        extra = f" Optional improvements: {_ask(session)}" if session.open_questions() else ""
        files = f" ({len(outputs)} files, one per acquisition)" if len(outputs) > 1 else ""
        verdict_text = f"Preview{files}: {verdict} ({_counts(counts)})."
        say(f"{verdict_text}{extra} Say 'convert' for the full conversion.")

    async def _inspect(self, session: SessionState, nwb: str, *, stub: bool) -> contracts.InspectReply:
        reply: contracts.InspectReply = await self._call(
            session,
            contracts.EVALUATION,
            "inspect",
            contracts.InspectRequest(nwb_path=nwb, stub=stub),
            contracts.InspectReply,
        )
        return reply

    def _say_left_out(self, session: SessionState, say: _Reply, outputs: list[Any]) -> None:
        said = {turn.text for turn in session.chat}
        for out in outputs:
            for warning in out.warnings:
                if f"Note: {warning}" not in said:
                    said.add(f"Note: {warning}")
                    say(f"Note: {warning}")
            for item in out.left_out:
                text = streams.left_out_text(item)
                if text not in said:
                    said.add(text)
                    say(text)

    async def _full_conversion(self, session: SessionState, say: _Reply) -> None:
        changed = _changes_since_last(session)
        await self._move(session, State.converting, "user", "full conversion", {"changed": changed})
        session.more_outputs = []
        if changed:
            say("Changed since the last conversion: " + "; ".join(changed) + ".")
        try:
            outputs = await self._convert(session, stub=False)
        except BusError as exc:
            await self._move(session, State.failed, NAME, "the conversion crashed", exc.payload.message)
            say(_error_text(exc) + " Say 'retry' to run it again, 'improve' to change it, or 'abandon'.")
            return
        summaries = [
            NwbSummary(
                nwb_path=o.nwb, values=_values(session), acquisition=o.acquisition, left_out=o.left_out
            )
            for o in outputs
        ]
        session.output, session.more_outputs = summaries[0], summaries[1:]
        self._say_left_out(session, say, outputs)
        await self._move(
            session, State.inspecting, NAME, "inspect the written file", [o.nwb for o in outputs]
        )
        data_findings = []
        questions: list[Question] = []
        for summary in summaries:
            inspected = await self._inspect(session, summary.nwb_path, stub=False)
            summary.verdict = inspected.inspection.verdict
            summary.findings = inspected.inspection.counts
            questions = _merge_questions(questions, inspected.questions)
            data_findings += inspected.data_findings
            size = Path(summary.nwb_path).stat().st_size / 1e6
            which = f" ({summary.acquisition})" if summary.acquisition and len(summaries) > 1 else ""
            say(
                f"Wrote {Path(summary.nwb_path).name}{which} ({size:.1f} MB): {summary.verdict} "
                f"({_counts(summary.findings)})."
            )
            await self._write_report(session, say, inspected.inspection, summary)
        session.questions = questions
        verdict = _worst([s.verdict for s in summaries])
        counts = _sum_counts([s.findings for s in summaries])
        target = {"PASSED": State.passed, "PASSED_WITH_ISSUES": State.passed_with_issues}.get(
            verdict, State.failed
        )
        await self._move(session, target, contracts.EVALUATION, f"inspector verdict {verdict}", counts)
        for finding in data_findings[:5]:
            say(f"• {finding.importance}: {finding.message} Fix: {finding.fix}")
        if target is State.failed:
            say(
                "This file is not DANDI-ready. "
                + (_ask(session) if session.questions else "")
                + " Say 'improve' or 'abandon'."
            )
        else:
            say("Say 'accept' to keep it, 'improve' to fix the remaining issues, or 'abandon'.")

    async def _write_report(
        self, session: SessionState, say: _Reply, inspection: Any, summary: NwbSummary | None = None
    ) -> None:
        """Reports (HTML, PDF, JSON, text) with this session's trace and LLM usage, next to the file.

        A report that cannot be made is said, never fatal: the NWB file is the product.
        """
        summary = summary or session.output
        if summary is None:
            return
        request = contracts.ReportRequest(
            nwb_path=summary.nwb_path,
            inspection=inspection,
            source=session.source_paths[0] if session.source_paths else None,
            units=[u for u in session.ready_units() if u.acquisition == summary.acquisition]
            or session.ready_units(),
            trace=session.trace,
            usage=session.usage,
            provider=self.provider.name,
            model=self.provider.model,
        )
        try:
            reply = await self._call(session, contracts.EVALUATION, "report", request, contracts.ReportReply)
        except BusError as exc:
            say(f"The report could not be written: {_error_text(exc)}")
            return
        say("Reports: " + ", ".join(sorted(reply.files)) + f" next to {Path(summary.nwb_path).name}.")

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
                names = ", ".join(Path(o.nwb_path).name for o in session.outputs())
                plural = "s" if len(session.outputs()) > 1 else ""
                say(f"Accepted. Your DANDI-ready file{plural}: {names} (see Downloads).")
            else:
                say(self._not_now(session, State.accepted))
        elif command == "improve":
            await self._improve(session, say)
        elif command == "retry":
            await self._retry(session, say)

    async def _choose(self, session: SessionState, say: _Reply, argument: str | None) -> None:
        if (
            argument
            and argument.strip().lower() in ("none", "0")
            and session.state is State.needs_format_choice
        ):
            session.format_choice_pending = False
            session.selected_units = []
            await self._move(session, State.files_received, "user", "none of the readers fits")
            say(
                "Understood: none of these readers fits. Check that the files are complete, as the "
                "acquisition software saved them (with their companion files). " + _NEXT_FILES
            )
            return
        options = streams.reading_options(session)
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

    # ---- values the readers need, and parts of the folder -----------------------------------------

    async def _set_values(
        self, session: SessionState, say: _Reply, values: dict[str, dict[str, Any]]
    ) -> None:
        done, refused = streams.answer_values(session, values)
        for text in refused:
            say(f"I could not use that value: {text}.")
        if not done and not refused:
            say(
                "No stream is waiting for that value."
                + (f" {_ask(session)}" if session.open_questions() else "")
            )
            return
        if done:
            say("Saved: " + "; ".join(done) + ".")
        await self._values_changed(session, say)

    async def _select_parts(self, session: SessionState, say: _Reply, parts: list[str]) -> None:
        if session.state in _BUSY_OR_DONE or session.detection is None:
            say(self._not_now(session, State.collecting_metadata))
            return
        chosen = streams.apply_parts(session, parts)
        if not chosen:
            offered = ", ".join(streams.available_parts(session.confident_units())) or "none"
            say(f"None of the streams has {', '.join(parts)}; the parts here are: {offered}.")
            return
        session.selected_units = chosen
        picked = ", ".join(parts) if parts else "all parts"
        say(f"Converting {picked}: " + "; ".join(streams.describe(u) for u in chosen) + ".")
        await self._values_changed(session, say)

    async def _values_changed(self, session: SessionState, say: _Reply) -> None:
        """What the streams will be changed: read the files again and preview, from wherever we are."""
        if session.state in (State.passed, State.passed_with_issues, State.failed):
            await self._improve(session, say)
            if session.state is not State.collecting_metadata:
                return
        elif session.state is State.ready:
            await self._move(session, State.collecting_metadata, "user", "the user changed the streams")
        elif session.state is State.detected:
            pass
        elif session.state is not State.collecting_metadata:
            return
        session.preview = None
        await self._collect(session, say)

    # ---- metadata from the user's words, and answers to questions ---------------------------------

    async def _metadata_from_text(self, session: SessionState, say: _Reply, text: str) -> None:
        before = session.merged_metadata()
        reading = await asyncio.to_thread(
            partial(read_turn, timezone=self.config.timezone),
            text,
            before.values(),
            session.pending_confirmations,
            self.provider,
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
            contracts.CONVERSION,
            "convert",
            contracts.ConvertRequest(
                source=session.source_paths[0],
                units=session.ready_units(),
                layers=layers,
                output_dir=str(self._output_dir(session) / ("preview" if stub else "nwb")),
                stub=stub,
                timezone=self.config.timezone,
                write=self.config.write,
            ),
            contracts.ConvertReply,
        )
        return list(reply.outputs)

    def _output_dir(self, session: SessionState) -> Path:
        return Path(session.output_dir or Path(self.config.work_dir) / session.id)

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

    async def _turn(self, message: Message, user_text: str, run: Any, *, event: bool = False) -> Turn:
        """One input under the session's lock. ``event``: a button or form, not words the user typed; it
        is kept in the chat as a system line so the history reads as what happened."""
        lock = self._locks.setdefault(message.session_id, asyncio.Lock())
        async with lock:
            session = await asyncio.to_thread(self.store.get, message.session_id)
            fixes_before = len(session.auto_fixes)
            session.chat.append(ChatTurn(role="system" if event else "user", text=user_text))
            say = _Reply(self.bus, session)
            try:
                await run(session, say)
            finally:
                await asyncio.to_thread(self.store.save, session)
            return Turn(
                **session_view(session, self.workflow, chat=False),
                replies=say.lines,
                new_auto_fixes=session.auto_fixes[fixes_before:],
            )


_ACTION_WORDS = {
    "preview": "Preview requested",
    "convert": "Conversion requested",
    "accept": "File accepted",
    "improve": "Improvement requested",
    "abandon": "Session abandoned",
    "retry": "Retry requested",
}


def _action_text(request: CommandRequest) -> str:
    """A button press as the chat shows it."""
    if request.command == "choose":
        return (
            "Reader chosen: none of these"
            if (request.argument or "").lower() == "none"
            else (f"Reader chosen: {request.argument}")
        )
    return _ACTION_WORDS.get(request.command, request.command)


def _given(source: str) -> str:
    """What the user gave, as they know it: the folder or file name, never the server's path."""
    path = Path(source)
    return path.name if path.name != "uploads" else "the uploaded files"


#: States in which the streams of a session can no longer change.
_BUSY_OR_DONE = frozenset(
    {State.converting, State.inspecting, State.previewing, State.accepted, State.abandoned, State.created}
)
_NEXT_FILES = (
    "You can give another folder or upload other files (the session starts again from them), or say "
    "'abandon' to start over."
)


def _nothing_found(detection: Any) -> str:
    reasons = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in detection.unsupported)
    if detection.left_out:
        return "Nothing here can be converted as it is (see above)."
    return "I found no recording NeuroConv can convert here." + (
        f" Recognised but unsupported: {reasons}." if reasons else ""
    )


def _worst(verdicts: list[Any]) -> Any:
    order = ("FAILED", "PASSED_WITH_ISSUES", "PASSED")
    known = [v for v in verdicts if v in order]
    return min(known, key=order.index) if known else None


def _sum_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, n in one.items():
            total[key] = total.get(key, 0) + n
    return total


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
