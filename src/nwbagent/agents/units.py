"""What the Conversation agent says and asks about the detected streams themselves (not the metadata).

Three things a folder can need from its user before it converts, each turned into words and questions here
so the agent only routes: a value a reader needs that the files lack (a sampling frequency), a choice
between parts of a multi-acquisition folder ("only experiment 2"), and streams that were left out with
why and the fix. The same texts reach both web pages (through the session view) and the chat.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from nwbagent.agents.state import Question, SessionState, State
from nwbagent.convert.select import available_parts, fill_needs, part_tokens, select_parts, unit_handle
from nwbagent.formats.model import LeftOut, Unit
from nwbagent.formats.registry import display_name

#: A chat message that picks parts: "only experiment 2", "just g1", "convert only recording2 please".
_ONLY = re.compile(r"\b(only|just|solely|nothing but)\b", re.IGNORECASE)
#: "all experiments", "every segment", "all of them": back to everything.
_ALL = re.compile(r"\b(all|every|everything|both)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.-])(\d+(?:[.,]\d+)?)\s*(k?hz)?(?![A-Za-z0-9_-])", re.IGNORECASE)


def describe(unit: Unit) -> str:
    """One line for the user: the format's name, the stream, the parts, and whether it waits for a value."""
    text = display_name(unit.interface)
    if unit.stream:
        text += f" ({unit.stream})"
    if unit.acquisition:
        text += f", {unit.acquisition}"
    kept = unit.kept_segments
    if len(unit.segments) > 1 or unit.keep_segments is not None:
        text += f", segments {', '.join(kept)}"
    if unit.confidence < 0.5:
        text += " (uncertain)"
    if unit.needs:
        text += f" — needs its {unit.needs[0].label}"
    return text


def left_out_text(item: LeftOut) -> str:
    return f"I left out {item.label}: {item.problem} To bring it back: {item.fix}"


def value_questions(session: SessionState) -> list[Question]:
    """One question per missing value of a selected unit; CRITICAL only when nothing else could convert."""
    blocking = not session.ready_units()
    questions = []
    for unit in session.selected_units:
        for need in unit.needs:
            handle = unit_handle(unit)
            questions.append(
                Question(
                    field=f"{handle}:{need.name}",
                    text=f"What is the {need.label} of {describe(unit).split(' — ')[0]}? The files do not "
                    f"give it ({need.why}).",
                    example=need.example,
                    importance="CRITICAL" if blocking else "BEST_PRACTICE_VIOLATION",
                    kind="value",
                    unit=handle,
                    name=need.name,
                )
            )
    return questions


def answer_values(session: SessionState, values: dict[str, dict[str, object]]) -> tuple[list[str], list[str]]:
    """Apply ``{unit handle: {name: value}}`` to the selected units; (what was set, what was refused)."""
    done: list[str] = []
    refused: list[str] = []
    units: list[Unit] = []
    for unit in session.selected_units:
        given = values.get(unit_handle(unit), {})
        wanted = {n.name for n in unit.needs}
        usable = {k: v for k, v in given.items() if k in wanted}
        try:
            filled = fill_needs(unit, usable)
        except ValueError as exc:
            refused.append(f"{unit.label}: {exc}")
            filled = unit
        for name in usable:
            if name in filled.kwargs and name in wanted:
                done.append(f"{unit.label}: {name} = {filled.kwargs[name]}")
        units.append(filled)
    session.selected_units = units
    return done, refused


def values_in_text(text: str, questions: Sequence[Question]) -> dict[str, dict[str, object]]:
    """Answers to open value questions in a chat message ("30 kHz", "the sampling frequency is 30000").

    A message answers only when it holds one number and either is that number alone, gives it in Hz, or
    names the value asked for ("64 channels"); "a 12 week old mouse" is metadata, not a sampling rate.
    With several questions open, the message must name the one it answers.
    """
    open_values = [q for q in questions if q.kind == "value" and not q.answered and q.unit and q.name]
    numbers = _NUMBER.findall(text)
    if not open_values or len(numbers) != 1:
        return {}
    number, unit = numbers[0]
    lowered = " ".join(text.lower().replace("_", " ").split())
    named = [q for q in open_values if _names(q, lowered)]
    bare = re.fullmatch(r"\W*(?:it'?s|it is|that'?s)?\W*\d+(?:[.,]\d+)?\s*(?:k?hz)?\W*", lowered) is not None
    if not (bare or unit or named):
        return {}
    targets = named or (open_values if len(open_values) == 1 else [])
    value = f"{number.replace(',', '.')} {unit}".strip()
    out: dict[str, dict[str, object]] = {}
    for question in targets:
        assert question.unit is not None and question.name is not None
        out.setdefault(question.unit, {})[question.name] = value
    return out


def _names(question: Question, lowered: str) -> bool:
    """Whether a message names the value a question asks for (its argument's words, or its unit word)."""
    name = (question.name or "").replace("_", " ")
    words = {name, name.replace("num ", ""), name.replace("num ", "number of ")}
    if "frequency" in name:
        words |= {"rate", "hz"}
    return any(w and w in lowered for w in words)


def parts_in_text(text: str, units: Sequence[Unit]) -> list[str] | None:
    """The parts a chat message picks ("only experiment 2" → ["experiment2"]), [] for "all of them",
    None when the message is not about parts."""
    offered = set(available_parts(units))
    if not offered:
        return None
    tokens = [t for t in part_tokens(text) if t in offered or any(t in p.split() for p in offered)]
    if tokens and (_ONLY.search(text) or len(text.split()) <= 4):
        return tokens
    if (
        not tokens
        and _ALL.search(text)
        and re.search(r"experiment|recording|segment|gate|trigger", text, re.I)
    ):
        return []
    return None


def apply_parts(session: SessionState, parts: list[str]) -> list[Unit]:
    """Select the confident units again, keeping only ``parts`` (all of them for an empty list)."""
    session.parts = parts
    base = [u.model_copy(update={"keep_segments": None}) for u in session.confident_units()]
    previous = {unit_handle(u): u for u in session.selected_units}
    chosen = select_parts(base, parts) if parts else base
    # keep values the user already gave for a unit
    return [_carry_values(u, previous.get(unit_handle(u))) for u in chosen]


def _carry_values(unit: Unit, before: Unit | None) -> Unit:
    if before is None or not unit.needs:
        return unit
    given = {n.name: before.kwargs[n.name] for n in unit.needs if n.name in before.kwargs}
    return fill_needs(unit, given) if given else unit


def parts_offer(units: Sequence[Unit]) -> str | None:
    """How to pick parts, when the folder has several acquisitions or segments."""
    acquisitions = list(dict.fromkeys(u.acquisition for u in units if u.acquisition))
    segmented = [u for u in units if len(u.segments) > 1]
    if len(acquisitions) > 1:
        return (
            f"This folder holds {len(acquisitions)} separate acquisitions ({', '.join(acquisitions)}); each "
            f"becomes its own NWB file. Say e.g. 'only {acquisitions[-1]}' to convert just one."
        )
    if segmented:
        segments = segmented[0].segments
        return (
            f"The recording has {len(segments)} segments ({', '.join(segments)}); all of them go into one "
            f"file, each as its own series. Say e.g. 'only {segments[-1]}' to keep just one."
        )
    return None


def _shown_path(path: str | None, session: SessionState) -> str | None:
    """A path as the user knows it: relative to the folder they gave, never the server's absolute path."""
    if not path:
        return None
    given = Path(session.source_paths[0]) if session.source_paths else None
    target = Path(path)
    if given is not None:
        for root in (given, given.parent):
            try:
                return str(target.relative_to(root)) or target.name
            except ValueError:
                continue
    return target.name


def left_out_items(session: SessionState) -> list[LeftOut]:
    """Everything recognised but not converted: at detection, at opening, in the last files written."""
    items: list[LeftOut] = list(session.detection.left_out) if session.detection else []
    for summary in [*session.outputs(), *([session.preview] if session.preview else [])]:
        items += summary.left_out
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.label not in seen:
            seen.add(item.label)
            unique.append(item)
    return unique


def streams_view(session: SessionState) -> dict[str, object]:
    """What a page shows about the streams: each unit with its name, parts and missing values, what was
    left out and why, the parts to pick from, and the readings offered when a choice is pending."""
    selected = {unit_handle(u) + str(u.kwargs.get("block_index")) for u in session.selected_units}
    units = session.detection.units if session.detection else []
    by_handle = {unit_handle(u) + str(u.kwargs.get("block_index")): u for u in session.selected_units}
    rows = []
    for unit in units:
        key = unit_handle(unit) + str(unit.kwargs.get("block_index"))
        shown = by_handle.get(key, unit)
        rows.append(
            {
                "handle": unit_handle(unit),
                "label": unit.label,
                "format": display_name(unit.interface),
                "interface": unit.interface,
                "stream": unit.stream,
                "category": unit.category,
                "confidence": unit.confidence,
                "acquisition": unit.acquisition,
                "segments": unit.segments,
                "kept_segments": shown.kept_segments,
                "selected": key in selected,
                "needs": [n.model_dump() for n in shown.needs],
                "evidence": unit.evidence,
                "description": describe(shown),
            }
        )
    choices = [
        {
            "index": i,
            "format": display_name(unit.interface),
            "interface": unit.interface,
            "confidence": unit.confidence,
            "reason": reason(unit),
        }
        for i, unit in enumerate(reading_options(session), start=1)
        if session.state is State.needs_format_choice
    ]
    return {
        "units": rows,
        "left_out": [
            {
                "label": x.label,
                "problem": x.problem,
                "fix": x.fix,
                "code": x.code,
                "path": _shown_path(x.path, session),
                "details": x.details,
            }
            for x in left_out_items(session)
        ],
        "parts": {"available": available_parts(session.confident_units()), "selected": session.parts},
        "choices": choices,
        "outputs": [
            {
                "index": i,
                "name": Path(o.nwb_path).name,
                "acquisition": o.acquisition,
                "verdict": o.verdict,
                "findings": o.findings,
            }
            for i, o in enumerate(session.outputs())
        ],
    }


def reason(unit: Unit) -> str:
    """Why a reading is offered, in the words of its evidence."""
    return unit.disambiguation or (unit.evidence[-1] if unit.evidence else "matches these files")


def reading_options(session: SessionState) -> list[Unit]:
    """The readings offered in a format choice, numbered as the chat and the pages number them."""
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
