"""Inspection of converted NWB files against DANDI's rules, with a verdict and a fix for every finding."""

from __future__ import annotations

from nwbagent.inspect.model import (
    BLOCKING,
    IMPORTANCE_ORDER,
    Finding,
    Importance,
    InspectionResult,
    ToolFault,
    Verdict,
    format_text,
    verdict_for,
)
from nwbagent.inspect.run import FIX_HINTS, STUB_FALSE_POSITIVES, inspect_nwb

__all__ = [
    "BLOCKING",
    "FIX_HINTS",
    "IMPORTANCE_ORDER",
    "STUB_FALSE_POSITIVES",
    "Finding",
    "Importance",
    "InspectionResult",
    "ToolFault",
    "Verdict",
    "format_text",
    "inspect_nwb",
    "verdict_for",
]
