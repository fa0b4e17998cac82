"""Gather everything a report states about one NWB file, from the file itself and whatever sits beside it.

The report must work for any NWB file, not only ours: sidecars (provenance, recipe) enrich it when present,
and their absence only means the metadata is described as read from the file. What the file says is read
in :mod:`nwbagent.report.file_facts`, where it came from in :mod:`nwbagent.report.sources`; this module
turns both, with the inspection and the session's trace, into one :class:`Report`.
"""

from __future__ import annotations

import contextlib
import json
import platform
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nwbagent import outputs
from nwbagent.inspect import BLOCKING, IMPORTANCE_ORDER, InspectionResult, inspect_nwb
from nwbagent.report.explain import explain, fix_for
from nwbagent.report.file_facts import FileFacts, looks_like_stub, read_file_facts
from nwbagent.report.model import (
    FindingRow,
    LlmUsage,
    MetadataRow,
    OverriddenValue,
    Report,
    ToolFaultRow,
    TraceRow,
    VerdictSummary,
)
from nwbagent.report.sources import collect_source

_VERSION_PACKAGES = ("nwbagent", "neuroconv", "pynwb", "nwbinspector", "hdmf", "hdmf-zarr", "h5py")
_RANK = {name: i for i, name in enumerate(IMPORTANCE_ORDER)}


def build_report(
    nwb_path: str | Path,
    *,
    inspection: InspectionResult | None = None,
    provenance: Mapping[str, Any] | None = None,
    source_folder: str | Path | None = None,
    units: Sequence[Any] | None = None,
    trace: Sequence[Mapping[str, Any] | BaseModel] | None = None,
    usage: Mapping[str, Any] | BaseModel | None = None,
    title: str | None = None,
    plots: bool = True,
) -> Report:
    """Assemble the report of one NWB file (HDF5 ``.nwb`` or ``.nwb.zarr``) from the file and its sidecars.

    Arguments the caller already holds (the inspection just run, the provenance it merged, the units it
    converted, an agent session's trace and LLM usage) are used as given; anything missing is read from the
    file or from ``<stem>.metadata.json`` / ``<stem>.neuroconv.yml`` beside it.
    """
    path = Path(nwb_path).expanduser().resolve()
    notes: list[str] = []
    if inspection is None:
        inspection = inspect_nwb(path, stub=looks_like_stub(path))
    facts = read_file_facts(path)
    if provenance is None:
        provenance = _read_sidecar_provenance(path, notes)
    metadata = (
        provenance_rows(provenance)
        if provenance is not None
        else file_metadata_rows(facts.values, facts.where)
    )
    source = collect_source(path, source_folder=source_folder, units=units, notes=notes)
    notes.extend(inspection.notes)
    report = Report(
        generated_at=datetime.now(UTC),
        title=title or f"Conversion report: {path.name}",
        verdict=verdict_summary(inspection, facts),
        source=source,
        contents=facts.contents,
        metadata=metadata,
        findings=finding_rows(inspection),
        tool_faults=[
            ToolFaultRow(check_name=f.check_name, exception=f.exception, count=f.count)
            for f in inspection.tool_faults
        ],
        trace=trace_rows(trace or []),
        llm=llm_usage(usage),
        versions=versions(),
        notes=notes,
    )
    if plots:
        _add_plots(path, report)
    return report


# --- metadata ------------------------------------------------------------------------------------------


def _read_sidecar_provenance(path: Path, notes: list[str]) -> dict[str, Any] | None:
    sidecar = outputs.path_of(path, "metadata")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        notes.append(
            f"The provenance file {sidecar.name} could not be read ({exc}); metadata is from the file."
        )
        return None
    return data if isinstance(data, dict) else None


def provenance_rows(provenance: Mapping[str, Any]) -> list[MetadataRow]:
    """One row per field with where its value came from and everything it overrode, newest first."""
    rows: list[MetadataRow] = []
    for name, entry in provenance.items():
        if not isinstance(entry, Mapping):
            rows.append(MetadataRow(field=name, value=entry, source="unknown"))
            continue
        evidence = str(entry.get("evidence", ""))
        if entry.get("error"):
            evidence = f"{evidence} (not accepted: {entry['error']})".strip()
        rows.append(
            MetadataRow(
                field=name,
                value=entry.get("value"),
                source=str(entry.get("source", "unknown")),
                confidence=entry.get("confidence"),
                evidence=evidence,
                overridden=list(_overridden(entry.get("overridden") or [])),
            )
        )
    return rows


def _overridden(entries: Sequence[Any]) -> Iterator[OverriddenValue]:
    for entry in entries:
        if isinstance(entry, Mapping):
            yield OverriddenValue(
                value=entry.get("value"),
                source=str(entry.get("source", "unknown")),
                evidence=str(entry.get("evidence", "")),
            )
            yield from _overridden(entry.get("overridden") or [])


def file_metadata_rows(values: Mapping[str, Any], where: Mapping[str, str]) -> list[MetadataRow]:
    """Rows for a file without a provenance sidecar: every value is simply what the file says."""
    return [
        MetadataRow(
            field=name, value=value, source="file", evidence=f"read from the NWB file ({where[name]})"
        )
        for name, value in values.items()
    ]


# --- verdict and findings ------------------------------------------------------------------------------


def verdict_summary(inspection: InspectionResult, facts: FileFacts) -> VerdictSummary:
    """DANDI-ready means: nothing blocking, HDF5, and the subject fields DANDI insists on are in the file."""
    reasons: list[str] = []
    blocking = [f for f in inspection.findings if f.counts_toward_verdict and f.importance in BLOCKING]
    if inspection.verdict == "FAILED":
        checks = ", ".join(dict.fromkeys(f.check_name for f in blocking))
        reasons.append(
            f"{len(blocking)} blocking finding{'s' if len(blocking) != 1 else ''} must be fixed before "
            f"upload ({checks})."
        )
    else:
        reasons.append("No critical findings.")
    backend_ok = facts.contents.backend == "hdf5"
    if not backend_ok:
        reasons.append("Zarr files are not accepted by DANDI for most uses; convert to HDF5 for upload.")
    values = facts.values
    missing = False
    for name, label in (("subject_id", "Subject ID"), ("species", "Species"), ("sex", "Subject sex")):
        if not values.get(name):
            reasons.append(f"{label} is missing (DANDI requires it).")
            missing = True
    if not values.get("age") and not values.get("date_of_birth"):
        reasons.append("Subject age is missing (DANDI requires it, or a date of birth).")
        missing = True
    if not missing:
        reasons.append("Subject ID, species, sex and age are present.")
    if inspection.stub:
        reasons.append(
            "This is a stub preview (first 100 samples): convert the full recording before uploading."
        )
    stub_only = sum(1 for f in inspection.findings if f.stub_false_positive)
    if stub_only:
        reasons.append(f"{stub_only} finding(s) known to fire only on stub previews were not counted.")
    if inspection.tool_faults:
        reasons.append(
            f"{len(inspection.tool_faults)} inspector check(s) crashed; that is a tool fault, not a problem "
            "with the data."
        )
    ready = inspection.verdict != "FAILED" and backend_ok and not missing
    return VerdictSummary(
        verdict=inspection.verdict, dandi_ready=ready, reasons=reasons, counts=dict(inspection.counts)
    )


def finding_rows(inspection: InspectionResult) -> list[FindingRow]:
    """Most important first; stub-only false positives last, since they do not count."""
    ordered = sorted(
        inspection.findings,
        key=lambda f: (f.stub_false_positive, _RANK.get(f.importance, len(_RANK)), f.check_name),
    )
    rows: list[FindingRow] = []
    for f in ordered:
        obj = " ".join(filter(None, [f.object_type, f"'{f.object_name}'" if f.object_name else None]))
        rows.append(
            FindingRow(
                importance=f.importance,
                check_name=f.check_name,
                message=f.message.strip(),
                location=f.location,
                object=obj or None,
                explanation=explain(f.check_name, f.importance),
                fix=f.fix or fix_for(f.check_name, f.importance),
                stub_false_positive=f.stub_false_positive,
            )
        )
    return rows


# --- session extras ------------------------------------------------------------------------------------


def trace_rows(trace: Sequence[Mapping[str, Any] | BaseModel]) -> list[TraceRow]:
    """The agents' trace entries; states may be enums, so each is reduced to its value."""
    rows: list[TraceRow] = []
    for entry in trace:
        data = entry.model_dump() if isinstance(entry, BaseModel) else dict(entry)
        rows.append(
            TraceRow(
                at=data["at"],
                from_state=str(getattr(data["from_state"], "value", data["from_state"])),
                to_state=str(getattr(data["to_state"], "value", data["to_state"])),
                actor=str(data.get("actor", "")),
                reason=str(data.get("reason", "")),
            )
        )
    return rows


def llm_usage(usage: Mapping[str, Any] | BaseModel | None) -> LlmUsage | None:
    if usage is None:
        return None
    data = usage.model_dump() if isinstance(usage, BaseModel) else dict(usage)
    data.setdefault("provider", "unknown")
    return LlmUsage.model_validate({k: v for k, v in data.items() if k in LlmUsage.model_fields})


def versions() -> dict[str, str]:
    """Versions of everything that shaped the file and its verdict, so a report can be reproduced."""
    out: dict[str, str] = {}
    for name in _VERSION_PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    out["python"] = platform.python_version()
    return out


def _add_plots(path: Path, report: Report) -> None:
    """Plots are a courtesy: any failure becomes a note, never a failed report."""
    try:
        from nwbagent.report.plots import make_plots
    except ImportError:
        report.notes.append("Plots were not made: the plotting module is not available.")
        return
    try:
        report.plots = list(make_plots(path, report))
    except Exception as exc:
        report.notes.append(f"Plots could not be made ({type(exc).__name__}: {exc}).")
