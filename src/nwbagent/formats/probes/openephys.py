"""Open Ephys: binary (``structure.oebin`` per recording) and legacy (``*.continuous`` + ``settings.xml``).

NeuroConv's router ``OpenEphysRecordingInterface`` wraps both; the specific interface is the unit and the
router its alternative. Analog (ADC / NI-DAQ) binary streams go to ``OpenEphysBinaryAnalogInterface`` the
way ``OpenEphysBinaryConverter`` routes them.

A binary Record Node holds ``experiment<N>/recording<M>/``: each experiment is a separate acquisition (the
GUI stopped and restarted acquisition; sample numbers restart), each recording a segment of one (recording
was paused, the clock kept running). So every experiment is its own unit (``block_index``, labelled
``experiment2``) and becomes its own file; its recordings are segments. Experiment N's settings are in
``settings_N.xml`` (``settings.xml`` for the first), which is where its start time is; NeuroConv only reads
``settings.xml``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from nwbagent.formats.model import Alternative, Category, Unit
from nwbagent.formats.probes.base import (
    CERTAIN,
    STRONG,
    FileIndex,
    Prepared,
    Probe,
    ProbeResult,
    reader_call,
    rel,
    text_head,
    unit,
    xml_root_tag,
)

_NON_NEURAL = ("ADC", "NI-DAQ")  # OpenEphysBinaryConverter's own rule
_NUMBERED = re.compile(r"^(experiment|recording)(\d+)$")
_DATE = re.compile(r"<DATE>([^<]+)</DATE>")


def _number(name: str, kind: str) -> int | None:
    match = _NUMBERED.match(name)
    return int(match.group(2)) if match and match.group(1) == kind else None


def _listed_experiments(node: Path, index: FileIndex) -> set[int]:
    """Experiment numbers of a Record Node the detection root sits inside (the user gave one experiment
    folder): the reader numbers blocks over all of them, so the block index must count them too."""
    if node == index.root or index.root in node.parents:
        return set()
    try:
        names = [entry.name for entry in node.iterdir() if entry.is_dir()]
    except OSError:
        return set()
    return {n for name in names if (n := _number(name, "experiment")) is not None}


def _settings_file(node: Path, experiment: int) -> Path:
    return node / ("settings.xml" if experiment == 1 else f"settings_{experiment}.xml")


def _settings_date(path: Path) -> datetime | None:
    """``<INFO><DATE>17 Nov 2023 05:25:00</DATE>``, as NeuroConv reads it from settings.xml."""
    match = _DATE.search(text_head(path, 16384))
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1).strip(), "%d %b %Y %H:%M:%S")
    except ValueError:
        return None


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
    categories: ClassVar[dict[str, Category]] = {
        "OpenEphysBinaryAnalogInterface": "auxiliary",
        "OpenEphysLegacyRecordingInterface": "recording",
        "OpenEphysRecordingInterface": "recording",
        "OpenEphysSortingInterface": "sorting",
    }
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
            inside = node == index.root or index.root in node.parents
            if not inside and not (node / "settings.xml").is_file():
                node = oebin.parent
            nodes.setdefault(node, []).append(oebin)
        from spikeinterface.extractors.extractor_classes import OpenEphysBinaryRecordingExtractor

        for node, oebins in sorted(nodes.items()):
            result.claimed.add(node if node == index.root or index.root in node.parents else index.root)
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
            settings = " and settings.xml" if (node / "settings.xml").is_file() else ""
            experiments = self._experiments(oebins)
            numbers = sorted({e for e in experiments if e is not None} | _listed_experiments(node, index))
            several = len(numbers) > 1
            for experiment, recordings in sorted(experiments.items(), key=lambda kv: kv[0] or 0):
                block = numbers.index(experiment) if experiment in numbers else 0
                label = f"experiment{experiment}" if experiment is not None else None
                shown = [o for o in oebins if label is None or o.parent.parent.name == label]
                evidence = [
                    f"{rel(o, index.root)}: Open Ephys binary structure.oebin (JSON){settings}"
                    for o in shown[:3]
                ]
                if len(shown) > 3:
                    evidence.append(f"… and {len(shown) - 3} more structure.oebin files")
                if several:
                    evidence.append(
                        f"{label} is one of {len(experiments)} experiments in this Record Node (separate "
                        "acquisitions: each becomes its own file)"
                    )
                extra: dict[str, object] = {"block_index": block} if several else {}
                segments = [f"recording{r}" for r in recordings] if recordings else []
                result.units += self._stream_units(node, streams, evidence, extra, label, segments)

    @staticmethod
    def _experiments(oebins: list[Path]) -> dict[int | None, list[int]]:
        """experiment number → its recording numbers, from the folder names (as neo numbers them)."""
        found: dict[int | None, set[int]] = {}
        for oebin in oebins:
            experiment = _number(oebin.parent.parent.name, "experiment")
            recording = _number(oebin.parent.name, "recording")
            found.setdefault(experiment, set())
            if recording is not None:
                found[experiment].add(recording)
        return {e: sorted(r) for e, r in found.items()}

    @staticmethod
    def _stream_units(
        node: Path,
        streams: list[str],
        evidence: list[str],
        extra: dict[str, object],
        acquisition: str | None,
        segments: list[str],
    ) -> list[Unit]:
        units: list[Unit] = []
        for stream in streams:
            kwargs: dict[str, object] = {"folder_path": str(node), **extra}
            if len(streams) > 1:
                kwargs["stream_name"] = stream
            common: dict[str, Any] = {"streams": streams, "acquisition": acquisition, "segments": segments}
            if any(flag in stream for flag in _NON_NEURAL):
                units.append(
                    unit(
                        "OpenEphysBinaryAnalogInterface",
                        {**kwargs, "stream_name": stream},
                        "auxiliary",
                        CERTAIN,
                        [*evidence, f"stream {stream!r} is analog (ADC/NI-DAQ)"],
                        **common,
                    )
                )
                continue
            band: Category = "lfp" if stream.upper().endswith(("-LFP", "LFP", ".LFP")) else "recording"
            units.append(
                unit(
                    "OpenEphysBinaryRecordingInterface",
                    kwargs,
                    band,
                    CERTAIN,
                    [*evidence, f"neo lists stream {stream!r}"],
                    alternatives=[_router(node, stream, streams)],
                    **common,
                )
            )
        return units

    def category_of(self, interface: str, kwargs: dict[str, Any]) -> Category | None:
        if interface == "OpenEphysBinaryRecordingInterface":
            stream = str(kwargs.get("stream_name", "")).upper()
            return "lfp" if stream.endswith("LFP") else "recording"
        return super().category_of(interface, kwargs)

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        """Experiment N's start time is in settings_N.xml, which NeuroConv does not read."""
        if found.acquisition is None or found.interface not in (
            "OpenEphysBinaryRecordingInterface",
            "OpenEphysBinaryAnalogInterface",
        ):
            return Prepared()
        experiment = _number(found.acquisition, "experiment")
        node = Path(str(found.kwargs["folder_path"]))
        if experiment is None:
            return Prepared()
        settings = _settings_file(node, experiment)
        start = _settings_date(settings)
        if start is None:
            return Prepared(
                notes=[
                    f"{settings.name} (the settings of {found.acquisition}) is missing or has no <DATE>; the "
                    "start time comes from settings.xml, which is experiment1's."
                ]
            )
        return Prepared(
            metadata={"session_start_time": (start, f"{settings.name} <INFO><DATE> ({found.acquisition})")}
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
