"""The Conversation agent: talks to the user and decides the workflow.

It is the only agent that reads and writes the session store. Each input (typed words, a button, a form)
runs under the session's lock: the agent decides what the input means — a command, a reader choice, values
a reader needs, parts to convert, a question, or metadata in the user's words — and runs the matching
steps of :mod:`nwbagent.agents.pipeline`.

With an LLM configured, metadata extraction and answers to questions use it; on any LLM failure the rules
take over and the user is told in one line. Commands (convert, accept, …) are never inferred by an LLM.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

from nwbagent.agents import units as streams
from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.commands import (
    CHOOSE,
    NONE_FITS,
    STREAMS_FIXED,
    Command,
    CommandRequest,
    SelectPartsRequest,
    SetMetadataRequest,
    SetValuesRequest,
    StartRequest,
    UserMessageRequest,
    action_text,
    command_in,
)
from nwbagent.agents.config import AgentConfig
from nwbagent.agents.messages import Message
from nwbagent.agents.phrasing import NAME, NEXT_FILES, Reply, given, questions_text, shown
from nwbagent.agents.pipeline import Pipeline
from nwbagent.agents.state import AutoFix, ChatTurn, SessionState, State
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

__all__ = ["ConversationAgent", "Turn", "command_in"]


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
        self.pipeline = Pipeline(bus, store, self.workflow, provider, self.config)
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
        async def run(session: SessionState, say: Reply) -> None:
            session.output_dir = request.output_dir or session.output_dir
            session.source_paths = [request.source]
            if self.provider_note and self.provider_note not in session.llm_notes:
                session.llm_notes.append(self.provider_note)
                say(self.provider_note)
            await self.pipeline.receive_files(session, say, request.source)

        return await self._turn(message, "Files given: " + given(request.source), run, event=True)

    async def user_message(self, message: Message, request: UserMessageRequest) -> Turn:
        async def run(session: SessionState, say: Reply) -> None:
            text = request.text.strip()
            command = command_in(text)
            choose = CHOOSE.match(text)
            values = streams.values_in_text(text, session.open_questions())
            parts = streams.parts_in_text(text, session.confident_units())
            if command is not None:
                await self._command(session, say, command, None)
            elif choose and session.state is State.needs_format_choice:
                await self._command(session, say, "choose", choose.group(1))
            elif NONE_FITS.match(text) and session.state is State.needs_format_choice:
                await self._command(session, say, "choose", "none")
            elif values:
                await self._set_values(session, say, values)
            elif parts is not None and session.state not in STREAMS_FIXED:
                await self._select_parts(session, say, parts)
            elif is_question(text):
                self._answer(session, say, text)
            else:
                await self._metadata_from_text(session, say, text)

        return await self._turn(message, request.text, run)

    async def command(self, message: Message, request: CommandRequest) -> Turn:
        async def run(session: SessionState, say: Reply) -> None:
            await self._command(session, say, request.command, request.argument)

        return await self._turn(message, action_text(request), run, event=True)

    async def set_metadata(self, message: Message, request: SetMetadataRequest) -> Turn:
        async def run(session: SessionState, say: Reply) -> None:
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
                say("Saved: " + ", ".join(f"{k} = {shown(v)}" for k, v in layer.values().items()) + ".")
            await self._after_new_metadata(session, say)

        return await self._turn(
            message, "Saved in the form: " + ", ".join(sorted(request.fields)), run, event=True
        )

    async def set_values(self, message: Message, request: SetValuesRequest) -> Turn:
        async def run(session: SessionState, say: Reply) -> None:
            await self._set_values(session, say, request.values)

        given = "; ".join(f"{k} = {v}" for values in request.values.values() for k, v in values.items())
        return await self._turn(message, f"Values given: {given}", run, event=True)

    async def select_parts(self, message: Message, request: SelectPartsRequest) -> Turn:
        async def run(session: SessionState, say: Reply) -> None:
            await self._select_parts(session, say, request.parts)

        picked = ", ".join(request.parts) or "all parts"
        return await self._turn(message, f"Parts picked: {picked}", run, event=True)

    async def _command(
        self, session: SessionState, say: Reply, command: Command, argument: str | None
    ) -> None:
        if command == "abandon":
            await self.pipeline.move(session, State.abandoned, "user", "the user abandoned the session")
            say("Session abandoned. Nothing more will be converted.")
        elif command == "choose":
            await self._choose(session, say, argument)
        elif command == "preview":
            if session.state in (State.collecting_metadata, State.ready, State.improving):
                if session.state is State.ready:
                    await self.pipeline.move(session, State.collecting_metadata, "user", "preview again")
                await self.pipeline.preview(session, say)
            else:
                say(self.pipeline.not_now(session, State.previewing))
        elif command == "convert":
            if session.state is State.ready:
                await self.pipeline.full_conversion(session, say)
            elif session.state is State.collecting_metadata and not session.open_questions("CRITICAL"):
                await self.pipeline.preview(session, say)
                if session.state is State.ready:
                    await self.pipeline.full_conversion(session, say)
            else:
                say(self.pipeline.not_now(session, State.converting))
        elif command == "accept":
            if self.workflow.explain(session, State.accepted) is None:
                await self.pipeline.move(session, State.accepted, "user", "the user accepted the file")
                names = ", ".join(Path(o.nwb_path).name for o in session.outputs())
                plural = "s" if len(session.outputs()) > 1 else ""
                say(f"Accepted. Your DANDI-ready file{plural}: {names} (see Downloads).")
            else:
                say(self.pipeline.not_now(session, State.accepted))
        elif command == "improve":
            await self._improve(session, say)
        elif command == "retry":
            await self._retry(session, say)

    async def _choose(self, session: SessionState, say: Reply, argument: str | None) -> None:
        if (
            argument
            and argument.strip().lower() in ("none", "0")
            and session.state is State.needs_format_choice
        ):
            session.format_choice_pending = False
            session.selected_units = []
            await self.pipeline.move(session, State.files_received, "user", "none of the readers fits")
            say(
                "Understood: none of these readers fits. Check that the files are complete, as the "
                "acquisition software saved them (with their companion files). " + NEXT_FILES
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
                else self.pipeline.choice_question(session)
            )
            return
        session.selected_units = [chosen]
        session.format_choice_pending = False
        await self.pipeline.move(session, State.detected, "user", "the user chose a reader", chosen.interface)
        say(f"Using {chosen.interface}.")
        await self.pipeline.collect(session, say)

    async def _retry(self, session: SessionState, say: Reply) -> None:
        """Repeat what was cut short (cancelled, crashed, interrupted by a restart) with the same inputs."""
        if session.state is State.failed:
            why = self.workflow.explain(session, State.converting)
            if why is None:
                say("Retrying the full conversion.")
                await self.pipeline.full_conversion(session, say)
            else:
                say(f"I can't retry: {why}.")
        elif session.state is State.collecting_metadata and session.preview is None:
            await self.pipeline.check_then_preview(session, say)
        else:
            say(self.pipeline.not_now(session, State.converting))

    async def _improve(self, session: SessionState, say: Reply) -> None:
        why = self.workflow.explain(session, State.improving)
        if why is not None:
            say(f"I can't improve now: {why}.")
            return
        await self.pipeline.move(session, State.improving, "user", "the user asked to improve the file")
        limit = self.workflow.max_improve_rounds
        await self.pipeline.move(session, State.collecting_metadata, NAME, "improve by changing metadata")
        say(
            f"Improvement round {session.improve_rounds} of {limit}. "
            + (questions_text(session) or "Tell me what to change.")
        )

    async def _after_new_metadata(self, session: SessionState, say: Reply) -> None:
        """New answers: re-check in collecting_metadata; from ready or a finished file, re-open the loop."""
        if session.state is State.ready:
            await self.pipeline.move(session, State.collecting_metadata, "user", "the user changed metadata")
        elif session.state in (State.passed, State.passed_with_issues, State.failed):
            await self._improve(session, say)
            if session.state is not State.collecting_metadata:
                return
        if session.state is State.collecting_metadata:
            await self.pipeline.check_then_preview(session, say)

    # ---- values the readers need, and parts of the folder -----------------------------------------

    async def _set_values(self, session: SessionState, say: Reply, values: dict[str, dict[str, Any]]) -> None:
        done, refused = streams.answer_values(session, values)
        for text in refused:
            say(f"I could not use that value: {text}.")
        if not done and not refused:
            say(
                "No stream is waiting for that value."
                + (f" {questions_text(session)}" if session.open_questions() else "")
            )
            return
        if done:
            say("Saved: " + "; ".join(done) + ".")
        await self._values_changed(session, say)

    async def _select_parts(self, session: SessionState, say: Reply, parts: list[str]) -> None:
        if session.state in STREAMS_FIXED or session.detection is None:
            say(self.pipeline.not_now(session, State.collecting_metadata))
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

    async def _values_changed(self, session: SessionState, say: Reply) -> None:
        """What the streams will be changed: read the files again and preview, from wherever we are."""
        if session.state in (State.passed, State.passed_with_issues, State.failed):
            await self._improve(session, say)
            if session.state is not State.collecting_metadata:
                return
        elif session.state is State.ready:
            await self.pipeline.move(
                session, State.collecting_metadata, "user", "the user changed the streams"
            )
        elif session.state is State.detected:
            pass
        elif session.state is not State.collecting_metadata:
            return
        session.preview = None
        await self.pipeline.collect(session, say)

    # ---- metadata from the user's words, and answers to questions ---------------------------------

    async def _metadata_from_text(self, session: SessionState, say: Reply, text: str) -> None:
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
            open_q = questions_text(session)
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

    def _answer(self, session: SessionState, say: Reply, text: str) -> None:
        answer = answer_question(text, self.provider)
        self._account(session, say, answer.usage, answer.fallback_note)
        say(answer.text)

    def _account(self, session: SessionState, say: Reply, usage: Usage, note: str | None) -> None:
        session.usage = session.usage.add(usage)
        if note:
            session.llm_notes.append(note)
            say(note)

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
            say = Reply(self.bus, session)
            try:
                await run(session, say)
            finally:
                await asyncio.to_thread(self.store.save, session)
            return Turn(
                **session_view(session, self.workflow, chat=False),
                replies=say.lines,
                new_auto_fixes=session.auto_fixes[fixes_before:],
            )
