"""Intan RHD/RHS: the header file (``*.rhd``/``*.rhs``, magic number at byte 0) lists every stream.

Streams are routed to interfaces with ``IntanConverter``'s own routing table, so detection and the
converter can never disagree about which interface reads which stream.

Time base: the RHD auxiliary inputs are sampled at a quarter of the amplifier rate, but in the "one file per
signal type" and "one file per channel" formats Intan saves them at the amplifier rate (each sample four
times), so ``auxiliary.dat``/``aux-*.dat`` hold exactly as many samples as ``time.dat``. neo reports them
at the quarter rate, which would make the auxiliary series four times longer than the recording. When the
counts prove it, every fourth sample is kept at the quarter rate: the series then lasts what the recording
lasts and holds the samples the chip took.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nwbagent.formats.model import Alternative, Category, Unit
from nwbagent.formats.probes.base import (
    CERTAIN,
    FileIndex,
    Prepared,
    Probe,
    ProbeResult,
    Signature,
    head,
    reader_call,
    rel,
    unit,
)
from nwbagent.formats.probes.timebase import retimed

MAGIC = {".rhd": 0xC6912702, ".rhs": 0xD69127AC}
RHD = Signature("Intan RHD", (".rhd",), (struct.pack("<I", MAGIC[".rhd"]),), "magic number 0xC6912702")
RHS = Signature("Intan RHS", (".rhs",), (struct.pack("<I", MAGIC[".rhs"]),), "magic number 0xD69127AC")
_SIBLING_DATA = (".dat",)
_AUX = "RHD2000 auxiliary input channel"
_AMPLIFIER = "RHD2000 amplifier channel"


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
    categories: ClassVar[dict[str, Category]] = {
        "IntanRecordingInterface": "recording",
        "IntanStimInterface": "recording",
        "IntanAnalogInterface": "auxiliary",
        "IntanDigitalInterface": "auxiliary",
    }
    signatures = (RHD, RHS)

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

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        if found.interface != "IntanAnalogInterface" or found.kwargs.get("stream_name") != _AUX:
            return Prepared()
        recording = interface.recording_extractor
        reader = getattr(recording, "neo_reader", None)
        if reader is None or recording.get_num_segments() != 1:
            return Prepared()
        names = [str(n) for n in reader.header["signal_streams"]["name"]]
        if _AMPLIFIER not in names:
            return Prepared()
        amplifier = reader.get_signal_size(0, 0, names.index(_AMPLIFIER))
        channels = reader.header["signal_channels"]
        amp_ids = reader.header["signal_streams"]["id"][names.index(_AMPLIFIER)]
        amp_rate = float(channels[channels["stream_id"] == amp_ids]["sampling_rate"][0])
        aux_rate = recording.get_sampling_frequency()
        samples = recording.get_num_samples()
        if samples != amplifier or not np.isclose(aux_rate * 4, amp_rate):
            return Prepared()
        interface.recording_extractor = retimed(recording, step=4)
        return Prepared(
            notes=[
                f"Intan auxiliary inputs: the files hold {samples:,} samples, as many as the amplifier "
                f"channels ({samples / amp_rate:.2f} s at {amp_rate:g} Hz), but the reader reports them at "
                f"{aux_rate:g} Hz, which would make them last {samples / aux_rate:.2f} s. Intan saves these "
                f"quarter-rate inputs at the amplifier rate (each sample four times) in this file format, "
                f"so every fourth sample was kept at {aux_rate:g} Hz ({samples // 4:,} samples, "
                f"{samples // 4 / aux_rate:.2f} s)."
            ]
        )
