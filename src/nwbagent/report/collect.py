"""Gather everything a report states about one NWB file, from the file itself and whatever sits beside it.

The report must work for any NWB file, not only ours: sidecars (provenance, recipe) enrich it when present,
and their absence only means the metadata is described as read from the file. The file is opened read-only
and lazily: a report on a 50 GB recording reads attributes, shapes and two timestamps, never the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from nwbagent import outputs
from nwbagent.errors import UserFacingError
from nwbagent.formats.detect import category_for
from nwbagent.inspect import BLOCKING, IMPORTANCE_ORDER, InspectionResult, inspect_nwb
from nwbagent.report.explain import explain, fix_for
from nwbagent.report.model import (
    ElectrodeGroupInfo,
    ElectrodesInfo,
    FindingRow,
    LlmUsage,
    MetadataRow,
    NwbContents,
    OverriddenValue,
    Report,
    SeriesInfo,
    SourceFile,
    SourceInfo,
    SourceUnit,
    ToolFaultRow,
    TraceRow,
    VerdictSummary,
)

#: Files above this are not hashed: hashing runs at disk speed and a report should take seconds.
HASH_SIZE_LIMIT = 2 * 1024**3
#: A folder-based format can hold thousands of files; the report lists this many at most.
MAX_SOURCE_FILES = 500
_VERSION_PACKAGES = ("nwbagent", "neuroconv", "pynwb", "nwbinspector", "hdmf", "hdmf-zarr", "h5py")
_PATH_KEYS = ("folder_path", "file_path")
_RANK = {name: i for i, name in enumerate(IMPORTANCE_ORDER)}
_SUBJECT_FIELDS = (
    ("subject_id", "subject_id"),
    ("species", "species"),
    ("sex", "sex"),
    ("age", "age"),
    ("date_of_birth", "date_of_birth"),
    ("strain", "strain"),
    ("genotype", "genotype"),
    ("weight", "weight"),
    ("subject_description", "description"),
)
_FILE_FIELDS = (
    "session_description",
    "session_start_time",
    "identifier",
    "session_id",
    "experimenter",
    "institution",
    "lab",
    "experiment_description",
    "keywords",
)


@dataclass
class FileFacts:
    """What the NWB file itself says: its structure, and the metadata values as written."""

    contents: NwbContents
    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)


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
        inspection = inspect_nwb(path, stub=_looks_like_stub(path))
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


# --- the file ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_nwb(path: Path) -> Iterator[tuple[Any, str]]:
    """Open read-only with the right backend; yields ``(nwbfile, backend)``.

    Zarr string columns need numcodecs' pickle decoding, which the inspection module enables only for the
    duration of a read; the same guard is reused here.
    """
    is_zarr = path.is_dir()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_zarr:
                from hdmf_zarr.nwb import NWBZarrIO

                from nwbagent.inspect.run import _zarr_pickle_decoding

                with _zarr_pickle_decoding(True), NWBZarrIO(str(path), mode="r") as io:
                    yield io.read(), "zarr"
            else:
                from pynwb import NWBHDF5IO

                with NWBHDF5IO(str(path), mode="r", load_namespaces=True) as io:
                    yield io.read(), "hdf5"
    except UserFacingError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserFacingError(
            f"PyNWB could not read this file ({type(exc).__name__}: {exc}).",
            fix="Check that it is a complete NWB file (not still being written or truncated by a copy).",
            path=path,
            code="not_nwb",
        ) from exc


def read_file_facts(path: Path) -> FileFacts:
    """Structure and metadata of the file, without reading any series' data."""
    with open_nwb(path) as (nwbfile, backend):
        contents = NwbContents(
            file=str(path),
            size_bytes=_size(path),
            backend=backend,  # type: ignore[arg-type]
            identifier=_text(nwbfile.identifier),
            session_start_time=nwbfile.session_start_time,
            session_description=_text(nwbfile.session_description),
            nwb_version=_nwb_version(path, backend),
            series=series_infos(nwbfile),
            electrodes=electrodes_info(nwbfile),
        )
        units = nwbfile.units
        if units is not None:
            contents.units_count = len(units)
            contents.units_columns = list(units.colnames)
        values, where = _file_values(nwbfile)
    return FileFacts(contents=contents, values=values, where=where)


def series_infos(nwbfile: Any) -> list[SeriesInfo]:
    """Every TimeSeries (subclasses included) wherever it lives, in file order."""
    from pynwb import TimeSeries

    out: list[SeriesInfo] = []
    for obj in nwbfile.objects.values():
        if not isinstance(obj, TimeSeries):
            continue
        data = obj.fields.get("data")
        shape = [int(n) for n in getattr(data, "shape", ())]
        rate = float(obj.rate) if obj.rate is not None else None
        out.append(
            SeriesInfo(
                path=_object_path(obj, nwbfile),
                neurodata_type=obj.neurodata_type,
                shape=shape,
                dtype=str(getattr(data, "dtype", type(data).__name__)),
                rate_hz=rate,
                duration_s=_duration(obj, shape, rate),
                unit=_text(getattr(obj, "unit", None)),
                compression=compression_of(data),
            )
        )
    out.sort(key=lambda s: s.path)
    return out


def _object_path(obj: Any, nwbfile: Any) -> str:
    """The in-file path, from the container tree so it is the same for HDF5 and Zarr (and for links)."""
    parts: list[str] = []
    node = obj
    while node is not None and node is not nwbfile:
        parts.append(node.name)
        if node.parent is nwbfile:
            parts.append(_top_group(node, nwbfile))
            break
        node = node.parent
    return "/".join(reversed([p for p in parts if p]))


def _top_group(node: Any, nwbfile: Any) -> str:
    for group, attr in (
        ("acquisition", "acquisition"),
        ("processing", "processing"),
        ("stimulus/presentation", "stimulus"),
        ("stimulus/templates", "stimulus_template"),
        ("analysis", "analysis"),
    ):
        children = getattr(nwbfile, attr, None) or {}
        if children.get(node.name) is node:
            return group
    return ""


def _duration(series: Any, shape: list[int], rate: float | None) -> float | None:
    if rate and shape:
        return shape[0] / rate
    timestamps = series.timestamps
    if timestamps is not None and not hasattr(timestamps, "shape") and hasattr(timestamps, "timestamps"):
        timestamps = timestamps.timestamps  # linked to another series' timestamps
    if timestamps is None or not getattr(timestamps, "shape", None) or timestamps.shape[0] == 0:
        return None
    try:
        return float(timestamps[-1]) - float(timestamps[0])
    except (TypeError, ValueError, IndexError):
        return None


def compression_of(data: Any) -> str | None:
    """Describe the storage filters, e.g. ``gzip(4)+shuffle``; None when the data are stored raw."""
    import h5py

    if isinstance(data, h5py.Dataset):
        parts: list[str] = []
        if data.compression:
            opts = data.compression_opts
            parts.append(f"{data.compression}({opts})" if isinstance(opts, int) else str(data.compression))
        else:
            plist = data.id.get_create_plist()
            for i in range(plist.get_nfilters()):
                name = plist.get_filter(i)[3]
                label = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
                if label and label not in ("shuffle", "fletcher32", "scaleoffset"):
                    parts.append(label)
        if data.shuffle:
            parts.append("shuffle")
        return "+".join(parts) or None
    codecs: list[Any] = []
    compressor = getattr(data, "compressor", None)
    if compressor is not None:
        codecs.append(compressor)
    codecs.extend(getattr(data, "filters", None) or [])
    if not codecs:
        return None
    labels: list[str] = []
    for codec in codecs:
        name = getattr(codec, "codec_id", type(codec).__name__)
        level = getattr(codec, "level", None) or getattr(codec, "clevel", None)
        inner = getattr(codec, "cname", None)  # blosc names its inner compressor
        args = ",".join(str(a) for a in (inner, level) if isinstance(a, str | int))
        labels.append(f"{name}({args})" if args else str(name))
    return "+".join(labels)


def electrodes_info(nwbfile: Any) -> ElectrodesInfo | None:
    table = nwbfile.electrodes
    if table is None:
        return None
    colnames = set(table.colnames)
    if "group_name" in colnames:
        names = [_text(n) or "" for n in table["group_name"].data[:]]
    elif "group" in colnames:
        names = [g.name for g in table["group"][:]]
    else:
        names = []
    groups = [
        ElectrodeGroupInfo(
            name=name,
            location=_text(group.location),
            device=group.device.name if group.device is not None else None,
            electrodes=names.count(name),
        )
        for name, group in nwbfile.electrode_groups.items()
    ]
    has_positions = False
    for x, y in (("x", "y"), ("rel_x", "rel_y")):
        if x in colnames and y in colnames:
            with contextlib.suppress(TypeError, ValueError):
                xs = np.asarray(table[x].data[:], dtype=float)
                ys = np.asarray(table[y].data[:], dtype=float)
                has_positions = has_positions or bool(np.isfinite(xs).any() and np.isfinite(ys).any())
    return ElectrodesInfo(count=len(table), groups=groups, has_positions=has_positions)


def _file_values(nwbfile: Any) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for name in _FILE_FIELDS:
        value = _plain(getattr(nwbfile, name, None))
        if value not in (None, "", []):
            values[name] = value
            where[name] = f"NWBFile.{name}"
    subject = nwbfile.subject
    if subject is not None:
        for name, attr in _SUBJECT_FIELDS:
            value = _plain(getattr(subject, attr, None))
            if value not in (None, "", []):
                values[name] = value
                where[name] = f"Subject.{attr}"
    table = nwbfile.electrodes
    if table is not None and "location" in table.colnames:
        locations = sorted({_text(v) or "" for v in table["location"].data[:]} - {""})
        if locations:
            values["brain_region"] = locations[0] if len(locations) == 1 else locations
            where["brain_region"] = "electrodes table, location column"
    return values, where


def _plain(value: Any) -> Any:
    """Attributes as JSON-friendly values; string datasets (keywords) are small, so reading them is fine."""
    if value is None or isinstance(value, str | int | float | bool | datetime):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, tuple | list) or hasattr(value, "shape"):
        try:
            items = value[:] if hasattr(value, "shape") else value
            return [_text(v) for v in items]
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _nwb_version(path: Path, backend: str) -> str | None:
    with contextlib.suppress(Exception):
        if backend == "zarr":
            import zarr

            raw = zarr.open_group(str(path), mode="r").attrs.get("nwb_version")
        else:
            import h5py

            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("nwb_version")
        return _text(raw)
    return None


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _looks_like_stub(path: Path) -> bool:
    """A stub preview is named ``*_stub.nwb`` by nwbagent, and its recipe says ``stub_test``."""
    if path.name.endswith(("_stub.nwb", "_stub.nwb.zarr")):
        return True
    recipe = outputs.path_of(path, "recipe")
    with contextlib.suppress(OSError):
        return "stub_test: true" in recipe.read_text()
    return False


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


# --- source --------------------------------------------------------------------------------------------


def collect_source(
    nwb_path: Path,
    *,
    source_folder: str | Path | None,
    units: Sequence[Any] | None,
    notes: list[str],
) -> SourceInfo | None:
    """Source files and the readers used, from the caller's units or else the recipe beside the file."""
    folder = Path(source_folder).expanduser().resolve() if source_folder else None
    entries: list[tuple[str, str | None, str, float | None, dict[str, Any]]] = []
    if units:
        entries = _unit_entries(units)
    else:
        recipe = _read_recipe(nwb_path)
        if recipe is None:
            return SourceInfo(folder=str(folder)) if folder else None
        recipe_folder, recipe_entries = recipe
        folder = folder or recipe_folder
        entries = recipe_entries
    files, unresolved = _source_files(entries, folder)
    if unresolved:
        shown = ", ".join(unresolved[:3]) + (" …" if len(unresolved) > 3 else "")
        where = f"under {folder}" if folder else "(the recipe does not say where the data folder is)"
        notes.append(f"{len(unresolved)} source path(s) from the recipe could not be found {where}: {shown}.")
    too_large = [f.path for f in files if f.sha256 is None]
    if too_large:
        notes.append(
            f"{len(too_large)} source file(s) larger than {HASH_SIZE_LIMIT / 1024**3:.0f} GiB were not "
            "hashed, to keep the report fast."
        )
    return SourceInfo(
        folder=str(folder) if folder else None,
        files=files,
        units=[
            SourceUnit(interface=i, stream=s, category=c, confidence=conf) for i, s, c, conf, _ in entries
        ],
    )


def _unit_entries(units: Sequence[Any]) -> list[tuple[str, str | None, str, float | None, dict[str, Any]]]:
    return [
        (u.interface, u.stream, u.category, u.confidence, dict(getattr(u, "kwargs", {}) or {})) for u in units
    ]


def _read_recipe(
    nwb_path: Path,
) -> tuple[Path | None, list[tuple[str, str | None, str, float | None, dict[str, Any]]]] | None:
    import yaml

    path = outputs.path_of(nwb_path, "recipe")
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        spec = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(spec, dict):
        return None
    folder: Path | None = None
    interfaces = spec.get("data_interfaces") or {}
    entries: list[tuple[str, str | None, str, float | None, dict[str, Any]]] = []
    for experiment in (spec.get("experiments") or {}).values():
        for session in (experiment or {}).get("sessions") or []:
            name = session.get("nwbfile_name")
            if name and name != nwb_path.name:
                continue
            folder = folder or outputs.recipe_source_folder(session)
            for key, kwargs in (session.get("source_data") or {}).items():
                kwargs = dict(kwargs or {})
                interface = str(interfaces.get(key, key))
                stream = kwargs.get("stream_id") or kwargs.get("stream_name")
                stream = stream if isinstance(stream, str) else None
                entries.append((interface, stream, category_for(interface, kwargs), None, kwargs))
    return folder, entries


def _source_files(
    entries: Sequence[tuple[str, str | None, str, float | None, dict[str, Any]]], folder: Path | None
) -> tuple[list[SourceFile], list[str]]:
    paths, unresolved = _source_paths(entries, folder)
    files: list[SourceFile] = []
    for path in paths:
        size = path.stat().st_size
        rel = os.path.relpath(path, folder) if folder else str(path)
        files.append(SourceFile(path=rel, size_bytes=size, sha256=sha256_of(path, size)))
    return files, unresolved


def _source_paths(
    entries: Sequence[tuple[str, str | None, str, float | None, dict[str, Any]]], folder: Path | None
) -> tuple[list[Path], list[str]]:
    found: dict[Path, None] = {}
    unresolved: list[str] = []
    for *_, kwargs in entries:
        raw: list[str] = [str(kwargs[k]) for k in _PATH_KEYS if isinstance(kwargs.get(k), str)]
        raw.extend(str(p) for p in kwargs.get("file_paths") or [])
        for item in raw:
            candidate = Path(item).expanduser()
            if not candidate.is_absolute():
                if folder is None:
                    unresolved.append(item)
                    continue
                candidate = folder / candidate
            if candidate.is_file():
                found[candidate.resolve()] = None
            elif candidate.is_dir():
                for child in sorted(candidate.rglob("*")):
                    if child.is_file() and not any(part.startswith(".") for part in child.parts[-1:]):
                        found[child.resolve()] = None
            else:
                unresolved.append(item)
    return list(found)[:MAX_SOURCE_FILES], unresolved


def hash_sources_in_background(units: Sequence[Any], source_folder: str | Path | None) -> threading.Thread:
    """Start hashing the source files a report of ``units`` will list, so the report finds them done.

    Hashing a 1.4 GB recording takes ~0.8 s; ``hashlib`` releases the GIL, so started before the NWB
    Inspector runs (one busy core) it costs no wall time. :func:`sha256_of` shares the results.
    """
    folder = Path(source_folder).expanduser().resolve() if source_folder else None
    entries = _unit_entries(units)

    def run() -> None:
        with contextlib.suppress(Exception):  # the report hashes again and reports its own errors
            for path in _source_paths(entries, folder)[0]:
                sha256_of(path)

    thread = threading.Thread(target=run, name="hash-sources", daemon=True)
    thread.start()
    return thread


_HASHES: dict[tuple[str, int, int], Future[str]] = {}
_HASHES_LOCK = threading.Lock()
_HASHES_KEPT = 10_000


def sha256_of(path: Path, size: int | None = None) -> str | None:
    """Streamed in 1 MiB blocks so memory stays flat; None above :data:`HASH_SIZE_LIMIT`.

    Each (path, size, mtime) is hashed once per process, however many callers ask at the same time.
    """
    stat = path.stat()
    if (stat.st_size if size is None else size) > HASH_SIZE_LIMIT:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASHES_LOCK:
        future = _HASHES.get(key)
        owner = future is None
        if owner:
            if len(_HASHES) >= _HASHES_KEPT:
                _HASHES.clear()
            future = _HASHES[key] = Future()
    assert future is not None
    if owner:
        try:
            future.set_result(_sha256(path))
        except BaseException as exc:
            with _HASHES_LOCK:
                _HASHES.pop(key, None)
            future.set_exception(exc)
    return future.result()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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
