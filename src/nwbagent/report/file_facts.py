"""What an NWB file itself says, read lazily and read-only: its structure (series, shapes, compression,
electrodes) and the metadata values as written.

A report on a 50 GB recording reads attributes, shapes and two timestamps here, never the data; any NWB
file works, not only ours.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from nwbagent import outputs
from nwbagent.errors import UserFacingError
from nwbagent.report.model import (
    ElectrodeGroupInfo,
    ElectrodesInfo,
    NwbContents,
    SeriesInfo,
)

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


def looks_like_stub(path: Path) -> bool:
    """A stub preview is named ``*_stub.nwb`` by nwbagent, and its recipe says ``stub_test``."""
    if path.name.endswith(("_stub.nwb", "_stub.nwb.zarr")):
        return True
    recipe = outputs.path_of(path, "recipe")
    with contextlib.suppress(OSError):
        return "stub_test: true" in recipe.read_text()
    return False
