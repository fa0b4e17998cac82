"""WhiteMatter eCube ``.bin``: int16 frames after an 8-byte timestamp. Nothing inside states the
channel count or rate; eCube writes both into the file name (``HSW_..._64ch_25000sps...``).

A file whose name lost one of them (renamed, or cut by a copy tool) is still recognisable by eCube's
headstage prefix ``HSW_``: the unit then waits for the missing value, which the user gives.
"""

from __future__ import annotations

import re
from typing import ClassVar

from nwbagent.formats.model import Category, Parameter
from nwbagent.formats.probes.base import (
    GUESS,
    SUFFIX_ONLY,
    FileIndex,
    Probe,
    ProbeResult,
    parameter,
    rel,
    size_of,
    unit,
)

_CHANNELS = re.compile(r"(?:^|_)(\d+)ch(?:_|$|\.)", re.IGNORECASE)
_RATE = re.compile(r"(?:^|_)(\d+)sps(?:_|$|\.)", re.IGNORECASE)
_ECUBE = re.compile(r"^HSW_", re.IGNORECASE)
_HEADER_BYTES = 8
_WHY = "eCube keeps it only in the file name, and this file's name does not have it"


class WhiteMatterProbe(Probe):
    family = "WhiteMatter"
    interfaces = ("WhiteMatterRecordingInterface",)
    categories: ClassVar[dict[str, Category]] = {"WhiteMatterRecordingInterface": "recording"}

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for path in index.files(".bin"):
            stem = path.name[: -len(".bin")]
            channels_match, rate_match = _CHANNELS.search(stem), _RATE.search(stem)
            if not (channels_match and rate_match) and not _ECUBE.search(stem):
                continue
            channels = int(channels_match.group(1)) if channels_match else None
            rate = float(rate_match.group(1)) if rate_match else None
            size = size_of(path)
            if size <= _HEADER_BYTES or (channels and (size - _HEADER_BYTES) % (2 * channels)):
                continue
            kwargs: dict[str, object] = {"file_path": str(path)}
            needs: list[Parameter] = []
            evidence = [f"{rel(path, index.root)}: eCube file name"]
            if rate is not None:
                kwargs["sampling_frequency"] = rate
                evidence.append(
                    f"the name gives the sampling rate, {rate:g} Hz (from the name, not the content)"
                )
            else:
                needs.append(parameter("sampling_frequency", "sampling frequency (Hz)", _WHY, "25000"))
            if channels is not None:
                kwargs["num_channels"] = channels
                evidence.append(
                    f"the name gives {channels} channels; size {size} B = 8-byte header + whole frames"
                )
            else:
                needs.append(parameter("num_channels", "number of channels", _WHY, "64", kind="integer"))
            result.claimed.add(path)
            result.units.append(
                unit(
                    "WhiteMatterRecordingInterface",
                    kwargs,
                    "recording",
                    SUFFIX_ONLY if channels_match and rate_match else GUESS + 0.25,
                    evidence,
                    needs=needs,
                )
            )
        return result
