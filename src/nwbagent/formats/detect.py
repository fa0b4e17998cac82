"""Say what a folder or file holds, as NeuroConv units.

One cheap walk indexes names; each probe in ``PROBES`` looks up its candidates and opens only those. Units
two probes both claim for the same data are merged (the weaker becomes an alternative), every kwargs dict is
checked against NeuroConv's source schema, and files nothing explained are summarised in one warning.

Then each unit's own probe checks the files that unit reads (sizes, headers: what would fail or convert
wrongly), and a file with a known signature's suffix that no probe claimed is reported as damaged. A unit
that fails its check is *left out* with the reason and the fix, never the whole folder: the rest converts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nwbagent.errors import UserFacingError
from nwbagent.formats import registry
from nwbagent.formats.model import Alternative, Category, DetectionResult, LeftOut, Unit
from nwbagent.formats.probes import PROBES, FileIndex, Probe, ProbeResult
from nwbagent.formats.probes.base import Signature, head, left_out

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
    kept: dict[tuple[str | None, str | None, str, str | None], Unit] = {}
    order: list[tuple[str | None, str | None, str, str | None]] = []
    for found in sorted(units, key=lambda u: -u.confidence):
        key = (primary_path(found), found.stream, found.category, found.acquisition)
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
    found.left_out += _damaged(index, found.claimed)

    units = found.units
    unsupported = found.unsupported
    warnings = list(dict.fromkeys(found.warnings))
    left = found.left_out
    if single_file:
        units = [picked for u in units if (picked := _reading(u, target, found.claimed)) is not None]
        unsupported = [u for u in unsupported if Path(u.path) == target]
        warnings = [w for w in warnings if str(target) in w]
        left = [x for x in left if x.path is None or Path(x.path) == target or Path(x.path) in target.parents]

    checked: list[Unit] = []
    for candidate in _merge(units):
        promised = {**candidate.kwargs, **{need.name: None for need in candidate.needs}}
        problem = registry.kwargs_problem(candidate.interface, promised)
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
        try:
            warnings.extend(probe_for(candidate.interface).check(candidate, index))
        except UserFacingError as error:
            left.append(left_out(error, label=candidate.label, interface=candidate.interface))
            continue
        checked.append(candidate)

    if not single_file:
        reported = {Path(x.path) for x in left if x.path}
        note = _unmatched_warning(index, found.claimed | reported)
        if note:
            warnings.append(note)
        if next(index.all_files(), None) is None:
            warnings.append(f"{root}: the folder is empty.")
        elif not checked and not unsupported and not left:
            warnings.append(
                f"{target}: no recording or sorting format NeuroConv can convert was recognised here."
            )
    return DetectionResult(
        path=str(target),
        units=checked,
        unsupported=unsupported,
        warnings=list(dict.fromkeys(warnings)),
        left_out=left,
    )


def _signatures() -> dict[str, list[Signature]]:
    by_suffix: dict[str, list[Signature]] = {}
    for probe in PROBES:
        for signature in probe.signatures:
            for suffix in signature.suffixes:
                by_suffix.setdefault(suffix, []).append(signature)
    return by_suffix


def _damaged(index: FileIndex, claimed: set[Path]) -> list[LeftOut]:
    """Files with a signed format's suffix that no probe explained and that start like none of them.

    A ``.ns5`` that does not start with ``NEURALCD`` is a damaged Blackrock file, not "an unknown file"; a
    ``.nev`` is only damaged when it fits neither Blackrock's nor Neuralynx's header.
    """
    out: list[LeftOut] = []
    for suffix, signatures in sorted(_signatures().items()):
        for path in index.files(suffix):
            if _under(path, claimed):
                continue
            start = head(path, max(s.length for s in signatures))
            if any(s.matches(start) for s in signatures):
                continue  # well-formed, but its probe found nothing to convert (e.g. no companion files)
            names = " or ".join(sorted(s.format for s in signatures))
            expected = "; ".join(
                f"{s.format}: {s.description}" for s in sorted(signatures, key=lambda s: s.format)
            )
            if len(start) < min(s.length for s in signatures):
                problem = f"This {names} file is {len(start)} bytes long, too short to hold a header."
            else:
                problem = (
                    f"This file does not start with the {names} header signature ({expected}; found "
                    f"{start[:8]!r}): it is corrupt, incompletely copied, or another format under this "
                    "extension."
                )
            error = UserFacingError(
                problem,
                fix="Copy the file again from the acquisition machine; if it opens in the vendor's software, "
                "export it again from there.",
                path=path,
                code="corrupt_header",
            )
            out.append(left_out(error, label=path.name))
    return out


def probe_for(interface: str) -> Probe:
    """The probe that owns ``interface`` (a plain one when none does: it checks and corrects nothing)."""
    for probe in PROBES:
        if interface in probe.interfaces:
            return probe
    return Probe()


def category_for(interface: str, kwargs: dict[str, object]) -> Category:
    """What a unit of ``interface`` holds, asked of the probe that owns that interface."""
    for probe in PROBES:
        if interface in probe.interfaces:
            known = probe.category_of(interface, dict(kwargs))
            if known is not None:
                return known
    return registry.category_of(interface)


def _reading(found: Unit, target: Path, claimed: set[Path]) -> Unit | None:
    """The unit that reads a requested file: ``found`` itself, or its alternative that names the file (a
    folder's .eeg is the unit and its .egf an alternative; asked for the .egf, the alternative is it)."""
    if _reads(found, target, claimed):
        return found
    for alt in found.alternatives:
        if target in _paths(alt.kwargs):
            rest = [a for a in found.alternatives if a is not alt]
            return found.model_copy(
                update={
                    "interface": alt.interface,
                    "kwargs": alt.kwargs,
                    "confidence": max(alt.confidence, found.confidence),
                    "evidence": [alt.reason, *found.evidence[:1]],
                    "alternatives": rest,
                }
            )
    return None


def _paths(kwargs: dict[str, object]) -> list[Path]:
    values = [value for key, value in kwargs.items() if key.endswith(("_path", "_paths"))]
    return [Path(str(p)) for value in values for p in (value if isinstance(value, list) else [value]) if p]


def _reads(found: Unit, target: Path, claimed: set[Path]) -> bool:
    """Whether a unit found in a file's folder reads that file, so a single-file request keeps it."""
    if target in _paths(found.kwargs):
        return True
    folder = found.kwargs.get("folder_path")
    return isinstance(folder, str) and Path(folder) in target.parents and _under(target, claimed)
