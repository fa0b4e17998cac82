"""A robustness corpus: small, format-correct recordings in layouts the shared test data does not have.

Each ``build_<case>(root)`` writes one case under ``root`` in well under a second and returns the folder (or
file) a user would hand to nwbagent. Cases are built from small pieces of the real recordings in
``../shared/data/ephy_testing_data`` where those exist, and otherwise synthesized byte for byte to the
acquisition software's file format, so neo, SpikeInterface and NeuroConv read them the way they read the
software's own files. :data:`CASES` maps each case name to its builder; ``tests/test_corpus.py`` checks what
the readers see in each.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from conftest import SHARED_DATA
from nwbagent.sample import AP_RATE, make_spikeglx_sample, n_saved_channels

EPHY = SHARED_DATA / "ephy_testing_data"

Builder = Callable[[Path], Path]


def _real(relative: str) -> Path:
    path = EPHY / relative
    if not path.exists():
        raise FileNotFoundError(f"real test file {path} is missing: the corpus needs ../shared/data")
    return path


def _rng(case: str) -> np.random.Generator:
    return np.random.default_rng(sum(case.encode()))


# --------------------------------------------------------------------------------------------- SpikeGLX

SPIKEGLX_GATE_SECONDS = 0.05
SPIKEGLX_NIDQ_SECONDS = 0.2


def build_spikeglx_gates_triggers(root: Path) -> Path:
    """One SpikeGLX run with two gates x two (timed) triggers and two Neuropixels 1.0 probes, AP and LF
    each, as SpikeGLX writes it with "folder per probe":
    ``run/sample_g0/sample_g0_imec0/sample_g0_t0.imec0.ap.bin``, ``…_t1…``, ``sample_g0/sample_g0_imec1/…``,
    ``run/sample_g1/…``. Every .meta has a consistent
    ``fileName``, ``firstSample`` (one continuing acquisition clock: increasing over triggers and gates),
    ``typeImEnabled=2``, file size and SHA1. Labs record this way whenever they pause/resume (new gate) or
    use timed/TTL triggers; readers merge gates and triggers into segments (4 here from ``run/``, 2 from one
    gate folder), which a one-segment converter must handle or refuse clearly. Returns ``run/``."""
    return make_spikeglx_sample(
        Path(root) / "run", SPIKEGLX_GATE_SECONDS, gates=2, triggers=2, probes=2, lf=True
    )


def build_spikeglx_nidq_silent(root: Path) -> Path:
    """A SpikeGLX run with an imec0 AP stream and an NIDQ stream whose digital word (XD0, 8 lines) never
    changes (all lines low): a lab that enabled the NI card for analog inputs only. NeuroConv's
    SpikeGLXNIDQInterface still writes one event table per line, all empty, which the NWB Inspector crashes
    on. Returns the gate folder ``sample_g0/``."""
    return make_spikeglx_sample(
        Path(root) / "silent", SPIKEGLX_NIDQ_SECONDS, lf=False, nidq=True, nidq_digital="silent"
    )


def build_spikeglx_nidq_events(root: Path) -> Path:
    """Like :func:`build_spikeglx_nidq_silent`, but two of the eight NIDQ digital lines (XD1 three 10 ms
    pulses, XD2 two 20 ms pulses, see ``nwbagent.sample.EVENT_PULSES``) toggle: a behaviour rig sending TTLs.
    The other six lines stay low, so their event tables are still empty. Returns ``sample_g0/``."""
    return make_spikeglx_sample(
        Path(root) / "events", SPIKEGLX_NIDQ_SECONDS, lf=False, nidq=True, nidq_digital="events"
    )


def build_spikeglx_catgt_tcat(root: Path) -> Path:
    """(Optional case j.) The CatGT output of a two-trigger run next to nothing else: CatGT concatenates
    ``_t0``, ``_t1`` into ``catgt_sample_g0/sample_g0_tcat.imec0.ap.bin`` with a .meta whose ``fileName``
    says ``_tcat``. neo parses ``tcat`` as trigger ``"cat"``; a lab that sorted with the CatGT/Kilosort
    pipeline hands in exactly this folder. Returns ``catgt_sample_g0/``."""
    source = make_spikeglx_sample(Path(root) / "raw", SPIKEGLX_GATE_SECONDS, triggers=2, lf=False)
    out = Path(root) / "catgt_sample_g0"
    out.mkdir(parents=True, exist_ok=True)
    bins = sorted(source.glob("*.imec0.ap.bin"))
    data = b"".join(path.read_bytes() for path in bins)
    target = out / "sample_g0_tcat.imec0.ap.bin"
    target.write_bytes(data)
    meta = dict(line.split("=", 1) for line in bins[0].with_suffix(".meta").read_text().splitlines())
    meta.update(
        fileName=target.as_posix(),
        fileSizeBytes=str(len(data)),
        fileSHA1=hashlib.sha1(data).hexdigest().upper(),
        fileTimeSecs=f"{len(data) / 2 / n_saved_channels('ap') / AP_RATE:g}",
        catGTCmdline="CatGT -dir=raw -run=sample -g=0 -t=0,1 -prb=0 -ap",
    )
    keys = sorted(k for k in meta if not k.startswith("~")) + sorted(k for k in meta if k.startswith("~"))
    target.with_suffix(".meta").write_text("".join(f"{k}={meta[k]}\n" for k in keys))
    shutil.rmtree(Path(root) / "raw")
    return out


# ----------------------------------------------------------------------------------------- Open Ephys

OE_GUI_VERSION = "0.6.4"
OE_EXPERIMENTS = 3
OE_RECORDINGS = 2
OE_SECONDS = 0.2
OE_AP_RATE = 30_000
OE_LFP_RATE = 2_500
OE_NIDAQ_RATE = 30_000
OE_PROBE_CHANNELS = 32  # a real Neuropix-PXI stream has 384; 32 keeps the case small
OE_NIDAQ_CHANNELS = 8
OE_NODE = "Record Node 101"
OE_SETTINGS_DATES = (
    datetime(2023, 11, 17, 5, 25, 0),
    datetime(2023, 11, 17, 5, 31, 12),
    datetime(2023, 11, 17, 5, 40, 47),
)
# where each recording starts on its experiment's acquisition clock (AP samples); acquisition restarts,
# and its clock with it, at every new experiment
OE_RECORDING_STARTS = (96_000, 150_000)
OE_AP_STREAM = "ProbeA-AP"
OE_LFP_STREAM = "ProbeA-LFP"
OE_NIDAQ_STREAM = "PXI-6255"
OE_BIT_VOLTS_PROBE = 0.1949999928474426
OE_BIT_VOLTS_NIDAQ = 0.00030517578125  # +-10 V over int16
# TTL edges per recording, as (line, state, seconds after the recording starts)
OE_PXI_TTL = ((0, 1, 0.02), (0, 0, 0.07), (0, 1, 0.12), (0, 0, 0.17))
OE_NIDAQ_TTL = ((0, 1, 0.03), (0, 0, 0.04), (2, 1, 0.05), (0, 1, 0.09), (0, 0, 0.10), (2, 0, 0.15))


def _oe_settings_xml(date: datetime) -> str:
    def stream(name: str, description: str, rate: int, count: int) -> str:
        return (
            f'      <STREAM name="{name}" description="{description}" sample_rate="{rate}.0" '
            f'channel_count="{count}">\n        <PARAMETERS enable_stream="1"/>\n      </STREAM>\n'
        )

    probe_streams = stream(
        OE_AP_STREAM, "Neuropixels AP band data stream", OE_AP_RATE, OE_PROBE_CHANNELS
    ) + stream(OE_LFP_STREAM, "Neuropixels LFP band data stream", OE_LFP_RATE, OE_PROBE_CHANNELS)
    nidaq_stream = stream(OE_NIDAQ_STREAM, "Analog input channels from a NIDAQ device", OE_NIDAQ_RATE, 8)
    record_streams = "".join(
        f'        <STREAM isMainStream="{int(name == OE_AP_STREAM)}" sync_line="0" name="{name}" '
        f'source_node_id="{node}" sample_rate="{rate}.0" channel_count="{count}" recording_state="ALL"/>\n'
        for name, node, rate, count in (
            (OE_AP_STREAM, 100, OE_AP_RATE, OE_PROBE_CHANNELS),
            (OE_LFP_STREAM, 100, OE_LFP_RATE, OE_PROBE_CHANNELS),
            (OE_NIDAQ_STREAM, 102, OE_NIDAQ_RATE, OE_NIDAQ_CHANNELS),
        )
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>

<SETTINGS>
  <INFO>
    <VERSION>{OE_GUI_VERSION}</VERSION>
    <PLUGIN_API_VERSION>8</PLUGIN_API_VERSION>
    <DATE>{date.strftime("%d %b %Y %H:%M:%S")}</DATE>
    <OS>Windows 10</OS>
    <MACHINE name="EPHYS-RIG-2" cpu_model="Intel(R) Core(TM) i9-10900K CPU @ 3.70GHz" cpu_num_cores="20"/>
  </INFO>
  <SIGNALCHAIN>
    <PROCESSOR name="Neuropix-PXI" insertionPoint="0" pluginName="Neuropix-PXI" type="4" index="0"
               libraryName="Neuropix-PXI" libraryVersion="0.5.1" processorType="2" nodeId="100">
      <GLOBAL_PARAMETERS/>
{probe_streams}      <CUSTOM_PARAMETERS/>
      <EDITOR isCollapsed="0" isDrawerOpen="0" displayName="Neuropix-PXI" activeStream="0" Type="Visualizer"/>
    </PROCESSOR>
    <PROCESSOR name="NI-DAQmx" insertionPoint="0" pluginName="NI-DAQmx" type="4" index="1"
               libraryName="NI-DAQmx" libraryVersion="0.3.1" processorType="2" nodeId="102">
      <GLOBAL_PARAMETERS/>
{nidaq_stream}      <CUSTOM_PARAMETERS/>
      <EDITOR isCollapsed="0" isDrawerOpen="0" displayName="NI-DAQmx" activeStream="0" Type="Generic"/>
    </PROCESSOR>
    <PROCESSOR name="Merger" insertionPoint="1" pluginName="Merger" type="3" index="2" libraryName=""
               libraryVersion="" processorType="3" nodeId="103">
      <GLOBAL_PARAMETERS/>
      <CUSTOM_PARAMETERS/>
      <EDITOR isCollapsed="0" isDrawerOpen="0" displayName="Merger" activeStream="0" Type="Merger"/>
    </PROCESSOR>
    <PROCESSOR name="Record Node" insertionPoint="1" pluginName="Record Node" type="0" index="3"
               libraryName="" libraryVersion="" processorType="8" nodeId="101">
      <GLOBAL_PARAMETERS/>
      <CUSTOM_PARAMETERS path="D:\\OpenEphys" engine="BINARY" recordEvents="1" recordSpikes="1"
                         fifoMonitorsVisible="1">
{record_streams}      </CUSTOM_PARAMETERS>
      <EDITOR isCollapsed="0" isDrawerOpen="0" displayName="Record Node" activeStream="0" Type="RecordNode"/>
    </PROCESSOR>
  </SIGNALCHAIN>
  <EDITORVIEWPORT scroll="0">
    <NEUROPIX-PXI ID="100"/>
    <NI-DAQMX ID="102"/>
    <MERGER ID="103"/>
    <RECORD_NODE ID="101"/>
  </EDITORVIEWPORT>
  <DATAVIEWPORT selectedTab="2"/>
  <AUDIO sampleRate="44100.0" bufferSize="1024" deviceType="Windows Audio"/>
  <CONTROLPANEL isOpen="0" recordPath="D:\\OpenEphys" recordEngine="BINARY" clockMode="0"/>
  <AUDIOEDITOR isMuted="0" volume="50" noiseGate="0"/>
  <FILENAMECONFIG>
    <PREPEND state="0" value=""/>
    <MAIN state="1" value="YYYY-MM-DD_HH-MM-SS"/>
    <APPEND state="0" value=""/>
  </FILENAMECONFIG>
  <PROCESSORLIST>
    <COLOUR ID="801" R="59" G="59" B="59"/>
  </PROCESSORLIST>
  <UICOMPONENT isProcessorListOpen="1" isEditorViewportOpen="1"/>
</SETTINGS>
"""


def _oe_channels(
    names: list[str], processor: str, description: str, identifier: str, bit_volts: float, units: str
) -> list[dict]:
    return [
        {
            "channel_name": name,
            "description": description,
            "identifier": identifier,
            "history": f"{processor} -> Merger -> Record Node",
            "bit_volts": bit_volts,
            "units": units,
        }
        for name in names
    ]


def _oe_continuous_entry(processor: str, node: int, stream: str, rate: int, channels: list) -> dict:
    return {
        "folder_name": f"{processor.replace(' ', '_')}-{node}.{stream}/",
        "sample_rate": float(rate),
        "source_processor_name": processor,
        "source_processor_id": node,
        "stream_name": stream,
        "recorded_processor": "Record Node",
        "recorded_processor_id": 101,
        "num_channels": len(channels),
        "channels": channels,
    }


def _oe_event_entry(processor: str, node: int, stream: str, rate: int, name: str, description: str) -> dict:
    return {
        "folder_name": f"{processor.replace(' ', '_')}-{node}.{stream}/TTL/",
        "channel_name": name,
        "description": description,
        "identifier": "",
        "sample_rate": float(rate),
        "type": "int16",
        "source_processor": processor,
        "stream_name": stream,
        "initial_state": 0,
    }


def _write_oe_continuous(folder: Path, data: np.ndarray, first_sample: int, rate: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "continuous.dat").write_bytes(np.ascontiguousarray(data, dtype="<i2").tobytes())
    samples = np.arange(first_sample, first_sample + data.shape[0], dtype=np.int64)
    np.save(folder / "sample_numbers.npy", samples)
    np.save(folder / "timestamps.npy", samples / float(rate))


def _write_oe_ttl(folder: Path, edges: tuple, first_sample: int, rate: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    word = 0
    states, samples, words = [], [], []
    for line, state, seconds in edges:
        word = word | (1 << line) if state else word & ~(1 << line)
        states.append((line + 1) * (1 if state else -1))
        samples.append(first_sample + round(seconds * rate))
        words.append(word)
    sample_numbers = np.asarray(samples, dtype=np.int64)
    np.save(folder / "states.npy", np.asarray(states, dtype=np.int16))
    np.save(folder / "sample_numbers.npy", sample_numbers)
    np.save(folder / "timestamps.npy", sample_numbers / float(rate))
    np.save(folder / "full_words.npy", np.asarray(words, dtype=np.uint64))


def build_openephys_multi_experiment(root: Path) -> Path:
    """An Open Ephys GUI 0.6.4 binary session: ``2023-11-17_05-25-00/Record Node 101/`` with
    ``settings.xml``, ``settings_2.xml``, ``settings_3.xml`` (one per experiment, each with its own <DATE>)
    and ``experiment1..3/recording1..2``; each recording has ``structure.oebin`` as 0.6 writes it, three
    continuous streams (``Neuropix-PXI-100.ProbeA-AP`` 30 kHz and ``…ProbeA-LFP`` 2.5 kHz, 32 channels of
    real Open Ephys data from the shared corpus, and ``NI-DAQmx-102.PXI-6255``, 8 analog inputs), TTL
    events for the PXI sync line and the NI card, and ``sync_messages.txt``. Experiments are stop/start of
    acquisition (sample numbers restart), recordings are stop/start of recording (sample numbers continue).
    A Neuropixels + NI-DAQ rig writes this whenever acquisition and recording are stopped and restarted
    within a session; readers see 3 blocks x 2 segments and a converter must pick (or loop over)
    experiments. Simplified: 32 probe channels instead of 384, and no <NP_PROBE> geometry in settings.xml
    (so no probe is attached). Returns the session folder holding the node."""
    real = _real(
        "openephysbinary/v0.4.4.1_with_video_tracking/experiment1/recording1/continuous/Rhythm_FPGA-100.0"
    )
    real_frames = np.load(real / "timestamps.npy").shape[0]
    real_data = np.memmap(real / "continuous.dat", dtype="<i2", mode="r").reshape(real_frames, -1)
    frames = round(OE_SECONDS * OE_AP_RATE)
    lfp_frames = frames * OE_LFP_RATE // OE_AP_RATE
    session = Path(root) / "2023-11-17_05-25-00"
    node = session / OE_NODE
    node.mkdir(parents=True, exist_ok=True)
    probe_names = [f"CH{i + 1}" for i in range(OE_PROBE_CHANNELS)]
    nidaq_names = [f"AI{i}" for i in range(OE_NIDAQ_CHANNELS)]
    continuous = [
        _oe_continuous_entry(
            "Neuropix-PXI",
            100,
            OE_AP_STREAM,
            OE_AP_RATE,
            _oe_channels(
                probe_names,
                "Neuropix-PXI",
                "Neuropixels electrode",
                "neuropixels.ap",
                OE_BIT_VOLTS_PROBE,
                "uV",
            ),
        ),
        _oe_continuous_entry(
            "Neuropix-PXI",
            100,
            OE_LFP_STREAM,
            OE_LFP_RATE,
            _oe_channels(
                probe_names,
                "Neuropix-PXI",
                "Neuropixels electrode",
                "neuropixels.lfp",
                OE_BIT_VOLTS_PROBE,
                "uV",
            ),
        ),
        _oe_continuous_entry(
            "NI-DAQmx",
            102,
            OE_NIDAQ_STREAM,
            OE_NIDAQ_RATE,
            _oe_channels(
                nidaq_names, "NI-DAQmx", "Analog input channel", "analog.continuous", OE_BIT_VOLTS_NIDAQ, "V"
            ),
        ),
    ]
    events = [
        _oe_event_entry(
            "Neuropix-PXI",
            100,
            OE_AP_STREAM,
            OE_AP_RATE,
            "ProbeA-AP TTL",
            "Status of SMA sync line on PXI card",
        ),
        _oe_event_entry(
            "NI-DAQmx",
            102,
            OE_NIDAQ_STREAM,
            OE_NIDAQ_RATE,
            "PXI-6255 TTL",
            "Digital input lines of the NIDAQ device",
        ),
    ]
    oebin = json.dumps(
        {"GUI version": OE_GUI_VERSION, "continuous": continuous, "events": events, "spikes": []}, indent=2
    )
    time = np.arange(frames) / OE_NIDAQ_RATE
    block = 0
    for experiment in range(1, OE_EXPERIMENTS + 1):
        date = OE_SETTINGS_DATES[experiment - 1]
        name = "settings.xml" if experiment == 1 else f"settings_{experiment}.xml"
        (node / name).write_text(_oe_settings_xml(date), encoding="utf-8")
        for recording, start in enumerate(OE_RECORDING_STARTS, start=1):
            folder = node / f"experiment{experiment}" / f"recording{recording}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "structure.oebin").write_text(oebin, encoding="utf-8")
            ap = np.asarray(real_data[block * frames : (block + 1) * frames])
            block += 1
            lfp = ap[: lfp_frames * 12].reshape(lfp_frames, 12, -1).mean(axis=1).round().astype("<i2")
            lfp_start = start // (OE_AP_RATE // OE_LFP_RATE)
            nidaq_start = start + 311  # the NI card's clock starts a few samples after the probe's
            nidaq = np.empty((frames, OE_NIDAQ_CHANNELS), dtype="<i2")
            ttl = np.zeros(frames)
            for line, state, seconds in OE_NIDAQ_TTL:
                if line == 0:
                    ttl[round(seconds * OE_NIDAQ_RATE) :] = state
            nidaq[:, 0] = np.round(ttl * 5.0 / OE_BIT_VOLTS_NIDAQ)
            for channel in range(1, OE_NIDAQ_CHANNELS):
                wave = 0.5 * channel * np.sin(2 * np.pi * 10 * channel * time)
                nidaq[:, channel] = np.round(wave / OE_BIT_VOLTS_NIDAQ)
            cont = folder / "continuous"
            _write_oe_continuous(cont / f"Neuropix-PXI-100.{OE_AP_STREAM}", ap, start, OE_AP_RATE)
            _write_oe_continuous(cont / f"Neuropix-PXI-100.{OE_LFP_STREAM}", lfp, lfp_start, OE_LFP_RATE)
            _write_oe_continuous(cont / f"NI-DAQmx-102.{OE_NIDAQ_STREAM}", nidaq, nidaq_start, OE_NIDAQ_RATE)
            ev = folder / "events"
            _write_oe_ttl(ev / f"Neuropix-PXI-100.{OE_AP_STREAM}" / "TTL", OE_PXI_TTL, start, OE_AP_RATE)
            _write_oe_ttl(
                ev / f"NI-DAQmx-102.{OE_NIDAQ_STREAM}" / "TTL", OE_NIDAQ_TTL, nidaq_start, OE_NIDAQ_RATE
            )
            software_ms = int(
                (date.replace(tzinfo=UTC) + timedelta(seconds=5 + start / OE_AP_RATE)).timestamp() * 1000
            )
            lines = [
                f"Software Time (milliseconds since midnight Jan 1st 1970 UTC): {software_ms}",
                f"Start Time for Neuropix-PXI (100) - {OE_AP_STREAM} @ {OE_AP_RATE} Hz: {start}",
                f"Start Time for Neuropix-PXI (100) - {OE_LFP_STREAM} @ {OE_LFP_RATE} Hz: {lfp_start}",
                f"Start Time for NI-DAQmx (102) - {OE_NIDAQ_STREAM} @ {OE_NIDAQ_RATE} Hz: {nidaq_start}",
            ]
            (folder / "sync_messages.txt").write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    return session


def build_openephys_05_timestamps_only(root: Path) -> Path:
    """(Optional case j.) An Open Ephys GUI 0.5.x binary recording: continuous folders hold
    ``continuous.dat`` and ``timestamps.npy`` only (int64 sample numbers: 0.5 called them timestamps;
    ``sample_numbers.npy`` and float ``timestamps.npy`` arrived in 0.6), TTL folders hold
    ``channel_states.npy``, ``channels.npy``, ``full_words.npy`` and ``timestamps.npy`` (int64 sample
    numbers). Labs still convert years of 0.5 data. Returns the session folder."""
    real = _real(
        "openephysbinary/v0.4.4.1_with_video_tracking/experiment1/recording1/continuous/Rhythm_FPGA-100.0"
    )
    real_frames = np.load(real / "timestamps.npy").shape[0]
    real_data = np.memmap(real / "continuous.dat", dtype="<i2", mode="r").reshape(real_frames, -1)
    frames = round(OE_SECONDS * OE_AP_RATE)
    session = Path(root) / "2021-02-15_17-20-04"
    node = session / "Record Node 104"
    folder = node / "experiment1" / "recording1"
    stream_folder = "Rhythm_FPGA-100.0"
    cont = folder / "continuous" / stream_folder
    cont.mkdir(parents=True, exist_ok=True)
    start = 1_045_248
    (cont / "continuous.dat").write_bytes(np.ascontiguousarray(real_data[:frames]).tobytes())
    np.save(cont / "timestamps.npy", np.arange(start, start + frames, dtype=np.int64))
    ttl = folder / "events" / stream_folder / "TTL_1"
    ttl.mkdir(parents=True)
    np.save(ttl / "channel_states.npy", np.asarray([1, -1, 1, -1], dtype=np.int16))
    np.save(ttl / "channels.npy", np.asarray([1, 1, 1, 1], dtype=np.int16))
    np.save(ttl / "full_words.npy", np.asarray([[1], [0], [1], [0]], dtype=np.uint8))
    np.save(ttl / "timestamps.npy", start + np.asarray([600, 2100, 3600, 5100], dtype=np.int64))
    channels = [
        {
            "channel_name": f"CH{i + 1}",
            "description": "Headstage data channel",
            "identifier": "genericdata.continuous",
            "history": "Rhythm FPGA -> Record Node",
            "bit_volts": OE_BIT_VOLTS_PROBE,
            "units": "uV",
            "source_processor_index": i,
            "recorded_processor_index": i,
        }
        for i in range(real_data.shape[1])
    ]
    oebin = {
        "GUI version": "0.5.5",
        "continuous": [
            {
                "folder_name": f"{stream_folder}/",
                "sample_rate": OE_AP_RATE,
                "source_processor_name": "Rhythm FPGA",
                "source_processor_id": 100,
                "source_processor_sub_idx": 0,
                "recorded_processor": "Record Node",
                "recorded_processor_id": 104,
                "num_channels": real_data.shape[1],
                "channels": channels,
            }
        ],
        "events": [
            {
                "folder_name": f"{stream_folder}/TTL_1/",
                "channel_name": "Rhythm FPGA source TTL events input",
                "description": 'TTL Events coming from the hardware source processor "Rhythm FPGA"',
                "identifier": "sourceevent",
                "sample_rate": OE_AP_RATE,
                "type": "int16",
                "num_channels": 8,
                "source_processor": "Rhythm FPGA",
            }
        ],
        "spikes": [],
    }
    (folder / "structure.oebin").write_text(json.dumps(oebin, indent=2), encoding="utf-8")
    (folder / "sync_messages.txt").write_bytes(
        b"Software time: 1045311@1000000Hz\r\nProcessor: Rhythm FPGA Id: 100 subProcessor: 0 "
        b"start time: 1045248@30000Hz\r\n"
    )
    settings = _real("openephysbinary/v0.4.4.1_with_video_tracking/settings.xml").read_text(encoding="utf-8")
    (node / "settings.xml").write_text(
        settings.replace("<VERSION>0.4.4.1</VERSION>", "<VERSION>0.5.5</VERSION>"), encoding="utf-8"
    )
    return session


# ------------------------------------------------------------------------------------------ Neuralynx

NLX_HEADER_SIZE = 16 * 1024
NEV_DTYPE = np.dtype(
    [
        ("nstx", "<i2"),
        ("npkt_id", "<i2"),
        ("npkt_data_size", "<i2"),
        ("qwTimeStamp", "<u8"),
        ("nevent_id", "<i2"),
        ("nttl", "<i2"),
        ("ncrc", "<i2"),
        ("ndummy1", "<i2"),
        ("ndummy2", "<i2"),
        ("dnExtra", "<i4", (8,)),
        ("EventString", "S128"),
    ]
)
NSE_DTYPE = np.dtype(
    [
        ("qwTimeStamp", "<u8"),
        ("dwScNumber", "<u4"),
        ("dwCellNumber", "<u4"),
        ("dnParams", "<i4", (8,)),
        ("snData", "<i2", (32,)),
    ]
)
NTT_DTYPE = np.dtype(
    [
        ("qwTimeStamp", "<u8"),
        ("dwScNumber", "<u4"),
        ("dwCellNumber", "<u4"),
        ("dnParams", "<i4", (8,)),
        ("snData", "<i2", (32, 4)),
    ]
)
NCS_FIRST_TIMESTAMP = 7_807_911_561  # µs, first record of the real CSC5_trunc.Ncs
NCS_LAST_TIMESTAMP = 7_811_434_776
# (offset µs from the first CSC record, event id, TTL value, string) as Cheetah 5 writes them
NEV_EVENTS = (
    (0, 19, 0, "Starting Recording"),
    (500_000, 11, 1, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0001)."),
    (600_000, 11, 0, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0000)."),
    (1_500_000, 11, 1, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0001)."),
    (1_600_000, 11, 0, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0000)."),
    (2_500_000, 11, 1, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0001)."),
    (2_600_000, 11, 0, "TTL Input on AcqSystem1_0 board 0 port 3 value (0x0000)."),
    (3_500_000, 19, 0, "Stopping Recording"),
)


def _nlx_header(lines: list[str]) -> bytes:
    """A 16 KiB Neuralynx text header: CRLF lines, padded with NUL bytes as Cheetah writes it."""
    raw = "".join(f"{line}\r\n" for line in lines).encode("latin-1")
    if len(raw) > NLX_HEADER_SIZE:
        raise ValueError("Neuralynx header longer than 16 KiB")
    return raw + b"\x00" * (NLX_HEADER_SIZE - len(raw))


def _cheetah54_lines(file_name: str) -> list[str]:
    return [
        "######## Neuralynx Data File Header ",
        f"## File Name C:\\CheetahData\\2000-01-01_00-00-00\\{file_name} ",
        "## Time Opened (m/d/y): 1/01/2001  At Time: 0:00:00.000 ",
        "## Time Closed (m/d/y): 1/01/2001  At Time: 00:00:00.000 ",
        "-CheetahRev 5.4.0  ",
        "",
    ]


def _write_nev(path: Path) -> None:
    records = np.zeros(len(NEV_EVENTS), dtype=NEV_DTYPE)
    for index, (offset, event_id, ttl, text) in enumerate(NEV_EVENTS):
        records[index]["npkt_id"] = 102  # Cheetah's system id for event records
        records[index]["npkt_data_size"] = 2
        records[index]["qwTimeStamp"] = NCS_FIRST_TIMESTAMP + offset
        records[index]["nevent_id"] = event_id
        records[index]["nttl"] = ttl
        records[index]["EventString"] = text.encode("latin-1")
    header = _nlx_header([*_cheetah54_lines("Events.nev"), "-FileType: Event ", "-RecordSize 184 ", ""])
    path.write_bytes(header + records.tobytes())


def build_neuralynx_with_events(root: Path) -> Path:
    """A Neuralynx Cheetah 5.4 session folder: the real ``CSC5_trunc.Ncs`` plus an ``Events.nev`` written to
    Neuralynx's spec (16 KiB header, 184-byte records) holding Starting/Stopping Recording and three TTL
    on/off pairs inside the .Ncs time range. Every Cheetah session has an Events.nev; ``.nev`` is also
    Blackrock's spike-file suffix, so suffix-based detection can send this folder to Blackrock. Returns the
    folder."""
    folder = Path(root) / "2000-01-01_00-00-00"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_real("neuralynx/Cheetah_v5.4.0/original_data/CSC5_trunc.Ncs"), folder / "CSC5.ncs")
    _write_nev(folder / "Events.nev")
    return folder


def _spike_header(name: str, file_type: str, record_size: int, channels: list[int]) -> bytes:
    count = len(channels)
    return _nlx_header(
        [
            *_cheetah54_lines(f"{name}.{'ntt' if count == 4 else 'nse'}"),
            f"-AcqEntName {name} ",
            f"-FileType: {file_type} ",
            f"-RecordSize {record_size} ",
            "",
            "-HardwareSubSystemName AcqSystem1 ",
            "-HardwareSubSystemType DigitalLynx ",
            "-SamplingFrequency 32000 ",
            "-ADMaxValue 32767 ",
            "-ADBitVolts " + " ".join(["0.0000000305"] * count),
            "",
            f"-NumADChannels {count} ",
            "-ADChannel " + " ".join(str(c) for c in channels),
            "-InputRange " + " ".join(["1000"] * count),
            "-InputInverted True ",
            "-DspLowCutFrequency 600.000000 ",
            "-DspLowCutNumTaps 64 ",
            "-DspLowCutFilterType FIR ",
            "-DspHighCutFrequency 6000.000000 ",
            "-DspHighCutNumTaps 32 ",
            "-DspHighCutFilterType FIR ",
            "",
            "-WaveformLength 32 ",
            "-AlignmentPt 8 ",
            "-ThreshVal " + " ".join(["60"] * count),
            "-MinRetriggerSamples 10 ",
            "-SpikeRetriggerTime 250 ",
            "-DualThresholding False ",
            "",
            "-Feature Peak 0 0 0 1.000000 ",
            "-Feature Valley 1 1 0 1.000000 ",
            "",
        ]
    )


NLX_SPIKES_PER_UNIT = (("SE1", (0, 1, 2), 40), ("TT1", (0, 1), 25))  # file, cell numbers, spikes per cell


def _spike_records(
    dtype: np.dtype, cells: tuple[int, ...], per_cell: int, channel: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = per_cell * len(cells)
    records = np.zeros(n, dtype=dtype)
    times = np.sort(rng.choice(np.arange(1_000, 3_000_000, 1_000), size=n, replace=False))
    records["qwTimeStamp"] = NCS_FIRST_TIMESTAMP + times
    records["dwScNumber"] = channel
    records["dwCellNumber"] = np.repeat(cells, per_cell)[rng.permutation(n)]
    t = np.arange(32)
    shape = -np.exp(-0.5 * ((t - 8) / 1.5) ** 2) + 0.3 * np.exp(-0.5 * ((t - 14) / 3.0) ** 2)
    amplitude = 1500 + 800 * records["dwCellNumber"].astype(float)
    wave = amplitude[:, None] * shape[None, :]
    if records["snData"].ndim == 3:
        records["snData"] = np.round(wave[:, :, None] * np.array([1.0, 0.7, 0.5, 0.3])[None, None, :])
    else:
        records["snData"] = np.round(wave)
    records["dnParams"][:, 0] = wave.max(axis=1).astype(np.int32)
    records["dnParams"][:, 1] = wave.min(axis=1).astype(np.int32)
    return records


def build_neuralynx_sorting_only(root: Path) -> Path:
    """A folder with only Neuralynx spike files, written to spec: ``SE1.nse`` (single electrode, 112-byte
    records, cells 0 = unsorted, 1, 2) and ``TT1.ntt`` (tetrode, 304-byte records, cells 0, 1), with
    Cheetah 5.4 headers (``SamplingFrequency 32000``). Labs that spike-sort online in Cheetah and share only
    the sorted spike files bring this; with no .Ncs there is no signal stream to take the sampling rate and
    t_start from. Returns the folder."""
    folder = Path(root) / "nlx_spikes"
    folder.mkdir(parents=True, exist_ok=True)
    (name_se, cells_se, per_se), (name_tt, cells_tt, per_tt) = NLX_SPIKES_PER_UNIT
    se = _spike_records(NSE_DTYPE, cells_se, per_se, 0, 1)
    tt = _spike_records(NTT_DTYPE, cells_tt, per_tt, 1, 2)
    (folder / f"{name_se}.nse").write_bytes(_spike_header(name_se, "Spike", 112, [16]) + se.tobytes())
    (folder / f"{name_tt}.ntt").write_bytes(_spike_header(name_tt, "Spike", 304, [0, 1, 2, 3]) + tt.tobytes())
    return folder


# -------------------------------------------------------------------------------------------- Axona

AXONA_SECONDS = 6  # the real .set says duration 6.00006
AXONA_EEG_RATE = 250
AXONA_EGF_RATE = 4800
AXONA_EEG_FILES = ("axona_raw.eeg", "axona_raw.eeg2", "axona_raw.eeg3", "axona_raw.eeg4")  # saveEEG_ch_1..4


def _axona_header(lines: list[tuple[str, str]]) -> bytes:
    return "".join(f"{key} {value}\r\n" for key, value in lines).encode("cp1252") + b"data_start"


def _axona_common(set_text: str) -> list[tuple[str, str]]:
    wanted = ("trial_date", "trial_time", "experimenter", "comments", "duration", "sw_version")
    values = dict.fromkeys(wanted, "")
    for line in set_text.splitlines():
        key, _, value = line.partition(" ")
        if key in values and not values[key]:
            values[key] = value
    values["duration"] = str(AXONA_SECONDS)
    return [(key, values[key]) for key in wanted]


def _theta(rng: np.random.Generator, n: int, rate: int, amplitude: float) -> np.ndarray:
    t = np.arange(n) / rate
    return amplitude * np.sin(2 * np.pi * 8.0 * t + rng.uniform(0, 2 * np.pi)) + rng.normal(
        0, amplitude / 8, n
    )


def build_axona_lfp_only(root: Path) -> Path:
    """An Axona dacqUSB trial with its LFP files but no raw ``.bin``: the real ``axona_raw.set`` plus
    ``axona_raw.eeg`` … ``.eeg4`` (the four channels the .set marks saveEEG_ch_1..4; int8 at 250 Hz) and
    ``axona_raw.egf`` (int16 little-endian at 4800 Hz), each a CRLF text header ending in ``data_start``,
    the samples, then ``\\r\\ndata_end\\r\\n``. Tetrode labs often keep only .set/.eeg/.egf (the .bin is
    tens of GB). Returns the ``.eeg`` file (what NeuroConv's AxonaLFPDataInterface takes)."""
    folder = Path(root) / "axona_lfp"
    folder.mkdir(parents=True, exist_ok=True)
    set_source = _real("axona/axona_raw.set")
    shutil.copyfile(set_source, folder / "axona_raw.set")
    common = _axona_common(set_source.read_text(encoding="cp1252"))
    rng = _rng("axona")
    n_eeg = AXONA_SECONDS * AXONA_EEG_RATE
    for name in AXONA_EEG_FILES:
        samples = np.clip(np.round(_theta(rng, n_eeg, AXONA_EEG_RATE, 60)), -128, 127).astype("i1")
        header = _axona_header(
            [
                *common,
                ("num_chans", "1"),
                ("sample_rate", f"{AXONA_EEG_RATE}.0 hz"),
                ("EEG_samples_per_position", "5"),
                ("bytes_per_sample", "1"),
                ("num_EEG_samples", str(n_eeg)),
            ]
        )
        (folder / name).write_bytes(header + samples.tobytes() + b"\r\ndata_end\r\n")
    n_egf = AXONA_SECONDS * AXONA_EGF_RATE
    egf = np.clip(np.round(_theta(rng, n_egf, AXONA_EGF_RATE, 9000)), -32768, 32767).astype("<i2")
    header = _axona_header(
        [
            *common,
            ("num_chans", "1"),
            ("sample_rate", f"{AXONA_EGF_RATE} hz"),
            ("bytes_per_sample", "2"),
            ("num_EGF_samples", str(n_egf)),
        ]
    )
    (folder / "axona_raw.egf").write_bytes(header + egf.tobytes() + b"\r\ndata_end\r\n")
    return folder / "axona_raw.eeg"


def build_axona_egf_dotted_folder(root: Path) -> Path:
    """(Optional case j.) The same Axona LFP-only trial in a folder whose name has a dot
    (``2020.10.04_trial1/``, a common way to write dates), returning the ``.egf`` file. NeuroConv decides
    int8 vs int16 from ``str(path).split(".")[1]``, i.e. from the first dot anywhere in the path."""
    eeg = build_axona_lfp_only(Path(root) / "tmp")
    folder = Path(root) / "2020.10.04_trial1"
    shutil.move(str(eeg.parent), folder)
    shutil.rmtree(Path(root) / "tmp")
    return folder / "axona_raw.egf"


# ----------------------------------------------------------------------------------------- Blackrock


def build_blackrock_nev_only(root: Path) -> Path:
    """Only the real Blackrock ``l101210-001.nev`` (spike times, waveforms, digital events), none of its
    ``.nsX`` continuous files: what a lab shares when the raw signals are too big or were not saved.
    Returns the folder."""
    folder = Path(root) / "blackrock_nev"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_real("blackrock/blackrock_2_1/l101210-001.nev"), folder / "l101210-001.nev")
    return folder


# -------------------------------------------------------------------------------------------- Intan

INTAN_REAL = "intan/intan_fps_test_231117_052500"
INTAN_FRAMES = 6_000  # 0.2 s of the real 24,320-sample recording (DIGITAL-IN-01 rises at 4,955)


def _intan_header_channels(info: Path) -> list[dict]:
    from neo.rawio.intanrawio import read_rhd

    _, channels, _, _, _, _ = read_rhd(info, "one-file-per-signal")
    return channels


def build_intan_one_file_per_channel(root: Path) -> Path:
    """An Intan RHX 3.3 "one file per channel" folder made from the real "one file per signal type" one
    (first 0.2 s): the same ``info.rhd`` and ``settings.xml``, ``time.dat`` (int32 sample index),
    ``amp-A-000.dat`` … ``amp-B-031.dat`` (int16, one per amplifier channel), ``aux-A-AUX1.dat`` …
    (uint16), ``board-ANALOG-IN-1.dat`` (uint16) and ``board-DIGITAL-IN-01.dat`` (uint16 0/1, the line's own
    bit), named as RHX names them: ``<prefix>-<native channel name>.dat``. Like ``auxiliary.dat`` in the
    per-signal layout, each ``aux-*.dat`` holds as many samples as ``time.dat`` (RHX repeats each
    quarter-rate aux sample four times) while neo reports the aux stream at 1/4 of the amplifier rate.
    Returns the ``info.rhd`` file."""
    source = _real(INTAN_REAL)
    folder = Path(root) / "intan_fpc_test_231117_052500"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("info.rhd", "settings.xml"):
        shutil.copyfile(source / name, folder / name)
    channels = _intan_header_channels(source / "info.rhd")
    n = INTAN_FRAMES
    time = np.fromfile(source / "time.dat", dtype="<i4", count=n)
    time.tofile(folder / "time.dat")
    per_signal = {  # signal_type -> (file, dtype, prefix)
        0: ("amplifier.dat", "<i2", "amp"),
        1: ("auxiliary.dat", "<u2", "aux"),
        3: ("analogin.dat", "<u2", "board"),
        4: ("digitalin.dat", "<u2", "board"),
    }
    for signal_type, (file_name, dtype, prefix) in per_signal.items():
        members = [c for c in channels if int(c["signal_type"]) == signal_type]
        if signal_type == 4:  # the per-signal file packs every line into one word per sample
            word = np.fromfile(source / file_name, dtype=dtype, count=n)
            for channel in members:
                bit = (word >> int(channel["native_order"])) & 1
                bit.astype(dtype).tofile(folder / f"{prefix}-{channel['native_channel_name']}.dat")
            continue
        data = np.fromfile(source / file_name, dtype=dtype, count=n * len(members)).reshape(n, len(members))
        for index, channel in enumerate(members):
            data[:, index].tofile(folder / f"{prefix}-{channel['native_channel_name']}.dat")
    return folder / "info.rhd"


# --------------------------------------------------------------------------------------- NeuroScope

NEUROSCOPE_LFP_SECONDS = 2.0


def _neuroscope_lfp(root: Path, suffix: str) -> Path:
    source = _real("neuroscope/test1")
    xml = (source / "test1.xml").read_text()
    n_channels = int(xml.split("<nChannels>")[1].split("<")[0])
    lfp_rate = int(float(xml.split("<lfpSamplingRate>")[1].split("<")[0]))
    dat = np.fromfile(source / "test1.dat", dtype="<i2").reshape(-1, n_channels)
    folder = Path(root) / "test1"  # NeuroScope names the session folder, .xml and data files alike
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test1.xml").write_text(xml)
    n = round(NEUROSCOPE_LFP_SECONDS * lfp_rate)
    # test1.dat holds only 10 samples at 10 kHz (one at 1250 Hz): keep its per-channel level and add a
    # theta oscillation, so the .lfp has the real channel offsets and a plausible LFP on top
    rng = _rng("neuroscope")
    t = np.arange(n) / lfp_rate
    theta = 400 * np.sin(2 * np.pi * 7.5 * t)[:, None] * np.linspace(1.0, 0.4, n_channels)[None, :]
    lfp = dat.mean(axis=0)[None, :] + theta + rng.normal(0, 20, (n, n_channels))
    (folder / f"test1.{suffix}").write_bytes(np.round(lfp).astype("<i2").tobytes())
    return folder


def build_neuroscope_lfp_only(root: Path) -> Path:
    """A NeuroScope session with only ``test1.xml`` and ``test1.lfp`` (int16 interleaved, 8 channels, at the
    xml's lfpSamplingRate 1250 Hz), no wide-band ``.dat``: Buzsáki-lab style data sets often ship only the
    downsampled LFP. Returns the folder."""
    return _neuroscope_lfp(root, "lfp")


def build_neuroscope_eeg_only(root: Path) -> Path:
    """The older NeuroScope naming of the same thing: ``test1.xml`` and ``test1.eeg`` (the LFP file was
    called ``.eeg`` before ``.lfp``). ``.eeg`` is also Axona's LFP suffix (and BrainVision's data suffix).
    Returns the folder."""
    return _neuroscope_lfp(root, "eeg")


CASES: dict[str, Builder] = {
    "spikeglx_gates_triggers": build_spikeglx_gates_triggers,
    "spikeglx_nidq_silent": build_spikeglx_nidq_silent,
    "spikeglx_nidq_events": build_spikeglx_nidq_events,
    "spikeglx_catgt_tcat": build_spikeglx_catgt_tcat,
    "openephys_multi_experiment": build_openephys_multi_experiment,
    "openephys_05_timestamps_only": build_openephys_05_timestamps_only,
    "neuralynx_with_events": build_neuralynx_with_events,
    "neuralynx_sorting_only": build_neuralynx_sorting_only,
    "axona_lfp_only": build_axona_lfp_only,
    "axona_egf_dotted_folder": build_axona_egf_dotted_folder,
    "blackrock_nev_only": build_blackrock_nev_only,
    "intan_one_file_per_channel": build_intan_one_file_per_channel,
    "neuroscope_lfp_only": build_neuroscope_lfp_only,
    "neuroscope_eeg_only": build_neuroscope_eeg_only,
}
