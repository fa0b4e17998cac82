"""The parallel direct-chunk writer on SpikeInterface recordings built in memory.

Shapes are chosen so that neither axis divides by the chunk shape: the last chunk along time and along
channels is partial, which is where a hand-made chunk encoder goes wrong (HDF5 stores edge chunks at full
size). Each file is read back with stock h5py and with pynwb, through HDF5's own shuffle and gzip filters.
"""

from __future__ import annotations

import gc
import threading
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from neuroconv.tools.nwb_helpers import configure_backend, get_default_backend_configuration
from neuroconv.tools.spikeinterface import add_recording_to_nwbfile
from pynwb import NWBHDF5IO, NWBFile
from spikeinterface.core import NumpyRecording

from nwbagent.convert import direct_write
from nwbagent.convert.failures import explain_write_failure
from nwbagent.sample import sample_traces

H5Z_FILTER_DEFLATE = 1
H5Z_FILTER_SHUFFLE = 2


def _recording(traces: list[np.ndarray], rate: float = 30_000.0) -> NumpyRecording:
    rec = NumpyRecording(traces_list=traces, sampling_frequency=rate)
    rec.set_channel_gains(0.195)
    rec.set_channel_offsets(0.0)
    return rec


def _int16(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(rng.integers(-40, 41, size=(frames, channels)), axis=0)
    return np.clip(smooth, -32768, 32767).astype(np.int16)


def _nwbfile() -> NWBFile:
    return NWBFile(
        session_description="direct write test",
        identifier="direct-write-test",
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _write(
    rec: NumpyRecording,
    path: Path,
    chunk_shape: tuple[int, int],
    *,
    level: int = 1,
    threads: int = 2,
    on_bytes: Any = None,
) -> direct_write.FillStats:
    nwbfile = _nwbfile()
    add_recording_to_nwbfile(recording=rec, nwbfile=nwbfile)
    config = get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
    for dataset in config.dataset_configurations.values():
        if dataset.dataset_name == "data" and len(dataset.full_shape) == 2:
            dataset.chunk_shape = chunk_shape
    configure_backend(nwbfile=nwbfile, backend_configuration=config)
    deferred = direct_write.defer_datasets(nwbfile, config, level=level)
    assert deferred, "no dataset was deferred"
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return direct_write.fill(path, deferred, level=level, threads=threads, on_bytes=on_bytes)


def _spy_on_reads(rec: NumpyRecording) -> list[tuple[int, ...]]:
    """Record the shape of every block the writer reads from ``rec``."""
    shapes: list[tuple[int, ...]] = []
    original = rec.get_traces

    def spying(*args: Any, **kwargs: Any) -> np.ndarray:
        out = original(*args, **kwargs)
        shapes.append(out.shape)
        return out

    rec.get_traces = spying  # type: ignore[method-assign]
    return shapes


def _series_paths(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return [f"acquisition/{name}/data" for name in f["acquisition"]]


@pytest.mark.parametrize(
    ("dtype", "frames", "channels", "chunks"),
    [
        ("int16", 10_007, 37, (1_000, 16)),  # partial last chunk on both axes
        ("float32", 4_099, 20, (512, 8)),
        ("float64", 2_001, 3, (256, 2)),
        ("int16", 999, 5, (999, 5)),  # a single chunk, exactly the data
        ("uint8", 3_333, 11, (500, 4)),  # one-byte elements: shuffle is a no-op in HDF5
    ],
)
def test_readback_is_exact_through_stock_filters(
    tmp_path: Path, dtype: str, frames: int, channels: int, chunks: tuple[int, int]
) -> None:
    if dtype == "int16":
        traces = _int16(frames, channels)
    elif dtype == "uint8":
        traces = np.random.default_rng(1).integers(0, 256, size=(frames, channels)).astype(np.uint8)
    else:
        traces = np.random.default_rng(2).standard_normal((frames, channels)).astype(dtype) * 50
        traces[5, 1] = np.nan  # NaN must survive the byte shuffle like any other bit pattern
        traces[-1, -1] = -0.0
    rec = _recording([traces])
    path = tmp_path / "out.nwb"
    stats = _write(rec, path, chunks)

    assert stats.raw_bytes == traces.nbytes
    n_chunks = -(-frames // chunks[0]) * -(-channels // chunks[1])
    assert stats.chunks == n_chunks
    with h5py.File(path, "r") as f:
        dset = f["acquisition/ElectricalSeriesRaw/data"]
        assert dset.dtype == np.dtype(dtype)
        assert dset.chunks == chunks
        assert dset.compression == "gzip" and dset.compression_opts == 1 and dset.shuffle
        filters = [
            dset.id.get_create_plist().get_filter(i)[0]
            for i in range(dset.id.get_create_plist().get_nfilters())
        ]
        assert filters == [H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE]
        np.testing.assert_array_equal(dset[:], traces)
        assert np.signbit(dset[-1, -1]) == np.signbit(traces[-1, -1])
        # every stored chunk is a real compressed chunk, none left unwritten
        assert dset.id.get_num_chunks() == n_chunks
        assert f["acquisition/ElectricalSeriesRaw/data"].attrs["conversion"] == pytest.approx(0.195e-6)
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["ElectricalSeriesRaw"]
        np.testing.assert_array_equal(series.data[-7:, :], traces[-7:, :])
        np.testing.assert_array_equal(series.data[:, channels - 1], traces[:, channels - 1])


def test_two_segments_become_two_filled_series(tmp_path: Path) -> None:
    first, second = _int16(3_001, 9, seed=1), _int16(2_500, 9, seed=2)
    path = tmp_path / "segments.nwb"
    stats = _write(_recording([first, second]), path, (1_000, 4))
    assert stats.datasets == 2
    with h5py.File(path, "r") as f:
        stored = [f[p][:] for p in _series_paths(path)]
    assert sorted(s.shape[0] for s in stored) == [2_500, 3_001]
    for data in stored:
        expected = first if data.shape[0] == 3_001 else second
        np.testing.assert_array_equal(data, expected)


def test_compresses_better_than_neuroconvs_gzip4(tmp_path: Path) -> None:
    """The size claim: no bigger than h5py's gzip level 4 without shuffle (NeuroConv's default), on
    recording-like data (the synthetic Neuropixels AP band) and on a flat, run-dominated sync channel."""
    traces = np.ascontiguousarray(sample_traces("ap", 0, 60_000)[:, :64])
    sync = np.ascontiguousarray(sample_traces("ap", 0, 60_000)[:, -1:])
    for name, data, chunks in (("ap", traces, (20_000, 32)), ("sync", sync, (60_000, 1))):
        stats = _write(_recording([data]), tmp_path / f"{name}.nwb", chunks)
        with h5py.File(tmp_path / f"{name}.h5", "w") as ref:
            ref.create_dataset("x", data=data, chunks=chunks, compression="gzip", compression_opts=4)
            reference = ref["x"].id.get_storage_size()
        assert stats.stored_bytes < reference, name
        with h5py.File(tmp_path / f"{name}.nwb", "r") as f:
            np.testing.assert_array_equal(f["acquisition/ElectricalSeriesRaw/data"][:], data)
    assert stats.stored_bytes < sync.nbytes / 100  # runs coded as runs, not one bit per byte


def test_progress_counts_every_raw_byte_once(tmp_path: Path) -> None:
    traces = _int16(5_005, 19)
    seen: list[int] = []
    _write(_recording([traces]), tmp_path / "p.nwb", (1_000, 8), on_bytes=seen.append)
    assert sum(seen) == traces.nbytes
    assert len(seen) == 6 * 3


def test_memory_is_bounded_by_the_window(tmp_path: Path) -> None:
    """However long the recording, only a couple of rows of chunks are alive at once."""
    frames, channels, chunk_rows = 40_000, 24, 1_000
    rec = _recording([_int16(frames, channels)])
    live: set[int] = set()
    peak = [0]
    lock = threading.Lock()
    original = rec.get_traces

    def counting_get_traces(*args: Any, **kwargs: Any) -> np.ndarray:
        block = np.array(original(*args, **kwargs))  # a fresh array, so its lifetime is the writer's
        key = id(block)
        with lock:
            live.add(key)
            peak[0] = max(peak[0], len(live))
        weakref.finalize(block, lambda: live.discard(key))
        return block

    rec.get_traces = counting_get_traces  # type: ignore[method-assign]
    gc.collect()
    _write(rec, tmp_path / "bounded.nwb", (chunk_rows, 8), threads=2)
    rows_of_chunks = frames // chunk_rows
    assert rows_of_chunks == 40
    assert 1 <= peak[0] <= 3, f"{peak[0]} blocks alive at once"


def test_a_source_returning_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    rec = _recording([_int16(3_000, 6)])
    original = rec.get_traces
    rec.get_traces = lambda *a, **k: original(*a, **k)[:-1]  # type: ignore[method-assign]
    with pytest.raises(direct_write.SourceReadError, match="the source returned") as raised:
        _write(rec, tmp_path / "short.nwb", (1_000, 4))
    error = explain_write_failure(raised.value, path=tmp_path / "short.nwb")
    assert "ended early or changed" in error.problem and "complete" in (error.fix or "")


def test_readback_check_catches_a_corrupt_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If encoding ever diverged from what HDF5 decodes, the writer must fail rather than ship the file."""

    def wrong_level_shuffle(
        part: np.ndarray, chunk_shape: tuple[int, ...], dtype: np.dtype, level: int
    ) -> bytes:
        from isal import isal_zlib

        full = np.zeros(chunk_shape, dtype=dtype)
        full[tuple(slice(0, n) for n in part.shape)] = part
        return isal_zlib.compress(full.tobytes(), level)  # forgot the shuffle

    monkeypatch.setattr(direct_write, "_encode", wrong_level_shuffle)
    with pytest.raises(direct_write.ReadbackError, match="does not read back as written") as raised:
        _write(_recording([_int16(2_000, 4)]), tmp_path / "bad.nwb", (1_000, 4))
    error = explain_write_failure(raised.value, path=tmp_path / "bad.nwb")
    assert "--writer neuroconv" in (error.cli_fix or "") and "--" not in error.fix


def test_narrow_dataset_reads_the_source_in_bounded_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-channel trace whose chunk spans the whole recording is still read a slice at a time."""
    monkeypatch.setattr(direct_write, "MAX_READ_ROWS", 1_000)
    traces = _int16(4_500, 1)
    rec = _recording([traces])
    shapes = _spy_on_reads(rec)
    path = tmp_path / "narrow.nwb"
    _write(rec, path, (4_500, 1))
    assert max(rows for rows, _ in shapes) <= 1_000
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["acquisition/ElectricalSeriesRaw/data"][:], traces)


def test_levels_outside_isal_are_refused(tmp_path: Path) -> None:
    nwbfile = _nwbfile()
    add_recording_to_nwbfile(recording=_recording([_int16(100, 2)]), nwbfile=nwbfile)
    config = get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
    with pytest.raises(ValueError, match="0-3"):
        direct_write.defer_datasets(nwbfile, config, level=4)


def test_one_dimensional_iterator_data(tmp_path: Path) -> None:
    """Any GenericDataChunkIterator dataset takes the fast path, not only 2-D recordings."""
    from neuroconv.tools.hdmf import SliceableDataChunkIterator
    from pynwb import TimeSeries

    values = np.random.default_rng(3).standard_normal(25_001).astype("float32")
    nwbfile = _nwbfile()
    iterator = SliceableDataChunkIterator(data=values, chunk_shape=(4_000,))
    nwbfile.add_acquisition(TimeSeries(name="signal", data=iterator, unit="V", rate=1000.0))
    config = get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
    configure_backend(nwbfile=nwbfile, backend_configuration=config)
    deferred = direct_write.defer_datasets(nwbfile, config)
    assert [d.location for d in deferred] == ["acquisition/signal/data"]
    path = tmp_path / "one_d.nwb"
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    stats = direct_write.fill(path, deferred, threads=2)
    assert stats.chunks == 7
    with h5py.File(path, "r") as f:
        assert f["acquisition/signal/data"].shuffle
        np.testing.assert_array_equal(f["acquisition/signal/data"][:], values)


def test_wide_recordings_are_read_in_column_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is a number of chunks, not of rows: a wide recording is read a few chunk columns at a time."""
    monkeypatch.setattr(direct_write, "MAX_BLOCK_BYTES", 3 * 1_000 * 16 * 2)  # three chunk columns
    traces = _int16(4_321, 100)  # seven chunk columns of 16 (the last one partial)
    rec = _recording([traces])
    shapes = _spy_on_reads(rec)
    path = tmp_path / "wide.nwb"
    _write(rec, path, (1_000, 16))
    widths = [columns for _, columns in shapes]
    assert max(widths) == 48 and min(widths) == 4  # groups of 3 columns; the last group holds the 4 left
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["acquisition/ElectricalSeriesRaw/data"][:], traces)
