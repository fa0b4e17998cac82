"""One chat turn's worth of metadata: what to save, what it changes from what, and what to ask back.

The Conversation agent only renders what this module decides, and the dialogue evaluation replays chats
through the same :func:`read_turn` and :func:`apply_reading`, so the figures
``nwbagent eval-metadata --set dialogues`` prints are the agent's own.

Within the chat the latest statement about a field wins (it replaces the earlier one, which stays in the
provenance trail), because people correct themselves: "sorry, the mouse was male". A value the rules are
unsure of is not saved; it is asked back ("Is the subject id 'M17'?") and the next message's yes or no
confirms or drops it. Those questions live for one turn: a reply that is not an answer lets them go.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.llm.base import Provider, Usage
from nwbagent.metadata.schema import FieldValue, SessionMetadata
from nwbagent.sentences import confidence as conf
from nwbagent.sentences.corrections import SHAPED_FIELDS, bare_value, is_correction, read_as, split_answer
from nwbagent.sentences.evaluate import same_value
from nwbagent.sentences.extract import Extraction, extract_metadata
from nwbagent.sentences.rules import ExtractedField

_ADDS = re.compile(r"\b(?i:also|too|as\s+well|additionally|in\s+addition|another)\b")


class TurnReading(BaseModel):
    """What one message says about the metadata, before it is applied to the session."""

    save: list[ExtractedField] = Field(
        default_factory=list, description="Values to save (confirmed ones too)"
    )
    remove: list[ExtractedField] = Field(
        default_factory=list, description="Values the user denied ('not female') that the session holds"
    )
    ask: list[ExtractedField] = Field(default_factory=list, description="Unsure values to ask back")
    answer: Literal["yes", "no"] | None = Field(default=None, description="The reply to the last question")
    confirmed: list[ExtractedField] = Field(default_factory=list)
    declined: list[ExtractedField] = Field(default_factory=list)
    provider: str = "rules"
    usage: Usage = Field(default_factory=Usage)
    fallback_note: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.save or self.remove or self.ask or self.confirmed or self.declined)


def read_turn(
    text: str,
    current: dict[str, Any] | None = None,
    pending: list[ExtractedField] | None = None,
    provider: Provider | None = None,
    *,
    timezone: str | None = None,
) -> TurnReading:
    """Read ``text`` given the values the session holds now and the values waiting for a yes or no."""
    current, pending = current or {}, pending or []
    answer, rest = split_answer(text) if pending else (None, text)
    extraction = (
        extract_metadata(rest, provider, timezone=timezone)
        if rest.strip()
        else Extraction(fields=[], provider="rules")
    )
    fields = list(extraction.fields)
    found = {f.field for f in fields}
    species = next((f.value for f in fields if f.field == "species"), current.get("species"))
    if answer == "no" and rest:
        # "no, it's M71": the rest is the value of the field that was asked about
        for asked in pending:
            value = read_as(asked.field, bare_value(rest), species)
            if asked.field not in found and value is not None:
                fields.append(
                    ExtractedField(
                        field=asked.field, value=value, confidence=conf.CUE, evidence=rest, correction=True
                    )
                )
    elif not fields and current and is_correction(rest):
        # "sorry, I meant M21": a bare value corrects the one field already held that has its shape
        value_text = bare_value(rest)
        shaped = {f: v for f in SHAPED_FIELDS if (v := read_as(f, value_text, species)) is not None}
        fits = [(f, v) for f, v in shaped.items() if f in current]
        confidence = conf.CONTEXT
        if not fits:  # nothing held has its shape: a guess to confirm ("Is the weight '23 g'?")
            fits, confidence = list(shaped.items()), conf.GUESS
        if len(fits) == 1:
            field, value = fits[0]
            fields.append(
                ExtractedField(
                    field=field, value=value, confidence=confidence, evidence=rest, correction=True
                )
            )
    if current.get("experimenter") and _ADDS.search(rest):
        # "Dr. Lee Chen recorded too": another person, not a replacement
        fields = [
            f.model_copy(update={"value": list(dict.fromkeys([*current["experimenter"], *f.value]))})
            if f.field == "experimenter" and isinstance(f.value, list)
            else f
            for f in fields
        ]
    sure = [f for f in fields if not f.unsure]
    stated = {f.field for f in sure}
    confirmed = [
        p.model_copy(update={"confidence": max(p.confidence, conf.CONFIRMED)})
        for p in (pending if answer == "yes" else [])
        if p.field not in stated
    ]
    ask = [
        f
        for f in fields
        if f.unsure and f.field not in stated and not same_value(f.field, current.get(f.field), f.value)
    ]
    remove = [
        n
        for n in extraction.negated
        if n.field in current and n.field not in stated and same_value(n.field, current[n.field], n.value)
    ]
    return TurnReading(
        save=sure + confirmed,
        remove=remove,
        ask=ask,
        answer=answer,
        confirmed=confirmed,
        declined=list(pending) if answer == "no" else [],
        provider=extraction.provider,
        usage=extraction.usage,
        fallback_note=extraction.fallback_note,
    )


def apply_reading(layer: SessionMetadata | None, reading: TurnReading) -> SessionMetadata:
    """The user-text layer after this turn: each value said now replaces the one said before.

    The replaced value is kept in the new one's ``overridden`` trail; saying the same value again keeps
    the earlier, surer reading. Denied values are removed.
    """
    values: dict[str, FieldValue] = dict(layer.items()) if layer is not None else {}
    for f in reading.save:
        new = FieldValue(value=f.value, source="user-text", confidence=f.confidence, evidence=f.evidence)
        old = values.get(f.field)
        if old is not None and same_value(f.field, old.value, f.value) and old.confidence >= new.confidence:
            continue
        if old is not None:
            new.overridden = [old.model_copy(update={"overridden": []}), *old.overridden]
        values[f.field] = new
    for denied in reading.remove:
        values.pop(denied.field, None)
    return SessionMetadata(**values)


# ---------------------------------------------------------------------------------------------- replies


def show(value: Any) -> str:
    """A value as the user reads it; list items are joined with ';' since names hold a comma."""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _name(field: str) -> str:
    return field.replace("_", " ")


def question(ask: list[ExtractedField]) -> str | None:
    """'Is the subject id 'M17'?' for the values to confirm; None when there are none."""
    if not ask:
        return None
    parts = [f"the {_name(f.field)} '{show(f.value)}'" for f in ask]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Is {listed}? (yes/no)"


def reply_lines(
    reading: TurnReading, before: SessionMetadata, after: SessionMetadata, *, ask: bool = True
) -> list[str]:
    """What the agent says about this turn: what changed from what, what is new and (``ask``) what it asks.

    ``ask=False`` leaves the question out, for an agent that says other things first and asks last.
    """
    lines: list[str] = []
    for f in reading.declined:
        lines.append(f"OK, I did not save {_name(f.field)} = {show(f.value)}.")
    changed, noted, same = [], [], []
    for f in reading.save:
        was, now = before.get(f.field), after.get(f.field)
        if now is None or not same_value(f.field, now.value, f.value):
            held = f"{show(now.value)} ({now.source})" if now is not None else "empty"
            lines.append(f"{f.field} stays {held}: that value takes precedence over the chat.")
        elif was is None:
            noted.append(f"{f.field} = {show(f.value)} (from “{f.evidence}”)")
        elif same_value(f.field, was.value, f.value):
            same.append(f"{f.field} = {show(f.value)}")
        else:
            changed.append(f"{f.field}: {show(was.value)} → {show(f.value)}")
    if changed:
        lines.append("Changed " + "; ".join(changed) + ".")
    if noted:
        lines.append("Noted: " + "; ".join(noted) + ".")
    for denied in reading.remove:
        was, now = before.get(denied.field), after.get(denied.field)
        held = f" It is now {show(now.value)} ({now.source})." if now is not None else ""
        lines.append(f"Removed {denied.field} (was {show(was.value if was else denied.value)}).{held}")
    if same and not (changed or noted or reading.remove):
        lines.append("That matches what I have: " + "; ".join(same) + ".")
    if ask and (text := question(reading.ask)) is not None:
        lines.append(text)
    return lines
