"""From chosen units to an in-memory ``NWBFile``: open each interface, correct what its reader gets wrong,
build the file, and keep one bad stream from sinking the rest.

Isolation happens at the two places a unit can fail without the others being at fault: opening its reader
(a missing parameter, a reader error on one stream) and adding it to the file (an interface whose
``add_to_nwbfile`` raises). Either way the unit is *left out* with the explained reason and the session goes
on with what remains; only when nothing remains is the error raised. Empty tables and series that NeuroConv
would write (event channels without events) are dropped before anything reaches disk: DANDI's validator
flags them and, for some, crashes on them.
"""

from __future__ import annotations

import inspect as pyinspect
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nwbagent.convert.failures import MissingValue, explain_build_failure, explain_read_failure
from nwbagent.convert.prune import prune_empty
from nwbagent.convert.sessions import unit_path
from nwbagent.errors import UserFacingError
from nwbagent.formats import registry
from nwbagent.formats.detect import probe_for
from nwbagent.formats.model import LeftOut, Unit
from nwbagent.formats.probes.base import Prepared, left_out
from nwbagent.metadata import SessionMetadata, defaults, from_neuroconv, from_path, merge
from nwbagent.metadata.extract import from_probe


class OpenedSession:
    """The interfaces of one session, instantiated, with what the files and names say as metadata layers.

    Units whose reader cannot open them are in ``left_out`` (with the fix) instead of ``units``.
    """

    def __init__(self, units: Sequence[Unit], source: Path, *, timezone: str | None = None) -> None:
        from neuroconv import ConverterPipe

        self.left_out: list[LeftOut] = []
        self.notes: list[str] = []
        opened: dict[str, Any] = {}
        kept: list[Unit] = []
        overlay: dict[str, tuple[Any, str]] = {}
        given = list(units)
        for i, (original, unit) in enumerate(zip(given, distinct_interface_names(given), strict=True)):
            try:
                interface = instantiate(unit)
                prepared = _prepare(unit, interface)
            except MissingValue as error:
                waiting = original.model_copy(update={"needs": [*original.needs, error.parameter]})
                self.left_out.append(
                    left_out(error, label=unit.label, interface=unit.interface, found=waiting)
                )
                continue
            except UserFacingError as error:
                self.left_out.append(
                    left_out(error, label=unit.label, interface=unit.interface, found=original)
                )
                continue
            _keep_segments(unit, interface)
            self.notes += prepared.notes
            for name, value in prepared.metadata.items():
                overlay.setdefault(name, value)
            opened[_key(unit, i)] = interface
            kept.append(unit)
        if not kept:
            raise NothingOpened(self.left_out)
        self.notes += durations_disagree(kept, list(opened.values()))
        self.units = kept
        self.pipe = ConverterPipe(data_interfaces=opened)
        self.base = self.pipe.get_metadata()
        self.root = _common_root([unit_path(u) for u in self.units]) or source
        evidence = ", ".join(u.label for u in self.units)
        self.layers: dict[str, SessionMetadata] = {
            "default": defaults(),
            "inferred": from_path(self.root, timezone=timezone),
            "file": merge(
                from_neuroconv(self.base, f"read from the files by {evidence}", timezone=timezone),
                from_probe(overlay, timezone=timezone),
            ),
        }

    @property
    def keys(self) -> list[str]:
        return list(self.pipe.data_interface_objects)

    def drop(self, key: str, error: UserFacingError) -> None:
        """Leave the interface under ``key`` out of this session (it failed while building the file)."""
        index = self.keys.index(key)
        unit = self.units.pop(index)
        self.pipe.data_interface_objects.pop(key)
        self.left_out.append(left_out(error, label=unit.label, interface=unit.interface, found=unit))


#: Streams of one acquisition whose durations differ by more than this (and by more than half a second) are
#: said: a reader that misreads a sampling rate shows up as a stream several times longer than its siblings.
DURATION_TOLERANCE = 0.05


def durations_disagree(units: Sequence[Unit], interfaces: Sequence[Any]) -> list[str]:
    """A note for each acquisition whose continuous streams do not last the same time, with the numbers."""
    by_acquisition: dict[str | None, list[tuple[Unit, float, int, float]]] = {}
    for unit, interface in zip(units, interfaces, strict=True):
        recording = getattr(interface, "recording_extractor", None)
        if recording is None:
            continue
        rate = float(recording.get_sampling_frequency())
        samples = sum(recording.get_num_samples(segment_index=i) for i in range(recording.get_num_segments()))
        by_acquisition.setdefault(unit.acquisition, []).append((unit, samples / rate, samples, rate))
    notes = []
    for streams in by_acquisition.values():
        longest = max(streams, key=lambda s: s[1], default=None)
        shortest = min(streams, key=lambda s: s[1], default=None)
        if longest is None or shortest is None or longest[1] - shortest[1] <= 0.5:
            continue
        if longest[1] - shortest[1] <= DURATION_TOLERANCE * longest[1]:
            continue
        listed = "; ".join(f"{u.label}: {d:.2f} s ({n:,} samples at {r:g} Hz)" for u, d, n, r in streams)
        notes.append(
            f"The streams of one recording do not last the same time ({listed}). A stream whose sampling "
            "rate was misread lasts a multiple of the others: check the rates against the acquisition "
            "settings before using the timing of these series."
        )
    return notes


def _prepare(unit: Unit, interface: Any) -> Prepared:
    """The probe's corrections; one that fails is said, and the interface is used as its reader made it."""
    try:
        return probe_for(unit.interface).prepare(unit, interface)
    except UserFacingError:
        raise
    except Exception as exc:
        return Prepared(
            notes=[
                f"{unit.label}: nwbagent could not check this stream's time base ({type(exc).__name__}: "
                f"{exc}); it is written as the reader reads it."
            ]
        )


class NothingOpened(UserFacingError):
    """No unit of a session could be opened; ``left_out`` says why for each (a missing value included)."""

    def __init__(self, entries: list[LeftOut]) -> None:
        self.left_out = entries
        first = entries[0]
        problem = first.problem
        if len(entries) > 1:
            problem = (
                f"None of the {len(entries)} streams could be opened. {first.label}: {problem} "
                + " ".join(f"{x.label}: {x.problem}" for x in entries[1:])
            )
        super().__init__(
            problem,
            fix=first.fix,
            cli_fix=first.cli_fix,
            path=first.path,
            code=first.code,
            details=first.details,
        )


def build_nwbfile(
    session: OpenedSession, metadata: dict[str, Any], options: dict[str, dict[str, Any]]
) -> tuple[Any, list[str]]:
    """The in-memory NWB file and what was dropped on the way (notes for the user).

    An interface that fails to add itself is found by trying each alone on a preview, left out, and the file
    is built again from the rest; a failure no single interface explains is raised, explained.
    """
    pipe = session.pipe
    while True:
        try:
            pipe.validate_metadata(metadata=metadata)
            pipe.validate_conversion_options(conversion_options=options)
            pipe.temporally_align_data_interfaces(metadata=metadata, conversion_options=options)
            nwbfile = pipe.create_nwbfile(metadata=metadata, conversion_options=options)
            break
        except UserFacingError:
            raise
        except Exception as exc:
            culprits = _culprits(session, metadata, options) if len(session.keys) > 1 else {}
            if not culprits or len(culprits) == len(session.keys):
                unit = session.units[0] if len(session.keys) == 1 else None
                raise explain_build_failure(exc, unit=unit, path=session.root) from exc
            for key, error in culprits.items():
                session.drop(key, error)
                options.pop(key, None)
    notes = prune_empty(nwbfile)
    return nwbfile, notes


def _culprits(
    session: OpenedSession, metadata: dict[str, Any], options: dict[str, dict[str, Any]]
) -> dict[str, UserFacingError]:
    """Each interface that fails on its own (its own metadata plus the session's), explained.

    A preview of one interface takes a second; an interface is only blamed when it fails alone, so a
    failure that comes from two interfaces together is not pinned on either.
    """
    from neuroconv import ConverterPipe
    from neuroconv.utils import dict_deep_update

    shared = {k: metadata[k] for k in ("NWBFile", "Subject") if k in metadata}
    failed: dict[str, UserFacingError] = {}
    for key, unit in zip(session.keys, session.units, strict=True):
        interface = session.pipe.data_interface_objects[key]
        alone = ConverterPipe(data_interfaces={key: interface})
        own = options.get(key, {})
        stub = {key: {**own, "stub_test": True} if "stub_test" in own else own}
        try:
            alone.create_nwbfile(
                metadata=dict_deep_update(alone.get_metadata(), shared), conversion_options=stub
            )
        except Exception as exc:
            failed[key] = explain_build_failure(exc, unit=unit, path=unit_path(unit))
    return failed


def instantiate(unit: Unit) -> Any:
    try:
        cls = registry.interface_class(unit.interface)
    except KeyError:
        raise UserFacingError(
            f"NeuroConv {_neuroconv_version()} has no interface named {unit.interface}.",
            fix="Choose one of the readers detection lists.",
            code="unknown_interface",
        ) from None
    try:
        return probe_for(unit.interface).open(unit, cls)
    except Exception as exc:
        raise explain_read_failure(exc, unit=unit, path=unit_path(unit)) from exc


def _keep_segments(unit: Unit, interface: Any) -> None:
    """Write only the segments the user picked (``keep_segments``); NeuroConv has no argument for it."""
    recording = getattr(interface, "recording_extractor", None)
    if unit.keep_segments is None or recording is None:
        return
    if recording.get_num_segments() != len(unit.segments):
        return  # the reader sees the segments differently from the file names: keep what it reads
    interface.recording_extractor = recording.select_segments(list(unit.keep_segments))


def distinct_interface_names(units: list[Unit]) -> list[Unit]:
    """Give each of several same-class interfaces in one file its own ``metadata_key`` and series name.

    Two IntanAnalogInterface streams (auxiliary and ADC), or two Open Ephys NI-DAQ streams, share the
    default key and series name and would overwrite each other's metadata entry, then collide in
    ``acquisition``; NeuroConv's IntanConverter avoids this the same way. The names go into the unit's
    kwargs so the recipe replays them.
    """
    counts: dict[str, int] = {}
    for unit in units:
        counts[unit.interface] = counts.get(unit.interface, 0) + 1
    out: list[Unit] = []
    for unit in units:
        params = _init_parameters(unit.interface)
        if counts[unit.interface] > 1:
            slug = "".join(c if c.isalnum() else "_" for c in (unit.stream or str(len(out)))).lower()
            extra: dict[str, Any] = {}
            if "metadata_key" in params and "metadata_key" not in unit.kwargs:
                default = params["metadata_key"].default
                base = (
                    default if isinstance(default, str) else unit.interface.removesuffix("Interface").lower()
                )
                extra["metadata_key"] = f"{base}_{slug}"
            if "time_series_name" in params and "time_series_name" not in unit.kwargs:
                default = params["time_series_name"].default
                if isinstance(default, str):
                    extra["time_series_name"] = default + "".join(p.capitalize() for p in slug.split("_"))
            if extra:
                unit = unit.model_copy(update={"kwargs": {**unit.kwargs, **extra}})
        out.append(unit)
    return out


def _init_parameters(interface: str) -> dict[str, pyinspect.Parameter]:
    try:
        cls = registry.interface_class(interface)
    except KeyError:
        return {}
    return dict(pyinspect.signature(cls.__init__).parameters)


def _key(unit: Unit, index: int) -> str:
    """A ConverterPipe key that is also a valid, readable name in the recipe."""
    base = unit.interface.removesuffix("Interface")
    stream = "".join(c if c.isalnum() else "_" for c in unit.stream) if unit.stream else ""
    return f"{base}_{stream}_{index}" if stream else f"{base}_{index}"


def unique_series_names(metadata: dict[str, Any], pipe: Any) -> None:
    """Give every series its own name, counting the digits NeuroConv appends per segment.

    Each NeuroConv recording interface names its series ``ElectricalSeries`` (or ``…AP``/``…Imec0``) and a
    multi-segment recording becomes ``<name>0``, ``<name>1``…; two interfaces in one pipe, or a name that
    already ends in a digit, would collide in ``acquisition`` and pynwb would refuse the file.
    """
    entries = metadata.get("Ecephys", {}).get("ElectricalSeries", {})
    if not isinstance(entries, dict):
        return
    segments: dict[str, int] = {}
    streams: dict[str, str] = {}
    for iface in pipe.data_interface_objects.values():
        key = getattr(iface, "metadata_key", None)
        recording = getattr(iface, "recording_extractor", None)
        if isinstance(key, str) and recording is not None:
            segments[key] = recording.get_num_segments()
            source = getattr(iface, "source_data", {}) or {}
            stream = source.get("stream_name") or source.get("stream_id")
            if isinstance(stream, str):
                streams[key] = stream
    taken: set[str] = set()
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", "ElectricalSeries"))
        count = segments.get(str(key), 1)
        if _expand(name, count) & taken:
            base = f"ElectricalSeries{_camel(streams.get(str(key)) or str(key))}"
            name, n = base, 0
            while _expand(name, count) & taken:
                n += 1
                name = f"{base}{chr(ord('A') + n - 1)}"
            entry["name"] = name
        taken |= _expand(name, count)


def _camel(stream: str) -> str:
    """A readable name part from a stream: 'Record Node 101#Neuropix-PXI-100.ProbeA-LFP' → 'ProbeALFP'."""
    last = re.split(r"[#./\\]", stream.strip())[-1] or stream
    parts = re.split(r"[^A-Za-z0-9]+", last)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Stream"


def _expand(name: str, segments: int) -> set[str]:
    if segments <= 1:
        return {name}
    width = max(1, len(str(segments - 1)))
    return {f"{name}{i:0{width}}" for i in range(segments)}


def _common_root(paths: list[Path]) -> Path | None:
    if not paths:
        return None
    try:
        common = Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:
        return None
    return common if common.is_dir() else common.parent


def _neuroconv_version() -> str:
    from importlib.metadata import version

    return version("neuroconv")
