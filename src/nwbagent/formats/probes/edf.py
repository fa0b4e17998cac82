"""European Data Format: the 256-byte header starts with version ``0`` padded to 8 ASCII characters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nwbagent.formats.probes.base import CERTAIN, FileIndex, Signature, SingleFileProbe, head, reader_call


class EDFProbe(SingleFileProbe):
    family = "EDF"
    interfaces = ("EDFRecordingInterface",)
    interface = "EDFRecordingInterface"
    suffixes = (".edf",)
    confidence = CERTAIN
    signatures = (Signature("EDF", (".edf",), (b"0       ",), "'0' and 7 spaces"),)

    def matches(self, path: Path) -> str | None:
        raw = head(path, 256)
        return "EDF header (version '0       ')" if raw[:8] == b"0       " and len(raw) == 256 else None

    def streams(self, path: Path) -> list[str]:
        from neuroconv.datainterfaces import EDFRecordingInterface

        value, _ = reader_call(lambda: EDFRecordingInterface.get_stream_names(file_path=path))
        return [str(s) for s in value or []]

    def run(self, index: FileIndex) -> Any:
        result = super().run(index)
        expanded = []
        for found in result.units:
            # One unit per sampling-rate group: the interface reads one stream at a time.
            if len(found.streams) > 1:
                for stream in found.streams:
                    expanded.append(
                        found.model_copy(update={"kwargs": {**found.kwargs, "stream_name": stream}})
                    )
            else:
                expanded.append(found)
        result.units = expanded
        return result
