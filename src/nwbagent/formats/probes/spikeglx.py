"""SpikeGLX: ``*.meta`` text sidecars (``key=value``) beside ``*.bin`` data, one pair per stream and segment.

A run is ``<run>_g<gate>_t<trigger>.<stream>.bin``: gates and triggers of one run share the acquisition
clock (``firstSample`` keeps counting), so they are *segments* of one acquisition, which the reader reads
together when given the folder that holds them (each gate in its own ``<run>_g<N>`` folder, probes in
``<run>_g<N>_imec<M>`` sub-folders). One unit is made per stream of a run, labelled with its segments
(``g0 t0``, ``g0 t1``, …); NeuroConv writes each segment as its own series.

Names come from the ``fileName`` the .meta records (as neo reads them), not from the name on disk.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import Category, Unit
from nwbagent.formats.probes.base import (
    CERTAIN,
    FileIndex,
    Prepared,
    Probe,
    ProbeResult,
    left_out,
    reader_call,
    rel,
    unit,
)
from nwbagent.formats.probes.spikeglx_checks import check_pair, read_meta

_STREAM = re.compile(r"\.(imec\d*\.(?:ap|lf)|nidq|obx\d*)\.meta$", re.IGNORECASE)
_NAME = re.compile(
    r"^(?P<run>.+?)_g(?P<gate>\d+)_t(?P<trigger>\d+|cat)\.(?P<stream>imec\d*\.(?:ap|lf)|nidq|obx\d*)$",
    re.IGNORECASE,
)
_PROBE_FOLDER = re.compile(r"_imec\d+$")
_GATE_FOLDER = re.compile(r"_g\d+$")


@dataclass(frozen=True)
class Pair:
    """One stream of one segment: a .meta and the .bin it describes."""

    meta: Path
    run: str
    gate: int
    trigger: int | str
    stream: str
    has_sync: bool

    @property
    def segment(self) -> str:
        return f"g{self.gate} t{self.trigger}"

    @property
    def order(self) -> tuple[int, int]:
        # neo orders segments by (gate, trigger), a CatGT "tcat" before numbered triggers
        return (self.gate, self.trigger if isinstance(self.trigger, int) else -1)


def _pair(meta_path: Path, meta: dict[str, str], stream: str) -> Pair:
    recorded = Path(meta.get("fileName", "").replace("\\", "/")).name or meta_path.name
    match = _NAME.match(Path(recorded).stem) or _NAME.match(meta_path.name[: -len(".meta")])
    if match:
        trigger = match["trigger"]
        run, gate = match["run"], int(match["gate"])
        stream = match["stream"].lower()
        parsed: int | str = int(trigger) if trigger.isdigit() else trigger.lower()
    else:
        run, gate, parsed = meta_path.name.split(".")[0], 0, 0
    if "snsApLfSy" in meta:
        has_sync = meta["snsApLfSy"].split(",")[-1].strip() == "1"
    elif "snsXaDwSy" in meta:
        has_sync = meta["snsXaDwSy"].split(",")[-1].strip() == "1"
    else:
        has_sync = False
    return Pair(meta_path, run, gate, parsed, stream, has_sync)


def _streams(folder: Path) -> tuple[list[str], str | None]:
    from spikeinterface.extractors.extractor_classes import SpikeGLXRecordingExtractor

    value, error = reader_call(lambda: SpikeGLXRecordingExtractor.get_streams(folder_path=folder)[0])
    return [str(stream) for stream in value or []], error


def _gate_folder(folder: Path, index: FileIndex) -> Path:
    """``run_g0`` for a pair in ``run_g0/run_g0_imec1``: NeuroConv reads a multi-probe gate from there."""
    if _PROBE_FOLDER.search(folder.name) and folder.parent in index.dirs:
        siblings = index.subdirs.get(folder.parent, [])
        if any(_PROBE_FOLDER.search(s) for s in siblings) or _GATE_FOLDER.search(folder.parent.name):
            return folder.parent
    return folder


class SpikeGLXProbe(Probe):
    family = "SpikeGLX"
    interfaces = ("SpikeGLXRecordingInterface", "SpikeGLXNIDQInterface", "SpikeGLXSyncChannelInterface")
    categories: ClassVar[dict[str, Category]] = {
        "SpikeGLXNIDQInterface": "auxiliary",
        "SpikeGLXSyncChannelInterface": "auxiliary",
    }

    def category_of(self, interface: str, kwargs: dict[str, object]) -> Category | None:
        if interface == "SpikeGLXRecordingInterface":
            return "lfp" if str(kwargs.get("stream_id", "")).endswith(".lf") else "recording"
        return super().category_of(interface, kwargs)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        by_gate: dict[Path, list[Pair]] = defaultdict(list)
        for meta_path in index.files(".meta"):
            match = _STREAM.search(meta_path.name)
            if not match:
                continue
            meta = read_meta(meta_path)
            if not ("typeThis" in meta or "nSavedChans" in meta):
                # named like a SpikeGLX stream but not one: damaged (binary, emptied, cut) rather than foreign
                result.claimed |= {meta_path, meta_path.with_suffix(".bin")}
                result.left_out.append(
                    left_out(
                        _damaged_meta(meta_path), label=meta_path.name, interface="SpikeGLXRecordingInterface"
                    )
                )
                continue
            result.claimed.add(meta_path)
            pair = _pair(meta_path, meta, match.group(1).lower())
            bin_path = meta_path.with_suffix(".bin")
            if bin_path.name not in index.siblings(meta_path):
                result.left_out.append(
                    left_out(
                        UserFacingError(
                            f"This SpikeGLX header has no data file: {bin_path.name} is missing next to it, "
                            f"so the {pair.stream} stream ({pair.segment}) cannot be read.",
                            fix=f"Copy {bin_path.name} into this folder (it is the large file recorded with "
                            "this .meta), or remove the .meta; the other streams convert without it.",
                            path=meta_path,
                            code="missing_data_file",
                        ),
                        label=f"{pair.stream} {pair.segment}",
                        interface="SpikeGLXRecordingInterface",
                    )
                )
                continue
            result.claimed.add(bin_path)
            by_gate[_gate_folder(meta_path.parent, index)].append(pair)
        for folder, pairs in self._acquisitions(by_gate, index).items():
            runs = sorted({p.run for p in pairs})
            if len(runs) > 1:
                result.left_out.append(
                    left_out(
                        UserFacingError(
                            f"This folder holds the files of {len(runs)} SpikeGLX runs ({', '.join(runs)}); "
                            "the reader reads every run in a folder as one recording, so none of them can "
                            "be read from here.",
                            fix="Move each run into its own folder (as SpikeGLX saves them: <run>_g0), then "
                            "convert the parent folder.",
                            path=folder,
                            code="mixed_runs",
                        ),
                        label=f"SpikeGLX runs {', '.join(runs)}",
                        interface="SpikeGLXRecordingInterface",
                    )
                )
                continue
            result.units += self._units(folder, pairs, index.root)
        return result

    def _acquisitions(self, by_gate: dict[Path, list[Pair]], index: FileIndex) -> dict[Path, list[Pair]]:
        """The folder to read each run from: the parent of its gate folders when the run has several and
        nothing else SpikeGLX lives there (the reader reads every .meta below the folder it is given)."""
        runs: dict[tuple[Path, str], list[Path]] = defaultdict(list)
        for gate_folder, pairs in by_gate.items():
            for run in sorted({p.run for p in pairs}):
                runs[(gate_folder.parent, run)].append(gate_folder)
        out: dict[Path, list[Pair]] = {}
        for (parent, run), gate_folders in sorted(runs.items()):
            others = [f for f in by_gate if _under(f, parent) and f not in gate_folders]
            inside_root = parent == index.root or index.root in parent.parents
            if len(gate_folders) > 1 and inside_root and not others:
                out[parent] = [p for f in gate_folders for p in by_gate[f] if p.run == run]
            else:
                for f in gate_folders:
                    out.setdefault(f, []).extend(p for p in by_gate[f] if p.run == run)
        return out

    def _units(self, folder: Path, pairs: list[Pair], root: Path) -> list[Unit]:
        run = pairs[0].run
        where = rel(folder, root)
        place = "this folder" if where == "." else where
        by_stream: dict[str, list[Pair]] = defaultdict(list)
        for pair in pairs:
            by_stream[pair.stream].append(pair)
        units: list[Unit] = []
        syncs_done: set[str] = set()
        streams = sorted(by_stream) + sorted(f"{s}-SYNC" for s, ps in by_stream.items() if ps[0].has_sync)
        for stream in sorted(by_stream):
            stream_pairs = sorted(by_stream[stream], key=lambda p: p.order)
            segments = [p.segment for p in stream_pairs]
            first = stream_pairs[0]
            evidence = [
                f"{rel(first.meta, root)}: SpikeGLX .meta with its .bin"
                + (
                    f" ({len(stream_pairs)} segments: {', '.join(segments)})" if len(stream_pairs) > 1 else ""
                ),
                f"stream {stream!r} of run {run!r} in {place}",
            ]
            kwargs: dict[str, object] = {"folder_path": str(folder)}
            if stream == "nidq":
                units.append(
                    unit(
                        "SpikeGLXNIDQInterface",
                        kwargs,
                        "auxiliary",
                        CERTAIN,
                        evidence,
                        streams=streams,
                        segments=segments,
                    )
                )
                continue
            if stream.startswith("obx"):
                continue  # OneBox: NeuroConv 0.10 has no interface for it
            category: Category = "lfp" if stream.endswith(".lf") else "recording"
            units.append(
                unit(
                    "SpikeGLXRecordingInterface",
                    {**kwargs, "stream_id": stream},
                    category,
                    CERTAIN,
                    evidence,
                    streams=streams,
                    segments=segments,
                )
            )
            probe = stream.split(".")[0]
            ap_first = sorted(by_stream, key=lambda s: (s.split(".")[0], not s.endswith(".ap")))
            sync_stream = next(
                (s for s in ap_first if s.startswith(probe) and by_stream[s][0].has_sync), None
            )
            if sync_stream == stream and probe not in syncs_done:
                # one sync channel per probe, AP preferred, as SpikeGLXConverterPipe does
                syncs_done.add(probe)
                units.append(
                    unit(
                        "SpikeGLXSyncChannelInterface",
                        {**kwargs, "stream_id": f"{stream}-SYNC"},
                        "auxiliary",
                        CERTAIN,
                        [*evidence, "its last saved channel is the sync word (snsApLfSy)"],
                        streams=streams,
                        segments=segments,
                    )
                )
        return units

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        """A picked segment of the NIDQ board must reach its events reader too (it has its own extractor)."""
        events: Any = getattr(interface, "_events_interface", None)
        recording = getattr(events, "recording_extractor", None)
        picked = found.keep_segments
        if (
            picked is not None
            and recording is not None
            and recording.get_num_segments() == len(found.segments)
        ):
            events.recording_extractor = recording.select_segments(list(picked))
        return Prepared()

    def check(self, found: Unit, index: FileIndex) -> list[str]:
        """Every pair the reader will open for this unit must be whole; the reader must list its stream.

        The reader reads every .meta/.bin below the unit's folder, so a damaged pair of another stream there
        stops this one too: the error names the damaged file.
        """
        folder = Path(str(found.kwargs["folder_path"]))
        warnings: list[str] = []
        for meta_path in sorted(p for p in index.files(".meta") if _under(p.parent, folder)):
            if meta_path.with_suffix(".bin").name in index.siblings(meta_path):
                warnings += index.memo(("spikeglx-pair", meta_path), partial(check_pair, meta_path))
        streams, error = index.memo(("spikeglx-streams", folder), partial(_streams, folder))
        wanted = found.kwargs.get("stream_id", "nidq")
        if wanted not in streams:
            raise UserFacingError(
                f"The SpikeGLX reader does not list the {wanted} stream in this folder"
                + (f" ({error})" if error else f" (it lists {', '.join(streams) or 'none'})")
                + ".",
                fix="Check that every .meta has its .bin beside it and that the files were not renamed "
                "(the reader uses the name recorded inside each .meta).",
                path=folder,
                code="stream_not_readable",
                details=error,
            )
        return warnings


def _damaged_meta(meta_path: Path) -> UserFacingError:
    """Why a file named ``*.imec0.ap.meta`` is not a SpikeGLX header, in the checks' own words."""
    try:
        check_pair(meta_path)
    except UserFacingError as error:
        return error
    except OSError as error:
        return UserFacingError(
            f"This SpikeGLX .meta cannot be read ({error.strerror or error}).",
            fix="Copy it again from the acquisition machine.",
            path=meta_path,
            code="unreadable",
        )
    return UserFacingError(
        "This file is named like a SpikeGLX header but has neither typeThis nor nSavedChans.",
        fix="Copy the .meta again from the acquisition machine.",
        path=meta_path,
        code="corrupt_header",
    )


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
