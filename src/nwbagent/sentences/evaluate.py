"""Field-level precision and recall of an extractor on the shipped description set.

The point is to keep the extractors honest: a field the text does not state but the extractor fills in
counts against precision just like a wrong value, because both end up in the archive looking like facts.
A value the extractor is unsure of (below ``confidence.ASK_BELOW``) is asked back instead of saved, so it
is not scored as a prediction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, Field, computed_field

from nwbagent.metadata.normalize import normalize_field
from nwbagent.metadata.schema import FIELD_NAMES
from nwbagent.sentences.confidence import unsure
from nwbagent.sentences.rules import PROSE_FIELDS, ExtractedField, lookup_institution, lookup_region

Extractor = Callable[[str], list[ExtractedField]]

#: Word overlap (F1 over lower-case words) at which two descriptions count as saying the same thing: an
#: LLM rephrases, and exact string equality would make every paraphrase a false positive.
PROSE_MATCH = 0.6


class EvalCase(BaseModel):
    id: str
    text: str
    expected: dict[str, Any] = Field(default_factory=dict)


class FieldScore(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


class CaseResult(BaseModel):
    id: str
    correct: list[str] = Field(default_factory=list)
    wrong: dict[str, Any] = Field(default_factory=dict, description="field -> predicted value (not expected)")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="predicted fields the text does not state"
    )
    missing: list[str] = Field(default_factory=list)
    error: str | None = None


class EvalReport(BaseModel):
    extractor: str = "rules"
    per_field: dict[str, FieldScore]
    overall: FieldScore
    cases: list[CaseResult]

    @property
    def precision(self) -> float:
        return self.overall.precision

    @property
    def recall(self) -> float:
        return self.overall.recall

    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if c.wrong or c.extra or c.missing or c.error]


EVAL_SETS = {"tuning": "eval_set.yaml", "holdout": "eval_holdout.yaml"}


def load_cases(which: str = "tuning") -> list[EvalCase]:
    """``tuning``: the set written alongside the rules; ``holdout``: written later, never used to tune."""
    name = EVAL_SETS[which]
    text = resources.files("nwbagent.sentences").joinpath(name).read_text(encoding="utf-8")
    return [EvalCase.model_validate(row) for row in yaml.safe_load(text)["cases"]]


# ---------------------------------------------------------------------------------------------- comparing


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def _prose_similar(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    common = sum(min(wa.count(w), wb.count(w)) for w in set(wa))
    if not common:
        return False
    precision, recall = common / len(wb), common / len(wa)
    return 2 * precision * recall / (precision + recall) >= PROSE_MATCH


def _region_set(value: Any) -> set[str]:
    parts = value if isinstance(value, list) else str(value).split(",")
    return {lookup_region(str(p)) or str(p).strip().casefold() for p in parts if str(p).strip()}


def canonical(field: str, value: Any) -> Any:
    """A form two equivalent values share, so 'V1' equals 'VISp' and '8 weeks' equals 'P56D'."""
    if field == "brain_region":
        return _region_set(value)
    if field == "institution":
        return (lookup_institution(str(value)) or str(value)).strip().casefold()
    if field in PROSE_FIELDS:
        return str(value)
    try:
        value = normalize_field(field, value)
    except ValueError:
        return ("invalid", str(value))
    if isinstance(value, list):
        return [str(v).strip().casefold() for v in value] if field != "experimenter" else sorted(value)
    if isinstance(value, str):
        return re.sub(r"\s+", " ", value).strip().casefold()
    return value


def same_value(field: str, expected: Any, predicted: Any) -> bool:
    if field in PROSE_FIELDS:
        return _prose_similar(str(expected), str(predicted))
    if field == "sex":  # 'XX' for C. elegans is only valid with the species, so compare the codes
        return str(expected).strip().upper() == str(predicted).strip().upper()
    left, right = canonical(field, expected), canonical(field, predicted)
    return bool(left == right)


# ---------------------------------------------------------------------------------------------- running


def evaluate(
    extractor: Extractor, cases: Iterable[EvalCase] | None = None, *, name: str = "rules"
) -> EvalReport:
    """Score ``extractor`` on the eval set, e.g. ``evaluate(lambda t: extract_metadata(t, p).fields)``.

    An extractor that raises on a case scores that case as all-missing and records the error, so one bad
    reply does not hide the rest of the report.
    """
    per_field = {name_: FieldScore() for name_ in FIELD_NAMES}
    results: list[CaseResult] = []
    for case in load_cases() if cases is None else cases:
        result = CaseResult(id=case.id)
        try:
            # a value below ASK_BELOW is asked back, not saved: it is not a prediction
            predicted = {f.field: f.value for f in extractor(case.text) if not unsure(f.confidence)}
        except Exception as exc:  # a broken extractor must not stop the report
            result.error = f"{type(exc).__name__}: {exc}"
            predicted = {}
        for field in FIELD_NAMES:
            expected, has_expected = case.expected.get(field), field in case.expected
            score = per_field[field]
            if field in predicted:
                if has_expected and same_value(field, expected, predicted[field]):
                    score.tp += 1
                    result.correct.append(field)
                    continue
                score.fp += 1
                (result.wrong if has_expected else result.extra)[field] = _jsonable(predicted[field])
            if has_expected:
                score.fn += 1
                result.missing.append(field)
        results.append(result)
    overall = FieldScore(
        tp=sum(s.tp for s in per_field.values()),
        fp=sum(s.fp for s in per_field.values()),
        fn=sum(s.fn for s in per_field.values()),
    )
    return EvalReport(extractor=name, per_field=per_field, overall=overall, cases=results)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def format_report(report: EvalReport, *, show_failures: bool = True) -> str:
    """The report as a fixed-width table, with the cases that went wrong listed below it."""
    lines = [
        f"Metadata extraction ({report.extractor}) on {len(report.cases)} descriptions",
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
    failures = report.failures()
    if show_failures and failures:
        lines += ["", "Cases with differences:"]
        for case in failures:
            parts = []
            if case.error:
                parts.append(f"error {case.error}")
            if case.wrong:
                parts.append("wrong " + ", ".join(f"{k}={v!r}" for k, v in case.wrong.items()))
            if case.extra:
                parts.append("extra " + ", ".join(f"{k}={v!r}" for k, v in case.extra.items()))
            if case.missing:
                parts.append("missing " + ", ".join(case.missing))
            lines.append(f"  {case.id}: " + "; ".join(parts))
    return "\n".join(lines)
