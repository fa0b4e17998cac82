"""Axon Binary Format (``.abf``, magic ``ABF ``/``ABF2``): extracellular (AxonRecordingInterface) or patch
clamp (AbfInterface). The header's channel units, operation mode and protocol name lean one way; the file
itself never says which, so both readings stay below 0.5 and the user settles it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from nwbagent.formats.model import Alternative, Category
from nwbagent.formats.probes.base import (
    AMBIGUOUS,
    FileIndex,
    Probe,
    ProbeResult,
    Signature,
    head,
    reader_call,
    rel,
    unit,
)

_CURRENT_UNITS = {"pa", "na", "a", "ua"}
_VOLTAGE_UNITS = {"mv", "uv", "µv", "v"}
_EPISODIC = 5  # nOperationMode: episodic stimulation, the patch-clamp protocol mode


def _header(path: Path) -> tuple[list[str], int | None, str]:
    from neo.rawio import AxonRawIO

    def read() -> tuple[list[str], int | None, str]:
        reader = AxonRawIO(filename=str(path))
        reader.parse_header()
        info = reader._axon_info
        units = [str(u).strip().lower() for u in reader.header["signal_channels"]["units"]]
        mode = info.get("nOperationMode")
        if mode is None:
            mode = info.get("protocol", {}).get("nOperationMode")
        return units, (int(mode) if mode is not None else None), str(info.get("sProtocolPath", ""))

    value, _ = reader_call(read)
    return value or ([], None, "")


class AxonProbe(Probe):
    family = "Axon ABF"
    interfaces = ("AxonRecordingInterface", "AbfInterface", "AxonIntracellularInterface")
    categories: ClassVar[dict[str, Category]] = {
        "AxonRecordingInterface": "recording",
        "AbfInterface": "icephys",
        "AxonIntracellularInterface": "icephys",
    }
    signatures = (Signature("Axon ABF", (".abf",), (b"ABF ", b"ABF2"), "'ABF ' or 'ABF2'"),)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".abf"):
            if head(path, 4) not in (b"ABF ", b"ABF2"):
                continue
            result.claimed.add(path)
            units, mode, protocol = _header(path)
            protocol_name = Path(protocol.replace("\\", "/")).name.lower()
            votes_icephys: list[str] = []
            votes_extracellular: list[str] = []
            if units and any(u in _CURRENT_UNITS for u in units):
                votes_icephys.append(f"current channels ({', '.join(sorted(set(units)))}): a clamp amplifier")
            elif units and all(u in _VOLTAGE_UNITS for u in units):
                votes_extracellular.append(f"voltage-only channels ({', '.join(sorted(set(units)))})")
            if mode == _EPISODIC:
                votes_icephys.append("episodic stimulation mode")
            if any(tag in protocol_name for tag in ("vc", "cc", "clamp", "iv")):
                votes_icephys.append(f"protocol {protocol_name!r} names a clamp protocol")
            if len(units) >= 4:
                votes_extracellular.append(f"{len(units)} channels")
            experiment = None
            if any(u in _CURRENT_UNITS for u in units):
                experiment = "voltage_clamp"
            elif units and units[0] in _VOLTAGE_UNITS and mode == _EPISODIC:
                experiment = "current_clamp"
            abf_kwargs: dict[str, Any] = {"file_paths": [str(path)]}
            if experiment:
                abf_kwargs["icephys_metadata"] = {
                    "recording_sessions": [
                        {"abf_file_name": path.name, "icephys_experiment_type": experiment}
                    ]
                }
            axon_kwargs = {"file_path": str(path)}
            icephys_first = len(votes_icephys) >= len(votes_extracellular)
            top, second = (AMBIGUOUS, AMBIGUOUS - 0.1)
            evidence = [f"{rel(path, index.root)}: ABF magic {head(path, 4).decode(errors='replace')!r}"]
            evidence += [f"intracellular hint: {v}" for v in votes_icephys]
            evidence += [f"extracellular hint: {v}" for v in votes_extracellular]
            question = (
                "Is this a patch-clamp (intracellular) recording or an extracellular recording? The ABF "
                "format holds both; choose AbfInterface for intracellular, AxonRecordingInterface otherwise."
            )
            if icephys_first:
                result.units.append(
                    unit(
                        "AbfInterface",
                        abf_kwargs,
                        "icephys",
                        top,
                        evidence,
                        disambiguation=question,
                        alternatives=[
                            Alternative(
                                interface="AxonRecordingInterface",
                                kwargs=axon_kwargs,
                                confidence=second,
                                reason="The same file read as an extracellular recording.",
                            )
                        ],
                    )
                )
            else:
                result.units.append(
                    unit(
                        "AxonRecordingInterface",
                        axon_kwargs,
                        "recording",
                        top,
                        evidence,
                        disambiguation=question,
                        alternatives=[
                            Alternative(
                                interface="AbfInterface",
                                kwargs=abf_kwargs,
                                confidence=second,
                                reason="The same file read as intracellular (patch clamp).",
                            )
                        ],
                    )
                )
        return result
