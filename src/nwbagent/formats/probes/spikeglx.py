"""SpikeGLX: ``*.meta`` text sidecars (``key=value``) beside ``*.bin`` data, one pair per stream."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from nwbagent.formats.model import Category, Unit
from nwbagent.formats.probes.base import (
    CERTAIN,
    FileIndex,
    Probe,
    ProbeResult,
    reader_call,
    rel,
    text_head,
    unit,
)

_STREAM = re.compile(r"\.(imec\d*\.(?:ap|lf)|nidq|obx\d*)\.meta$", re.IGNORECASE)
_PROBE_FOLDER = re.compile(r"_imec\d+$")


def read_meta(path: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in text_head(path, 65536).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def _streams(folder: Path) -> tuple[list[str], str | None]:
    from spikeinterface.extractors.extractor_classes import SpikeGLXRecordingExtractor

    value, error = reader_call(lambda: SpikeGLXRecordingExtractor.get_streams(folder_path=folder)[0])
    return [str(stream) for stream in value or []], error


class SpikeGLXProbe(Probe):
    family = "SpikeGLX"
    interfaces = ("SpikeGLXRecordingInterface", "SpikeGLXNIDQInterface", "SpikeGLXSyncChannelInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        by_folder: dict[Path, list[tuple[Path, str]]] = defaultdict(list)
        for meta_path in index.files(".meta"):
            match = _STREAM.search(meta_path.name)
            meta = read_meta(meta_path)
            if not match or not ("typeThis" in meta or "nSavedChans" in meta):
                continue
            result.claimed.add(meta_path)
            bin_path = meta_path.with_suffix(".bin")
            if bin_path.name not in index.siblings(meta_path):
                result.warnings.append(
                    f"{meta_path}: SpikeGLX metadata without its data file {bin_path.name}; this stream was "
                    "skipped. Copy the matching .bin next to the .meta to convert it."
                )
                continue
            result.claimed.add(bin_path)
            folder = meta_path.parent
            # NeuroConv wants the run folder (``run_g0``) when each probe sits in its own ``run_g0_imecN``.
            if _PROBE_FOLDER.search(folder.name) and folder.parent != index.root.parent:
                parent_has_other = any(_PROBE_FOLDER.search(s) for s in index.subdirs.get(folder.parent, []))
                if parent_has_other and folder.parent in index.dirs:
                    folder = folder.parent
            by_folder[folder].append((meta_path, match.group(1).lower()))
        for folder, metas in sorted(by_folder.items()):
            streams, error = _streams(folder)
            if not streams:
                result.warnings.append(
                    f"{folder}: SpikeGLX files found ({', '.join(m.name for m, _ in metas)}) but the reader "
                    f"could not list their streams ({error or 'no stream'}); check the .meta files."
                )
            result.units += self._units(folder, streams, metas, index.root)
        return result

    def _units(
        self, folder: Path, streams: list[str], metas: list[tuple[Path, str]], root: Path
    ) -> list[Unit]:
        named = {stream: meta for meta, stream in metas}
        units: list[Unit] = []
        syncs_done: set[str] = set()
        for stream in sorted(streams):
            base = stream.replace("-SYNC", "")
            meta = named.get(base.lower())
            evidence = [f"{rel(meta, root)}: SpikeGLX .meta with its .bin"] if meta else []
            evidence.append(f"neo lists stream {stream!r} in {rel(folder, root)}")
            kwargs: dict[str, object] = {"folder_path": str(folder)}
            if stream == "nidq":
                units.append(
                    unit("SpikeGLXNIDQInterface", kwargs, "auxiliary", CERTAIN, evidence, streams=streams)
                )
            elif stream.endswith("-SYNC"):
                probe = base.split(".")[0]
                if probe in syncs_done:  # one sync channel per probe, AP preferred, as SpikeGLXConverterPipe
                    continue
                syncs_done.add(probe)
                kwargs["stream_id"] = stream
                units.append(
                    unit(
                        "SpikeGLXSyncChannelInterface",
                        kwargs,
                        "auxiliary",
                        CERTAIN,
                        evidence,
                        streams=streams,
                    )
                )
            elif stream.startswith("imec"):
                kwargs["stream_id"] = stream
                category: Category = "lfp" if stream.endswith(".lf") else "recording"
                units.append(
                    unit("SpikeGLXRecordingInterface", kwargs, category, CERTAIN, evidence, streams=streams)
                )
        return units
