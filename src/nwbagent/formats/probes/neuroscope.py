"""NeuroScope: a ``<parameters>`` XML (with ``<acquisitionSystem>``) sharing its stem with ``.dat``/``.lfp``/
``.eeg`` data and ``.res.N``/``.clu.N`` spike files.

The root tag is what separates it from Intan (``<IntanRHX>``) and Open Ephys (``<SETTINGS>``) XML files.
"""

from __future__ import annotations

import re

from nwbagent.formats.model import Category
from nwbagent.formats.probes.base import (
    CERTAIN,
    STRONG,
    FileIndex,
    Probe,
    ProbeResult,
    rel,
    text_head,
    unit,
    xml_root_tag,
)

_SPIKE_FILE = re.compile(r"\.(res|clu)\.\d+$", re.IGNORECASE)


class NeuroScopeProbe(Probe):
    family = "NeuroScope"
    interfaces = ("NeuroScopeRecordingInterface", "NeuroScopeLFPInterface", "NeuroScopeSortingInterface")

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
