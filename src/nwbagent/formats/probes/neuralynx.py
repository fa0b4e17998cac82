"""Neuralynx: every file (``.ncs`` continuous, ``.nse``/``.ntt``/``.nst`` spikes, ``.nev`` events) starts
with a 16 kB text header ``######## Neuralynx Data File Header``. NeuroConv takes the folder."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, ClassVar

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import Category, LeftOut, Unit, Unsupported
from nwbagent.formats.probes.base import (
    CERTAIN,
    SUFFIX_ONLY,
    FileIndex,
    Probe,
    ProbeResult,
    Signature,
    head,
    left_out,
    reader_call,
    rel,
    unit,
)

_MAGIC = b"######## Neuralynx"
_SPIKES = (".nse", ".ntt", ".nst")


class NeuralynxProbe(Probe):
    family = "Neuralynx"
    interfaces = ("NeuralynxRecordingInterface", "NeuralynxSortingInterface")
    categories: ClassVar[dict[str, Category]] = {
        "NeuralynxRecordingInterface": "recording",
        "NeuralynxSortingInterface": "sorting",
    }
    signatures = (
        Signature(
            "Neuralynx", (".ncs", *_SPIKES, ".nev", ".nvt"), (_MAGIC,), "'######## Neuralynx' text header"
        ),
    )

    def open(self, found: Unit, cls: Any) -> Any:
        """Spike files without a .ncs beside them: SpikeInterface 0.105 takes the spikes' start time from a
        continuous stream and fails when there is none ("No signal streams to infer the sampling
        frequency"), even with the sampling frequency given. Without that inference the start is the
        recording's own zero, which is all the spike files can say."""
        folder = Path(str(found.kwargs.get("folder_path", "")))
        if found.interface != "NeuralynxSortingInterface" or any(folder.glob("*.[nN][cC][sS]")):
            return super().open(found, cls)
        from spikeinterface.extractors.neoextractors.neuralynx import NeuralynxSortingExtractor

        with _OPEN_LOCK:
            before = NeuralynxSortingExtractor.need_t_start_from_signal_stream
            NeuralynxSortingExtractor.need_t_start_from_signal_stream = False
            try:
                return super().open(found, cls)
            finally:
                NeuralynxSortingExtractor.need_t_start_from_signal_stream = before

    def run(self, index: FileIndex) -> ProbeResult:
        from neuroconv.datainterfaces import NeuralynxRecordingInterface

        result = ProbeResult()
        folders: dict[Path, dict[str, list[str]]] = {}
        damaged: dict[Path, list[str]] = {}
        for suffix in (".ncs", *_SPIKES, ".nev"):
            for path in index.files(suffix):
                if head(path, len(_MAGIC)) == _MAGIC:
                    folders.setdefault(path.parent, {}).setdefault(suffix, []).append(path.name)
                    result.claimed.add(path)
                elif suffix != ".nev" or head(path, 8) not in (b"NEURALEV", b"BREVENTS"):
                    damaged.setdefault(path.parent, []).append(path.name)
        for folder, kinds in sorted(folders.items()):
            evidence = [
                f"{rel(folder, index.root)}: {len(names)} {suffix} files with the Neuralynx text header"
                for suffix, names in sorted(kinds.items())
            ]
            if ".ncs" in kinds:
                value, error = reader_call(
                    functools.partial(NeuralynxRecordingInterface.get_stream_names, folder_path=folder)
                )
                streams = [str(s) for s in value or []]
                bad = damaged.get(folder, [])
                if not streams and bad:
                    # the reader opens every file of the folder: one damaged events or spike file stops all
                    result.claimed |= {folder / n for n in bad}
                    result.left_out.append(_damaged_companion(folder, bad, error, rel(folder, index.root)))
                    continue
                if not streams:
                    result.warnings.append(f"{folder}: Neuralynx .ncs files found but unreadable ({error}).")
                for stream in streams:
                    kwargs: dict[str, object] = {"folder_path": str(folder)}
                    if len(streams) > 1:
                        kwargs["stream_name"] = stream
                    result.units.append(
                        unit(
                            "NeuralynxRecordingInterface",
                            kwargs,
                            "recording",
                            CERTAIN,
                            evidence,
                            streams=streams,
                        )
                    )
            if set(kinds) == {".nev"}:
                result.unsupported.append(
                    Unsupported(
                        path=str(folder / kinds[".nev"][0]),
                        reason="Neuralynx events (.nev) with no .ncs recording or spike files beside them; "
                        "NeuroConv has no interface for Neuralynx events alone",
                    )
                )
                continue
            spikes = [folder / n for suffix in _SPIKES for n in kinds.get(suffix, [])]
            if spikes:
                kwargs = {"folder_path": str(folder)}
                why = [*evidence, "spike files may hold unsorted threshold crossings"]
                rates = {_header_rate(path) for path in spikes}
                if ".ncs" not in kinds and len(rates) == 1 and None not in rates:
                    (rate,) = rates
                    kwargs["sampling_frequency"] = rate
                    why.append(
                        f"no .ncs beside them: sampling frequency {rate:g} Hz from the spike files' "
                        "-SamplingFrequency header line"
                    )
                result.units.append(unit("NeuralynxSortingInterface", kwargs, "sorting", SUFFIX_ONLY, why))
        return result


_OPEN_LOCK = threading.Lock()


def _damaged_companion(folder: Path, bad: list[str], error: str | None, where: str) -> LeftOut:
    names = ", ".join(bad)
    problem = (
        f"The Neuralynx reader reads every file in this folder, and {names} does not start with the "
        "Neuralynx header (damaged or not copied completely), so the .ncs recordings cannot be read either."
    )
    fix = (
        f"Copy {names} again from the acquisition machine, or move it out of the folder to convert the "
        ".ncs files without it."
    )
    error_ = UserFacingError(problem, fix=fix, path=folder / bad[0], code="corrupt_header", details=error)
    return left_out(error_, label=f"Neuralynx recording in {where}", interface="NeuralynxRecordingInterface")


def _header_rate(path: Path) -> float | None:
    """``-SamplingFrequency 32000`` from a Neuralynx file's 16 KiB text header."""
    for line in head(path, 16384).decode("latin-1", errors="replace").splitlines():
        key, _, value = line.strip().partition(" ")
        if key.lower() == "-samplingfrequency":
            try:
                return float(value.split()[0])
            except (ValueError, IndexError):
                return None
    return None
