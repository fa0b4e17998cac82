"""Blackrock NSP: continuous ``.ns1``-``.ns6`` (magic ``NEURALSG``/``NEURALCD``/``BRSMPGRP``) and events /
spikes ``.nev`` (``NEURALEV``/``BREVENTS``). Sampling rate follows the suffix: ns1-ns3 are LFP-rate."""

from __future__ import annotations

from nwbagent.formats.model import Category
from nwbagent.formats.probes.base import AMBIGUOUS, CERTAIN, FileIndex, Probe, ProbeResult, head, rel, unit

_NSX_MAGIC = (b"NEURALSG", b"NEURALCD", b"BRSMPGRP")
_NEV_MAGIC = (b"NEURALEV", b"BREVENTS")
_LFP_RATE = {".ns1", ".ns2", ".ns3"}  # 500 Hz, 1 kHz, 2 kHz


class BlackrockProbe(Probe):
    family = "Blackrock"
    interfaces = ("BlackrockRecordingInterface", "BlackrockSortingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for number in range(0, 7):
            for path in index.files(f".ns{number}"):
                magic = head(path, 8)
                if magic not in _NSX_MAGIC:
                    continue
                result.claimed.add(path)
                suffix = path.suffix.lower()
                category: Category = "lfp" if suffix in _LFP_RATE else "recording"
                result.units.append(
                    unit(
                        "BlackrockRecordingInterface",
                        {"file_path": str(path)},
                        category,
                        CERTAIN,
                        [
                            f"{rel(path, index.root)}: Blackrock {magic.decode()} header"
                            + (f" ({suffix} is an LFP-rate file)" if category == "lfp" else "")
                        ],
                        streams=[suffix.lstrip(".")],
                    )
                )
        for path in index.files(".nev"):
            magic = head(path, 8)
            if magic not in _NEV_MAGIC:
                continue
            result.claimed.add(path)
            result.units.append(
                unit(
                    "BlackrockSortingInterface",
                    {"file_path": str(path)},
                    "sorting",
                    AMBIGUOUS,
                    [f"{rel(path, index.root)}: Blackrock {magic.decode()} header"],
                    disambiguation="A .nev file holds online-sorted spikes and/or only digital events; "
                    "confirm its units were sorted before converting it as a sorting.",
                )
            )
        return result
