"""Drop empty tables and series from an in-memory NWB file before it is written.

NeuroConv writes a table for every digital line of a SpikeGLX NIDQ board, events or not; NWB Inspector flags
each empty one and ``dandi validate`` crashes on them (``IndexError`` in ``check_table_values_for_dict``).
An empty table says nothing the absence of the table does not say, so it is dropped and the user told.
Only data objects are considered (acquisition, processing, events, intervals, units): the electrodes table
and other structural tables are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any


def _length(data: Any) -> int | None:
    """Rows of a dataset that may be an array, a list, an H5DataIO wrapper or a chunk iterator."""
    for attr in ("maxshape", "shape"):
        shape = getattr(data, attr, None)
        if shape is not None and len(shape) and shape[0] is not None:
            return int(shape[0])
    inner = getattr(data, "data", None)
    if inner is not None and inner is not data:
        return _length(inner)
    try:
        return len(data)
    except TypeError:
        return None


def _is_empty(obj: Any) -> bool:
    from hdmf.common import DynamicTable
    from pynwb.base import TimeSeries

    if isinstance(obj, DynamicTable):
        return len(obj) == 0
    if isinstance(obj, TimeSeries):
        if getattr(obj, "external_file", None) is not None:
            return False  # a video referenced by path: its data lives in the file it names
        return _length(obj.data) == 0
    return False


def _containers(nwbfile: Any) -> Iterator[tuple[str, MutableMapping[str, Any]]]:
    yield "acquisition", nwbfile.acquisition
    events = getattr(nwbfile, "events", None)
    if events is not None:
        yield "events", events
    for name, module in list(nwbfile.processing.items()):
        yield f"processing/{name}", module.data_interfaces
    if nwbfile.intervals is not None:
        yield "intervals", nwbfile.intervals


def prune_empty(nwbfile: Any) -> list[str]:
    """Remove empty data tables and series (and processing modules left empty); say what went."""
    dropped: list[str] = []
    for where, holder in list(_containers(nwbfile)):
        for name in [n for n, obj in holder.items() if _is_empty(obj)]:
            kind = type(holder[name]).__name__
            del holder[name]
            dropped.append(f"{where}/{name} ({kind})")
    for name in [n for n, module in nwbfile.processing.items() if not module.data_interfaces]:
        del nwbfile.processing[name]
    units = nwbfile.units
    if units is not None and len(units) == 0:
        nwbfile._remove_child(units)
        nwbfile.fields.pop("units", None)
        dropped.append("units (Units)")
    if not dropped:
        return []
    shown = ", ".join(dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
    return [
        f"Left {len(dropped)} empty table(s) or series out of the file, since they hold no data (event "
        f"channels without events, for example) and DANDI's validator rejects empty tables: {shown}."
    ]
