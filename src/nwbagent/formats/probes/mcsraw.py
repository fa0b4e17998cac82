"""Multi Channel Systems ``.raw`` exported by MC_DataTool: a text header ``MC_DataTool binary conversion``."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import CERTAIN, SingleFileProbe, head


class MCSRawProbe(SingleFileProbe):
    family = "MCSRaw"
    interfaces = ("MCSRawRecordingInterface",)
    interface = "MCSRawRecordingInterface"
    suffixes = (".raw",)
    confidence = CERTAIN

    def matches(self, path: Path) -> str | None:
        return "MC_DataTool header" if head(path, 40).startswith(b"MC_DataTool binary conversion") else None
