"""Run a conversion: detected units → one ``ConverterPipe`` per session → NWB file, recipe, provenance.

Outputs only ever appear complete: NeuroConv writes to a hidden temporary name in the output folder and
the file is renamed into place after the write succeeded, so a crash, a bad file or Ctrl-C leaves nothing
at the output path. Every expected failure is raised as :class:`UserFacingError`.
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.convert.direct_write import FillStats
from nwbagent.convert.failures import explain_read_failure, explain_write_failure
from nwbagent.convert.preflight import preflight
from nwbagent.convert.progress import ProgressCallback, ProgressTracker, bar_class_for
from nwbagent.convert.recipe import write_recipe
from nwbagent.convert.sessions import group_sessions, unit_path
from nwbagent.errors import UserFacingError
from nwbagent.formats import detect, registry
from nwbagent.formats.model import DetectionResult, Unit
from nwbagent.inspect import InspectionResult, inspect_nwb
from nwbagent.metadata import (
    SessionMetadata,
    apply_brain_region,
    dandi_filename,
    dandi_id,
    defaults,
    from_neuroconv,
    from_path,
    from_user,
    merge,
    to_neuroconv,
)
from nwbagent.settings import get_settings

Backend = Literal["hdf5", "zarr"]


class ConversionOutput(BaseModel):
    nwb: str
    recipe: str
    metadata: str
    units: list[str]
    verdict: str
    findings: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    size_bytes: int
    seconds: float
    stub: bool
    reports: dict[str, str] = Field(
        default_factory=dict, description="Conversion report files by format (html, pdf, json, text)"
    )
    writer: Literal["direct", "neuroconv"] = Field(
        default="neuroconv",
        description="direct: large datasets compressed in parallel and stored by direct chunk writes; "
        "neuroconv: NeuroConv's own write",
    )


def select_units(
    detection: DetectionResult,
    *,
    streams: Sequence[str] = (),
    interface: str | None = None,
    warnings: list[str] | None = None,
) -> list[Unit]:
    """Pick the units to convert: the confident ones by default, or those naming ``interface``/``streams``.

    A unit detection was unsure about (confidence < 0.5) is never converted on a guess: it is skipped with
    a warning, and when nothing else is left the user is asked to choose. ``interface`` may name an
    alternative reading (e.g. KiloSortSortingInterface where Phy was ranked first); the alternative then
    replaces the unit that held it.
    """
    if interface is None:
        sure = [u for u in detection.units if u.confidence >= 0.5]
        unsure = [u for u in detection.units if u.confidence < 0.5]
        if not sure:
            raise _ask_to_choose(detection, unsure)
        for unit in unsure:
            if warnings is not None:
                warnings.append(
                    f"Skipped {unit.label} (detection is unsure: {unit.disambiguation or 'low confidence'}); "
                    f"pass --interface {unit.interface} to convert it."
                )
        candidates = sure
    else:
        candidates = detection.units
    units: list[Unit] = []
    for unit in candidates:
        if interface and unit.interface != interface:
            alt = next((a for a in unit.alternatives if a.interface == interface), None)
            if alt is None:
                continue
            unit = Unit(
                interface=alt.interface,
                kwargs=alt.kwargs,
                streams=unit.streams,
                category=unit.category,
                confidence=alt.confidence,
                evidence=[*unit.evidence, f"chosen by the user over {unit.interface}"],
            )
        units.append(unit)
    if streams:
        wanted = set(streams)
        units = [u for u in units if u.stream in wanted]
    if not units:
        found = ", ".join(u.label for u in detection.units) or "nothing convertible"
        asked = " ".join(filter(None, [f"--interface {interface}" if interface else "", *streams]))
        raise UserFacingError(
            f"No detected unit matches {asked or 'the request'}; detection found: {found}.",
            fix="Pick one of the detected interfaces/streams (see `nwbagent detect PATH`).",
            path=detection.path,
            code="no_matching_unit",
        )
    return units


def convert(
    source: str | Path,
    output_dir: str | Path,
    *,
    user_metadata: Mapping[str, Any] | None = None,
    stub: bool = False,
    streams: Sequence[str] = (),
    interface: str | None = None,
    backend: Backend = "hdf5",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    inspect: bool = True,
    fast_write: bool | None = None,
) -> list[ConversionOutput]:
    """Detect, convert every session found under ``source`` and inspect the results.

    ``fast_write`` (default: the ``fast_write`` setting) picks the parallel direct-chunk writer for HDF5.
    """
    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise UserFacingError(
            "This path does not exist.", fix="Check the spelling, or give the folder itself.", path=source
        )
    warnings = preflight(source)
    detection = detect(source)
    warnings.extend(detection.warnings)
    if not detection.units:
        raise _nothing_to_convert(detection)
    units = select_units(detection, streams=streams, interface=interface, warnings=warnings)
    return convert_units(
        units,
        source,
        output_dir,
        layers=[from_user(dict(user_metadata or {}))],
        stub=stub,
        backend=backend,
        overwrite=overwrite,
        progress=progress,
        inspect=inspect,
        warnings=warnings,
        fast_write=fast_write,
    )


def convert_units(
    units: Sequence[Unit],
    source: str | Path,
    output_dir: str | Path,
    *,
    layers: Sequence[SessionMetadata] = (),
    stub: bool = False,
    backend: Backend = "hdf5",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    inspect: bool = True,
    warnings: list[str] | None = None,
    fast_write: bool | None = None,
) -> list[ConversionOutput]:
    """Convert already chosen units, one file per session, with ``layers`` merged over what the files say.

    The agents call this directly: detection and the user's choices happened earlier in the conversation,
    and the metadata arrives as provenance-carrying layers (user, user-text) rather than a flat mapping.
    """
    source = Path(source).expanduser().resolve()
    warnings = list(warnings) if warnings is not None else preflight(source)
    out_root = _prepare_output_dir(Path(output_dir))
    sessions = group_sessions(list(units), source)
    plans = [_plan(group, source, out_root, layers, stub) for group in sessions]
    for plan in plans:
        if plan.nwb_path.exists() and not overwrite:
            raise UserFacingError(
                "An output file with this name already exists.",
                fix="Pass --overwrite to replace it, or choose another output folder with -o.",
                path=plan.nwb_path,
                code="output_exists",
            )
    if len({p.nwb_path for p in plans}) != len(plans):
        raise UserFacingError(
            "Several sessions would be written to the same file name (same subject and session ids).",
            fix="Convert the sessions one at a time with their own --metadata (distinct session_id).",
            path=source,
            code="name_clash",
        )
    direct = backend == "hdf5" and (get_settings().fast_write if fast_write is None else fast_write)
    return [_run(plan, backend, progress, inspect, warnings, direct) for plan in plans]


class OpenedSession:
    """The interfaces of one session, instantiated, with what the files and names say as metadata layers."""

    def __init__(self, units: Sequence[Unit], source: Path) -> None:
        from neuroconv import ConverterPipe

        self.units = _distinct_metadata_keys(list(units))
        interfaces = {_key(u, i): _instantiate(u) for i, u in enumerate(self.units)}
        self.pipe = ConverterPipe(data_interfaces=interfaces)
        self.base = self.pipe.get_metadata()
        self.root = _common_root([unit_path(u) for u in self.units]) or source
        evidence = ", ".join(u.label for u in self.units)
        self.layers: dict[str, SessionMetadata] = {
            "default": defaults(),
            "inferred": from_path(self.root),
            "file": from_neuroconv(self.base, f"read from the files by {evidence}"),
        }


def file_metadata(units: Sequence[Unit], source: str | Path) -> dict[str, SessionMetadata]:
    """What the files, their names and the defaults say, before the user says anything."""
    return OpenedSession(units, Path(source).expanduser().resolve()).layers


class _Plan:
    """One session ready to write: instantiated pipe, final metadata and output names."""

    def __init__(
        self,
        units: list[Unit],
        pipe: Any,
        metadata: dict[str, Any],
        session: SessionMetadata,
        nwb_path: Path,
        source: Path,
        stub: bool,
    ) -> None:
        self.units = units
        self.pipe = pipe
        self.metadata = metadata
        self.session = session
        self.nwb_path = nwb_path
        self.source = source
        self.stub = stub

    @property
    def keys(self) -> list[str]:
        return list(self.pipe.data_interface_objects)


def _plan(
    units: list[Unit], source: Path, out_root: Path, layers: Sequence[SessionMetadata], stub: bool
) -> _Plan:
    opened = OpenedSession(units, source)
    units, pipe, base, session_root = opened.units, opened.pipe, opened.base, opened.root
    session = merge(*opened.layers.values(), *layers)
    if not session.values().get("session_start_time"):
        raise UserFacingError(
            "Neither the files nor the metadata give the session's start time, which NWB requires.",
            fix="Add it to the --metadata file, e.g. 'session_start_time: 2023-11-17T05:25:00+01:00'.",
            path=session_root,
            code="missing_session_start_time",
        )
    metadata = to_neuroconv(session, base)
    _unique_series_names(metadata)
    apply_brain_region(session, pipe.data_interface_objects.values())
    _keep_probe_positions(pipe)
    name = _output_name(session, session_root)
    if stub:
        name = name[: -len(".nwb")] + "_stub.nwb"
    return _Plan(units, pipe, metadata, session, out_root / name, session_root, stub)


def _run(
    plan: _Plan,
    backend: Backend,
    progress: ProgressCallback | None,
    inspect: bool,
    warnings: list[str],
    direct: bool,
) -> ConversionOutput:
    started = time.monotonic()
    final = plan.nwb_path if backend == "hdf5" else plan.nwb_path.with_suffix(".nwb.zarr")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")
    tracker = ProgressTracker(_total_bytes(plan), progress)
    tracker.emit("starting")
    options = _conversion_options(plan, tracker)
    try:
        _write(plan, tmp, backend, options, tracker, direct)
        _replace(tmp, final)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, KeyboardInterrupt | UserFacingError):
            raise
        raise explain_write_failure(exc, path=final) from exc
    tracker.done_bytes = tracker.total_bytes
    tracker.emit("written")
    recipe = write_recipe(
        final.with_suffix(".neuroconv.yml"),
        units=plan.units,
        keys=plan.keys,
        metadata=plan.metadata,
        source_root=plan.source,
        nwbfile_name=final.name,
        stub=plan.stub,
    )
    meta_path = final.with_suffix(".metadata.json")
    _write_json_atomic(meta_path, plan.session.provenance())
    result: InspectionResult | None = None
    reports: dict[str, str] = {}
    if inspect:
        from nwbagent.report.collect import hash_sources_in_background

        hash_sources_in_background(plan.units, plan.source)
        if progress:
            progress(tracker.snapshot("inspecting"))
        result = inspect_nwb(final, stub=plan.stub)
        reports = _write_reports(plan, final, result, warnings)
    size = _size(final)
    return ConversionOutput(
        nwb=str(final),
        recipe=str(recipe),
        metadata=str(meta_path),
        units=[u.label for u in plan.units],
        verdict=result.verdict if result else "NOT_INSPECTED",
        findings=result.model_dump(mode="json") if result else {},
        warnings=warnings,
        size_bytes=size,
        seconds=round(time.monotonic() - started, 2),
        stub=plan.stub,
        reports=reports,
        writer="direct" if direct else "neuroconv",
    )


def _write(
    plan: _Plan, path: Path, backend: Backend, options: dict[str, Any], tracker: ProgressTracker, direct: bool
) -> FillStats | None:
    """Write the NWB file at ``path``; the direct-chunk writer's statistics when it wrote it."""
    if not direct:
        plan.pipe.run_conversion(
            nwbfile_path=str(path),
            metadata=plan.metadata,
            overwrite=True,
            backend=backend,
            conversion_options=options,
        )
        return None
    from nwbagent.convert import direct_write

    settings = get_settings()
    return direct_write.run_conversion(
        plan.pipe,
        path,
        metadata=plan.metadata,
        conversion_options=options,
        level=settings.write_gzip_level,
        threads=settings.write_threads or None,
        on_bytes=tracker.advance,
    )


def _write_reports(plan: _Plan, final: Path, result: InspectionResult, warnings: list[str]) -> dict[str, str]:
    """Write the four report renderings beside the file. A report is a view of a finished, good file: if it
    cannot be made, the conversion still succeeded, so the failure becomes a warning, not an error."""
    from nwbagent.report import build_report, report_stem, write_reports

    def failed(fmt: str, exc: Exception) -> None:
        warnings.append(f"The {fmt} report could not be written ({type(exc).__name__}: {exc}).")

    try:
        report = build_report(
            final,
            inspection=result,
            provenance=plan.session.provenance(),
            source_folder=plan.source,
            units=plan.units,
        )
        written = write_reports(report, report_stem(final), on_error=failed)
    except Exception as exc:
        warnings.append(f"The conversion report could not be made ({type(exc).__name__}: {exc}).")
        return {}
    return {fmt: str(path) for fmt, path in written.items()}


def _interface_class(name: str) -> Any:
    try:
        return registry.interface_class(name)
    except KeyError:
        return None


def _distinct_metadata_keys(units: list[Unit]) -> list[Unit]:
    """Give each of several same-class interfaces in one file its own ``metadata_key``.

    Two IntanAnalogInterface streams (auxiliary and ADC) share the default key and would overwrite each
    other's metadata entry, then collide in ``acquisition``; NeuroConv's IntanConverter avoids this the
    same way. The keys go into the unit's kwargs so the recipe replays them.
    """
    counts: dict[str, int] = {}
    for unit in units:
        counts[unit.interface] = counts.get(unit.interface, 0) + 1
    out: list[Unit] = []
    for unit in units:
        cls = _interface_class(unit.interface)
        params = pyinspect.signature(cls.__init__).parameters if cls else {}
        if counts[unit.interface] > 1 and "metadata_key" in params and "metadata_key" not in unit.kwargs:
            default = params["metadata_key"].default
            base = default if isinstance(default, str) else unit.interface.removesuffix("Interface").lower()
            slug = "".join(c if c.isalnum() else "_" for c in (unit.stream or str(len(out)))).lower()
            unit = unit.model_copy(update={"kwargs": {**unit.kwargs, "metadata_key": f"{base}_{slug}"}})
        out.append(unit)
    return out


def _instantiate(unit: Unit) -> Any:
    cls = _interface_class(unit.interface)
    if cls is None:
        raise UserFacingError(
            f"NeuroConv {_neuroconv_version()} has no interface named {unit.interface}.",
            fix="Choose one of the interfaces `nwbagent detect` lists.",
            code="unknown_interface",
        )
    try:
        return cls(**unit.kwargs)
    except Exception as exc:
        raise explain_read_failure(exc, interface=unit.interface, path=unit_path(unit)) from exc


def _key(unit: Unit, index: int) -> str:
    """A ConverterPipe key that is also a valid, readable name in the recipe."""
    base = unit.interface.removesuffix("Interface")
    stream = "".join(c if c.isalnum() else "_" for c in unit.stream) if unit.stream else ""
    return f"{base}_{stream}_{index}" if stream else f"{base}_{index}"


def _conversion_options(plan: _Plan, tracker: ProgressTracker) -> dict[str, dict[str, Any]]:
    settings = get_settings()
    options: dict[str, dict[str, Any]] = {}
    for key, iface in plan.pipe.data_interface_objects.items():
        params = pyinspect.signature(iface.add_to_nwbfile).parameters
        opts: dict[str, Any] = {}
        if "stub_test" in params:
            opts["stub_test"] = plan.stub
        if "iterator_options" in params and hasattr(iface, "recording_extractor"):
            opts["iterator_options"] = {
                "buffer_gb": settings.buffer_gb,
                "display_progress": True,
                "progress_bar_class": bar_class_for(tracker, _recording_bytes(iface, plan.stub)),
            }
        options[key] = opts
    return options


_STUB_FRAMES = 100  # NeuroConv's stub_test keeps the first 100 samples


def _recording_bytes(iface: Any, stub: bool) -> int:
    rec = iface.recording_extractor
    frames = sum(rec.get_num_samples(segment_index=i) for i in range(rec.get_num_segments()))
    if stub:
        frames = min(frames, _STUB_FRAMES * rec.get_num_segments())
    return int(frames * rec.get_num_channels() * rec.get_dtype().itemsize)


def _total_bytes(plan: _Plan) -> int:
    return sum(
        _recording_bytes(i, plan.stub)
        for i in plan.pipe.data_interface_objects.values()
        if hasattr(i, "recording_extractor")
    )


def _unique_series_names(metadata: dict[str, Any]) -> None:
    """Give each ElectricalSeries its own name when several recordings share one file.

    Each NeuroConv interface names its series ``ElectricalSeries`` by default; two of them in one pipe
    would collide in ``acquisition``.
    """
    entries = metadata.get("Ecephys", {}).get("ElectricalSeries", {})
    if not isinstance(entries, dict):
        return
    seen: set[str] = set()
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        name = entry.get("name", "ElectricalSeries")
        if name in seen:
            suffix = "".join(part.capitalize() for part in str(key).replace("-", "_").split("_"))
            name = f"ElectricalSeries{suffix}"
            entry["name"] = name
        seen.add(name)


def _keep_probe_positions(pipe: Any) -> None:
    """Carry contact positions into the electrodes table (rel_x, rel_y).

    SpikeInterface 0.105 keeps a probe's geometry in its ``contact_vector``; NeuroConv 0.10.2 only writes
    positions from a ``location`` channel property, so without this a Neuropixels file loses its probe layout.
    """
    for iface in pipe.data_interface_objects.values():
        rec = getattr(iface, "recording_extractor", None)
        if rec is not None and rec.has_probe() and "location" not in rec.get_property_keys():
            rec.set_property("location", rec.get_channel_locations())


def _output_name(session: SessionMetadata, session_root: Path) -> str:
    """The DANDI name when the subject is known; a preview of an unnamed subject still gets a file."""
    if session.values().get("subject_id") and not session.errors().get("subject_id"):
        return dandi_filename(session)
    return f"{dandi_id(session_root.name)}_ecephys.nwb"


def _prepare_output_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".nwbagent-write-test-"):
            pass
    except OSError as exc:
        raise UserFacingError(
            f"The output folder cannot be written ({exc.strerror or exc}).",
            fix="Choose a folder you can write to with -o, or fix its permissions.",
            path=path,
            code="output_not_writable",
        ) from exc
    return path


def _common_root(paths: list[Path]) -> Path | None:
    if not paths:
        return None
    try:
        common = Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:
        return None
    return common if common.is_dir() else common.parent


def _replace(tmp: Path, final: Path) -> None:
    """Move a finished output into place; a Zarr store is a folder, so swap folders via a trash name."""
    if tmp.is_dir():
        trash = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
        if final.exists():
            final.rename(trash)
        tmp.rename(final)
        _remove(trash)
    else:
        os.replace(tmp, final)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    os.replace(tmp, path)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _neuroconv_version() -> str:
    from importlib.metadata import version

    return version("neuroconv")


def _ask_to_choose(detection: DetectionResult, unsure: list[Unit]) -> UserFacingError:
    options: list[str] = []
    for unit in unsure:
        options.append(f"{unit.interface} ({unit.confidence:.2f})")
        options.extend(f"{alt.interface} ({alt.confidence:.2f}: {alt.reason})" for alt in unit.alternatives)
    why = "; ".join(dict.fromkeys(u.disambiguation for u in unsure if u.disambiguation))
    return UserFacingError(
        f"These files can be read in more than one way and detection will not guess: {', '.join(options)}."
        + (f" {why}" if why else ""),
        fix="Choose the reader with --interface NAME (e.g. --interface " + unsure[0].interface + ").",
        path=detection.path,
        code="needs_format_choice",
    )


def _nothing_to_convert(detection: DetectionResult) -> UserFacingError:
    if detection.unsupported:
        reasons = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in detection.unsupported)
        return UserFacingError(
            f"Recognised files, but in a format NeuroConv cannot convert ({reasons}).",
            fix="Export the recording from its acquisition software to a supported format "
            "(e.g. EDF, Open Ephys binary or NWB), then convert that.",
            path=detection.path,
            code="unsupported_format",
        )
    hint = f" Notes: {' '.join(detection.warnings)}" if detection.warnings else ""
    return UserFacingError(
        f"No electrophysiology recording that NeuroConv can convert was found here.{hint}",
        fix="Point nwbagent at the folder that holds the raw recording files (e.g. the SpikeGLX run folder "
        "with .bin/.meta pairs, the Open Ephys record node, or the Intan folder with info.rhd).",
        path=detection.path,
        code="nothing_detected",
    )
