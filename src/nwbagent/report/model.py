"""One report model, four renderings (HTML, PDF, JSON, text).

Everything a PI or a data curator needs to judge a file lives here as data; the renderers only lay it out.
The JSON rendering is this model's dump and is versioned by ``SCHEMA_VERSION`` (semantic: a major bump
means a field was removed or changed meaning).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = "1.0.0"

Verdict = Literal["PASSED", "PASSED_WITH_ISSUES", "FAILED"]
Importance = Literal[
    "ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"
]


class VerdictSummary(BaseModel):
    verdict: Verdict
    dandi_ready: bool
    reasons: list[str] = Field(description="Why the file is (not) DANDI-ready, one plain sentence each")
    counts: dict[str, int] = Field(default_factory=dict, description="Findings per importance")


class SourceFile(BaseModel):
    path: str = Field(description="Relative to the source folder")
    size_bytes: int
    sha256: str | None = Field(default=None, description="None when the file was too large to hash in time")


class SourceUnit(BaseModel):
    interface: str
    stream: str | None = None
    category: str
    confidence: float | None = None


class SourceInfo(BaseModel):
    folder: str | None = None
    files: list[SourceFile] = Field(default_factory=list)
    units: list[SourceUnit] = Field(default_factory=list)


class SeriesInfo(BaseModel):
    path: str = Field(description="e.g. acquisition/ElectricalSeriesAP")
    neurodata_type: str
    shape: list[int]
    dtype: str
    rate_hz: float | None = None
    duration_s: float | None = None
    unit: str | None = None
    compression: str | None = None


class ElectrodeGroupInfo(BaseModel):
    name: str
    location: str | None = None
    device: str | None = None
    electrodes: int = 0


class ElectrodesInfo(BaseModel):
    count: int
    groups: list[ElectrodeGroupInfo] = Field(default_factory=list)
    has_positions: bool = False


class NwbContents(BaseModel):
    file: str
    size_bytes: int
    backend: Literal["hdf5", "zarr"] = "hdf5"
    identifier: str | None = None
    session_start_time: datetime | None = None
    session_description: str | None = None
    nwb_version: str | None = None
    series: list[SeriesInfo] = Field(default_factory=list)
    electrodes: ElectrodesInfo | None = None
    units_count: int | None = Field(default=None, description="Rows of the units table, None if absent")
    units_columns: list[str] = Field(default_factory=list)


class OverriddenValue(BaseModel):
    value: Any
    source: str
    evidence: str = ""


class MetadataRow(BaseModel):
    field: str
    value: Any
    source: str = Field(description="user | user-text | file | inferred | default")
    confidence: float | None = None
    evidence: str = ""
    overridden: list[OverriddenValue] = Field(default_factory=list)


class FindingRow(BaseModel):
    importance: Importance
    check_name: str
    message: str
    location: str | None = None
    object: str | None = None
    explanation: str = Field(default="", description="What the check means, in plain language")
    fix: str = ""
    stub_false_positive: bool = False


class ToolFaultRow(BaseModel):
    check_name: str
    exception: str
    count: int = 1


class TraceRow(BaseModel):
    at: datetime
    from_state: str
    to_state: str
    actor: str
    reason: str


class LlmUsage(BaseModel):
    provider: str
    model: str = ""
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0


class Plot(BaseModel):
    name: Literal["traces", "probe_layout", "findings"]
    title: str
    png_base64: str = Field(description="PNG image, base64-encoded, embedded in HTML and PDF")
    alt: str = Field(description="What the image shows, for screen readers and text reports")


class Report(BaseModel):
    schema_version: str = SCHEMA_VERSION
    generated_at: datetime
    title: str
    verdict: VerdictSummary
    source: SourceInfo | None = None
    contents: NwbContents
    metadata: list[MetadataRow] = Field(default_factory=list)
    findings: list[FindingRow] = Field(default_factory=list, description="Most important first")
    tool_faults: list[ToolFaultRow] = Field(default_factory=list)
    trace: list[TraceRow] = Field(default_factory=list)
    llm: LlmUsage | None = None
    versions: dict[str, str] = Field(default_factory=dict, description="nwbagent, neuroconv, pynwb, ...")
    plots: list[Plot] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list,
        description="What the report could not do or check (plots that failed, unhashed or missing source "
        "files, validation skipped), one plain sentence each",
    )
