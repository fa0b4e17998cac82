"""Small pictures that let a person sanity-check a conversion at a glance.

A flat line, a probe drawn sideways or a wall of red findings is noticed in a second on a picture and missed
in a table. The figures are built with ``matplotlib.figure.Figure`` on an explicit Agg canvas, never through
``pyplot``: a report built inside the web server must not touch pyplot's global figure registry or backend.
The recording is read through h5py slicing so that only the one-second snippet leaves the disk, whatever
the file size.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import h5py
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nwbagent.report.model import Importance, Plot, Report

log = logging.getLogger(__name__)

IMPORTANCES: tuple[str, ...] = get_args(Importance)
IMPORTANCE_COLORS = {
    "ERROR": "#b00020",
    "PYNWB_VALIDATION": "#c2185b",
    "CRITICAL": "#d84315",
    "BEST_PRACTICE_VIOLATION": "#f9a825",
    "BEST_PRACTICE_SUGGESTION": "#1565c0",
}
SNIPPET_S = 1.0
MAX_TRACES = 8
_DPI = 90
_MAX_TIMESTAMPS_READ = 2_000_000  # bounds the read when a series has timestamps instead of a rate


def make_plots(nwb_path: Path, report: Report) -> list[Plot]:
    """Every plot that the file supports; a plot that cannot be drawn is left out, never an error.

    A report is still worth having when a picture fails (odd dtype, Zarr file, truncated HDF5), so each plot
    is attempted on its own and failures are logged rather than raised.
    """
    plots: list[Plot] = []
    path = Path(nwb_path)
    if path.is_file() and h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                for builder in (_traces_plot, _probe_plot):
                    try:
                        plot = builder(f)
                    except Exception as exc:  # a picture is optional; the report must not fail for it
                        log.warning("Could not draw %s for %s", builder.__name__, path, exc_info=True)
                        report.notes.append(_failure_note(builder.__name__, exc))
                        continue
                    if plot is not None:
                        plots.append(plot)
        except OSError as exc:
            log.warning("Could not open %s to draw plots", path, exc_info=True)
            report.notes.append(f"The recording plots were not drawn: the file could not be opened ({exc}).")
    elif path.is_dir() or report.contents.backend == "zarr":
        report.notes.append("The recording plots are only drawn for HDF5 files; this file is Zarr.")
    plots.append(findings_plot(report))
    return plots


# ---------------------------------------------------------------------------------------------- helpers


def _failure_note(builder: str, exc: Exception) -> str:
    what = {"_traces_plot": "raw-trace", "_probe_plot": "probe-layout"}.get(builder, builder)
    return f"The {what} plot could not be drawn ({type(exc).__name__}: {exc})."


def _png(fig: Figure) -> str:
    """Render on an explicit Agg canvas and return base64 PNG; drops the figure so nothing lingers."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _attr_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 0.1 else f"{seconds:.3f}"


def _fmt_amount(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# ---------------------------------------------------------------------------------------------- traces


@dataclass
class _Series:
    path: str
    group: h5py.Group
    data: h5py.Dataset
    electrical: bool


def _walk_series(f: h5py.File) -> Iterator[_Series]:
    """Time series in acquisition first, then in processing modules, in the file's own order."""
    roots = [f["acquisition"]] if "acquisition" in f else []
    if "processing" in f:
        roots += [m for m in f["processing"].values() if isinstance(m, h5py.Group)]
    for root in roots:
        stack: list[h5py.Group] = [root]
        while stack:
            group = stack.pop(0)
            for obj in group.values():
                if not isinstance(obj, h5py.Group):
                    continue
                data = obj.get("data")
                is_series = isinstance(data, h5py.Dataset) and ("starting_time" in obj or "timestamps" in obj)
                if is_series and data is not None:
                    kind = _attr_str(obj.attrs.get("neurodata_type", ""))
                    yield _Series(obj.name.lstrip("/"), obj, data, kind == "ElectricalSeries")
                else:
                    stack.append(obj)


def _pick_series(f: h5py.File) -> _Series | None:
    """The first ElectricalSeries, else the first numeric 1-D/2-D TimeSeries: what a reader would look at."""
    fallback: _Series | None = None
    for s in _walk_series(f):
        usable = (
            (s.data.ndim == 1 or (s.data.ndim == 2 and s.data.shape[1] > 0))
            and s.data.shape[0] > 0
            and np.issubdtype(s.data.dtype, np.number)
        )
        if not usable:
            continue
        if s.electrical:
            return s
        if fallback is None:
            fallback = s
    return fallback


def _snippet_frames(s: _Series) -> tuple[int, np.ndarray, float]:
    """Frames in the first second, their times and the span they cover (s); reads only what it needs."""
    n_total = int(s.data.shape[0])
    start = s.group.get("starting_time")
    if isinstance(start, h5py.Dataset) and "rate" in start.attrs:
        rate = float(start.attrs["rate"])
        n = max(1, min(n_total, round(rate * SNIPPET_S)))
        return n, np.arange(n) / rate, n / rate
    stamps = s.group["timestamps"]
    head = np.asarray(stamps[: min(n_total, _MAX_TIMESTAMPS_READ)], dtype=float)
    n = max(1, int(np.searchsorted(head, head[0] + SNIPPET_S, side="left")))
    times = head[:n] - head[0]
    step = float(np.median(np.diff(times))) if n > 1 else 0.0
    return n, times, float(times[-1]) + step


def _traces_plot(f: h5py.File) -> Plot | None:
    s = _pick_series(f)
    if s is None:
        return None
    n, times, duration = _snippet_frames(s)
    n_channels = 1 if s.data.ndim == 1 else int(s.data.shape[1])
    channels = np.unique(np.linspace(0, n_channels - 1, min(MAX_TRACES, n_channels)).round().astype(int))
    raw = np.asarray(s.data[:n] if s.data.ndim == 1 else s.data[:n, channels.tolist()], dtype=float)
    raw = raw.reshape(n, -1)

    attrs = s.data.attrs
    unit = _attr_str(attrs.get("unit", "")) or "raw units"
    scaled = "conversion" in attrs or "offset" in attrs
    values = raw * float(attrs.get("conversion", 1.0))
    chan_conv = s.group.get("channel_conversion")
    if isinstance(chan_conv, h5py.Dataset) and s.data.ndim == 2:
        values = values * np.asarray(chan_conv[()], dtype=float)[channels]
    values = values + float(attrs.get("offset", 0.0))
    if unit.lower() in ("volts", "volt", "v"):
        values, unit = values * 1e6, "µV"
    elif not scaled:
        unit = f"raw {unit}"

    centered = values - np.median(values, axis=0)
    span = np.nanpercentile(centered, 99.5) - np.nanpercentile(centered, 0.5) if centered.size else 0.0
    spacing = float(span) if np.isfinite(span) and span > 0 else 1.0

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    offsets = np.arange(len(channels))[::-1] * spacing
    for i in range(len(channels)):
        ax.plot(times, centered[:, i] + offsets[i], linewidth=0.6, color="#1f3a5f")
    ax.set_yticks(offsets, [f"ch {c}" for c in channels])
    ax.set_xlabel("time from start (s)")
    ax.set_ylabel(f"channel (traces {_fmt_amount(spacing)} {unit} apart)")
    title = f"Raw snippet: {s.path}"
    ax.set_title(title, fontsize=10)
    ax.margins(x=0)
    fig.tight_layout()
    alt = (
        f"{_fmt_seconds(duration)} s of {len(channels)} of {n_channels} channels from {s.path}, "
        f"median-subtracted, in {unit}, offset vertically"
    )
    return Plot(name="traces", title=title, png_base64=_png(fig), alt=alt)


# ---------------------------------------------------------------------------------------------- probe


def _column(table: h5py.Group, name: str) -> np.ndarray | None:
    ds = table.get(name)
    if not isinstance(ds, h5py.Dataset) or not np.issubdtype(ds.dtype, np.number):
        return None
    return np.asarray(ds[()], dtype=float)


def _group_names(f: h5py.File, table: h5py.Group, n: int) -> list[str]:
    if isinstance(table.get("group_name"), h5py.Dataset):
        return [_attr_str(v) for v in table["group_name"][()]]
    if isinstance(table.get("group"), h5py.Dataset):
        return [f[ref].name.rsplit("/", 1)[-1] if ref else "?" for ref in table["group"][()]]
    return ["electrodes"] * n


_POSITION_COLUMNS = (("rel_x", "rel_y", "position on the probe"), ("x", "y", "coordinates"))


def _positions(table: h5py.Group) -> tuple[str, str, str, np.ndarray, np.ndarray, np.ndarray] | None:
    """Probe-relative positions first (that is the layout), brain coordinates as a fallback."""
    for xname, yname, label in _POSITION_COLUMNS:
        x, y = _column(table, xname), _column(table, yname)
        if x is not None and y is not None and len(x) == len(y):
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.any():
                return xname, yname, label, x, y, ok
    return None


def _probe_plot(f: h5py.File) -> Plot | None:
    table = f.get("general/extracellular_ephys/electrodes")
    if not isinstance(table, h5py.Group):
        return None
    found = _positions(table)
    if found is None:
        return None
    xname, yname, label, x, y, ok = found

    groups = np.asarray(_group_names(f, table, len(x)), dtype=object)
    names = list(dict.fromkeys(groups[ok].tolist()))
    fig = Figure(figsize=(5.5, 6.5), layout="constrained")
    ax = fig.add_subplot()
    palette = [f"C{i}" for i in range(10)]
    for i, name in enumerate(names):
        sel = ok & (groups == name)
        ax.scatter(x[sel], y[sel], s=10, marker="s", color=palette[i % 10], label=str(name))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{xname} (as stored)")
    ax.set_ylabel(f"{yname} (as stored)")
    title = f"Electrode {label}"
    ax.set_title(title, fontsize=10)
    if len(names) <= 12:
        fig.legend(fontsize=7, loc="outside lower center", ncols=2, markerscale=1.2)
    alt = (
        f"{int(ok.sum())} of {len(x)} electrodes at their {xname}/{yname} {label}, "
        f"colored by electrode group ({len(names)} group{'s' if len(names) != 1 else ''}: "
        f"{', '.join(map(str, names[:6]))}{', ...' if len(names) > 6 else ''})"
    )
    return Plot(name="probe_layout", title=title, png_base64=_png(fig), alt=alt)


# ---------------------------------------------------------------------------------------------- findings


def findings_plot(report: Report) -> Plot:
    """Counts per importance, all five levels shown so an empty bar reads as 'none', not 'not checked'."""
    counts = {level: 0 for level in IMPORTANCES}
    for finding in report.findings:
        counts[finding.importance] += 1
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    labels = [level.replace("_", " ").lower() for level in IMPORTANCES]
    values = [counts[level] for level in IMPORTANCES]
    ypos = np.arange(len(IMPORTANCES))[::-1]
    ax.barh(ypos, values, color=[IMPORTANCE_COLORS[level] for level in IMPORTANCES])
    ax.set_yticks(ypos, labels)
    top = max(values) if any(values) else 1
    ax.set_xlim(0, top * 1.15 + 0.5)
    for yp, value in zip(ypos, values, strict=True):
        ax.text(value + top * 0.02, yp, str(value), va="center", fontsize=9)
    ax.set_xlabel("number of findings")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    title = "Findings by importance"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    alt = "Bar chart of findings by importance: " + ", ".join(
        f"{level} {counts[level]}" for level in IMPORTANCES
    )
    return Plot(name="findings", title=title, png_base64=_png(fig), alt=alt)
