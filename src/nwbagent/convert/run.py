"""Run a conversion: detected units → one ``ConverterPipe`` per session → NWB file, recipe, provenance.

Outputs only ever appear complete: NeuroConv writes to a hidden temporary name in the output folder and
the file is renamed into place after the write succeeded, so a crash, a bad file or Ctrl-C leaves nothing
at the output path. Every expected failure is raised as :class:`UserFacingError`.
"""

from __future__ import annotations

import inspect as pyinspect
import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent import outputs
from nwbagent.convert.build import OpenedSession, build_nwbfile, unique_series_names
from nwbagent.convert.direct_write import FillStats
from nwbagent.convert.failures import explain_write_failure
from nwbagent.convert.options import WriteOptions
from nwbagent.convert.progress import ProgressCallback, ProgressTracker, bar_class_for
from nwbagent.convert.recipe import write_recipe
from nwbagent.convert.select import Options, select_units
from nwbagent.convert.sessions import group_sessions
from nwbagent.errors import UserFacingError
from nwbagent.formats import detect
from nwbagent.formats.model import LeftOut, Unit
from nwbagent.inspect import InspectionResult, inspect_nwb
from nwbagent.metadata import (
    SessionMetadata,
    apply_brain_region,
    dandi_filename,
    dandi_id,
    from_user,
    merge,
    to_neuroconv,
)
from nwbagent.metadata.extract import make_field

Backend = Literal["hdf5", "zarr"]
log = logging.getLogger(__name__)


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
    left_out: list[LeftOut] = Field(
        default_factory=list, description="Streams of this session that could not be converted, with the fix"
    )
    acquisition: str | None = Field(default=None, description="The acquisition this file holds, if several")


def convert(
    source: str | Path,
    output_dir: str | Path,
    *,
    user_metadata: Mapping[str, Any] | None = None,
    stub: bool = False,
    streams: Sequence[str] = (),
    interface: str | None = None,
    parts: Sequence[str] = (),
    options: Options | None = None,
    backend: Backend = "hdf5",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    inspect: bool = True,
    fast_write: bool | None = None,
    write: WriteOptions | None = None,
    timezone: str | None = None,
) -> list[ConversionOutput]:
    """Detect, convert every session found under ``source`` and inspect the results.

    ``parts`` picks acquisitions/segments ("experiment2", "g0 t1"), ``options`` gives values the files lack
    (see :func:`~nwbagent.convert.select.select_units`); ``write`` says how HDF5 is written
    (``fast_write`` overrides its writer); ``timezone`` is assumed for times given without one (default:
    this machine's zone).
    """
    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise UserFacingError(
            "This path does not exist.", fix="Check the spelling, or give the folder itself.", path=source
        )
    detection = detect(source)
    warnings = list(detection.warnings)
    left: list[LeftOut] = []
    units = select_units(
        detection, streams=streams, interface=interface, parts=parts, options=options, left_out=left
    )
    return convert_units(
        units,
        source,
        output_dir,
        layers=[from_user(dict(user_metadata or {}), timezone=timezone)],
        stub=stub,
        backend=backend,
        overwrite=overwrite,
        progress=progress,
        inspect=inspect,
        warnings=warnings,
        left_out=left,
        fast_write=fast_write,
        write=write,
        timezone=timezone,
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
    left_out: Sequence[LeftOut] = (),
    fast_write: bool | None = None,
    write: WriteOptions | None = None,
    timezone: str | None = None,
) -> list[ConversionOutput]:
    """Convert already chosen units, one file per session, with ``layers`` merged over what the files say.

    ``left_out`` (what selection dropped) is reported with the session whose folder holds it.

    The agents call this directly: detection and the user's choices happened earlier in the conversation,
    and the metadata arrives as provenance-carrying layers (user, user-text) rather than a flat mapping.
    """
    source = Path(source).expanduser().resolve()
    warnings = list(warnings or [])
    out_root = _prepare_output_dir(Path(output_dir))
    sessions = group_sessions(list(units), source)
    write = (write or WriteOptions()).model_copy(update={} if fast_write is None else {"fast": fast_write})
    plans = [
        _plan(group, source, out_root, layers, stub, write=write, timezone=timezone) for group in sessions
    ]
    for plan in plans:
        if plan.nwb_path.exists() and not overwrite:
            raise UserFacingError(
                "An output file with this name already exists.",
                fix="Replace it, or choose another output folder.",
                cli_fix="Pass --overwrite to replace it, or choose another output folder with -o.",
                path=plan.nwb_path,
                code="output_exists",
            )
    if len({p.nwb_path for p in plans}) != len(plans):
        raise UserFacingError(
            "Several sessions would be written to the same file name (same subject and session ids).",
            fix="Give each session its own session ID, or convert them one at a time.",
            cli_fix="Convert the sessions one at a time with their own --metadata (distinct session_id).",
            path=source,
            code="name_clash",
        )
    for item in left_out:
        _owner(plans, item).left_before.append(item)
    direct = backend == "hdf5" and write.fast
    return [_run(plan, backend, progress, inspect, warnings, direct) for plan in plans]


def _owner(plans: list[_Plan], item: LeftOut) -> _Plan:
    """The session a left-out item belongs to: the one whose folder holds its file, else the first."""
    path = Path(item.path) if item.path else None
    for plan in plans:
        if path is not None and (path == plan.source or plan.source in path.parents):
            return plan
    return plans[0]


def file_metadata(
    units: Sequence[Unit], source: str | Path, *, timezone: str | None = None
) -> dict[str, SessionMetadata]:
    """What the files, their names and the defaults say, before the user says anything."""
    return OpenedSession(units, Path(source).expanduser().resolve(), timezone=timezone).layers


class _Plan:
    """One session ready to write: opened interfaces, final metadata and output names."""

    def __init__(
        self,
        opened: OpenedSession,
        metadata: dict[str, Any],
        session: SessionMetadata,
        nwb_path: Path,
        source: Path,
        stub: bool,
        write: WriteOptions,
    ) -> None:
        self.opened = opened
        self.write = write
        self.metadata = metadata
        self.session = session
        self.nwb_path = nwb_path
        self.source = source
        self.stub = stub
        self.notes: list[str] = list(opened.notes)
        #: what nwbagent did that NeuroConv replaying the recipe does not do (the recipe says so)
        self.replay_notes: list[str] = list(opened.notes)
        self.left_before: list[LeftOut] = []

    @property
    def left_out(self) -> list[LeftOut]:
        """Everything of this session not converted: dropped by selection, or by opening/building it."""
        return [*self.left_before, *self.opened.left_out]

    @property
    def units(self) -> list[Unit]:
        return self.opened.units

    @property
    def pipe(self) -> Any:
        return self.opened.pipe

    @property
    def keys(self) -> list[str]:
        return self.opened.keys


def _plan(
    units: list[Unit],
    source: Path,
    out_root: Path,
    layers: Sequence[SessionMetadata],
    stub: bool,
    *,
    write: WriteOptions | None = None,
    timezone: str | None = None,
) -> _Plan:
    opened = OpenedSession(units, source, timezone=timezone)
    session_root = opened.root
    session = merge(*opened.layers.values(), *layers)
    acquisition = opened.units[0].acquisition
    if acquisition:  # set only when the folder holds several: the name says which one this file is
        session = _per_acquisition(session, acquisition, session_root)
    if not session.values().get("session_start_time"):
        raise UserFacingError(
            "Neither the files nor the metadata give the session's start time, which NWB requires.",
            fix="Give the session start time (session_start_time), e.g. 2023-11-17T05:25:00+01:00.",
            cli_fix="Add it to the --metadata file, e.g. 'session_start_time: 2023-11-17T05:25:00+01:00'.",
            path=session_root,
            code="missing_session_start_time",
        )
    metadata = to_neuroconv(session, opened.base)
    if any(u.category == "sorting" for u in opened.units):
        # NeuroConv 0.10.2's sorting interfaces read metadata["Ecephys"] unconditionally (KeyError when a
        # sorting is converted without a recording, e.g. a .nev alone)
        metadata.setdefault("Ecephys", {})
    unique_series_names(metadata, opened.pipe)
    apply_brain_region(session, opened.pipe.data_interface_objects.values())
    _keep_probe_positions(opened.pipe)
    name = _output_name(session, session_root)
    if stub:
        name = name[: -len(".nwb")] + "_stub.nwb"
    plan = _Plan(opened, metadata, session, out_root / name, session_root, stub, write or WriteOptions())
    if acquisition:
        plan.notes += _given_start_note(session, opened.layers["file"], acquisition)
    return plan


def _given_start_note(session: SessionMetadata, files: SessionMetadata, acquisition: str) -> list[str]:
    """One start time given for a folder of several acquisitions overrides each one's own: say so."""
    given, read = session.get("session_start_time"), files.get("session_start_time")
    if (
        given is None
        or read is None
        or given.source not in ("user", "user-text")
        or given.value == read.value
    ):
        return []
    return [
        f"The start time you gave ({given.value}) is used for {acquisition}, whose own files say "
        f"{read.value}; give each acquisition its start time, or none, to keep the files' times."
    ]


def _per_acquisition(session: SessionMetadata, acquisition: str, root: Path) -> SessionMetadata:
    """Each acquisition of a folder is its own file: its session id says which one, so names never clash."""
    current = session.get("session_id")
    base = str(current.value) if current is not None and current.error is None else root.name
    if base.endswith(f"-{acquisition}"):
        return session
    field = make_field(
        "session_id",
        f"{base}-{acquisition}",
        source=current.source if current is not None else "inferred",
        confidence=current.confidence if current is not None else 0.8,
        evidence=f"{current.evidence if current is not None else root.name}; one file per acquisition: "
        f"this one holds {acquisition}",
    )
    return session.model_copy(update={"session_id": field})


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
    tmp = outputs.temporary(final)
    tracker = ProgressTracker(_total_bytes(plan), progress)
    tracker.emit("starting")
    options = _conversion_options(plan, tracker)
    try:
        _write(plan, tmp, backend, options, tracker, direct)
        outputs.replace(tmp, final)
    except BaseException as exc:
        outputs.remove(tmp)
        if isinstance(exc, KeyboardInterrupt | UserFacingError):
            raise
        raise explain_write_failure(exc, path=final) from exc
    tracker.done_bytes = tracker.total_bytes
    tracker.emit("written")
    warnings = [*warnings, *plan.notes]
    recipe = write_recipe(
        outputs.path_of(final, "recipe"),
        units=plan.units,
        keys=plan.keys,
        metadata=plan.metadata,
        source_root=plan.source,
        nwbfile_name=final.name,
        stub=plan.stub,
        notes=[*plan.replay_notes, *_segment_notes(plan.units)],
    )
    meta_path = outputs.path_of(final, "metadata")
    outputs.write_atomic(
        meta_path, json.dumps(plan.session.provenance(), indent=2, default=str, ensure_ascii=False)
    )
    result: InspectionResult | None = None
    reports: dict[str, str] = {}
    if inspect:
        from nwbagent.report.sources import hash_sources_in_background

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
        left_out=plan.left_out,
        acquisition=plan.units[0].acquisition,
    )


def _write(
    plan: _Plan, path: Path, backend: Backend, options: dict[str, Any], tracker: ProgressTracker, direct: bool
) -> FillStats | None:
    """Write the NWB file at ``path``; the direct-chunk writer's statistics when it wrote it.

    The file is built in memory first (NeuroConv's own steps), so an interface that fails is left out of
    the session and what it dropped is said in ``plan.notes``; then one of the two writers stores it.
    """
    nwbfile, notes = build_nwbfile(plan.opened, plan.metadata, options)
    plan.notes += notes
    plan.replay_notes += notes
    if not direct:
        from neuroconv.tools.nwb_helpers import configure_and_write_nwbfile

        configure_and_write_nwbfile(nwbfile=nwbfile, nwbfile_path=str(path), backend=backend)
        return None
    from nwbagent.convert import direct_write

    return direct_write.write_nwbfile(
        nwbfile,
        path,
        level=plan.write.gzip_level,
        threads=plan.write.threads or None,
        on_bytes=tracker.advance,
    )


def _segment_notes(units: Sequence[Unit]) -> list[str]:
    return [
        f"only segments {', '.join(u.kept_segments)} of {u.label.split(' (')[0]} were written; NeuroConv "
        f"writes all of {', '.join(u.segments)}"
        for u in units
        if u.keep_segments is not None
    ]


def _write_reports(plan: _Plan, final: Path, result: InspectionResult, warnings: list[str]) -> dict[str, str]:
    """Write the four report renderings beside the file. A report is a view of a finished, good file: if it
    cannot be made, the conversion still succeeded, so the failure becomes a warning, not an error."""
    from nwbagent.report import build_report, write_reports

    def failed(fmt: str, exc: Exception) -> None:
        log.warning("the %s report of %s could not be written", fmt, final, exc_info=exc)
        warnings.append(f"The {fmt} report could not be written (a bug; the NWB file is complete).")

    try:
        report = build_report(
            final,
            inspection=result,
            provenance=plan.session.provenance(),
            source_folder=plan.source,
            units=plan.units,
        )
        written = write_reports(report, outputs.stem(final), on_error=failed)
    except Exception as exc:
        log.warning("the report of %s could not be made", final, exc_info=exc)
        warnings.append("The conversion report could not be made (a bug; the NWB file is complete).")
        return {}
    return {fmt: str(path) for fmt, path in written.items()}


def _conversion_options(plan: _Plan, tracker: ProgressTracker) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for key, iface in plan.pipe.data_interface_objects.items():
        params = pyinspect.signature(iface.add_to_nwbfile).parameters
        opts: dict[str, Any] = {}
        if "stub_test" in params:
            opts["stub_test"] = plan.stub
        if "iterator_options" in params and hasattr(iface, "recording_extractor"):
            opts["iterator_options"] = {
                "buffer_gb": plan.write.buffer_gb,
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
        with tempfile.NamedTemporaryFile(dir=path, prefix=Path(outputs.write_test_name(path)).name):
            pass
    except OSError as exc:
        raise UserFacingError(
            f"The output folder cannot be written ({exc.strerror or exc}).",
            fix="Choose a folder you can write to with -o, or fix its permissions.",
            path=path,
            code="output_not_writable",
        ) from exc
    return path


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
