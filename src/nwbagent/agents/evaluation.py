"""The Evaluation agent: judges metadata and files, and turns findings into questions a person can answer.

Metadata is checked before any conversion (NWB Inspector's own checks on an in-memory file) and files after
each stub or full conversion (NWB Inspector with the DANDI config plus pynwb validation). Findings about a
metadata field become one precise question with an example answer; findings about the data itself are
reported as they are. Classification is by ``importance``, never by ``severity``.
"""

from __future__ import annotations

from pathlib import Path

from nwbagent import metrics
from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.contracts import (
    EVALUATION,
    CheckMetadataReply,
    CheckMetadataRequest,
    InspectReply,
    InspectRequest,
    ReportReply,
    ReportRequest,
)
from nwbagent.agents.messages import Message
from nwbagent.agents.state import Question
from nwbagent.inspect import inspect_nwb
from nwbagent.inspect.model import Finding
from nwbagent.metadata.check import CHECK_FIELDS, check_metadata
from nwbagent.metadata.schema import SPECS

NAME = EVALUATION

_QUESTION_IMPORTANCE = {"CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"}


def question_for(field: str, importance: str, reason: str) -> Question:
    """One question per field, with the schema's example answer: "Subject age? e.g. 'P90D' or '12 weeks'"."""
    spec = SPECS.get(field)
    if spec is not None and spec.question:
        text = spec.question
    elif spec is not None and spec.examples:
        text = f"{spec.title}? e.g. {spec.examples[0]!r}"
    else:
        text = f"{field.replace('_', ' ').capitalize()}?"
    example = repr(spec.examples[0]) if spec is not None and spec.examples else None
    return Question(
        field=field,
        text=f"{text} ({reason})" if reason else text,
        example=example,
        importance=importance,  # type: ignore[arg-type]
    )


def _dedupe(questions: list[Question]) -> list[Question]:
    """Keep the most important question per field."""
    rank = {"CRITICAL": 2, "BEST_PRACTICE_VIOLATION": 1, "BEST_PRACTICE_SUGGESTION": 0}
    best: dict[str, Question] = {}
    for q in questions:
        if q.field not in best or rank[q.importance] > rank[best[q.field].importance]:
            best[q.field] = q
    return sorted(best.values(), key=lambda q: (-rank[q.importance], q.field))


def _field_of(finding: Finding) -> str | None:
    field = CHECK_FIELDS.get(finding.check_name)
    if finding.check_name == "check_description" and finding.object_type != "Subject":
        return None  # a device or table without description is not a metadata-form question
    return field


class EvaluationAgent:
    def __init__(self, bus: Bus) -> None:
        bus.register(
            NAME,
            [
                Action(
                    "check_metadata",
                    CheckMetadataRequest,
                    CheckMetadataReply,
                    self.check_metadata,
                    blocking=True,
                ),
                Action("inspect", InspectRequest, InspectReply, self.inspect, blocking=True),
                Action("report", ReportRequest, ReportReply, self.report, blocking=True),
            ],
        )

    def check_metadata(self, message: Message, request: CheckMetadataRequest) -> CheckMetadataReply:
        issues = check_metadata(request.metadata)
        questions = [question_for(i.field, i.importance, i.message) for i in issues]
        return CheckMetadataReply(issues=issues, questions=_dedupe(questions))

    def inspect(self, message: Message, request: InspectRequest) -> InspectReply:
        result = inspect_nwb(Path(request.nwb_path), stub=request.stub)
        counted = [f.importance for f in result.findings if f.counts_toward_verdict]
        metrics.inspection_finished(result.verdict, counted)
        questions: list[Question] = []
        data: list[Finding] = []
        for finding in result.findings:
            if finding.stub_false_positive:
                continue
            field = _field_of(finding)
            if field is not None and finding.importance in _QUESTION_IMPORTANCE:
                questions.append(question_for(field, finding.importance, finding.message))
            else:
                data.append(finding)
        return InspectReply(inspection=result, questions=_dedupe(questions), data_findings=data)

    def report(self, message: Message, request: ReportRequest) -> ReportReply:
        """HTML, PDF, JSON and text reports next to the NWB file, with the session's trace and LLM usage."""
        from nwbagent.report import build_report, write_reports

        usage = None
        if request.usage is not None:
            usage = {**request.usage.model_dump(), "provider": request.provider, "model": request.model}
        nwb = Path(request.nwb_path)
        report = build_report(
            nwb,
            inspection=request.inspection,
            source_folder=Path(request.source) if request.source else None,
            units=request.units,
            trace=[entry.model_dump(mode="json") for entry in request.trace],
            usage=usage,
        )
        written = write_reports(report, nwb.with_suffix(""))
        return ReportReply(files={fmt: str(path) for fmt, path in written.items()})
