"""HDF5 recordings told apart by their top-level keys: MEArec (``recordings`` + ``spiketrains``) and Maxwell
MaxOne legacy ``.raw.h5`` (``sig`` + ``mapping``). Only ``.h5`` files with the HDF5 signature are opened."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import CERTAIN, FileIndex, Probe, ProbeResult, head, reader_call, rel, unit

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _keys(path: Path) -> set[str]:
    import h5py

    def read() -> set[str]:
        with h5py.File(path, "r") as handle:
            return set(handle.keys())

    value, _ = reader_call(read)
    return value or set()


class HDF5RecordingProbe(Probe):
    family = "MEArec / MaxOne (HDF5)"
    interfaces = ("MEArecRecordingInterface", "MaxOneRecordingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".h5"):
            if head(path, 8) != HDF5_MAGIC:
                continue
            keys = _keys(path)
            if {"recordings", "spiketrains"} <= keys:
                interface, why = "MEArecRecordingInterface", "MEArec HDF5 (recordings + spiketrains)"
            elif {"sig", "mapping"} <= keys:
                interface, why = "MaxOneRecordingInterface", "Maxwell MaxOne legacy HDF5 (sig + mapping)"
            else:
                continue
            result.claimed.add(path)
            result.units.append(
                unit(
                    interface,
                    {"file_path": str(path)},
                    "recording",
                    CERTAIN,
                    [f"{rel(path, index.root)}: {why}"],
                )
            )
        return result
