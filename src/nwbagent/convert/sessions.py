"""Which detected units belong in one NWB file.

A folder handed over by a user may be one session (a SpikeGLX run with the Phy sorting beside it: one file)
or a folder of sessions (one file each). The rule: split at a folder level only when *every* branch there
holds data of its own (a recording or an icephys unit); a branch holding only a sorting or auxiliary stream
belongs with its siblings. Separate acquisitions of one folder (Open Ephys experiments: the clock restarts
between them) are separate sessions too; units that belong to no acquisition (a sorting beside the node) go
with the first. Detection stays a pure "what is here"; this module decides grouping.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from nwbagent.formats.detect import primary_path
from nwbagent.formats.model import Unit

_PRIMARY = {"recording", "lfp", "icephys"}


def unit_path(unit: Unit) -> Path:
    """The file or folder a unit reads (first one for multi-file interfaces)."""
    path = primary_path(unit)
    if path is None:
        raise ValueError(f"unit {unit.interface} has no path argument")
    return Path(path)


def group_sessions(units: list[Unit], root: Path) -> list[list[Unit]]:
    """Split ``units`` into sessions by folder, then by acquisition."""
    return [part for group in _by_folder(units, root) for part in _by_acquisition(group)]


def _by_acquisition(units: list[Unit]) -> list[list[Unit]]:
    names = sorted({u.acquisition for u in units if u.acquisition}, key=_natural)
    if len(names) <= 1:
        return [units]
    loose = [u for u in units if not u.acquisition]
    return [
        [u for u in units if u.acquisition == name] + (loose if i == 0 else [])
        for i, name in enumerate(names)
    ]


def _natural(name: str) -> tuple[str, int]:
    digits = "".join(c for c in name if c.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else 0)


def _by_folder(units: list[Unit], root: Path) -> list[list[Unit]]:
    """Split ``units`` into sessions, recursively at each folder level below ``root``."""
    if len(units) <= 1:
        return [units] if units else []
    root_dir = root if root.is_dir() else root.parent
    branches: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        try:
            rel = unit_path(unit).relative_to(root_dir)
        except ValueError:
            rel = Path(unit_path(unit).name)
        # A unit whose path is the root itself or a file directly in it belongs to the root bucket.
        key = rel.parts[0] if len(rel.parts) > 1 else ""
        branches[key].append(unit)
    if len(branches) == 1:
        (key,) = branches
        if key:
            return _by_folder(units, root_dir / key)
        return [units]
    if all(any(u.category in _PRIMARY for u in group) for group in branches.values()):
        sessions: list[list[Unit]] = []
        for key in sorted(branches):
            group = branches[key]
            sessions.extend(_by_folder(group, root_dir / key) if key else [group])
        return sessions
    return [units]
