"""Intan RHD/RHS: the header file (``*.rhd``/``*.rhs``, magic number at byte 0) lists every stream.

Streams are routed to interfaces with ``IntanConverter``'s own routing table, so detection and the
converter can never disagree about which interface reads which stream.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from nwbagent.formats.model import Alternative, Category
from nwbagent.formats.probes.base import CERTAIN, FileIndex, Probe, ProbeResult, head, reader_call, rel, unit

MAGIC = {".rhd": 0xC6912702, ".rhs": 0xD69127AC}
_SIBLING_DATA = (".dat",)


def _streams(path: Path) -> tuple[list[str], str | None]:
    from neo.rawio import IntanRawIO

    def read() -> list[str]:
        reader = IntanRawIO(filename=str(path))
        reader.parse_header()
        return [str(name) for name in reader.header["signal_streams"]["name"]]

    value, error = reader_call(read)
    return value or [], error


class IntanProbe(Probe):
    family = "Intan"
    interfaces = (
        "IntanRecordingInterface",
        "IntanAnalogInterface",
        "IntanDigitalInterface",
        "IntanStimInterface",
    )

    def run(self, index: FileIndex) -> ProbeResult:
        from neuroconv.converters import IntanConverter

        routing: dict[str, dict[str, Any]] = IntanConverter._STREAM_TO_INTERFACE
        result = ProbeResult()
        for suffix, magic in MAGIC.items():
            for path in index.files(suffix):
                raw = head(path, 4)
                if len(raw) < 4 or struct.unpack("<I", raw)[0] != magic:
                    continue
                result.claimed.add(path)
                streams, error = _streams(path)
                if not streams:
                    result.warnings.append(
                        f"{path}: Intan header (magic 0x{magic:08X}) but the reader failed: {error}"
                    )
                    continue
                siblings = index.siblings(path)
                per_signal = path.name.lower().startswith("info.")
                if per_signal:  # "one file per signal type": amplifier.dat, auxiliary.dat, settings.xml, ...
                    result.claimed |= {path.parent / n for n in siblings if n.lower().endswith(_SIBLING_DATA)}
                    result.claimed |= {path.parent / n for n in siblings if n.lower() == "settings.xml"}
                evidence = [
                    f"{rel(path, index.root)}: Intan header magic 0x{magic:08X}"
                    + (" with per-signal .dat files beside it" if per_signal else "")
                ]
                built: set[str] = set()
                for stream in streams:
                    entry = routing.get(stream)
                    if entry is None or entry["interface_name"] in built:
                        continue
                    built.add(entry["interface_name"])
                    interface: str = entry["interface"].__name__
                    kwargs: dict[str, Any] = {"file_path": str(path)}
                    category: Category = "auxiliary"
                    alternatives: list[Alternative] = []
                    if interface == "IntanAnalogInterface":
                        kwargs["stream_name"] = stream
                    elif interface == "IntanRecordingInterface":
                        category = "recording"
                        alternatives.append(
                            Alternative(
                                interface="IntanConverter",
                                kwargs={"file_path": str(path)},
                                confidence=CERTAIN,
                                reason="Converts this amplifier stream and the analog/digital units of the "
                                "same file together.",
                            )
                        )
                    elif interface == "IntanStimInterface":
                        category = "recording"
                    result.units.append(
                        unit(
                            interface,
                            kwargs,
                            category,
                            CERTAIN,
                            [*evidence, f"header lists {stream!r}"],
                            streams=streams,
                            alternatives=alternatives,
                        )
                    )
        return result
