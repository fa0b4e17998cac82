"""The detection result: what a folder or file holds, as units NeuroConv can instantiate.

A *unit* is one NeuroConv interface with the exact keyword arguments to build it (paths absolute, stream
chosen). The convert step combines units into one ``ConverterPipe``; the JSON form is the public
``nwbagent detect --json`` contract documented in the README.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Category = Literal["recording", "lfp", "sorting", "auxiliary", "icephys"]


class Alternative(BaseModel):
    """Another reading of the same files, ranked below the unit that holds it."""

    interface: str
    kwargs: dict[str, Any]
    confidence: float = Field(ge=0, le=1)
    reason: str


class Unit(BaseModel):
    interface: str = Field(description="NeuroConv interface class name, e.g. SpikeGLXRecordingInterface")
    kwargs: dict[str, Any] = Field(description="Exact keyword arguments to instantiate the interface")
    streams: list[str] = Field(default_factory=list, description="Stream names/ids available to this reader")
    category: Category
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list, description="Which files matched which rule")
    alternatives: list[Alternative] = Field(default_factory=list)
    disambiguation: str | None = Field(
        default=None, description="What would settle the choice, when confidence is below 0.5"
    )

    @property
    def stream(self) -> str | None:
        """The stream this unit reads (from ``stream_id`` or ``stream_name``), if the interface has one."""
        for key in ("stream_id", "stream_name"):
            value = self.kwargs.get(key)
            if isinstance(value, str):
                return value
        return None

    @property
    def label(self) -> str:
        return f"{self.interface}[{self.stream}]" if self.stream else self.interface


class Unsupported(BaseModel):
    path: str
    reason: str


class DetectionResult(BaseModel):
    path: str
    units: list[Unit] = Field(default_factory=list)
    unsupported: list[Unsupported] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
