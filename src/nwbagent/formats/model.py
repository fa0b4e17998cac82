"""The detection result: what a folder or file holds, as units NeuroConv can instantiate.

A *unit* is one NeuroConv interface with the exact keyword arguments to build it (paths absolute, stream
chosen). The convert step combines units into one ``ConverterPipe``; the JSON form is the public
``nwbagent detect --json`` contract documented in the README.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.errors import UserFacingError

Category = Literal["recording", "lfp", "sorting", "auxiliary", "icephys"]
ParameterKind = Literal["number", "integer", "text"]


class Parameter(BaseModel):
    """A value an interface needs that the files do not hold (a ``.nev``-only sorting's sampling frequency).

    The unit waits until the value is given: the agents ask for it with the example, both UIs show a field,
    the CLI takes ``--option NAME=VALUE``; the value then goes into the unit's kwargs, so the recipe keeps it.
    """

    name: str = Field(description="The interface keyword argument, e.g. sampling_frequency")
    label: str = Field(description="What to call it in a question, e.g. 'sampling frequency (Hz)'")
    why: str = Field(description="Why the files do not give it")
    example: str
    kind: ParameterKind = "number"

    def parse(self, raw: Any) -> Any:
        """The typed value of an answer ("30 kHz" → 30000.0); ValueError naming the example otherwise."""
        text = str(raw).strip()
        if self.kind == "text":
            if not text:
                raise ValueError(f"{self.label} is empty; e.g. {self.example}")
            return text
        match = _NUMBER.match(text.replace(",", ""))
        if not match:
            raise ValueError(f"{self.label} must be a number, e.g. {self.example} (got {text!r})")
        value = float(match.group(1)) * (1000.0 if (match.group(2) or "").lower() == "khz" else 1.0)
        if not value > 0:
            raise ValueError(f"{self.label} must be positive, e.g. {self.example}")
        if self.kind == "integer":
            if value != int(value):
                raise ValueError(f"{self.label} must be a whole number, e.g. {self.example}")
            return int(value)
        return value


_NUMBER = re.compile(r"^\s*([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(k?hz)?\s*$", re.IGNORECASE)


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
    acquisition: str | None = Field(
        default=None,
        description="Which acquisition of a multi-acquisition folder this is (Open Ephys 'experiment2'): "
        "acquisitions are separate sessions and become separate files",
    )
    segments: list[str] = Field(
        default_factory=list,
        description="Labels of the segments this unit reads, in order (SpikeGLX 'g0 t1', Open Ephys "
        "'recording2'); NeuroConv writes each segment as its own series",
    )
    keep_segments: list[int] | None = Field(
        default=None, description="Indices into ``segments`` to convert when the user picked some; None = all"
    )
    needs: list[Parameter] = Field(
        default_factory=list, description="Values the files lack that must be given before converting"
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
        """Short and unique within a detection: interface, stream, acquisition and the segments kept."""
        text = f"{self.interface}[{self.stream}]" if self.stream else self.interface
        if self.acquisition:
            text += f" {self.acquisition}"
        kept = self.kept_segments
        if kept and (len(self.segments) > 1 or self.keep_segments is not None):
            text += " (" + ", ".join(kept) + ")"
        return text

    @property
    def kept_segments(self) -> list[str]:
        if self.keep_segments is None:
            return list(self.segments)
        return [self.segments[i] for i in self.keep_segments if 0 <= i < len(self.segments)]


class Unsupported(BaseModel):
    path: str
    reason: str


class LeftOut(BaseModel):
    """Data detection recognised but that cannot be converted as it is, and what would bring it back.

    A damaged stream, a reader that fails on one stream, or a unit waiting for a value: the rest of the
    session converts without it, and the user is told which one, why, and the fix.
    """

    label: str = Field(description="Which data, as the user would name it (file or stream)")
    interface: str | None = None
    path: str | None = None
    problem: str
    fix: str
    cli_fix: str | None = Field(default=None, description="The fix in command-line terms, when it has a flag")
    code: str = "left_out"
    details: str | None = Field(default=None, description="The reader's own message, for a bug report")
    unit: Unit | None = Field(
        default=None, description="The unit, when giving the missing value (``unit.needs``) brings it back"
    )

    def error(self) -> UserFacingError:
        return UserFacingError(
            self.problem,
            fix=self.fix,
            cli_fix=self.cli_fix,
            path=self.path,
            code=self.code,
            details=self.details,
        )

    def sentence(self, *, cli: bool = False) -> str:
        fix = self.cli_fix if cli and self.cli_fix else self.fix
        return f"Left out {self.label}: {self.problem} Fix: {fix}"


class DetectionResult(BaseModel):
    path: str
    units: list[Unit] = Field(default_factory=list)
    unsupported: list[Unsupported] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    left_out: list[LeftOut] = Field(
        default_factory=list, description="Recognised data that cannot convert as it is, with the fix"
    )
