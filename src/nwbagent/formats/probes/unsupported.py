"""Formats Neo reads but NeuroConv cannot convert: recognised by content, reported, never made units."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.model import Unsupported
from nwbagent.formats.probes.base import FileIndex, Probe, ProbeResult, head, text_head

_ADVICE = (
    "NeuroConv has no interface for it. Export the data to a supported format (for example EDF, or a raw "
    "binary with a NeuroScope .xml), or write the NWB file with Neo/PyNWB directly."
)


class NeoOnlyProbe(Probe):
    family = "Neo-only formats"
    interfaces = ()

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()

        def report(path: Path, what: str, claimed: list[Path]) -> None:
            result.unsupported.append(Unsupported(path=str(path), reason=f"Recognised {what}. {_ADVICE}"))
            result.claimed |= set(claimed)

        for vhdr in index.files(".vhdr"):
            if "Brain Vision" in text_head(vhdr, 200) or "BrainVision" in text_head(vhdr, 200):
                names = index.siblings(vhdr)
                parts = [
                    vhdr.parent / n
                    for n in names
                    if n.rsplit(".", 1)[0] == vhdr.stem
                    and n.lower().endswith((".vhdr", ".eeg", ".vmrk", ".dat"))
                ]
                report(vhdr, "a BrainVision recording (.vhdr header with .eeg/.vmrk), which Neo reads", parts)
        for suffix in (".axgx", ".axgd"):
            for path in index.files(suffix):
                if head(path, 4) in (b"axgx", b"AxGr", b"axgd"):
                    report(path, "an AxoGraph file (axgx signature), which Neo reads", [path])
        for path in index.files(".wcp"):
            report(path, "a WinWCP file (.wcp), which Neo reads", [path])
        for path in index.files(".trc"):
            if head(path, 64)[2:64].find(b"MICROMED") >= 0:
                report(path, "a Micromed TRC file, which Neo reads", [path])
        for path in index.files(".nix"):
            report(path, "a NIX (Neo HDF5) file, which Neo reads", [path])
        for path in index.files(".ibw") + index.files(".pxp"):
            report(path, "an Igor Pro file, which Neo reads", [path])
        return result
