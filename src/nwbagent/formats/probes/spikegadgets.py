"""SpikeGadgets Trodes ``.rec``: an XML ``<Configuration>`` header followed by binary packets."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import CERTAIN, SingleFileProbe, text_head


class SpikeGadgetsProbe(SingleFileProbe):
    family = "SpikeGadgets"
    interfaces = ("SpikeGadgetsRecordingInterface",)
    interface = "SpikeGadgetsRecordingInterface"
    suffixes = (".rec",)
    confidence = CERTAIN

    def matches(self, path: Path) -> str | None:
        text = text_head(path, 2048)
        return "Trodes XML <Configuration> header" if "<Configuration" in text else None
