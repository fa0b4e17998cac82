"""Say what a folder or file holds, as NeuroConv units.

One cheap walk indexes names; each probe in ``PROBES`` looks up its candidates and opens only those. Units
two probes both claim for the same data are merged (the weaker becomes an alternative), every kwargs dict is
checked against NeuroConv's source schema, and files nothing explained are summarised in one warning.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.formats import registry
from nwbagent.formats.model import Alternative, DetectionResult, Unit
from nwbagent.formats.probes import PROBES, FileIndex, ProbeResult

_PATH_KWARGS = ("file_path", "folder_path", "file_paths")


def primary_path(found: Unit | Alternative) -> str | None:
    """The file or folder a unit reads (first of ``file_paths``)."""
    for key in _PATH_KWARGS:
        value = found.kwargs.get(key)
        if isinstance(value, list) and value:
            return str(value[0])
        if isinstance(value, str):
            return value
    return None


def _merge(units: list[Unit]) -> list[Unit]:
    """Fold units that read the same data in the same role into one, the weaker as an alternative."""
    kept: dict[tuple[str | None, str | None, str], Unit] = {}
    order: list[tuple[str | None, str | None, str]] = []
    for found in sorted(units, key=lambda u: -u.confidence):
        key = (primary_path(found), found.stream, found.category)
        if key not in kept:
            kept[key] = found
            order.append(key)
            continue
        best = kept[key]
        if best.interface == found.interface and best.kwargs == found.kwargs:
            continue
        best.alternatives.append(
            Alternative(
                interface=found.interface,
                kwargs=found.kwargs,
                confidence=found.confidence,
                reason="Another reader matched the same data: " + "; ".join(found.evidence),
            )
        )
        if found.confidence >= 0.5 and best.confidence >= 0.5:
            best.confidence = 0.45
            best.disambiguation = best.disambiguation or (
                f"Two readers match the same data ({best.interface}, {found.interface}); say which one "
                "produced it."
            )
    return [kept[key] for key in order]


def _under(path: Path, claims: set[Path]) -> bool:
    return path in claims or any(parent in claims for parent in path.parents)


def _unmatched_warning(index: FileIndex, claimed: set[Path]) -> str | None:
    unmatched = [path for path in index.all_files() if not _under(path, claimed)]
    if not unmatched:
        return None
    suffixes = Counter(path.suffix.lower() or "(none)" for path in unmatched)
    owners = registry.suffix_owners()
    lookalikes = sorted({s for s in suffixes if s in owners})
    summary = ", ".join(f"{count} {suffix}" for suffix, count in suffixes.most_common(6))
    text = f"{len(unmatched)} file(s) matched no format and were ignored ({summary})."
    if lookalikes:
        text += (
            f" Some have extensions NeuroConv formats use ({', '.join(lookalikes)}) but their content or "
            "companion files did not match."
        )
    return text


def detect(path: str | Path) -> DetectionResult:
    """Detect the NeuroConv units in a folder (walked recursively) or a single file."""
    given = Path(path).expanduser()
    if not given.exists():
        raise UserFacingError(
            "This path does not exist.",
            fix="Check the spelling, or give the folder that holds the recording.",
            path=given,
            code="not_found",
        )
    target = given.resolve()
    single_file = target.is_file()
    root = target.parent if single_file else target
    index = FileIndex.build(root, recursive=not single_file)

    found = ProbeResult()
    for probe in PROBES:
        found.extend(probe.run(index))

    units = found.units
    unsupported = found.unsupported
    warnings = list(dict.fromkeys(found.warnings))
    if single_file:
        units = [u for u in units if _reads(u, target, found.claimed)]
        unsupported = [u for u in unsupported if Path(u.path) == target]
        warnings = [w for w in warnings if str(target) in w]

    checked: list[Unit] = []
    for candidate in _merge(units):
        problem = registry.kwargs_problem(candidate.interface, candidate.kwargs)
        if problem:  # a probe bug, never the user's: report rather than hand over unusable kwargs
            warnings.append(
                f"{primary_path(candidate)}: detected {candidate.interface} but {problem}; skipped."
            )
            continue
        defect = registry.known_defect(candidate.interface)
        if defect:
            where = primary_path(candidate)
            warnings.append(f"{where}: holds data for {candidate.interface}, skipped: {defect}.")
            continue
        checked.append(candidate)

    if not single_file:
        note = _unmatched_warning(index, found.claimed)
        if note:
            warnings.append(note)
        if next(index.all_files(), None) is None:
            warnings.append(f"{root}: the folder is empty.")
        elif not checked and not unsupported:
            warnings.append(
                f"{target}: no recording or sorting format NeuroConv can convert was recognised here."
            )
    return DetectionResult(path=str(target), units=checked, unsupported=unsupported, warnings=warnings)


def _reads(found: Unit, target: Path, claimed: set[Path]) -> bool:
    """Whether a unit found in a file's folder reads that file, so a single-file request keeps it."""
    values = [value for key, value in found.kwargs.items() if key.endswith(("_path", "_paths"))]
    paths = [Path(p) for value in values for p in (value if isinstance(value, list) else [value]) if p]
    if target in paths:
        return True
    folder = found.kwargs.get("folder_path")
    return isinstance(folder, str) and Path(folder) in target.parents and _under(target, claimed)
