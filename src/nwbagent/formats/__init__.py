"""Format detection: which NeuroConv interfaces, with which kwargs, read a folder or file."""

from __future__ import annotations

from nwbagent.formats.detect import detect
from nwbagent.formats.model import Alternative, DetectionResult, Unit, Unsupported

__all__ = ["Alternative", "DetectionResult", "Unit", "Unsupported", "detect"]
