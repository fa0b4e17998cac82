"""The actions agents offer each other: names, request and reply payloads.

Agents never import each other; they import this module. A payload model here is the whole of what one agent
may tell another, so each agent sees only the part of a session it needs (the Conversion agent never sees the
chat, the Evaluation agent never sees the files).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from nwbagent.agents.state import Question, TraceEntry
from nwbagent.convert import ConversionOutput, WriteOptions
from nwbagent.formats.model import DetectionResult, LeftOut, Unit
from nwbagent.inspect import InspectionResult
from nwbagent.inspect.model import Finding
from nwbagent.llm.base import Usage
from nwbagent.metadata.check import MetadataIssue
from nwbagent.metadata.schema import SessionMetadata

CONVERSATION = "conversation"
CONVERSION = "conversion"
EVALUATION = "evaluation"


# ---- Conversion agent ------------------------------------------------------------------------------


class DetectRequest(BaseModel):
    source: str


class DetectReply(BaseModel):
    detection: DetectionResult


class ReadMetadataRequest(BaseModel):
    source: str
    units: list[Unit]
    timezone: str | None = Field(default=None, description="Assumed for times the files give without one")


class ReadMetadataReply(BaseModel):
    layers: dict[str, SessionMetadata]
    opened: list[Unit] = Field(default_factory=list, description="The units whose reader opened")
    left_out: list[LeftOut] = Field(
        default_factory=list, description="Units whose reader could not open them, with why and the fix"
    )
    notes: list[str] = Field(default_factory=list, description="Corrections and checks to tell the user")


class ConvertRequest(BaseModel):
    source: str
    units: list[Unit]
    layers: list[SessionMetadata] = Field(description="User-given layers, merged over what the files say")
    output_dir: str
    stub: bool
    backend: Literal["hdf5", "zarr"] = "hdf5"
    overwrite: bool = True
    fast_write: bool | None = Field(default=None, description="Overrides ``write.fast`` for this job")
    write: WriteOptions = Field(default_factory=WriteOptions)
    timezone: str | None = Field(default=None, description="Assumed for times the files give without one")


class ConvertReply(BaseModel):
    outputs: list[ConversionOutput]


# ---- Evaluation agent ------------------------------------------------------------------------------


class CheckMetadataRequest(BaseModel):
    metadata: SessionMetadata


class CheckMetadataReply(BaseModel):
    issues: list[MetadataIssue]
    questions: list[Question]


class InspectRequest(BaseModel):
    nwb_path: str
    stub: bool


class InspectReply(BaseModel):
    inspection: InspectionResult
    questions: list[Question] = Field(description="Findings a metadata answer would fix")
    data_findings: list[Finding] = Field(description="Findings about the data itself, reported as they are")


class ReportRequest(BaseModel):
    """What a report needs beyond the file: how it was inspected, and how the session got there."""

    nwb_path: str
    inspection: InspectionResult | None = None
    source: str | None = None
    units: list[Unit] = Field(default_factory=list)
    trace: list[TraceEntry] = Field(default_factory=list)
    usage: Usage | None = None
    provider: str = "rules"
    model: str = ""


class ReportReply(BaseModel):
    files: dict[str, str] = Field(description="format -> path of the written report")
