"""Plexon ``.plx`` (magic ``PLEX``) holds continuous data and sorted spikes; Plexon2 ``.pl2`` (``PL2``)."""

from __future__ import annotations

from nwbagent.formats.probes.base import STRONG, SUFFIX_ONLY, FileIndex, Probe, ProbeResult, head, rel, unit


class PlexonProbe(Probe):
    family = "Plexon"
    interfaces = ("PlexonRecordingInterface", "PlexonSortingInterface", "Plexon2RecordingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".plx"):
            if head(path, 4) != b"PLEX":
                continue
            result.claimed.add(path)
            evidence = [f"{rel(path, index.root)}: Plexon 'PLEX' magic"]
            kwargs = {"file_path": str(path)}
            result.units.append(unit("PlexonRecordingInterface", kwargs, "recording", STRONG, evidence))
            result.units.append(
                unit(
                    "PlexonSortingInterface",
                    kwargs,
                    "sorting",
                    SUFFIX_ONLY,
                    [*evidence, ".plx files usually carry sorted spike timestamps too"],
                )
            )
        for path in index.files(".pl2"):
            magic = head(path, 3) == b"PL2"
            result.claimed.add(path)
            result.units.append(
                unit(
                    "Plexon2RecordingInterface",
                    {"file_path": str(path)},
                    "recording",
                    STRONG if magic else SUFFIX_ONLY,
                    [f"{rel(path, index.root)}: " + ("'PL2' signature" if magic else ".pl2 suffix only")],
                )
            )
        return result
