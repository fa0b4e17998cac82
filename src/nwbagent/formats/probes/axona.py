"""Axona DacqUSB: a ``.set`` text file (``trial_date ...``) names the session; raw data is ``<stem>.bin``,
spike (unit) data the tetrode files ``<stem>.1`` … ``<stem>.16``."""

from __future__ import annotations

import re

from nwbagent.formats.probes.base import CERTAIN, STRONG, FileIndex, Probe, ProbeResult, rel, text_head, unit

_TETRODE = re.compile(r"\.(\d{1,2})$")


class AxonaProbe(Probe):
    family = "Axona"
    interfaces = ("AxonaRecordingInterface", "AxonaUnitRecordingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for set_file in index.files(".set"):
            text = text_head(set_file, 1024)
            if not text.startswith("trial_date"):
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
        return result
