"""Open Ephys: binary (``structure.oebin`` per recording) and legacy (``*.continuous`` + ``settings.xml``).

NeuroConv's router ``OpenEphysRecordingInterface`` wraps both; the specific interface is the unit and the
router its alternative. Analog (ADC / NI-DAQ) binary streams go to ``OpenEphysBinaryAnalogInterface`` the
way ``OpenEphysBinaryConverter`` routes them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nwbagent.formats.model import Alternative
from nwbagent.formats.probes.base import (
    CERTAIN,
    STRONG,
    FileIndex,
    Probe,
    ProbeResult,
    reader_call,
    rel,
    text_head,
    unit,
    xml_root_tag,
)

_NON_NEURAL = ("ADC", "NI-DAQ")  # OpenEphysBinaryConverter's own rule


def _first(get_streams: Callable[..., Any], folder: Path) -> Any:
    return get_streams(folder_path=folder)[0]


def _is_oebin(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and ("continuous" in data or "GUI version" in data)


def _router(folder: Path, stream: str | None, streams: list[str]) -> Alternative:
    kwargs: dict[str, object] = {"folder_path": str(folder)}
    if stream is not None and len(streams) > 1:
        kwargs["stream_name"] = stream
    return Alternative(
        interface="OpenEphysRecordingInterface",
        kwargs=kwargs,
        confidence=0.9,
        reason="NeuroConv's Open Ephys router; it dispatches to the same reader as the unit.",
    )


class OpenEphysProbe(Probe):
    family = "Open Ephys"
    interfaces = (
        "OpenEphysBinaryRecordingInterface",
        "OpenEphysBinaryAnalogInterface",
        "OpenEphysLegacyRecordingInterface",
        "OpenEphysRecordingInterface",
        "OpenEphysSortingInterface",
    )

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        self._binary(index, result)
        self._legacy(index, result)
        return result

    def _binary(self, index: FileIndex, result: ProbeResult) -> None:
        nodes: dict[Path, list[Path]] = {}
        for oebin in index.named("structure.oebin"):
            if not _is_oebin(oebin):
                continue
            # record node / experimentN / recordingN / structure.oebin
            node = oebin.parent.parent.parent
            if not str(node).startswith(str(index.root)) or node not in index.dirs:
                node = oebin.parent
            nodes.setdefault(node, []).append(oebin)
        from spikeinterface.extractors.extractor_classes import OpenEphysBinaryRecordingExtractor

        for node, oebins in sorted(nodes.items()):
            result.claimed.add(node)
            value, error = reader_call(
                functools.partial(_first, OpenEphysBinaryRecordingExtractor.get_streams, node)
            )
            streams = [str(s) for s in value or []]
            if not streams:
                result.warnings.append(
                    f"{node}: Open Ephys binary structure.oebin found but no readable stream ({error}); "
                    "check that the continuous.dat files are present."
                )
                continue
            settings = " and settings.xml" if "settings.xml" in index.dirs.get(node, []) else ""
            evidence = [
                f"{rel(o, index.root)}: Open Ephys binary structure.oebin (JSON){settings}" for o in oebins
            ]
            for stream in streams:
                kwargs: dict[str, object] = {"folder_path": str(node)}
                if len(streams) > 1:
                    kwargs["stream_name"] = stream
                if any(flag in stream for flag in _NON_NEURAL):
                    result.units.append(
                        unit(
                            "OpenEphysBinaryAnalogInterface",
                            {**kwargs, "stream_name": stream},
                            "auxiliary",
                            CERTAIN,
                            [*evidence, f"stream {stream!r} is analog (ADC/NI-DAQ)"],
                            streams=streams,
                        )
                    )
                    continue
                result.units.append(
                    unit(
                        "OpenEphysBinaryRecordingInterface",
                        kwargs,
                        "recording",
                        CERTAIN,
                        [*evidence, f"neo lists stream {stream!r}"],
                        streams=streams,
                        alternatives=[_router(node, stream, streams)],
                    )
                )

    def _legacy(self, index: FileIndex, result: ProbeResult) -> None:
        folders = sorted({path.parent for path in index.files(".continuous")})
        from spikeinterface.extractors.extractor_classes import OpenEphysLegacyRecordingExtractor

        for folder in folders:
            names = index.dirs.get(folder, [])
            settings = folder / "settings.xml"
            has_settings = "settings.xml" in names and xml_root_tag(settings) == "SETTINGS"
            continuous = [n for n in names if n.lower().endswith(".continuous")]
            header_ok = any(
                "header.format = 'Open Ephys Data Format'" in text_head(folder / n, 1024)
                for n in continuous[:1]
            )
            if not (has_settings or header_ok):
                continue
            value, error = reader_call(
                functools.partial(_first, OpenEphysLegacyRecordingExtractor.get_streams, folder)
            )
            streams = [str(s) for s in value or []]
            result.claimed |= {
                folder / n
                for n in names
                if n.lower().endswith((".continuous", ".events", ".openephys", ".spikes"))
                or n == "settings.xml"
            }
            if not streams:
                result.warnings.append(f"{folder}: Open Ephys legacy files found but unreadable ({error}).")
                continue
            evidence = [
                f"{rel(folder, index.root)}: {len(continuous)} .continuous files with the Open Ephys "
                "header" + (" and <SETTINGS> settings.xml" if has_settings else "")
            ]
            for stream in streams:
                kwargs: dict[str, object] = {"folder_path": str(folder)}
                if len(streams) > 1:
                    kwargs["stream_name"] = stream
                result.units.append(
                    unit(
                        "OpenEphysLegacyRecordingInterface",
                        kwargs,
                        "recording",
                        CERTAIN if header_ok else STRONG,
                        evidence,
                        streams=streams,
                        alternatives=[_router(folder, stream, streams)],
                    )
                )
            spikes = [n for n in names if n.lower().endswith(".spikes")]
            if spikes:
                result.warnings.append(
                    f"{folder}: Open Ephys legacy spike files ({', '.join(spikes)}) recognised, but "
                    "OpenEphysSortingInterface cannot load them with the installed SpikeInterface "
                    "(OpenEphysSortingExtractor was removed); they are left out."
                )
