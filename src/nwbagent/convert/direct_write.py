"""Fill the large datasets of an NWB file with parallel deflate and HDF5 direct chunk writes.

h5py compresses each chunk through HDF5's gzip filter on the calling thread, so NeuroConv's default HDF5
write runs on one core (~60 MB/s on this machine's synthetic Neuropixels data, 26.8 MB/s in
``../shared/REFERENCE.md``). The file layout does not need to change to go faster, only who compresses:
HDF5's stock ``shuffle`` and ``deflate`` filters decode any zlib stream of byte-shuffled data, whoever
produced it. So:

1. :func:`defer_datasets` swaps each chunk-iterated dataset of the in-memory ``NWBFile`` (every recording's
   ElectricalSeries, and any other ``GenericDataChunkIterator``) for a placeholder with the same shape,
   dtype and chunking, and sets its filters to shuffle + gzip. pynwb/hdmf then write the whole file as usual,
   creating those datasets empty (no chunk is allocated until written).
2. :func:`fill` reads the source a block of chunks at a time, byte-shuffles and deflates every chunk in a
   thread pool (``isal`` and ``zlib_ng`` release the GIL, so chunks compress on all cores), and stores the
   compressed bytes with ``write_direct_chunk``, bypassing the filter pipeline. Chunks in flight are bounded,
   so memory does not grow with the recording's length or width. The first and last chunk of each dataset
   are then decoded through the ordinary filter pipeline and compared with the source, so a file stock HDF5
   could not decode is an error here, never a surprise for the user.

The datasets carry the standard ``shuffle`` and ``gzip`` filter ids, which every HDF5 build decodes with no
plugin. On the real recordings of ``../shared/data`` the files are 17% smaller than NeuroConv's gzip-4 files
(``tests/test_direct_write_real.py``); ``bench/write.py`` measures speed, size and memory.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from isal import isal_zlib
from zlib_ng import zlib_ng

GZIP_LEVELS = range(0, 4)  # ISA-L's deflate levels
DEFAULT_LEVEL = 1
MAX_READ_ROWS = 131_072  # rows per source read; see _read_block
MAX_BLOCK_BYTES = 64 * 1024**2  # source data per read; see _fill_dataset


class SourceReadError(RuntimeError):
    """The source returned other data than it declared (a recording truncated or changed mid-write)."""


class ReadbackError(RuntimeError):
    """A written chunk did not decode through HDF5's filters to the source data: a bug, never shipped."""


@dataclass(frozen=True)
class DeferredDataset:
    """A dataset created empty by the normal write, to be filled by :func:`fill` from ``source``."""

    location: str  # path inside the file, e.g. "acquisition/ElectricalSeries/data"
    source: Any  # hdmf GenericDataChunkIterator: read with its ``_get_data(selection)``
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunk_shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class FillStats:
    datasets: int
    chunks: int
    raw_bytes: int
    stored_bytes: int


@functools.cache
def _placeholder_class() -> type:
    """hdmf is imported lazily: the CLI's cheap commands must not pay for it."""
    from hdmf.data_utils import AbstractDataChunkIterator

    class Placeholder(AbstractDataChunkIterator):
        """Makes hdmf create a dataset with its final shape, dtype and chunks, and write nothing into it."""

        def __init__(
            self, shape: tuple[int, ...], dtype: np.dtype[Any], chunk_shape: tuple[int, ...]
        ) -> None:
            self._shape = shape
            self._dtype = dtype
            self._chunk_shape = chunk_shape

        def __iter__(self) -> Iterator[Any]:
            return self

        def __next__(self) -> Any:
            raise StopIteration

        def recommended_chunk_shape(self) -> tuple[int, ...]:
            return self._chunk_shape

        def recommended_data_shape(self) -> tuple[int, ...]:
            return self._shape

        @property
        def dtype(self) -> np.dtype[Any]:
            return self._dtype

        @property
        def maxshape(self) -> tuple[int, ...]:
            return self._shape

        @property
        def shape(self) -> tuple[int, ...]:
            return self._shape

    return Placeholder


def defer_datasets(
    nwbfile: Any, backend_configuration: Any, *, level: int = DEFAULT_LEVEL
) -> list[DeferredDataset]:
    """Take every chunk-iterated numeric dataset out of hdmf's write path; call after ``configure_backend``.

    The backend configuration keeps NeuroConv's chunk shapes (about 10 MB, which suits DANDI's cloud reads);
    only its filters change, to shuffle + gzip at ``level``, so the file says truthfully how it was written.
    Each dataset's ``H5DataIO`` is rebuilt from that configuration around a placeholder, exactly as
    ``configure_backend`` built it around the iterator.
    """
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.data_utils import GenericDataChunkIterator

    if level not in GZIP_LEVELS:
        raise ValueError(f"gzip level {level} is outside ISA-L's range 0-3")
    placeholder = _placeholder_class()
    objects = {child.object_id: child for child in nwbfile.all_children()}
    deferred: list[DeferredDataset] = []
    for config in backend_configuration.dataset_configurations.values():
        owner = objects.get(config.object_id)
        if owner is None:
            continue
        wrapped = owner.fields.get(config.dataset_name)
        data = wrapped.data if isinstance(wrapped, H5DataIO) else wrapped
        if not isinstance(data, GenericDataChunkIterator) or not config.chunk_shape:
            continue
        dtype = np.dtype(config.dtype)
        if dtype.kind not in "iuf" or len(config.full_shape) == 0 or 0 in config.full_shape:
            continue
        shape = tuple(int(n) for n in config.full_shape)
        chunk_shape = tuple(int(c) for c in config.chunk_shape)
        config.compressors = ["shuffle", "gzip"]
        config.compressor_options = [None, {"level": level}]
        owner.fields[config.dataset_name] = H5DataIO(
            data=placeholder(shape, dtype, chunk_shape), **config.get_data_io_kwargs()
        )
        deferred.append(
            DeferredDataset(
                location=config.location_in_file,
                source=data,
                shape=shape,
                dtype=dtype,
                chunk_shape=chunk_shape,
            )
        )
    return deferred


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def fill(
    path: str | Path,
    datasets: Sequence[DeferredDataset],
    *,
    level: int = DEFAULT_LEVEL,
    threads: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FillStats:
    """Compress and store every chunk of ``datasets`` into the file at ``path`` (already written by hdmf).

    ``on_bytes`` receives the raw (uncompressed) bytes of each chunk once it is on disk, for progress.
    """
    import h5py

    threads = threads or default_threads()
    chunks = raw = stored = 0
    with h5py.File(path, "r+") as h5, ThreadPoolExecutor(threads, thread_name_prefix="deflate") as pool:
        for item in datasets:
            dset = h5[item.location]
            _check_layout(dset, item)
            n, r, s, kept = _fill_dataset(dset, item, pool, threads, level, on_bytes)
            chunks, raw, stored = chunks + n, raw + r, stored + s
            _verify(dset, item, kept)
    return FillStats(datasets=len(datasets), chunks=chunks, raw_bytes=raw, stored_bytes=stored)


def _check_layout(dset: Any, item: DeferredDataset) -> None:
    """The direct write is only right if hdmf created exactly the dataset the chunks are encoded for."""
    problems = []
    if tuple(dset.shape) != item.shape:
        problems.append(f"shape {dset.shape} != {item.shape}")
    if tuple(dset.chunks or ()) != item.chunk_shape:
        problems.append(f"chunks {dset.chunks} != {item.chunk_shape}")
    if dset.compression != "gzip" or not dset.shuffle or dset.fletcher32 or dset.scaleoffset is not None:
        problems.append(f"filters shuffle={dset.shuffle} compression={dset.compression}")
    if dset.dtype != item.dtype:
        problems.append(f"dtype {dset.dtype} != {item.dtype}")
    if problems:
        raise RuntimeError(f"{item.location} was not created as planned: {'; '.join(problems)}")


def _fill_dataset(
    dset: Any,
    item: DeferredDataset,
    pool: ThreadPoolExecutor,
    threads: int,
    level: int,
    on_bytes: Callable[[int], None] | None,
) -> tuple[int, int, int, dict[tuple[int, ...], np.ndarray[Any, Any]]]:
    """Read a block of chunks at a time and keep a bounded window of chunks compressing.

    A block is one row of chunks (a time range) across as many chunk columns as fit in
    :data:`MAX_BLOCK_BYTES`: for a Neuropixels probe that is all 384 channels, one contiguous read of a
    memory-mapped .bin; a much wider recording is read in several column groups. The window holds enough
    chunks to keep every thread busy while the next block is read, and no more, so memory is a fixed
    number of chunks whatever the recording's length or width. Copies of the first and last chunk's source
    data are kept for :func:`_verify`.
    """
    rows = item.chunk_shape[0]
    groups = _column_groups(item)
    rest = [range(0, n, c) for n, c in zip(item.shape[2:], item.chunk_shape[2:], strict=True)]
    per_block = max(len(g) for g in groups) * int(np.prod([len(r) for r in rest], dtype=np.int64))
    window = max(2 * threads, per_block + threads)
    pending: deque[tuple[tuple[int, ...], int, Future[bytes]]] = deque()
    chunks = raw = stored = 0
    checked = {_first_corner(item), _last_corner(item)}
    kept: dict[tuple[int, ...], np.ndarray[Any, Any]] = {}

    def write_oldest() -> None:
        nonlocal chunks, raw, stored
        offset, nbytes, future = pending.popleft()
        payload = future.result()
        dset.id.write_direct_chunk(offset, payload, filter_mask=0)
        chunks, raw, stored = chunks + 1, raw + nbytes, stored + len(payload)
        if on_bytes is not None:
            on_bytes(nbytes)

    try:
        for start in range(0, item.shape[0], rows):
            stop = min(item.shape[0], start + rows)
            for group in groups:
                columns = (
                    slice(group[0], min(item.shape[1], group[-1] + item.chunk_shape[1])) if group else None
                )
                block = _read_block(item, start, stop, columns)
                shifts = (columns.start, *(0 for _ in rest)) if columns else ()
                for corner in itertools.product(group, *rest) if group else [()]:
                    where = tuple(
                        slice(c - shift, min(n, c + size) - shift)
                        for c, n, size, shift in zip(
                            corner, item.shape[1:], item.chunk_shape[1:], shifts, strict=True
                        )
                    )
                    part = block[(slice(None), *where)]
                    offset = (start, *corner)
                    if offset in checked:
                        kept[offset] = part.copy()
                    future = pool.submit(_encode, part, item.chunk_shape, item.dtype, level)
                    pending.append((offset, part.nbytes, future))
                    while len(pending) > window:
                        write_oldest()
                del block
        while pending:
            write_oldest()
    finally:
        for _, _, future in pending:
            future.cancel()
    return chunks, raw, stored, kept


def _column_groups(item: DeferredDataset) -> list[list[int]]:
    """Chunk-column starts (axis 1) grouped so that one block of a group stays under MAX_BLOCK_BYTES."""
    if len(item.shape) == 1:
        return [[]]
    starts = list(range(0, item.shape[1], item.chunk_shape[1]))
    column_bytes = item.chunk_shape[0] * item.chunk_shape[1] * int(np.prod(item.shape[2:], dtype=np.int64))
    per_group = max(1, MAX_BLOCK_BYTES // (column_bytes * item.dtype.itemsize))
    return [starts[i : i + per_group] for i in range(0, len(starts), per_group)]


def _first_corner(item: DeferredDataset) -> tuple[int, ...]:
    return tuple(0 for _ in item.shape)


def _last_corner(item: DeferredDataset) -> tuple[int, ...]:
    return tuple((n - 1) // c * c for n, c in zip(item.shape, item.chunk_shape, strict=True))


def _read_block(
    item: DeferredDataset, start: int, stop: int, columns: slice | None = None
) -> np.ndarray[Any, Any]:
    """Rows ``start:stop`` (of ``columns`` on axis 1) of the source, read at most MAX_READ_ROWS at a time.

    A narrow dataset (a one-channel sync trace) can have chunks that span the whole recording, and its
    source may be a column of a wide memory-mapped file: one read would map and touch every page of that
    file. Reading in slices bounds what is mapped at once, whatever the width the source hides.
    """
    rest = tuple(slice(0, n) for n in item.shape[1:])
    if columns is not None:
        rest = (columns, *rest[1:])
    expected = (stop - start, *(s.stop - s.start for s in rest))
    if stop - start <= MAX_READ_ROWS:
        return _checked(item, item.source._get_data((slice(start, stop), *rest)), expected, start)
    block = np.empty(expected, dtype=item.dtype)
    for first in range(start, stop, MAX_READ_ROWS):
        last = min(stop, first + MAX_READ_ROWS)
        piece = item.source._get_data((slice(first, last), *rest))
        block[first - start : last - start] = _checked(item, piece, (last - first, *expected[1:]), first)
    return block


def _checked(item: DeferredDataset, data: Any, expected: tuple[int, ...], start: int) -> np.ndarray[Any, Any]:
    block = np.asarray(data)
    if block.shape != expected:
        raise SourceReadError(
            f"{item.location}: the source returned {block.shape} for {expected[0]} rows from {start}, "
            f"expected {expected}"
        )
    return block if block.dtype == item.dtype else block.astype(item.dtype)


def _encode(
    part: np.ndarray[Any, Any], chunk_shape: tuple[int, ...], dtype: np.dtype[Any], level: int
) -> bytes:
    """HDF5's shuffle filter then a zlib stream: what the stock shuffle and gzip filters decode.

    HDF5 stores edge chunks at full size, so a partial chunk is padded with the fill value (zero).
    """
    if part.shape != chunk_shape:
        full = np.zeros(chunk_shape, dtype=dtype)
        full[tuple(slice(0, n) for n in part.shape)] = part
        part = full
    return _deflate(_shuffle(part), level)


_MEM_LEVEL = 9  # ISA-L's largest hash table: faster and a better ratio than the default on recordings
_ZLIB_HEADER = bytes([0x78, 0x5E])  # deflate, 32 KiB window, "fast" level; inflate ignores the level bits


def _shuffle(data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """HDF5's byte shuffle as an (itemsize, elements) array: byte ``j`` of every element, in C order.

    Two-byte samples (nearly every recording) split into planes with two vectorised integer operations
    straight from the (strided) slice of the block, 6x faster than a strided byte copy and with no
    intermediate copy; ``<u2`` puts byte 0 of each element in the low 8 bits on any host.
    """
    size = data.dtype.itemsize
    if size == 2 and data.strides[-1] == 2:
        words = data.view("<u2")
        planes = np.empty((2, *data.shape), dtype=np.uint8)
        np.bitwise_and(words, 0xFF, out=planes[0], casting="unsafe")
        np.right_shift(words, 8, out=planes[1], casting="unsafe")
        return planes.reshape(2, -1)
    flat = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return flat.reshape(1, -1) if size == 1 else np.ascontiguousarray(flat.reshape(-1, size).T)


def _deflate(planes: np.ndarray[Any, Any], level: int) -> bytes:
    """One zlib stream for the shuffled chunk, its last byte plane coded by whichever coder suits it.

    After the shuffle the low bytes of a recording are near-random (only a Huffman code helps, and ISA-L's
    is as good as any at ~550 MB/s). The most significant byte differs between recordings: where slow
    components (LFP, offsets, a sync word) make it change slowly, ISA-L's string matching codes it well;
    where it is plain sign noise (a high-pass, noise-dominated band) ISA-L codes it ~20% worse than
    zlib-ng's Huffman-only mode. A 64 KiB sample from the middle of the plane, coded both ways, picks the
    coder for the whole plane. A deflate stream is a sequence of blocks, so the two coders' raw outputs
    are joined (the first ends on a byte boundary with a sync flush, the second carries the final block)
    under one zlib header and the Adler-32 of the whole chunk: one standard stream, decoded by any inflate.
    """
    if planes.shape[0] == 1 or not _huffman_wins(planes[-1], level):
        whole = isal_zlib.compressobj(level, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS, _MEM_LEVEL)
        return whole.compress(planes) + whole.flush()
    lead, tail = planes[:-1], planes[-1]
    head = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS, _MEM_LEVEL)
    huffman = zlib_ng.compressobj(1, zlib_ng.DEFLATED, -zlib_ng.MAX_WBITS, 9, zlib_ng.Z_HUFFMAN_ONLY)
    check = isal_zlib.adler32(tail, isal_zlib.adler32(lead))
    return b"".join(  # one copy of the megabytes, not one per concatenation
        (
            _ZLIB_HEADER,
            head.compress(lead),
            head.flush(isal_zlib.Z_SYNC_FLUSH),
            huffman.compress(tail),
            huffman.flush(),
            check.to_bytes(4, "big"),
        )
    )


_SAMPLE_BYTES = 65_536
_HUFFMAN_MARGIN = 0.97  # Huffman-only must win clearly on the sample: the sample is not the whole plane


def _huffman_wins(plane: np.ndarray[Any, Any], level: int) -> bool:
    if plane.size < 4 * _SAMPLE_BYTES:
        return False  # small planes: not worth a second coder
    middle = plane.size // 2
    sample = plane[middle - _SAMPLE_BYTES // 2 : middle + _SAMPLE_BYTES // 2]
    isal = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS, _MEM_LEVEL)
    by_isal = len(isal.compress(sample) + isal.flush())
    return len(_huffman_only(sample)) < _HUFFMAN_MARGIN * by_isal


def _huffman_only(data: np.ndarray[Any, Any]) -> bytes:
    coder = zlib_ng.compressobj(1, zlib_ng.DEFLATED, -zlib_ng.MAX_WBITS, 9, zlib_ng.Z_HUFFMAN_ONLY)
    return coder.compress(data) + coder.flush()


def _verify(dset: Any, item: DeferredDataset, kept: dict[tuple[int, ...], np.ndarray[Any, Any]]) -> None:
    """Decode the first and last chunk through HDF5's own filters and compare them with the source data.

    The last chunk is the padded edge chunk, the first a full one, so both shapes of encoding are checked.
    """
    for corner in (_first_corner(item), _last_corner(item)):
        expected = kept[corner]
        where = tuple(slice(c, c + n) for c, n in zip(corner, expected.shape, strict=True))
        if not np.array_equal(dset[where], expected, equal_nan=item.dtype.kind == "f"):
            raise ReadbackError(f"{item.location}: the chunk at {corner} does not read back as written")


def run_conversion(
    pipe: Any,
    nwbfile_path: str | Path,
    *,
    metadata: dict[str, Any],
    conversion_options: dict[str, Any],
    level: int = DEFAULT_LEVEL,
    threads: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FillStats:
    """NeuroConv's ``run_conversion`` for a new HDF5 file, with the large datasets filled by :func:`fill`.

    The same public steps NeuroConv takes (validate, align, build the in-memory file, default backend
    configuration, configure, write); only the deferred datasets take the other road.
    """
    pipe.validate_metadata(metadata=metadata)
    pipe.validate_conversion_options(conversion_options=conversion_options)
    pipe.temporally_align_data_interfaces(metadata=metadata, conversion_options=conversion_options)
    nwbfile = pipe.create_nwbfile(metadata=metadata, conversion_options=conversion_options)
    return write_nwbfile(nwbfile, nwbfile_path, level=level, threads=threads, on_bytes=on_bytes)


def write_nwbfile(
    nwbfile: Any,
    nwbfile_path: str | Path,
    *,
    level: int = DEFAULT_LEVEL,
    threads: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> FillStats:
    """Write an in-memory NWB file as NeuroConv's default HDF5 configuration would, filling the large
    datasets with :func:`fill`."""
    from neuroconv.tools.nwb_helpers import configure_backend, get_default_backend_configuration
    from pynwb import NWBHDF5IO

    configuration = get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
    configure_backend(nwbfile=nwbfile, backend_configuration=configuration)
    deferred = defer_datasets(nwbfile, configuration, level=level)
    with NWBHDF5IO(str(nwbfile_path), mode="w") as io:
        io.write(nwbfile)
    return fill(nwbfile_path, deferred, level=level, threads=threads, on_bytes=on_bytes)
