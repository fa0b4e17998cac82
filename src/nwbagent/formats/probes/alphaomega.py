"""AlphaOmega ``.mpx``: a stream of blocks, each starting with a uint16 length and a one-letter type; the
first block is the ``h`` (header) block. NeuroConv takes the folder."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import CERTAIN, FileIndex, Probe, ProbeResult, head, rel, unit


class AlphaOmegaProbe(Probe):
    family = "AlphaOmega"
    interfaces = ("AlphaOmegaRecordingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        folders: dict[Path, list[str]] = {}
        for path in index.files(".mpx"):
            if head(path, 3)[2:3] == b"h":
                folders.setdefault(path.parent, []).append(path.name)
        for folder, names in sorted(folders.items()):
            siblings = index.dirs.get(folder, [])
            result.claimed |= {folder / n for n in siblings if n.lower().endswith((".mpx", ".lsx"))}
            evidence = [
                f"{rel(folder, index.root)}: {len(names)} .mpx files with an AlphaOmega 'h' header block"
            ]
            result.units.append(
                unit(
                    "AlphaOmegaRecordingInterface",
                    {"folder_path": str(folder)},
                    "recording",
                    CERTAIN,
                    evidence,
                )
            )
        return result
