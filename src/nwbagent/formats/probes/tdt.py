"""TDT tank block: ``.tsq`` (index) + ``.tev`` (data) share a stem in one folder.

``gain`` is required by NeuroConv and not stored in the block, so a unit is proposed with ``gain=1.0`` at
low confidence and the question is asked.
"""

from __future__ import annotations

from nwbagent.formats.probes.base import GUESS, FileIndex, Probe, ProbeResult, rel, unit


class TdtProbe(Probe):
    family = "TDT"
    interfaces = ("TdtRecordingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for tsq in index.files(".tsq"):
            names = index.siblings(tsq)
            if tsq.stem + ".tev" not in names:
                continue
            folder = tsq.parent
            result.claimed |= {
                folder / n for n in names if n.lower().endswith((".tsq", ".tev", ".tbk", ".tdx"))
            }
            result.units.append(
                unit(
                    "TdtRecordingInterface",
                    {"folder_path": str(folder), "gain": 1.0},
                    "recording",
                    GUESS,
                    [
                        f"{rel(tsq, index.root)}: TDT .tsq index with its .tev data",
                        "gain=1.0 is a placeholder: TDT blocks do not store the amplifier gain",
                    ],
                    disambiguation="Give the amplifier gain (µV per bit) of this TDT block.",
                )
            )
        return result
