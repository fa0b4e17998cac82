"""The Conversation agent's workflow steps: detect → metadata → checked stub preview → full conversion →
inspection → reports.

Each step asks the Conversion or Evaluation agent for work through the bus, moves the workflow state
machine (persisting each step at once) and says what happened. The stub-first loop lives here: metadata is
checked and a stub preview inspected before the one full conversion, so problems are fixed while they are
cheap. The Conversation agent decides *when* a step runs (commands, answers); this module is *what* it does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nwbagent.agents import contracts
from nwbagent.agents import units as streams
from nwbagent.agents.bus import Bus
from nwbagent.agents.config import AgentConfig
from nwbagent.agents.messages import BusError, Message
from nwbagent.agents.phrasing import (
    NAME,
    NEXT_FILES,
    Reply,
    changes_since_last,
    counts_text,
    error_text,
    merge_questions,
    nothing_found,
    questions_text,
    shown_values,
    sum_counts,
    worst,
)
from nwbagent.agents.state import AutoFix, NwbSummary, Question, SessionState, State
from nwbagent.agents.store import SessionStore
from nwbagent.agents.workflow import Workflow
from nwbagent.formats.model import Unit
from nwbagent.llm.base import Provider
from nwbagent.metadata.schema import SessionMetadata


class Pipeline:
    """The steps of one session's conversion, shared by every entry point of the Conversation agent."""

    def __init__(
        self, bus: Bus, store: SessionStore, workflow: Workflow, provider: Provider, config: AgentConfig
    ) -> None:
        self.bus = bus
        self.store = store
        self.workflow = workflow
        self.provider = provider
        self.config = config

    # ---- steps ---------------------------------------------------------------------------

    async def receive_files(self, session: SessionState, say: Reply, source: str) -> None:
        await self.move(session, State.files_received, "user", "files given", {"source": source})
        try:
            found = await self.call(
                session,
                contracts.CONVERSION,
                "detect",
                contracts.DetectRequest(source=source),
                contracts.DetectReply,
            )
        except BusError as exc:
            say(error_text(exc) + " " + NEXT_FILES)
            return
        session.detection = found.detection
        session.parts = []
        detection = found.detection
        for warning in detection.warnings:
            say(f"Note: {warning}")
        for item in detection.left_out:
            say(streams.left_out_text(item))
        if not detection.units:
            say(nothing_found(detection) + " " + NEXT_FILES)
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
            await self.move(session, State.detected, NAME, "confident units", [u.label for u in confident])
            await self.collect(session, say)
        else:
            session.format_choice_pending = True
            await self.move(session, State.needs_format_choice, NAME, "only uncertain readings")
            say(self.choice_question(session))

    def choice_question(self, session: SessionState) -> str:
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

    async def collect(self, session: SessionState, say: Reply) -> None:
        if session.state is not State.collecting_metadata:
            await self.move(
                session, State.collecting_metadata, NAME, "gather metadata for the selected units"
            )
        if not session.ready_units():
            await self.check_then_preview(session, say)
            return
        source = session.source_paths[0]
        try:
            read = await self.call(
                session,
                contracts.CONVERSION,
                "read_metadata",
                contracts.ReadMetadataRequest(
                    source=source, units=session.ready_units(), timezone=self.config.timezone
                ),
                contracts.ReadMetadataReply,
            )
        except BusError as exc:
            say(error_text(exc) + " Say 'retry' to read the files again, or give other files.")
            return
        self.take_left_out(session, say, read.left_out)
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
        await self.check_then_preview(session, say)

    def take_left_out(self, session: SessionState, say: Reply, items: list[Any]) -> None:
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

    async def check_then_preview(self, session: SessionState, say: Reply) -> None:
        """Ask what only the user can answer; once nothing critical is open, make the stub preview."""
        checked = await self.call(
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
        await self.preview(session, say)

    async def preview(self, session: SessionState, say: Reply) -> None:
        await self.move(session, State.previewing, NAME, "stub conversion and inspection")
        try:
            outputs = await self.convert(session, stub=True)
            inspections = [await self.inspect(session, out.nwb, stub=True) for out in outputs]
        except BusError as exc:
            say(error_text(exc) + " Change what the message says and say 'preview', or give other files.")
            await self.move(
                session, State.collecting_metadata, NAME, "the preview could not be made", exc.payload.message
            )
            return
        self.say_left_out(session, say, outputs)
        verdict = worst([i.inspection.verdict for i in inspections])
        counts = sum_counts([i.inspection.counts for i in inspections])
        session.preview = NwbSummary(nwb_path=outputs[0].nwb, verdict=verdict, findings=counts)
        asked = session.questions
        for inspected in inspections:
            asked = merge_questions(asked, inspected.questions)
        session.questions = asked
        blocking = session.open_questions("CRITICAL") or verdict == "FAILED"
        if blocking:
            await self.move(session, State.collecting_metadata, NAME, "the preview needs answers", counts)
            say(f"The preview found problems ({counts_text(counts)}). " + questions_text(session))
            return
        await self.move(session, State.ready, NAME, "preview passed", counts)
        extra = f" Optional improvements: {questions_text(session)}" if session.open_questions() else ""
        files = f" ({len(outputs)} files, one per acquisition)" if len(outputs) > 1 else ""
        verdict_text = f"Preview{files}: {verdict} ({counts_text(counts)})."
        say(f"{verdict_text}{extra} Say 'convert' for the full conversion.")

    async def inspect(self, session: SessionState, nwb: str, *, stub: bool) -> contracts.InspectReply:
        reply: contracts.InspectReply = await self.call(
            session,
            contracts.EVALUATION,
            "inspect",
            contracts.InspectRequest(nwb_path=nwb, stub=stub),
            contracts.InspectReply,
        )
        return reply

    def say_left_out(self, session: SessionState, say: Reply, outputs: list[Any]) -> None:
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

    async def full_conversion(self, session: SessionState, say: Reply) -> None:
        changed = changes_since_last(session)
        await self.move(session, State.converting, "user", "full conversion", {"changed": changed})
        session.more_outputs = []
        if changed:
            say("Changed since the last conversion: " + "; ".join(changed) + ".")
        try:
            outputs = await self.convert(session, stub=False)
        except BusError as exc:
            await self.move(session, State.failed, NAME, "the conversion crashed", exc.payload.message)
            say(error_text(exc) + " Say 'retry' to run it again, 'improve' to change it, or 'abandon'.")
            return
        summaries = [
            NwbSummary(
                nwb_path=o.nwb, values=shown_values(session), acquisition=o.acquisition, left_out=o.left_out
            )
            for o in outputs
        ]
        session.output, session.more_outputs = summaries[0], summaries[1:]
        self.say_left_out(session, say, outputs)
        await self.move(session, State.inspecting, NAME, "inspect the written file", [o.nwb for o in outputs])
        data_findings = []
        questions: list[Question] = []
        for summary in summaries:
            inspected = await self.inspect(session, summary.nwb_path, stub=False)
            summary.verdict = inspected.inspection.verdict
            summary.findings = inspected.inspection.counts
            questions = merge_questions(questions, inspected.questions)
            data_findings += inspected.data_findings
            size = Path(summary.nwb_path).stat().st_size / 1e6
            which = f" ({summary.acquisition})" if summary.acquisition and len(summaries) > 1 else ""
            say(
                f"Wrote {Path(summary.nwb_path).name}{which} ({size:.1f} MB): {summary.verdict} "
                f"({counts_text(summary.findings)})."
            )
            await self.write_report(session, say, inspected.inspection, summary)
        session.questions = questions
        verdict = worst([s.verdict for s in summaries])
        counts = sum_counts([s.findings for s in summaries])
        target = {"PASSED": State.passed, "PASSED_WITH_ISSUES": State.passed_with_issues}.get(
            verdict, State.failed
        )
        await self.move(session, target, contracts.EVALUATION, f"inspector verdict {verdict}", counts)
        for finding in data_findings[:5]:
            say(f"• {finding.importance}: {finding.message} Fix: {finding.fix}")
        if target is State.failed:
            say(
                "This file is not DANDI-ready. "
                + (questions_text(session) if session.questions else "")
                + " Say 'improve' or 'abandon'."
            )
        else:
            say("Say 'accept' to keep it, 'improve' to fix the remaining issues, or 'abandon'.")

    async def write_report(
        self, session: SessionState, say: Reply, inspection: Any, summary: NwbSummary | None = None
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
            reply = await self.call(session, contracts.EVALUATION, "report", request, contracts.ReportReply)
        except BusError as exc:
            say(f"The report could not be written: {error_text(exc)}")
            return
        say("Reports: " + ", ".join(sorted(reply.files)) + f" next to {Path(summary.nwb_path).name}.")

    # ---- plumbing shared with the agent -------------------------------------------------------------

    async def convert(self, session: SessionState, *, stub: bool) -> list[Any]:
        layers = [session.metadata_layers[k] for k in ("user-text", "user") if k in session.metadata_layers]
        reply = await self.call(
            session,
            contracts.CONVERSION,
            "convert",
            contracts.ConvertRequest(
                source=session.source_paths[0],
                units=session.ready_units(),
                layers=layers,
                output_dir=str(self.output_dir(session) / ("preview" if stub else "nwb")),
                stub=stub,
                timezone=self.config.timezone,
                write=self.config.write,
            ),
            contracts.ConvertReply,
        )
        return list(reply.outputs)

    def output_dir(self, session: SessionState) -> Path:
        return Path(session.output_dir or Path(self.config.work_dir) / session.id)

    async def call(
        self, session: SessionState, target: str, action: str, payload: BaseModel, result: type[Any]
    ) -> Any:
        return await self.bus.call(
            session_id=session.id, sender=NAME, target=target, action=action, payload=payload, result=result
        )

    async def move(
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

    def not_now(self, session: SessionState, to: State) -> str:
        why = self.workflow.explain(session, to) or "not possible in this state"
        return f"Not now ({session.state.value}): {why}."
