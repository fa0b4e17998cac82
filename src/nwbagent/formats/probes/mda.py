"""MountainSort ``firings.mda`` (MDA header: int32 dtype code, then dims). The rate lives in a sibling
``params.json`` (``samplerate``) when MountainSort wrote one; without it the rate is a guess."""

from __future__ import annotations

import json
import struct

from nwbagent.formats.probes.base import GUESS, STRONG, FileIndex, Probe, ProbeResult, head, rel, unit

_MDA_DTYPES = {-2, -3, -4, -5, -6, -7, -8}


class MdaProbe(Probe):
    family = "Mda"
    interfaces = ("MdaSortingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".mda"):
            raw = head(path, 4)
            if (
                "firings" not in path.name.lower()
                or len(raw) < 4
                or struct.unpack("<i", raw)[0] not in _MDA_DTYPES
            ):
                continue
            result.claimed.add(path)
            params = path.parent / "params.json"
            rate = None
            if "params.json" in index.siblings(path):
                try:
                    rate = float(json.loads(params.read_text())["samplerate"])
                except (OSError, ValueError, KeyError, TypeError):
                    rate = None
            evidence = [f"{rel(path, index.root)}: MDA array header"]
            if rate is not None:
                evidence.append(f"params.json: samplerate {rate:g}")
                result.units.append(
                    unit(
                        "MdaSortingInterface",
                        {"file_path": str(path), "sampling_frequency": rate},
                        "sorting",
                        STRONG,
                        evidence,
                    )
                )
            else:
                result.units.append(
                    unit(
                        "MdaSortingInterface",
                        {"file_path": str(path), "sampling_frequency": 30000.0},
                        "sorting",
                        GUESS,
                        [*evidence, "sampling_frequency 30000 is a placeholder"],
                        disambiguation="Give the sampling frequency of the recording this sorting came from.",
                    )
                )
        return result
