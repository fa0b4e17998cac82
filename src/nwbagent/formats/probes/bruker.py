"""Bruker PrairieView VoltageRecording: ``*_VoltageRecording_*.csv`` cycle files each with its ``.xml``
(root ``<VRecSessionEntry>``)."""

from __future__ import annotations

from pathlib import Path

from nwbagent.formats.probes.base import SUFFIX_ONLY, FileIndex, Probe, ProbeResult, rel, unit, xml_root_tag


class BrukerVoltageProbe(Probe):
    family = "Bruker VoltageRecording"
    interfaces = ("BrukerVoltageRecordingInterface",)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        groups: dict[Path, list[Path]] = {}
        for csv in index.files(".csv"):
            if "VoltageRecording" not in csv.name:
                continue
            xml = csv.with_suffix(".xml")
            if xml.name in index.siblings(csv) and xml_root_tag(xml) == "VRecSessionEntry":
                groups.setdefault(csv.parent, []).append(csv)
                result.claimed |= {csv, xml}
        for folder, csvs in sorted(groups.items()):
            result.units.append(
                unit(
                    "BrukerVoltageRecordingInterface",
                    {"file_paths": [str(c) for c in sorted(csvs)]},
                    "icephys",
                    SUFFIX_ONLY,
                    [f"{rel(folder, index.root)}: {len(csvs)} VoltageRecording CSV cycles with XML"],
                    disambiguation="Cycles from several electrodes? Split file_paths by electrode.",
                )
            )
        return result
