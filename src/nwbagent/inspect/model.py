"""The inspection result: what the CLI prints, what ``--json`` emits and what the service returns.

Kept free of NWB Inspector types so the result can be stored, sent and compared without the inspector
installed on the receiving side.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

Importance = Literal[
    "ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"
]
Verdict = Literal["PASSED", "PASSED_WITH_ISSUES", "FAILED"]

#: Most serious first; the order findings are grouped and printed in.
IMPORTANCE_ORDER: tuple[Importance, ...] = (
    "ERROR",
    "PYNWB_VALIDATION",
    "CRITICAL",
    "BEST_PRACTICE_VIOLATION",
    "BEST_PRACTICE_SUGGESTION",
)
#: What a page calls each level (and the two groups that are not NWB Inspector importances), most serious
#: first, with one sentence on what it means; the order is the order findings are shown in.
IMPORTANCE_LABELS: dict[str, tuple[str, str]] = {
    "CRITICAL": ("Must fix before sharing", "The file breaks a rule DANDI enforces."),
    "PYNWB_VALIDATION": ("Must fix: the file is not valid NWB", "PyNWB's schema validation failed."),
    "ERROR": ("Errors", "Something in the file could not be checked or is broken."),
    "BEST_PRACTICE_VIOLATION": ("Should fix", "Breaks an NWB best practice; the file still works."),
    "BEST_PRACTICE_SUGGESTION": ("Could improve", "A suggestion that makes the file easier to reuse."),
    "TOOL_FAULT": (
        "Checks that could not run",
        "An inspector check itself failed; not a problem with your data.",
    ),
    "STUB_FALSE_POSITIVE": ("Only in the preview (ignored)", "Fires only on a short preview; not counted."),
}
#: Importances that block a DANDI upload (``dandi validate`` maps them to errors).
BLOCKING: frozenset[str] = frozenset({"ERROR", "PYNWB_VALIDATION", "CRITICAL"})


class Finding(BaseModel):
    """One message about the file, with the fix a user can apply."""

    check_name: str
    importance: Importance
    severity: Literal["HIGH", "LOW"] = "LOW"
    message: str
    object_type: str | None = None
    object_name: str | None = None
    location: str | None = None
    fix: str
    stub_false_positive: bool = Field(
        default=False,
        description="Known to fire only because the file is a short stub; ignored in a stub's verdict.",
    )

    @property
    def counts_toward_verdict(self) -> bool:
        return not self.stub_false_positive


class ToolFault(BaseModel):
    """A check that crashed: a defect in the inspector (or an odd corner of the file), not a verdict."""

    check_name: str
    exception: str = Field(
        description='Exception type and message, e.g. "IndexError: Index (0) out of range"'
    )
    traceback: str = ""
    count: int = Field(default=1, description="How many objects the check crashed on")


class InspectionResult(BaseModel):
    path: str
    stub: bool = False
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    tool_faults: list[ToolFault] = Field(default_factory=list)
    validated: bool = Field(
        default=True, description="Whether PyNWB schema validation ran (it cannot run on Zarr files)"
    )
    notes: list[str] = Field(default_factory=list)
    nwbinspector_version: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Findings per importance that count toward the verdict, plus ``STUB_FALSE_POSITIVE``."""
        counts: dict[str, int] = {name: 0 for name in IMPORTANCE_ORDER}
        counts["STUB_FALSE_POSITIVE"] = 0
        for finding in self.findings:
            key = "STUB_FALSE_POSITIVE" if finding.stub_false_positive else finding.importance
            counts[key] += 1
        counts["TOOL_FAULT"] = sum(fault.count for fault in self.tool_faults)
        return counts

    def by_importance(self) -> dict[str, list[Finding]]:
        """Findings grouped by importance, most serious first (every level present, possibly empty)."""
        groups: dict[str, list[Finding]] = {name: [] for name in IMPORTANCE_ORDER}
        for finding in self.findings:
            groups[finding.importance].append(finding)
        return groups

    @property
    def passed(self) -> bool:
        return self.verdict != "FAILED"


def verdict_for(findings: list[Finding]) -> Verdict:
    """Blocking importances fail the file; anything else passes with issues. Stub false positives and tool
    faults never reach this function's decision."""
    counted = [f for f in findings if f.counts_toward_verdict]
    if any(f.importance in BLOCKING for f in counted):
        return "FAILED"
    if counted:
        return "PASSED_WITH_ISSUES"
    return "PASSED"


def format_text(result: InspectionResult) -> str:
    """The human report: verdict first, then findings grouped by importance, each with its fix."""
    label = {"PASSED": "PASSED", "PASSED_WITH_ISSUES": "PASSED with issues", "FAILED": "FAILED"}[
        result.verdict
    ]
    kind = " (stub preview)" if result.stub else ""
    lines = [f"{result.path}{kind}: {label}"]
    counts = result.counts
    summary = ", ".join(f"{counts[name]} {name}" for name in IMPORTANCE_ORDER if counts[name])
    if summary:
        lines.append(f"  {summary}")
    for name, findings in result.by_importance().items():
        counted = [f for f in findings if not f.stub_false_positive]
        if not counted:
            continue
        lines.append("")
        lines.append(f"{name} ({len(counted)})")
        lines.extend(_format_finding(f) for f in counted)
    stub_only = [f for f in result.findings if f.stub_false_positive]
    if stub_only:
        lines.append("")
        lines.append(f"Ignored in this stub preview ({len(stub_only)}): known false positives on short stubs")
        lines.extend(_format_finding(f) for f in stub_only)
    if result.tool_faults:
        lines.append("")
        lines.append(
            f"Inspector faults ({len(result.tool_faults)}): checks that crashed; not a verdict on the data"
        )
        for fault in result.tool_faults:
            times = f" (x{fault.count})" if fault.count > 1 else ""
            lines.append(f"  - {fault.check_name}{times}: {fault.exception}")
    for note in result.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def _format_finding(finding: Finding) -> str:
    where = finding.location or ""
    if finding.object_type or finding.object_name:
        obj = f"{finding.object_type or ''} '{finding.object_name or ''}'".strip()
        where = f"{obj} at {where}" if where else obj
    where = f" [{where}]" if where else ""
    return f"  - {finding.check_name}{where}: {finding.message.strip()}\n    Fix: {finding.fix}"
