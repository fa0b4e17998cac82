"""3Brain Biocam ``.brw``: an HDF5 file (NeuroConv's summary lists ``.bwr``, a typo for ``.brw``)."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import CERTAIN, SingleFileProbe, head

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class BiocamProbe(SingleFileProbe):
    family = "Biocam"
    interfaces = ("BiocamRecordingInterface",)
    interface = "BiocamRecordingInterface"
    suffixes = (".brw", ".bwr")
    confidence = CERTAIN

    def matches(self, path: Path) -> str | None:
        return "3Brain .brw, HDF5 signature" if head(path, 8) == HDF5_MAGIC else None
