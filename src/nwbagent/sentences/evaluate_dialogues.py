"""Precision and recall of the chat over whole dialogues, scored on the metadata state after every turn.

A single-sentence score cannot see what goes wrong in a conversation: a correction that is not applied, a
value that swallowed the next field and stays in the session, a guess saved as a fact instead of asked
back. So each dialogue is replayed through the same :func:`~nwbagent.sentences.dialogue.read_turn` and
:func:`~nwbagent.sentences.dialogue.apply_reading` the Conversation agent uses, and after every turn the
whole state is compared with the expected one, field by field (same comparison as the sentence sets).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, Field

from nwbagent.llm.base import Provider
from nwbagent.metadata.schema import FIELD_NAMES, SessionMetadata
from nwbagent.sentences.dialogue import apply_reading, read_turn
from nwbagent.sentences.evaluate import FieldScore, _jsonable, same_value
from nwbagent.sentences.rules import ExtractedField

DIALOGUE_SETS = {"dialogues": "dialogues.yaml", "dialogue-holdout": "dialogues_holdout.yaml"}


class DialogueTurn(BaseModel):
    user: str
    expect: dict[str, Any] = Field(default_factory=dict, description="Fields this turn sets")
    unset: list[str] = Field(default_factory=list, description="Fields this turn removes")
    ask: list[str] = Field(default_factory=list, description="Fields the agent should ask back")


class Dialogue(BaseModel):
    id: str
    turns: list[DialogueTurn]


class TurnResult(BaseModel):
    dialogue: str
    turn: int
    user: str
    wrong: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list)
    ask_expected: list[str] = Field(default_factory=list)
    error: str | None = None

    @property
    def exact(self) -> bool:
        return not (self.wrong or self.extra or self.missing or self.error) and sorted(self.asked) == sorted(
            self.ask_expected
        )


class DialogueReport(BaseModel):
    extractor: str = "rules"
    dialogues: int
    per_field: dict[str, FieldScore]
    per_turn: list[FieldScore] = Field(description="Scores of the state after turn 1, 2, … of every dialogue")
    overall: FieldScore
    asks: FieldScore = Field(description="Fields asked back vs. the fields the set expects to be asked")
    turns: list[TurnResult]

    @property
    def precision(self) -> float:
        return self.overall.precision

    @property
    def recall(self) -> float:
        return self.overall.recall

    @property
    def exact_turns(self) -> int:
        return sum(1 for t in self.turns if t.exact)

    def failures(self) -> list[TurnResult]:
        return [t for t in self.turns if not t.exact]


def load_dialogues(which: str = "dialogues") -> list[Dialogue]:
    """``dialogues``: written alongside the dialogue rules; ``dialogue-holdout``: never used to tune them."""
    text = resources.files("nwbagent.sentences").joinpath(DIALOGUE_SETS[which]).read_text(encoding="utf-8")
    return [Dialogue.model_validate(row) for row in yaml.safe_load(text)["dialogues"]]


Replay = Callable[[Dialogue], list[tuple[dict[str, Any], list[str]]]]


def replay(provider: Provider | None = None) -> Replay:
    """Run a dialogue the way the agent does; each turn gives (state values, fields asked back)."""

    def run(dialogue: Dialogue) -> list[tuple[dict[str, Any], list[str]]]:
        layer: SessionMetadata | None = None
        pending: list[ExtractedField] = []
        states = []
        for turn in dialogue.turns:
            current = layer.values() if layer is not None else {}
            reading = read_turn(turn.user, current, pending, provider)
            layer = apply_reading(layer, reading)
            pending = list(reading.ask)
            states.append((layer.values(), [f.field for f in pending]))
        return states

    return run


def evaluate_dialogues(
    dialogues: list[Dialogue] | None = None, run: Replay | None = None, *, name: str = "rules"
) -> DialogueReport:
    """Score every turn's full state against the expected one; a crash scores the rest as missing."""
    dialogues = load_dialogues() if dialogues is None else dialogues
    run = run or replay()
    per_field = {f: FieldScore() for f in FIELD_NAMES}
    per_turn: list[FieldScore] = []
    asks = FieldScore()
    results: list[TurnResult] = []
    for dialogue in dialogues:
        error = None
        try:
            states = run(dialogue)
        except Exception as exc:  # one broken dialogue must not hide the rest
            error = f"{type(exc).__name__}: {exc}"
            states = []
        expected: dict[str, Any] = {}
        for i, turn in enumerate(dialogue.turns):
            expected = {k: v for k, v in {**expected, **turn.expect}.items() if k not in turn.unset}
            predicted, asked = states[i] if i < len(states) else ({}, [])
            while len(per_turn) <= i:
                per_turn.append(FieldScore())
            result = TurnResult(
                dialogue=dialogue.id,
                turn=i + 1,
                user=turn.user,
                asked=asked,
                ask_expected=turn.ask,
                error=error,
            )
            for field in FIELD_NAMES:
                scores = (per_field[field], per_turn[i])
                has_expected = field in expected
                if field in predicted:
                    if has_expected and same_value(field, expected[field], predicted[field]):
                        for s in scores:
                            s.tp += 1
                        continue
                    for s in scores:
                        s.fp += 1
                    (result.wrong if has_expected else result.extra)[field] = _jsonable(predicted[field])
                if has_expected:
                    for s in scores:
                        s.fn += 1
                    result.missing.append(field)
            asks.tp += len(set(asked) & set(turn.ask))
            asks.fp += len(set(asked) - set(turn.ask))
            asks.fn += len(set(turn.ask) - set(asked))
            results.append(result)
    overall = FieldScore(
        tp=sum(s.tp for s in per_field.values()),
        fp=sum(s.fp for s in per_field.values()),
        fn=sum(s.fn for s in per_field.values()),
    )
    return DialogueReport(
        extractor=name,
        dialogues=len(dialogues),
        per_field=per_field,
        per_turn=per_turn,
        overall=overall,
        asks=asks,
        turns=results,
    )


def format_dialogue_report(report: DialogueReport, *, show_failures: bool = True) -> str:
    """Per-field and per-turn tables, then the turns whose state (or question) differs from the expected."""
    n = len(report.turns)
    lines = [
        f"Metadata over dialogues ({report.extractor}): {report.dialogues} dialogues, {n} turns, "
        f"{report.exact_turns} turns exactly right",
        "",
        f"{'field':<24} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10} {'recall':>8}",
        "-" * 58,
    ]
    for field, s in report.per_field.items():
        if s.tp + s.fp + s.fn:
            lines.append(f"{field:<24} {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.precision:>10.3f} {s.recall:>8.3f}")
    o = report.overall
    lines += [
        "-" * 58,
        f"{'overall':<24} {o.tp:>4} {o.fp:>4} {o.fn:>4} {o.precision:>10.3f} {o.recall:>8.3f}",
    ]
    lines += [
        "",
        f"{'after turn':<24} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10} {'recall':>8}",
        "-" * 58,
    ]
    for i, s in enumerate(report.per_turn, start=1):
        lines.append(f"{i:<24} {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.precision:>10.3f} {s.recall:>8.3f}")
    a = report.asks
    lines += ["", f"asked back: {a.tp} right, {a.fp} not expected, {a.fn} not asked"]
    failures = report.failures()
    if show_failures and failures:
        lines += ["", "Turns with differences:"]
        for t in failures:
            parts = []
            if t.error:
                parts.append(f"error {t.error}")
            if t.wrong:
                parts.append("wrong " + ", ".join(f"{k}={v!r}" for k, v in t.wrong.items()))
            if t.extra:
                parts.append("extra " + ", ".join(f"{k}={v!r}" for k, v in t.extra.items()))
            if t.missing:
                parts.append("missing " + ", ".join(t.missing))
            if sorted(t.asked) != sorted(t.ask_expected):
                parts.append(f"asked {t.asked or '[]'} (expected {t.ask_expected or '[]'})")
            lines.append(f"  {t.dialogue}#{t.turn} “{t.user}”: " + "; ".join(parts))
    return "\n".join(lines)
