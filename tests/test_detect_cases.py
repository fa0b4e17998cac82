"""Acceptance: detection finds every NeuroConv test case from the folder a user would hand over."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED_DATA, load_cases
from nwbagent.formats import Alternative, DetectionResult, Unit, detect
from nwbagent.formats.registry import covered_interface_names, interface_class

CASES = load_cases()

# A router or converter is satisfied by the interfaces it wraps.
WRAPS = {
    "OpenEphysRecordingInterface": {"OpenEphysBinaryRecordingInterface", "OpenEphysLegacyRecordingInterface"},
    "IntanConverter": {"IntanRecordingInterface", "IntanAnalogInterface", "IntanDigitalInterface"},
}
# Readings of one file that detection cannot settle alone: the top unit must be marked below 0.5.
AMBIGUOUS = {"AxonRecordingInterface", "AbfInterface"}
# Equally valid readers of the same data: either as the unit is right.
EQUIVALENT = [{"PhySortingInterface", "KiloSortSortingInterface"}]
_PATH_KEYS = ("file_path", "folder_path", "file_paths")

_cache: dict[Path, DetectionResult] = {}


def _detect(folder: Path) -> DetectionResult:
    if folder not in _cache:
        _cache[folder] = detect(folder)
    return _cache[folder]


def _abs(data: Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_abs(data, v) for v in value]
    if isinstance(value, str) and "/" in value:
        return str((data / value).resolve())
    return value


def _path_of(kwargs: dict[str, Any]) -> str | None:
    for key in _PATH_KEYS:
        value = kwargs.get(key)
        if isinstance(value, list):
            return str(Path(value[0]).resolve())
        if isinstance(value, str):
            return str(Path(value).resolve())
    return None


def _handed_over(data: Path, case: dict[str, Any]) -> Path:
    kwargs = case["kwargs"]
    if "folder_path" in kwargs:
        return data / kwargs["folder_path"]
    first = kwargs.get("file_path") or kwargs["file_paths"][0]
    return (data / first).parent


def _matches(found: Unit | Alternative, case: dict[str, Any], data: Path) -> bool:
    names = WRAPS.get(case["interface"], {case["interface"]})
    if found.interface not in names:
        return False
    kwargs = {k: _abs(data, v) for k, v in case["kwargs"].items()}
    for key in ("stream_id", "stream_name"):
        if key in kwargs and found.kwargs.get(key) != kwargs[key]:
            return False
    if case["interface"] in WRAPS:  # the converter's path may be the folder or the header file inside it
        return True
    return _path_of(found.kwargs) == _path_of(kwargs)


def test_cases_file_present() -> None:
    assert CASES, (
        f"cases.json not found or empty at {SHARED_DATA / 'cases.json'}; acceptance cases cannot run."
    )


@pytest.mark.parametrize("case", CASES, ids=[c["id"][:80] for c in CASES])
def test_case_detected(case: dict[str, Any], ephy_data: Path) -> None:
    result = _detect(_handed_over(ephy_data, case))
    hits = [(u, None) for u in result.units if _matches(u, case, ephy_data)]
    hits += [(u, a) for u in result.units for a in u.alternatives if _matches(a, case, ephy_data)]
    labels = [f"{u.label}({u.confidence}) alts={[a.interface for a in u.alternatives]}" for u in result.units]
    assert hits, f"{case['interface']} not detected; units: {labels}; warnings: {result.warnings}"
    holder, alternative = hits[0]
    if alternative is not None:
        wrong_but_sure = holder.confidence >= 0.5 and not any(
            {holder.interface, case["interface"]} <= pair for pair in EQUIVALENT
        )
        assert not wrong_but_sure, (
            f"{holder.label} claimed at {holder.confidence} while the case is {case['interface']}"
        )
    if case["interface"] in AMBIGUOUS:
        assert holder.confidence < 0.5 and holder.disambiguation, holder
        assert holder.alternatives, "the other reading must be offered as an alternative"


@pytest.mark.parametrize("case", CASES, ids=[c["id"][:80] for c in CASES])
def test_case_units_instantiate(case: dict[str, Any], ephy_data: Path) -> None:
    """Every unit and alternative found where the case lives builds with its kwargs, as convert will."""
    result = _detect(_handed_over(ephy_data, case))
    for found in [*result.units, *(a for u in result.units for a in u.alternatives)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interface_class(found.interface)(**found.kwargs)


def test_whole_corpus_covers_all_families(ephy_data: Path) -> None:
    result = detect(ephy_data)
    families = {
        Path(u.kwargs.get("folder_path") or _path_of(u.kwargs) or "").relative_to(ephy_data).parts[0]
        for u in result.units
    }
    expected = {p.name for p in ephy_data.iterdir() if p.is_dir()}
    assert families == expected, f"missing families: {expected - families}"
    assert len(expected) == 16
    assert all(Path(_path_of(u.kwargs) or "").is_absolute() for u in result.units)


def test_unsupported_formats_are_reported(shared_data: Path) -> None:
    result = detect(shared_data / "unsupported")
    assert result.units == []
    assert len(result.unsupported) == 2
    reasons = " ".join(u.reason for u in result.unsupported)
    assert "BrainVision" in reasons and "AxoGraph" in reasons and "NeuroConv has no interface" in reasons


def test_every_neuroconv_ecephys_interface_has_a_probe() -> None:
    from nwbagent.formats.probes import PROBES

    probed = {name for probe in PROBES for name in probe.interfaces}
    assert covered_interface_names() <= probed, covered_interface_names() - probed
