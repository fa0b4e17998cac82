"""Neuralynx: every file (``.ncs`` continuous, ``.nse``/``.ntt``/``.nst`` spikes, ``.nev`` events) starts
with a 16 kB text header ``######## Neuralynx Data File Header``. NeuroConv takes the folder."""

from __future__ import annotations

import functools
from pathlib import Path

from nwbagent.formats.probes.base import (
    CERTAIN,
    SUFFIX_ONLY,
    FileIndex,
    Probe,
    ProbeResult,
    head,
    reader_call,
    rel,
    unit,
)

_MAGIC = b"######## Neuralynx"
_SPIKES = (".nse", ".ntt", ".nst")


class NeuralynxProbe(Probe):
    family = "Neuralynx"
    interfaces = ("NeuralynxRecordingInterface", "NeuralynxSortingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        from neuroconv.datainterfaces import NeuralynxRecordingInterface

        result = ProbeResult()
        folders: dict[Path, dict[str, list[str]]] = {}
        for suffix in (".ncs", *_SPIKES, ".nev"):
            for path in index.files(suffix):
                if head(path, len(_MAGIC)) == _MAGIC:
                    folders.setdefault(path.parent, {}).setdefault(suffix, []).append(path.name)
                    result.claimed.add(path)
        for folder, kinds in sorted(folders.items()):
            evidence = [
                f"{rel(folder, index.root)}: {len(names)} {suffix} files with the Neuralynx text header"
                for suffix, names in sorted(kinds.items())
            ]
            if ".ncs" in kinds:
                value, error = reader_call(
                    functools.partial(NeuralynxRecordingInterface.get_stream_names, folder_path=folder)
                )
                streams = [str(s) for s in value or []]
                if not streams:
                    result.warnings.append(f"{folder}: Neuralynx .ncs files found but unreadable ({error}).")
                for stream in streams:
                    kwargs: dict[str, object] = {"folder_path": str(folder)}
                    if len(streams) > 1:
                        kwargs["stream_name"] = stream
                    result.units.append(
                        unit(
                            "NeuralynxRecordingInterface",
                            kwargs,
                            "recording",
                            CERTAIN,
                            evidence,
                            streams=streams,
                        )
                    )
            if any(suffix in kinds for suffix in _SPIKES):
                result.units.append(
                    unit(
                        "NeuralynxSortingInterface",
                        {"folder_path": str(folder)},
                        "sorting",
                        SUFFIX_ONLY,
                        [*evidence, "spike files may hold unsorted threshold crossings"],
                    )
                )
        return result
