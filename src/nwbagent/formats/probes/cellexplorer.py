"""CellExplorer / Buzsaki lab: ``<session>.session.mat`` beside ``<session>.dat``/``.lfp``, and
``*.spikes.cellinfo.mat`` sorting files."""

from __future__ import annotations

from nwbagent.formats.model import Category
from nwbagent.formats.probes.base import CERTAIN, STRONG, FileIndex, Probe, ProbeResult, head, rel, unit

_MAT_MAGICS = (b"MATLAB", b"\x89HDF")


def _is_mat(raw: bytes) -> bool:
    return raw.startswith(_MAT_MAGICS) or raw[512:516] == b"\x89HDF"


class CellExplorerProbe(Probe):
    family = "CellExplorer"
    interfaces = (
        "CellExplorerRecordingInterface",
        "CellExplorerLFPInterface",
        "CellExplorerSortingInterface",
    )

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for mat in index.files(".mat"):
            lower = mat.name.lower()
            if lower.endswith(".session.mat") and _is_mat(head(mat, 520)):
                stem = mat.name[: -len(".session.mat")]
                names = index.siblings(mat)
                evidence = f"{rel(mat, index.root)}: CellExplorer session file (MAT)"
                checks: tuple[tuple[str, str, Category], ...] = (
                    (".dat", "CellExplorerRecordingInterface", "recording"),
                    (".lfp", "CellExplorerLFPInterface", "lfp"),
                )
                for suffix, interface, category in checks:
                    if stem + suffix in names:
                        result.claimed |= {mat, mat.parent / (stem + suffix)}
                        result.units.append(
                            unit(
                                interface,
                                {"folder_path": str(mat.parent)},
                                category,
                                CERTAIN,
                                [evidence, f"{stem}{suffix}: binary data with the session's name"],
                            )
                        )
            elif lower.endswith(".spikes.cellinfo.mat") and _is_mat(head(mat, 520)):
                result.claimed.add(mat)
                result.units.append(
                    unit(
                        "CellExplorerSortingInterface",
                        {"file_path": str(mat)},
                        "sorting",
                        STRONG,
                        [f"{rel(mat, index.root)}: CellExplorer spikes.cellinfo MAT file"],
                    )
                )
        return result
