"""Phy / KiloSort output: ``params.py`` (``dat_path``, ``n_channels_dat``, ``sample_rate``) with
``spike_times.npy`` and ``spike_templates.npy``/``spike_clusters.npy``.

Phy reads a KiloSort folder too; which one the user means is a curation question, so the other is always
offered as an alternative.
"""

from __future__ import annotations

from nwbagent.formats.model import Alternative
from nwbagent.formats.probes.base import CERTAIN, STRONG, FileIndex, Probe, ProbeResult, rel, text_head, unit

_KILOSORT_MARKS = ("cluster_KSLabel.tsv", "rez.mat", "ops.npy")


class PhyKiloSortProbe(Probe):
    family = "Phy/KiloSort"
    interfaces = ("PhySortingInterface", "KiloSortSortingInterface")

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for params in index.named("params.py"):
            names = set(index.siblings(params))
            text = text_head(params, 4096)
            if not ("dat_path" in text or "n_channels_dat" in text) or "spike_times.npy" not in names:
                continue
            if not names & {"spike_templates.npy", "spike_clusters.npy"}:
                continue
            folder = params.parent
            result.claimed.add(folder)
            kilosort_marks = sorted(names & set(_KILOSORT_MARKS)) + sorted(
                n for n in names if n.lower().startswith("kilosort")
            )
            curated = "cluster_group.tsv" in names or "cluster_info.tsv" in names
            evidence = [f"{rel(params, index.root)}: Phy params.py with spike_times.npy"]
            if curated:
                evidence.append("cluster_group.tsv/cluster_info.tsv: Phy curation labels")
            if kilosort_marks:
                evidence.append(f"KiloSort output markers: {', '.join(kilosort_marks)}")
            kwargs = {"folder_path": str(folder)}
            if curated or not kilosort_marks:
                result.units.append(
                    unit(
                        "PhySortingInterface",
                        kwargs,
                        "sorting",
                        CERTAIN if curated else STRONG,
                        evidence,
                        alternatives=[
                            Alternative(
                                interface="KiloSortSortingInterface",
                                kwargs=kwargs,
                                confidence=0.7 if kilosort_marks else 0.5,
                                reason="The same folder read as raw KiloSort output "
                                "(KiloSort labels instead of Phy curation).",
                            )
                        ],
                    )
                )
            else:
                result.units.append(
                    unit(
                        "KiloSortSortingInterface",
                        kwargs,
                        "sorting",
                        STRONG,
                        evidence,
                        alternatives=[
                            Alternative(
                                interface="PhySortingInterface",
                                kwargs=kwargs,
                                confidence=0.7,
                                reason="Phy reads the same KiloSort folder.",
                            )
                        ],
                    )
                )
        return result
