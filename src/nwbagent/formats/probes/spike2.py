"""CED Spike2: ``.smr`` carries ``(C) CED 87`` at byte 2; ``.smrx`` starts with ``S64``."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import STRONG, SingleFileProbe, head


class Spike2Probe(SingleFileProbe):
    family = "Spike2"
    interfaces = ("Spike2RecordingInterface",)
    interface = "Spike2RecordingInterface"
    suffixes = (".smr", ".smrx")
    confidence = STRONG

    def matches(self, path: Path) -> str | None:
        raw = head(path, 16)
        if raw[2:12] == b"(C) CED 87":
            return "Spike2 .smr signature '(C) CED 87'"
        if raw.startswith(b"S64"):
            return "Spike2 .smrx signature 'S64'"
        return None
