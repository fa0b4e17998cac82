"""MountainSort ``firings.mda`` (MDA header: int32 dtype code, then dims). The rate lives in a sibling
``params.json`` (``samplerate``) when MountainSort wrote one; without it the unit waits for the user to give
the rate (a question in the agents, ``--option sampling_frequency=…`` on the command line)."""

from __future__ import annotations

import json
import struct

from nwbagent.formats.probes.base import STRONG, FileIndex, Probe, ProbeResult, head, parameter, rel, unit

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
                        {"file_path": str(path)},
                        "sorting",
                        STRONG,
                        evidence,
                        needs=[
                            parameter(
                                "sampling_frequency",
                                "sampling frequency (Hz)",
                                "firings.mda counts spike times in samples of the recording, and no "
                                "params.json beside it gives that recording's rate",
                                "30000",
                            )
                        ],
                    )
                )
        return result
