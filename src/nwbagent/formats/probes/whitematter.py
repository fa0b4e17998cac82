"""WhiteMatter eCube ``.bin``: int16 frames after an 8-byte timestamp. Nothing inside states the
channel count or rate; eCube writes both into the file name (``..._64ch_25000sps...``)."""

from __future__ import annotations

import re

from nwbagent.formats.probes.base import SUFFIX_ONLY, FileIndex, Probe, ProbeResult, rel, size_of, unit

_NAME = re.compile(r"(\d+)ch_(\d+)sps", re.IGNORECASE)
_HEADER_BYTES = 8


class WhiteMatterProbe(Probe):
    family = "WhiteMatter"
    interfaces = ("WhiteMatterRecordingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".bin"):
            match = _NAME.search(path.name)
            if not match:
                continue
            channels, rate = int(match.group(1)), float(match.group(2))
            size = size_of(path)
            if channels <= 0 or size <= _HEADER_BYTES or (size - _HEADER_BYTES) % (2 * channels):
                continue
            result.claimed.add(path)
            result.units.append(
                unit(
                    "WhiteMatterRecordingInterface",
                    {"file_path": str(path), "sampling_frequency": rate, "num_channels": channels},
                    "recording",
                    SUFFIX_ONLY,
                    [
                        f"{rel(path, index.root)}: file name gives {channels} channels at {rate:g} Hz "
                        "(from the file name, not the content)",
                        f"size {size} B = 8-byte header + whole int16 frames of {channels} channels",
                    ],
                )
            )
        return result
