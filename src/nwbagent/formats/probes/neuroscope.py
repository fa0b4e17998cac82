"""NeuroScope: a ``<parameters>`` XML (with ``<acquisitionSystem>``) sharing its stem with ``.dat``/``.lfp``/
``.eeg`` data and ``.res.N``/``.clu.N`` spike files.

The root tag is what separates it from Intan (``<IntanRHX>``) and Open Ephys (``<SETTINGS>``) XML files.

Time base: ``.lfp``/``.eeg`` files are sampled at the XML's ``<fieldPotentials><lfpSamplingRate>``, but neo
reads them at the wide-band ``<samplingRate>``, which would make a 2 s LFP last 0.25 s; the rate is
corrected from the XML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from nwbagent.formats.model import Category, Unit
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
    xml_root_tag,
)
from nwbagent.formats.probes.timebase import retimed

_SPIKE_FILE = re.compile(r"\.(res|clu)\.\d+$", re.IGNORECASE)
_LFP_RATE = re.compile(r"<lfpSamplingRate>\s*([0-9.]+)\s*</lfpSamplingRate>")


def lfp_rate(xml: Path) -> float | None:
    match = _LFP_RATE.search(text_head(xml, 65536))
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


class NeuroScopeProbe(Probe):
    family = "NeuroScope"
    interfaces = ("NeuroScopeRecordingInterface", "NeuroScopeLFPInterface", "NeuroScopeSortingInterface")
    categories: ClassVar[dict[str, Category]] = {
        "NeuroScopeRecordingInterface": "recording",
        "NeuroScopeLFPInterface": "lfp",
        "NeuroScopeSortingInterface": "sorting",
    }

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        if found.interface != "NeuroScopeLFPInterface" or not found.kwargs.get("xml_file_path"):
            return Prepared()
        xml = Path(str(found.kwargs["xml_file_path"]))
        rate = lfp_rate(xml)
        recording = interface.recording_extractor
        read = recording.get_sampling_frequency()
        if rate is None or abs(rate - read) < 1e-6:
            return Prepared()
        interface.recording_extractor = retimed(recording, rate=rate)
        samples = recording.get_num_samples()
        name = Path(str(found.kwargs["file_path"])).name
        return Prepared(
            notes=[
                f"NeuroScope LFP {name}: the reader took the wide-band rate ({read:g} Hz) for it, which "
                f"would make its {samples:,} samples last {samples / read:.2f} s; {xml.name} gives "
                f"lfpSamplingRate {rate:g} Hz, so the series is written at {rate:g} Hz "
                f"({samples / rate:.2f} s)."
            ]
        )

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for xml in index.files(".xml"):
            if xml_root_tag(xml) != "parameters" or "acquisitionSystem" not in text_head(xml, 8192):
                continue
            names = index.siblings(xml)
            stem = xml.stem
            evidence = f"{rel(xml, index.root)}: NeuroScope <parameters> XML with <acquisitionSystem>"
            found = False
            checks: tuple[tuple[str, str, Category], ...] = (
                (".dat", "NeuroScopeRecordingInterface", "recording"),
                (".lfp", "NeuroScopeLFPInterface", "lfp"),
                (".eeg", "NeuroScopeLFPInterface", "lfp"),
            )
            for suffix, interface, category in checks:
                data = xml.with_name(stem + suffix)
                if data.name in names:
                    found = True
                    result.claimed |= {xml, data}
                    result.units.append(
                        unit(
                            interface,
                            {"file_path": str(data), "xml_file_path": str(xml)},
                            category,
                            CERTAIN,
                            [evidence, f"{data.name}: data file with the same stem"],
                        )
                    )
            spike_files = [n for n in names if _SPIKE_FILE.search(n)]
            if spike_files:
                found = True
                result.claimed |= {xml} | {xml.parent / n for n in spike_files}
                result.units.append(
                    unit(
                        "NeuroScopeSortingInterface",
                        {"folder_path": str(xml.parent), "xml_file_path": str(xml)},
                        "sorting",
                        STRONG,
                        [evidence, f"{len(spike_files)} .res.N/.clu.N spike files"],
                    )
                )
            if not found:
                result.warnings.append(f"{xml}: NeuroScope XML without a .dat/.lfp/.res data file beside it.")
        return result
