"""XClust ``.CEL`` cluster files (text header with ``%%BEGINHEADER``). The rate is not stored in the files."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import GUESS, FileIndex, Probe, ProbeResult, rel, text_head, unit


class XClustProbe(Probe):
    family = "XClust"
    interfaces = ("XClustSortingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        folders: dict[Path, int] = {}
        for path in index.files(".cel"):
            if "%%BEGINHEADER" in text_head(path, 256):
                folders[path.parent] = folders.get(path.parent, 0) + 1
                result.claimed.add(path)
        for folder, count in sorted(folders.items()):
            result.units.append(
                unit(
                    "XClustSortingInterface",
                    {"folder_path": str(folder), "sampling_frequency": 10000.0},
                    "sorting",
                    GUESS,
                    [
                        f"{rel(folder, index.root)}: {count} XClust .CEL files",
                        "sampling_frequency is a placeholder",
                    ],
                    disambiguation="Give the sampling frequency of the recording these clusters came from.",
                )
            )
        return result
