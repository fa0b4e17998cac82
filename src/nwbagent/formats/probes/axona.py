"""Axona DacqUSB: a ``.set`` text file (``trial_date ...``) names the trial; raw data is ``<stem>.bin``, spike
(unit) data the tetrode files ``<stem>.1`` … ``<stem>.16``, LFP ``<stem>.eeg``/``.eeg2``… (250 Hz) and
``<stem>.egf``/``.egf2``… (4.8 kHz), each with a text header ending in ``data_start``.

Many tetrode labs keep only the .set and the LFP files (the .bin is tens of GB): such a folder converts with
``AxonaLFPDataInterface``. That interface reads no metadata, so the trial's start time comes from the .set
(``trial_date`` + ``trial_time``), as ``AxonaRecordingInterface`` reads it.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import Alternative, Category, Unit
from nwbagent.formats.probes.base import (
    CERTAIN,
    STRONG,
    FileIndex,
    Prepared,
    Probe,
    ProbeResult,
    rel,
    text_head,
    unit,
)

_TETRODE = re.compile(r"\.(\d{1,2})$")
_LFP = re.compile(r"\.(eeg|egf)(\d*)$", re.IGNORECASE)


def _set_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text_head(path, 4096).splitlines():
        key, _, value = line.strip().partition(" ")
        values.setdefault(key, value.strip())
    return values


def _start_time(set_file: Path) -> datetime | None:
    """``trial_date Sunday, 4 Oct 2020`` + ``trial_time 11:07:07`` (naive local time, as DacqUSB saves it)."""
    values = _set_values(set_file)
    date = values.get("trial_date", "").split(",")[-1].strip()
    try:
        return datetime.strptime(f"{date} {values.get('trial_time', '').strip()}", "%d %b %Y %H:%M:%S")
    except ValueError:
        return None


def _is_lfp_file(path: Path) -> bool:
    text = text_head(path, 2048)
    return "data_start" in text and ("sample_rate" in text or "num_EEG_samples" in text)


class AxonaProbe(Probe):
    family = "Axona"
    interfaces = ("AxonaRecordingInterface", "AxonaUnitRecordingInterface", "AxonaLFPDataInterface")
    categories: ClassVar[dict[str, Category]] = {
        "AxonaRecordingInterface": "recording",
        "AxonaUnitRecordingInterface": "recording",
        "AxonaLFPDataInterface": "lfp",
    }

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for set_file in index.files(".set"):
            if not text_head(set_file, 1024).startswith("trial_date"):
                continue
            names = index.siblings(set_file)
            stem = set_file.stem
            evidence = f"{rel(set_file, index.root)}: Axona .set file (starts with trial_date)"
            bin_name = stem + ".bin"
            if bin_name in names:
                result.claimed |= {set_file, set_file.parent / bin_name}
                result.units.append(
                    unit(
                        "AxonaRecordingInterface",
                        {"file_path": str(set_file.parent / bin_name)},
                        "recording",
                        CERTAIN,
                        [evidence, f"{bin_name}: raw data with the same stem"],
                    )
                )
                continue
            tetrodes = [n for n in names if n.startswith(stem + ".") and _TETRODE.search(n)]
            if tetrodes:
                result.claimed |= {set_file} | {set_file.parent / n for n in tetrodes}
                result.units.append(
                    unit(
                        "AxonaUnitRecordingInterface",
                        {"file_path": str(set_file)},
                        "recording",
                        STRONG,
                        [evidence, f"tetrode spike files: {', '.join(sorted(tetrodes))}"],
                    )
                )
                continue
            lfp = self._lfp_unit(set_file, names, evidence, result)
            if lfp is not None:
                result.units.append(lfp)
        return result

    def _lfp_unit(self, set_file: Path, names: list[str], evidence: str, result: ProbeResult) -> Unit | None:
        """``.eeg`` channels as the unit, ``.egf`` (high rate) as its alternative, when there is no .bin."""
        by_kind: dict[str, list[str]] = {}
        for name in names:
            match = _LFP.search(name)
            if match and name.startswith(set_file.stem + ".") and _is_lfp_file(set_file.parent / name):
                by_kind.setdefault(match.group(1).lower(), []).append(name)
        if not by_kind:
            return None
        result.claimed |= {set_file} | {set_file.parent / n for group in by_kind.values() for n in group}
        kinds = sorted(by_kind)  # "eeg" before "egf"
        first = set_file.parent / f"{set_file.stem}.{kinds[0]}"
        if first.name not in names:
            first = set_file.parent / sorted(by_kind[kinds[0]])[0]

        def say(kind: str) -> str:
            rate = "250 Hz" if kind == "eeg" else "4.8 kHz"
            files = ", ".join(sorted(by_kind[kind]))
            return f"{len(by_kind[kind])} .{kind} LFP file(s) ({rate}), no raw .bin: {files}"

        alternatives = [
            Alternative(
                interface="AxonaLFPDataInterface",
                kwargs={"file_path": str(set_file.parent / sorted(by_kind[kind])[0])},
                confidence=STRONG,
                reason=say(kind),
            )
            for kind in kinds[1:]
        ]
        return unit(
            "AxonaLFPDataInterface",
            {"file_path": str(first)},
            "lfp",
            CERTAIN,
            [evidence, say(kinds[0])],
            alternatives=alternatives,
        )

    def check(self, found: Unit, index: FileIndex) -> list[str]:
        """NeuroConv 0.10 picks the sample width of an LFP file from the text after the *first* dot of its
        whole path, so an ``.egf`` (16-bit) under a folder with a dot in its name is read as 8-bit."""
        if found.interface != "AxonaLFPDataInterface":
            return []
        path = Path(str(found.kwargs["file_path"]))
        if path.suffix.lower().startswith(".egf") and str(path).split(".")[1].lower()[:3] != "egf":
            dotted = next((p.name for p in path.parents if "." in p.name), path.parent.name)
            raise UserFacingError(
                "The installed NeuroConv would read this 16-bit .egf file as 8-bit samples, because a "
                f"folder in its path has a dot in its name ({dotted}); the values would be wrong.",
                fix=f"Rename the folder {dotted!r} without dots and convert again, or convert the .eeg files "
                "of the trial instead.",
                path=path,
                code="misread_by_reader",
            )
        return []

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        if found.interface != "AxonaLFPDataInterface":
            return Prepared()
        path = Path(str(found.kwargs["file_path"]))
        set_file = path.with_name(path.name.split(".")[0] + ".set")
        start = _start_time(set_file) if set_file.is_file() else None
        if start is None:
            return Prepared()
        return Prepared(
            metadata={"session_start_time": (start, f"{set_file.name} trial_date and trial_time")}
        )
