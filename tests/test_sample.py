"""The synthetic SpikeGLX sample must read back exactly, convert with NeuroConv, and be written in bounded
memory; these tests use the real readers (neo via NeuroConv), not a re-implementation of the format."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from neuroconv.datainterfaces import SpikeGLXNIDQInterface, SpikeGLXRecordingInterface
from pynwb import NWBHDF5IO

from nwbagent.sample import (
    AP_RATE,
    LF_RATE,
    NIDQ_RATE,
    make_spikeglx_sample,
    n_saved_channels,
    sample_metadata,
    sample_traces,
)

REPO = Path(__file__).resolve().parents[1]
SECONDS = 2.0


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_spikeglx_sample(tmp_path_factory.mktemp("sample"), SECONDS, nidq=True)


def test_layout_and_sizes(sample: Path) -> None:
    names = sorted(p.name for p in sample.iterdir())
    assert names == [
        "sample_g0_t0.imec0.ap.bin",
        "sample_g0_t0.imec0.ap.meta",
        "sample_g0_t0.imec0.lf.bin",
        "sample_g0_t0.imec0.lf.meta",
        "sample_g0_t0.nidq.bin",
        "sample_g0_t0.nidq.meta",
    ]
    for suffix, rate, stream in (
        ("imec0.ap", AP_RATE, "ap"),
        ("imec0.lf", LF_RATE, "lf"),
        ("nidq", NIDQ_RATE, "nidq"),
    ):
        size = (sample / f"sample_g0_t0.{suffix}.bin").stat().st_size
        assert size == int(SECONDS * rate) * n_saved_channels(stream) * 2  # type: ignore[arg-type]
        meta = dict(
            line.split("=", 1) for line in (sample / f"sample_g0_t0.{suffix}.meta").read_text().splitlines()
        )
        assert int(meta["fileSizeBytes"]) == size
        assert float(meta["fileTimeSecs"]) == SECONDS


@pytest.mark.parametrize(("stream_id", "rate"), [("imec0.ap", AP_RATE), ("imec0.lf", LF_RATE)])
def test_reads_back_exactly(sample: Path, stream_id: str, rate: int) -> None:
    interface = SpikeGLXRecordingInterface(folder_path=str(sample), stream_id=stream_id)
    recording = interface.recording_extractor
    assert recording.get_num_channels() == 384
    assert recording.get_sampling_frequency() == rate
    assert recording.get_num_samples() == int(SECONDS * rate)
    assert recording.get_duration() == pytest.approx(SECONDS)
    stream = stream_id.split(".")[1]
    # A slice that crosses the one-second block boundary, where the generator changes its offset.
    start, stop = rate - 37, rate + 211
    traces = recording.get_traces(start_frame=start, end_frame=stop)
    expected = sample_traces(stream, start, stop)  # type: ignore[arg-type]
    assert traces.dtype == np.int16
    np.testing.assert_array_equal(traces, expected[:, :384])
    # Neuropixels 1.0 scaling: 0.6 V / 512 / gain 500 (AP) or 250 (LF), in microvolts.
    gain = 0.6 / 512 / (500 if stream == "ap" else 250) * 1e6
    np.testing.assert_allclose(recording.get_channel_gains(), gain)
    assert recording.get_channel_locations().shape == (384, 2)


def test_sync_channel_and_whole_file_match_generator(sample: Path) -> None:
    raw = np.fromfile(sample / "sample_g0_t0.imec0.ap.bin", dtype=np.int16).reshape(-1, 385)
    np.testing.assert_array_equal(raw, sample_traces("ap", 0, raw.shape[0]))
    sync = raw[:, 384]
    assert set(np.unique(sync)) == {0, 64}
    assert np.count_nonzero(np.diff(sync)) == 3  # 1 Hz square wave over 2 s


def test_data_looks_like_a_recording(sample: Path) -> None:
    """Benchmarks rely on the data compressing like real data, not like zeros or white noise."""
    import zlib

    raw = np.fromfile(sample / "sample_g0_t0.imec0.ap.bin", dtype=np.int16).reshape(-1, 385)
    chunk = np.ascontiguousarray(raw[:30_000, :64]).tobytes()
    ratio = len(chunk) / len(zlib.compress(chunk, 4))
    assert 1.9 < ratio < 2.6
    second_block = np.ascontiguousarray(raw[30_000:60_000, :64]).tobytes()
    assert second_block != chunk


def test_nidq_stream_loads(sample: Path) -> None:
    interface = SpikeGLXNIDQInterface(folder_path=str(sample))
    recording = interface.recording_extractor
    assert recording.get_sampling_frequency() == NIDQ_RATE
    assert recording.get_num_samples() == int(SECONDS * NIDQ_RATE)


def test_stub_conversion_with_neuroconv(sample: Path, tmp_path: Path) -> None:
    flat = sample_metadata()
    interface = SpikeGLXRecordingInterface(folder_path=str(sample), stream_id="imec0.ap")
    metadata = interface.get_metadata()
    metadata["NWBFile"].update(
        session_description=flat["session_description"], session_start_time=flat["session_start_time"]
    )
    out = tmp_path / "sample.nwb"
    interface.run_conversion(nwbfile_path=out, stub_test=True, metadata=metadata)
    with NWBHDF5IO(out, "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["ElectricalSeriesAP"]
        assert series.data.shape == (100, 384)
        np.testing.assert_array_equal(series.data[:], sample_traces("ap", 0, 100)[:, :384])
        assert series.rate == AP_RATE
        assert len(nwbfile.electrodes) == 384


def test_generation_memory_is_bounded(tmp_path: Path) -> None:
    """A 20 s recording is 462 MB for the AP stream alone; generation must not hold it in memory."""
    script = textwrap.dedent(
        f"""
        import json, resource
        from pathlib import Path
        import numpy, scipy.signal, yaml
        from nwbagent.sample import make_spikeglx_sample
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        folder = make_spikeglx_sample(Path({str(tmp_path)!r}), 20.0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(json.dumps({{"growth_kb": after - before, "size": size}}))
        """
    )
    env_path = str(REPO / "src")
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    growth_bytes = stats["growth_kb"] * 1024
    assert stats["size"] > 480_000_000
    assert growth_bytes < 200 * 2**20, f"peak RSS grew by {growth_bytes / 2**20:.0f} MB"
    assert growth_bytes < stats["size"] / 2


def test_examples_metadata_yaml_is_sample_metadata() -> None:
    written = yaml.safe_load((REPO / "examples" / "metadata.yaml").read_text())
    assert written == sample_metadata()
    for key in ("subject_id", "species", "sex", "age", "experimenter", "institution", "keywords"):
        assert written[key]
    assert written["species"] == "Mus musculus"
    assert written["age"] == "P90D"
    assert written["brain_region"] == "CA1"
