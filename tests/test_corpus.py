"""What the real readers (neo, SpikeInterface, NeuroConv) see in each robustness-corpus case.

Each test builds its case in ``tmp_path`` (see ``tests/corpus.py``) and checks facts a reader could get
wrong: segments, blocks, streams, sample counts, rates, event counts. Tests named ``…_quirk_…`` pin a reader
or NeuroConv behaviour that is surprising or wrong today (their docstrings say what); when one fails, the
library changed and the code that works around it may no longer need to.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import corpus
from nwbagent.sample import (
    EVENT_PULSES,
    LF_RATE,
    NIDQ_RATE,
    first_sample,
    make_spikeglx_sample,
    n_frames,
    sample_traces,
)

pytestmark = pytest.mark.usefixtures("ephy_data")  # a clear failure when ../shared/data is missing

SESSION_START = "2024-03-14T09:26:53-05:00"


@pytest.fixture(autouse=True)
def _quiet_readers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _meta(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def _stub_convert(interface, out: Path, **options) -> Path:
    metadata = interface.get_metadata()
    metadata["NWBFile"]["session_start_time"] = metadata["NWBFile"].get("session_start_time") or SESSION_START
    interface.run_conversion(nwbfile_path=out, metadata=metadata, overwrite=True, **options)
    return out


# ------------------------------------------------------------------------------------------ sample.py


def test_make_spikeglx_sample_defaults_are_byte_identical(tmp_path: Path) -> None:
    """SHA1s of what ``make_spikeglx_sample`` wrote before gates/triggers/probes existed (0.1 s, seed 0,
    the run folder replaced by <DIR> in the .meta). Only ``typeNiEnabled`` in the imec .meta changed, and
    only with ``nidq=True``: it now says 1, as SpikeGLX writes it when the NI card is enabled."""
    expected = {
        "sample_g0_t0.imec0.ap.bin": "a3428662085f40a057ba9ca161830c539edc2f35",
        "sample_g0_t0.imec0.ap.meta": "5b3d7b8290b6dcb089a1387a3daffa7a791af0d4",
        "sample_g0_t0.imec0.lf.bin": "04123f190d942dd77ee909d481095cf5c54aea44",
        "sample_g0_t0.imec0.lf.meta": "c5a096a1c709b0eab7ea6e324ef5dce18328498c",
        "sample_g0_t0.nidq.bin": "63ac4c69bc76f410749019481bed00348dfce7ee",
        "sample_g0_t0.nidq.meta": "04fbed01ead910bacb4223cf12fce97905e879c0",
    }

    def digests(folder: Path) -> dict[str, str]:
        out = {}
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            if path.suffix == ".meta":
                data = data.replace(str(folder).encode(), b"<DIR>")
            out[path.name] = hashlib.sha1(data).hexdigest()
        return out

    default = make_spikeglx_sample(tmp_path / "default", 0.1)
    assert digests(default) == {k: v for k, v in expected.items() if "nidq" not in k}
    with_nidq = make_spikeglx_sample(tmp_path / "nidq", 0.1, nidq=True)
    got = digests(with_nidq)
    for name in ("sample_g0_t0.imec0.ap.bin", "sample_g0_t0.imec0.lf.bin", "sample_g0_t0.nidq.bin"):
        assert got[name] == expected[name]
    assert got["sample_g0_t0.nidq.meta"] == expected["sample_g0_t0.nidq.meta"]
    for stream in ("ap", "lf"):
        old = (default / f"sample_g0_t0.imec0.{stream}.meta").read_text().replace(str(default), "")
        new = (with_nidq / f"sample_g0_t0.imec0.{stream}.meta").read_text().replace(str(with_nidq), "")
        assert new == old.replace("typeNiEnabled=0", "typeNiEnabled=1")


# ------------------------------------------------------------------------------------------- SpikeGLX


def test_spikeglx_gates_triggers_layout_and_meta(tmp_path: Path) -> None:
    run = corpus.build_spikeglx_gates_triggers(tmp_path)
    seconds = corpus.SPIKEGLX_GATE_SECONDS
    metas = sorted(run.rglob("*.meta"))
    assert len(metas) == 2 * 2 * 2 * 2  # gates x triggers x probes x (ap, lf)
    assert {m.relative_to(run).parts[:2] for m in metas} == {
        (f"sample_g{g}", f"sample_g{g}_imec{p}") for g in (0, 1) for p in (0, 1)
    }
    starts: dict[tuple[str, str], list[int]] = {}
    for path in metas:
        meta = _meta(path)
        bin_path = path.with_suffix(".bin")
        data = bin_path.read_bytes()
        gate, trigger = (int(part[1:]) for part in path.name.split(".")[0].split("_")[1:])
        probe, stream = path.name.split(".")[1:3]
        assert meta["fileName"] == bin_path.as_posix()
        assert int(meta["fileSizeBytes"]) == len(data) == n_frames(stream, seconds) * 385 * 2  # type: ignore[arg-type]
        assert meta["fileSHA1"] == hashlib.sha1(data).hexdigest().upper()
        assert meta["typeImEnabled"] == "2"
        assert meta["trigMode"] == "Timed" and meta["trgTmNH"] == "2"
        assert meta["imDatPrb_port"] == str(int(probe[-1]) + 1)
        expected_first = first_sample(stream, seconds, gate=gate, trigger=trigger, triggers=2)  # type: ignore[arg-type]
        assert int(meta.get("firstSample", "0")) == expected_first
        starts.setdefault((probe, stream), []).append(expected_first)
    for values in starts.values():  # one acquisition clock: strictly increasing over (gate, trigger)
        assert values == sorted(values) and len(set(values)) == 4
    assert starts["imec0", "ap"] == [0, 16_500, 63_000, 79_500]
    assert starts["imec0", "lf"] == [0, 1_375, 5_250, 6_625]


def test_spikeglx_gates_triggers_segments(tmp_path: Path) -> None:
    from spikeinterface.extractors import get_neo_streams, read_spikeglx

    run = corpus.build_spikeglx_gates_triggers(tmp_path)
    frames = n_frames("ap", corpus.SPIKEGLX_GATE_SECONDS)
    names, _ = get_neo_streams("spikeglx", run)
    assert set(names) == {f"imec{p}.{s}{y}" for p in (0, 1) for s in ("ap", "lf") for y in ("", "-SYNC")}

    whole = read_spikeglx(run, stream_id="imec0.ap")
    assert whole.get_num_segments() == 4
    assert [whole.get_num_samples(i) for i in range(4)] == [frames] * 4
    # neo's segment t_start is firstSample / rate: the gaps between triggers and gates survive
    assert [whole.get_times(i)[0] for i in range(4)] == pytest.approx([0.0, 0.55, 2.1, 2.65])
    last = first_sample("ap", corpus.SPIKEGLX_GATE_SECONDS, gate=1, trigger=1, triggers=2)
    np.testing.assert_array_equal(
        whole.get_traces(segment_index=3, end_frame=20), sample_traces("ap", last, last + 20)[:, :384]
    )
    np.testing.assert_array_equal(
        whole.get_traces(segment_index=0, end_frame=20), sample_traces("ap", 0, 20)[:, :384]
    )

    assert read_spikeglx(run / "sample_g0", stream_id="imec0.ap").get_num_segments() == 2
    one_gate = read_spikeglx(run / "sample_g1", stream_id="imec1.lf")
    assert one_gate.get_num_segments() == 2
    assert one_gate.get_sampling_frequency() == LF_RATE
    probe1 = one_gate.get_traces(segment_index=0, end_frame=20)
    start = first_sample("lf", corpus.SPIKEGLX_GATE_SECONDS, gate=1, triggers=2)
    np.testing.assert_array_equal(probe1, sample_traces("lf", start, start + 20, probe=1)[:, :384])
    assert not np.array_equal(probe1, sample_traces("lf", start, start + 20)[:, :384])  # imec1 != imec0


def test_spikeglx_gates_quirk_neuroconv_appends_segment_index_to_series_name(tmp_path: Path) -> None:
    """NeuroConv writes one ElectricalSeries per segment by appending the segment index to the name:
    ``ElectricalSeriesAPImec1`` + segment 0 = ``ElectricalSeriesAPImec10``, which is also the name probe
    imec10 would get."""
    from neuroconv.datainterfaces import SpikeGLXRecordingInterface
    from pynwb import NWBHDF5IO

    run = corpus.build_spikeglx_gates_triggers(tmp_path)
    interface = SpikeGLXRecordingInterface(folder_path=run / "sample_g0", stream_id="imec1.ap")
    out = _stub_convert(interface, tmp_path / "gates.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        acquisition = io.read().acquisition
        assert sorted(acquisition) == ["ElectricalSeriesAPImec10", "ElectricalSeriesAPImec11"]
        assert acquisition["ElectricalSeriesAPImec11"].starting_time == pytest.approx(0.55)


def test_spikeglx_nidq_silent(tmp_path: Path) -> None:
    """Eight digital lines that never change: neo has eight event channels with no events; NeuroConv still
    writes eight empty event tables, and NWB Inspector's table checks crash on them (IndexError)."""
    from neo.rawio import SpikeGLXRawIO
    from neuroconv.datainterfaces import SpikeGLXNIDQInterface
    from nwbinspector import inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    folder = corpus.build_spikeglx_nidq_silent(tmp_path)
    raw = np.fromfile(folder / "sample_g0_t0.nidq.bin", dtype="<i2").reshape(-1, 9)
    assert raw.shape[0] == n_frames("nidq", corpus.SPIKEGLX_NIDQ_SECONDS)
    assert not raw[:, 8].any()
    reader = SpikeGLXRawIO(dirname=str(folder))
    reader.parse_header()
    assert list(reader.header["event_channels"]["name"]) == [f"XD{i}" for i in range(8)]
    assert [reader.get_event_timestamps(0, 0, i)[0].size for i in range(8)] == [0] * 8

    out = _stub_convert(SpikeGLXNIDQInterface(folder_path=folder), tmp_path / "silent.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        events = io.read().events
        assert sorted(events) == [f"XD0Bit{i}HighPeriod" for i in range(8)]
        assert all(len(table) == 0 for table in events.values())
    messages = list(inspect_nwbfile(nwbfile_path=out, config=load_config("dandi")))
    crashes = [m for m in messages if "IndexError" in m.message]
    # a crashed check is reported as "During evaluation of '<check>' - <class 'IndexError'>: ..."
    assert {m.check_function_name.split("'")[1] for m in crashes} == {
        "check_table_values_for_dict",
        "check_col_not_nan",
    }
    assert len(crashes) == 16  # two checks x eight empty tables


def test_spikeglx_nidq_events(tmp_path: Path) -> None:
    from neo.rawio import SpikeGLXRawIO
    from neuroconv.datainterfaces import SpikeGLXNIDQInterface
    from pynwb import NWBHDF5IO

    folder = corpus.build_spikeglx_nidq_events(tmp_path)
    reader = SpikeGLXRawIO(dirname=str(folder))
    reader.parse_header()
    counts = [reader.get_event_timestamps(0, 0, i)[0].size for i in range(8)]
    assert counts == [0, 6, 4, 0, 0, 0, 0, 0]  # XD1: 3 pulses, XD2: 2 pulses, ON and OFF edges
    times, _, labels = reader.get_event_timestamps(0, 0, 1)
    on = np.sort(times[labels == "XD1 ON"]) / NIDQ_RATE
    assert list(on) == pytest.approx([start / 1000 for bit, start, _ in EVENT_PULSES if bit == 1])

    out = _stub_convert(SpikeGLXNIDQInterface(folder_path=folder), tmp_path / "events.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        events = io.read().events
        xd1 = events["XD0Bit1HighPeriod"].to_dataframe()
        assert list(xd1["timestamp"]) == pytest.approx([0.025, 0.075, 0.125])
        assert list(xd1["duration"]) == pytest.approx([0.01, 0.01, 0.01])
        assert len(events["XD0Bit2HighPeriod"]) == 2
        assert sum(len(table) == 0 for table in events.values()) == 6


def test_spikeglx_nidq_quirk_neo_event_count_counts_xd0(tmp_path: Path) -> None:
    """neo's SpikeGLXRawIO._event_count takes (channel, block, segment) while the base class passes
    (block, segment, channel): ``event_count`` always counts XD0 (block_index 0), whatever line you ask."""
    from neo.rawio import SpikeGLXRawIO

    reader = SpikeGLXRawIO(dirname=str(corpus.build_spikeglx_nidq_events(tmp_path)))
    reader.parse_header()
    assert reader.get_event_timestamps(0, 0, 1)[0].size == 6
    assert [reader.event_count(0, 0, i) for i in range(8)] == [0] * 8


def test_spikeglx_catgt_tcat(tmp_path: Path) -> None:
    from neo.rawio.spikeglxrawio import parse_spikeglx_fname
    from spikeinterface.extractors import read_spikeglx

    folder = corpus.build_spikeglx_catgt_tcat(tmp_path)
    meta = _meta(folder / "sample_g0_tcat.imec0.ap.meta")
    assert parse_spikeglx_fname(Path(meta["fileName"]).stem)[1:3] == (0, "cat")
    recording = read_spikeglx(folder, stream_id="imec0.ap")
    frames = n_frames("ap", corpus.SPIKEGLX_GATE_SECONDS)
    assert recording.get_num_segments() == 1
    assert recording.get_num_samples() == 2 * frames
    t1 = first_sample("ap", corpus.SPIKEGLX_GATE_SECONDS, trigger=1, triggers=2)
    np.testing.assert_array_equal(
        recording.get_traces(start_frame=frames, end_frame=frames + 5),
        sample_traces("ap", t1, t1 + 5)[:, :384],
    )


# ----------------------------------------------------------------------------------------- Open Ephys


def test_openephys_multi_experiment_files(tmp_path: Path) -> None:
    session = corpus.build_openephys_multi_experiment(tmp_path)
    node = session / corpus.OE_NODE
    assert sorted(p.name for p in node.glob("settings*.xml")) == [
        "settings.xml",
        "settings_2.xml",
        "settings_3.xml",
    ]
    assert "<DATE>17 Nov 2023 05:40:47</DATE>" in (node / "settings_3.xml").read_text()
    recording = node / "experiment3" / "recording2"
    oebin = json.loads((recording / "structure.oebin").read_text())
    assert oebin["GUI version"] == "0.6.4"
    assert [c["folder_name"] for c in oebin["continuous"]] == [
        "Neuropix-PXI-100.ProbeA-AP/",
        "Neuropix-PXI-100.ProbeA-LFP/",
        "NI-DAQmx-102.PXI-6255/",
    ]
    assert set(oebin["continuous"][0]["channels"][0]) == {
        "channel_name", "description", "identifier", "history", "bit_volts", "units"
    }  # fmt: skip
    assert oebin["spikes"] == []
    ap = recording / "continuous" / "Neuropix-PXI-100.ProbeA-AP"
    samples, stamps = np.load(ap / "sample_numbers.npy"), np.load(ap / "timestamps.npy")
    assert samples.dtype == np.int64 and stamps.dtype == np.float64
    assert samples[0] == corpus.OE_RECORDING_STARTS[1] and stamps[0] == samples[0] / corpus.OE_AP_RATE
    ttl = recording / "events" / "NI-DAQmx-102.PXI-6255" / "TTL"
    assert sorted(p.name for p in ttl.iterdir()) == [
        "full_words.npy", "sample_numbers.npy", "states.npy", "timestamps.npy"
    ]  # fmt: skip
    assert list(np.load(ttl / "states.npy")) == [1, -1, 3, 1, -1, -3]
    sync = (recording / "sync_messages.txt").read_bytes().decode().split("\r\n")
    assert sync[0].startswith("Software Time (milliseconds since midnight Jan 1st 1970 UTC): ")
    assert sync[1] == "Start Time for Neuropix-PXI (100) - ProbeA-AP @ 30000 Hz: 150000"


def test_openephys_multi_experiment_neo(tmp_path: Path) -> None:
    from neo.rawio import OpenEphysBinaryRawIO

    session = corpus.build_openephys_multi_experiment(tmp_path)
    for folder in (session, session / corpus.OE_NODE):
        reader = OpenEphysBinaryRawIO(dirname=str(folder))
        reader.parse_header()
        assert reader.header["nb_block"] == 3
        assert reader.header["nb_segment"] == {0: 2, 1: 2, 2: 2}
    streams = list(reader.header["signal_streams"]["name"])
    assert streams == [
        "Record Node 101#NI-DAQmx-102.PXI-6255",
        "Record Node 101#Neuropix-PXI-100.ProbeA-AP",
        "Record Node 101#Neuropix-PXI-100.ProbeA-LFP",
    ]
    assert list(reader.header["event_channels"]["name"]) == ["PXI-6255 TTL", "ProbeA-AP TTL"]
    for block in range(3):
        for segment, start in enumerate(corpus.OE_RECORDING_STARTS):
            assert [reader.get_signal_size(block, segment, i) for i in range(3)] == [6000, 6000, 500]
            assert reader.get_signal_t_start(block, segment, 1) == pytest.approx(start / corpus.OE_AP_RATE)
            assert [reader.event_count(block, segment, i) for i in range(2)] == [3, 2]  # TTL pulses (epochs)
    _, durations, _ = reader.get_event_timestamps(0, 0, 1)
    assert list(durations) == pytest.approx([0.05, 0.05])


def test_openephys_multi_experiment_neuroconv(tmp_path: Path) -> None:
    from neuroconv.datainterfaces import OpenEphysBinaryRecordingInterface, OpenEphysRecordingInterface

    node = corpus.build_openephys_multi_experiment(tmp_path) / corpus.OE_NODE
    ap = "Record Node 101#Neuropix-PXI-100.ProbeA-AP"
    assert OpenEphysBinaryRecordingInterface.get_stream_names(folder_path=node) == [
        "Record Node 101#NI-DAQmx-102.PXI-6255",
        ap,
        "Record Node 101#Neuropix-PXI-100.ProbeA-LFP",
    ]
    with pytest.raises(ValueError, match="More than one stream"):
        OpenEphysBinaryRecordingInterface(folder_path=node, block_index=0)
    # NeuroConv's interface has no experiment_name argument, but this is what the user is told to pass
    with pytest.raises(ValueError, match=r"Multiple experiments found.*experiment_name"):
        OpenEphysBinaryRecordingInterface(folder_path=node, stream_name=ap)
    interface = OpenEphysBinaryRecordingInterface(folder_path=node, stream_name=ap, block_index=2)
    recording = interface.recording_extractor
    assert recording.get_num_segments() == 2
    assert [recording.get_num_samples(i) for i in range(2)] == [6000, 6000]
    assert recording.get_num_channels() == corpus.OE_PROBE_CHANNELS
    routed = OpenEphysRecordingInterface(folder_path=node, stream_name=ap, block_index=1)
    assert type(routed).__name__ == "OpenEphysBinaryRecordingInterface"


def test_openephys_quirk_neuroconv_start_time_and_nidaq(tmp_path: Path) -> None:
    """NeuroConv takes session_start_time from ``settings.xml`` whatever block is converted (experiment3's
    own ``settings_3.xml`` says 05:40:47), and converts the NI-DAQmx analog inputs as extracellular
    voltage: volts x 1e6 as microvolt gains, later written as an ElectricalSeries."""
    from datetime import datetime

    from neuroconv.datainterfaces import OpenEphysBinaryRecordingInterface

    node = corpus.build_openephys_multi_experiment(tmp_path) / corpus.OE_NODE
    interface = OpenEphysBinaryRecordingInterface(
        folder_path=node, stream_name="Record Node 101#Neuropix-PXI-100.ProbeA-AP", block_index=2
    )
    assert interface.get_metadata()["NWBFile"]["session_start_time"] == datetime(2023, 11, 17, 5, 25, 0)
    nidaq = OpenEphysBinaryRecordingInterface(
        folder_path=node, stream_name="Record Node 101#NI-DAQmx-102.PXI-6255", block_index=0
    )
    gains = nidaq.recording_extractor.get_channel_gains()
    assert gains == pytest.approx([corpus.OE_BIT_VOLTS_NIDAQ * 1e6] * corpus.OE_NIDAQ_CHANNELS)


def test_openephys_05_timestamps_only(tmp_path: Path) -> None:
    """0.5 layout reads; neo's TTL times are divided by the sample rate twice (once at parse time, again in
    ``rescale_event_timestamp``), so a pulse 20 ms into the recording comes out at 1.16 ms."""
    from neo.rawio import OpenEphysBinaryRawIO
    from neuroconv.datainterfaces import OpenEphysRecordingInterface

    session = corpus.build_openephys_05_timestamps_only(tmp_path)
    reader = OpenEphysBinaryRawIO(dirname=str(session))
    reader.parse_header()
    assert reader.header["nb_block"] == 1 and reader.header["nb_segment"] == {0: 1}
    assert reader.get_signal_size(0, 0, 0) == 6000
    assert reader.get_signal_t_start(0, 0, 0) == pytest.approx(1_045_248 / 30_000)
    times, durations, _ = reader.get_event_timestamps(0, 0, 0)
    assert list(times) == pytest.approx([(1_045_248 + 600) / 30_000, (1_045_248 + 3600) / 30_000])
    assert list(durations) == pytest.approx([0.05, 0.05])
    assert reader.rescale_event_timestamp(times, event_channel_index=0) == pytest.approx(times / 30_000)
    interface = OpenEphysRecordingInterface(folder_path=session)
    assert type(interface).__name__ == "OpenEphysBinaryRecordingInterface"
    assert interface.recording_extractor.get_num_samples() == 6000


# ------------------------------------------------------------------------------------------ Neuralynx


def test_neuralynx_with_events(tmp_path: Path) -> None:
    from neo.rawio import NeuralynxRawIO
    from neuroconv.datainterfaces import BlackrockSortingInterface, NeuralynxRecordingInterface
    from pynwb import NWBHDF5IO

    folder = corpus.build_neuralynx_with_events(tmp_path)
    nev = (folder / "Events.nev").read_bytes()
    assert nev.startswith(b"######## Neuralynx Data File Header")
    assert (len(nev) - 16384) == 184 * len(corpus.NEV_EVENTS)
    reader = NeuralynxRawIO(dirname=str(folder))
    reader.parse_header()
    assert reader.signal_streams_count() == 1
    channels = list(reader.header["event_channels"]["name"])
    assert channels == ["unknown event_id=11 ttl=0", "unknown event_id=11 ttl=1", "unknown event_id=19 ttl=0"]
    assert [reader.event_count(0, 0, i) for i in range(3)] == [3, 3, 2]
    times, _, labels = reader.get_event_timestamps(0, 0, 1)
    assert reader.rescale_event_timestamp(times, event_channel_index=1) == pytest.approx([0.5, 1.5, 2.5])
    assert set(labels) == {"TTL Input on AcqSystem1_0 board 0 port 3 value (0x0001)."}

    interface = NeuralynxRecordingInterface(folder_path=folder)
    assert interface.recording_extractor.get_num_samples() == 3584
    out = _stub_convert(interface, tmp_path / "nlx.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        nwbfile = io.read()
        assert list(nwbfile.acquisition) == ["ElectricalSeries"]
        assert len(nwbfile.events) == 0  # the Events.nev TTLs are not written
    with pytest.raises(OSError, match="NEV file type ######## is not supported"):
        BlackrockSortingInterface(file_path=folder / "Events.nev", sampling_frequency=30000.0)


def test_neuralynx_sorting_only(tmp_path: Path) -> None:
    """neo reads both spike files; a tetrode .ntt gives one spike channel per wire and cell (4 x the units),
    each with the same spikes. SpikeInterface, and so NeuroConv, refuse the folder because there is no
    signal stream to take t_start from, even when sampling_frequency is given."""
    from neo.rawio import NeuralynxRawIO
    from neuroconv.datainterfaces import NeuralynxSortingInterface

    folder = corpus.build_neuralynx_sorting_only(tmp_path)
    assert (folder / "SE1.nse").stat().st_size == 16384 + 112 * 3 * 40
    assert (folder / "TT1.ntt").stat().st_size == 16384 + 304 * 2 * 25
    reader = NeuralynxRawIO(dirname=str(folder))
    reader.parse_header()
    assert reader.signal_streams_count() == 0
    names = list(reader.header["spike_channels"]["name"])
    assert names[:3] == ["chSE1#16#0", "chSE1#16#1", "chSE1#16#2"]
    assert len(names) == 3 + 4 * 2
    assert [reader.spike_count(0, 0, i) for i in range(len(names))] == [40] * 3 + [25] * 8
    assert set(reader.header["spike_channels"]["wf_sampling_rate"]) == {32000.0}
    assert reader.get_spike_raw_waveforms(0, 0, 3, None, None).shape == (25, 4, 32)
    for kwargs in ({}, {"sampling_frequency": 32000.0}):
        with pytest.raises(AssertionError, match="No signal streams to infer the sampling frequency"):
            NeuralynxSortingInterface(folder_path=folder, **kwargs)


# ---------------------------------------------------------------------------------------------- Axona


def test_axona_lfp_only(tmp_path: Path) -> None:
    from neuroconv.datainterfaces import AxonaLFPDataInterface, AxonaRecordingInterface
    from pynwb import NWBHDF5IO

    eeg = corpus.build_axona_lfp_only(tmp_path)
    assert not list(eeg.parent.glob("*.bin"))
    written = set()
    for path in sorted(eeg.parent.glob("axona_raw.eeg*")):
        raw = path.read_bytes()
        start = raw.index(b"data_start") + len(b"data_start")
        assert raw.endswith(b"\r\ndata_end\r\n") and b"num_EEG_samples 1500\r\n" in raw[:start]
        written.add(raw[start:-12])
    assert len(written) == 4

    interface = AxonaLFPDataInterface(file_path=eeg)
    recording = interface.recording_extractor
    assert recording.get_num_channels() == 4  # .eeg, .eeg2, .eeg3, .eeg4
    assert recording.get_num_samples() == 1500 and recording.get_sampling_frequency() == 250.0
    traces = recording.get_traces()
    assert traces.dtype == np.int8
    assert {np.ascontiguousarray(traces[:, c]).tobytes() for c in range(4)} == written  # order: rglob's
    out = _stub_convert(interface, tmp_path / "axona.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        lfp = io.read().processing["ecephys"]["LFP"]
        assert list(lfp.electrical_series) == ["ElectricalSeriesLFP"]
        assert lfp.electrical_series["ElectricalSeriesLFP"].rate == 250.0
    with pytest.raises(IndexError):  # the raw-data interface needs the .bin the lab did not keep
        AxonaRecordingInterface(file_path=eeg.with_suffix(".set"))


def test_axona_quirk_egf_read_big_endian(tmp_path: Path) -> None:
    """NeuroConv reads .egf samples as big-endian int16 (``>i2``); Axona's reference readers (e.g. the
    Moser-lab getegf.m, ``fopen(..., 'ieee-le')``) and this corpus use little-endian, so values come back
    byte-swapped. The sample count and rate are right."""
    from neuroconv.datainterfaces import AxonaLFPDataInterface

    egf = corpus.build_axona_lfp_only(tmp_path).with_suffix(".egf")
    raw = egf.read_bytes()
    start = raw.index(b"data_start") + len(b"data_start")
    written = np.frombuffer(raw[start:-12], dtype="<i2")
    recording = AxonaLFPDataInterface(file_path=egf).recording_extractor
    assert recording.get_num_samples() == 28_800 and recording.get_sampling_frequency() == 4800.0
    got = recording.get_traces(end_frame=100)[:, 0]
    np.testing.assert_array_equal(got, written[:100].byteswap())


def test_axona_quirk_dotted_folder_reads_egf_as_int8(tmp_path: Path) -> None:
    """NeuroConv picks int8 vs int16 from ``str(path).split(".")[1]``: a dot in a parent folder name
    (``2020.10.04_trial1``) makes a 4800 Hz .egf read as int8, twice as many samples."""
    from neuroconv.datainterfaces import AxonaLFPDataInterface

    egf = corpus.build_axona_egf_dotted_folder(tmp_path)
    assert "." in egf.parent.name
    recording = AxonaLFPDataInterface(file_path=egf).recording_extractor
    assert recording.get_dtype() == np.int8
    assert recording.get_num_samples() == 2 * 28_800


# ------------------------------------------------------------------------------------------ Blackrock


def test_blackrock_nev_only(tmp_path: Path) -> None:
    from neo.rawio import BlackrockRawIO
    from neuroconv.datainterfaces import BlackrockRecordingInterface, BlackrockSortingInterface

    folder = corpus.build_blackrock_nev_only(tmp_path)
    assert [p.name for p in folder.iterdir()] == ["l101210-001.nev"]
    reader = BlackrockRawIO(filename=str(folder / "l101210-001.nev"))
    reader.parse_header()
    assert reader.signal_streams_count() == 0
    spike_channels = reader.header["spike_channels"]
    assert len(spike_channels) == 218
    assert sum(reader.spike_count(0, 0, i) for i in range(len(spike_channels))) == 14_210
    events = dict(zip(reader.header["event_channels"]["name"], range(8), strict=True))
    assert reader.event_count(0, 0, events["digital_input_port"]) == 8

    with pytest.raises(AssertionError, match="No signal streams to infer the sampling frequency"):
        BlackrockSortingInterface(file_path=folder / "l101210-001.nev")
    sorting = BlackrockSortingInterface(file_path=folder / "l101210-001.nev", sampling_frequency=30000.0)
    assert len(sorting.sorting_extractor.get_unit_ids()) == 218
    with pytest.raises(AssertionError, match="file_path should be an nsx file"):
        BlackrockRecordingInterface(file_path=folder / "l101210-001.nev")


# ---------------------------------------------------------------------------------------------- Intan


def test_intan_one_file_per_channel(tmp_path: Path, ephy_data: Path) -> None:
    """The per-channel layout reads like the per-signal one it was made from. In both, every auxiliary
    file holds as many samples as each amplifier file and time.dat, but neo reports the auxiliary stream at
    7,500 Hz (1/4 of 30,000 Hz), so it looks four times longer than the recording."""
    from neo.rawio import IntanRawIO
    from neuroconv.datainterfaces import IntanRecordingInterface

    info = corpus.build_intan_one_file_per_channel(tmp_path)
    n = corpus.INTAN_FRAMES
    folder = info.parent
    assert len(list(folder.glob("amp-*.dat"))) == 64
    assert sorted(p.name for p in folder.glob("aux-*.dat"))[:2] == ["aux-A-AUX1.dat", "aux-A-AUX2.dat"]
    for name, itemsize in (("time.dat", 4), ("amp-B-031.dat", 2), ("aux-B-AUX3.dat", 2)):
        assert (folder / name).stat().st_size == n * itemsize
    assert {p.name for p in folder.glob("board-*.dat")} == {
        "board-ANALOG-IN-1.dat",
        "board-DIGITAL-IN-01.dat",
    }

    per_channel = IntanRawIO(filename=str(info))
    per_channel.parse_header()
    real = IntanRawIO(filename=str(ephy_data / corpus.INTAN_REAL / "info.rhd"))
    real.parse_header()
    assert (per_channel.file_format, real.file_format) == ("one-file-per-channel", "one-file-per-signal")
    names = list(per_channel.header["signal_streams"]["name"])
    assert (
        names
        == list(real.header["signal_streams"]["name"])
        == [
            "RHD2000 amplifier channel",
            "RHD2000 auxiliary input channel",
            "USB board ADC input channel",
            "USB board digital input channel",
        ]
    )
    rates = [30000.0, 7500.0, 30000.0, 30000.0]
    for reader, frames in ((per_channel, n), (real, 24_320)):
        assert [reader.get_signal_size(0, 0, i) for i in range(4)] == [frames] * 4
        assert [reader.get_signal_sampling_rate(i) for i in range(4)] == rates
    for stream in range(4):
        np.testing.assert_array_equal(
            per_channel.get_analogsignal_chunk(0, 0, 0, n, stream_index=stream),
            real.get_analogsignal_chunk(0, 0, 0, n, stream_index=stream),
        )
    assert per_channel.get_analogsignal_chunk(0, 0, 0, n, stream_index=3).any()  # DIGITAL-IN-01 rises

    recording = IntanRecordingInterface(file_path=info).recording_extractor
    assert (recording.get_num_channels(), recording.get_num_samples()) == (64, n)


def test_intan_quirk_neo_per_signal_t_stop(ephy_data: Path, tmp_path: Path) -> None:
    """For one-file-per-signal neo's segment t_stop uses the amplifier memmap's .size (samples x channels):
    64 channels x 24,320 samples / 30 kHz = 51.9 s for a 0.81 s recording. The per-channel layout is right."""
    from neo.rawio import IntanRawIO

    real = IntanRawIO(filename=str(ephy_data / corpus.INTAN_REAL / "info.rhd"))
    real.parse_header()
    assert real.segment_t_stop(0, 0) == pytest.approx(64 * 24_320 / 30_000)
    per_channel = IntanRawIO(filename=str(corpus.build_intan_one_file_per_channel(tmp_path)))
    per_channel.parse_header()
    assert per_channel.segment_t_stop(0, 0) == pytest.approx(corpus.INTAN_FRAMES / 30_000)


# ----------------------------------------------------------------------------------------- NeuroScope


@pytest.mark.parametrize("case", ["neuroscope_lfp_only", "neuroscope_eeg_only"])
def test_neuroscope_lfp_quirk_wideband_rate(case: str, tmp_path: Path) -> None:
    """neo (and so NeuroConv's NeuroScopeLFPInterface, which writes it into the NWB file) reads the LFP file
    at the xml's wide-band <samplingRate> (10 kHz) instead of <lfpSamplingRate> (1250 Hz): the 2 s LFP
    comes out 0.25 s long."""
    from neo.rawio import NeuroScopeRawIO
    from neuroconv.datainterfaces import NeuroScopeLFPInterface
    from pynwb import NWBHDF5IO

    folder = corpus.CASES[case](tmp_path)
    suffix = case.split("_")[1]
    data = folder / f"test1.{suffix}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["test1.xml", data.name])
    assert "<lfpSamplingRate>1250</lfpSamplingRate>" in (folder / "test1.xml").read_text()
    frames = round(corpus.NEUROSCOPE_LFP_SECONDS * 1250)
    assert data.stat().st_size == frames * 8 * 2

    reader = NeuroScopeRawIO(filename=str(data))
    reader.parse_header()
    assert reader.get_signal_size(0, 0, 0) == frames
    assert reader.get_signal_sampling_rate(0) == 10_000.0

    interface = NeuroScopeLFPInterface(file_path=data)
    assert interface.recording_extractor.get_num_channels() == 8
    out = _stub_convert(interface, tmp_path / "lfp.nwb", stub_test=True)
    with NWBHDF5IO(out, "r") as io:
        series = io.read().processing["ecephys"]["LFP"].electrical_series["ElectricalSeriesLFP"]
        assert series.rate == 10_000.0
        assert series.data.shape == (100, 8)


# ---------------------------------------------------------------------------------------------- all


@pytest.mark.parametrize("case", sorted(corpus.CASES))
def test_builders_are_deterministic(case: str, tmp_path: Path) -> None:
    """Same case, two roots: the same files with the same bytes (SpikeGLX .meta name their own folder)."""
    first = corpus.CASES[case](tmp_path / "a")
    second = corpus.CASES[case](tmp_path / "b")
    assert first.relative_to(tmp_path / "a") == second.relative_to(tmp_path / "b")

    def tree(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes().replace(str(root).encode(), b"<ROOT>")
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert tree(tmp_path / "a") == tree(tmp_path / "b")
