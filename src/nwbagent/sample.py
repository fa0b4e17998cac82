"""A synthetic Neuropixels 1.0 SpikeGLX recording of any length, for demos and write-speed benchmarks.

The real test recordings are one-second stubs; benchmarks of compression and conversion speed need minutes of
data that compresses like real data (about 2.2x with gzip), and the demo needs a recording anyone can make
without downloading anything. The files are format-correct: neo, probeinterface and NeuroConv read them as
they read a recording from SpikeGLX itself.

Data are built from a one-second pattern per stream (band-limited noise, a spatially smooth shared component
and spikes from a few dozen units), written block by block with a different circular offset in each block, so
memory stays at a few tens of MB whatever the length and the file is not a trivially repeating byte string.
:func:`sample_traces` recomputes any slice exactly, which is what the tests compare against.

Beyond the default one-file-per-stream run, :func:`make_spikeglx_sample` can write the layouts SpikeGLX
writes for several gates (``<run>_g0/``, ``<run>_g1/`` side by side), several triggers per gate (``_t0``,
``_t1`` files in a gate folder), several probes (one ``<run>_g<N>_imec<P>/`` folder per probe) and NIDQ
digital lines that are silent or carry a few TTL pulses. Every file is a slice of one continuing acquisition:
its ``firstSample`` is where it starts on the stream's clock and its samples are :func:`sample_traces` of
that slice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from scipy import signal

Stream = Literal["ap", "lf", "nidq"]
NidqDigital = Literal["square", "silent", "events"]

RUN_NAME = "sample"
N_NEURAL = 384
AP_RATE = 30_000
LF_RATE = 2_500
NIDQ_RATE = 25_000
NIDQ_ANALOG = 8
PROBE_PART_NUMBER = "PRB_1_4_0480_1"  # Neuropixels 1.0, listed in neo's neuropixels_probe_features.json
AP_GAIN = 500
LF_GAIN = 250
SYNC_BIT = 64  # SpikeGLX puts the imec sync pulse on bit 6 of the sync word
FILE_CREATE_TIME = datetime(2024, 3, 14, 9, 26, 53)  # fixed, so the same arguments give identical files
_CHANNEL_GROUP = 64  # filter this many channels at a time to keep float64 temporaries small
TRIGGER_GAP_SECONDS = 0.5  # acquisition time between the end of one trigger's file and the start of the next
GATE_GAP_SECONDS = 1.0  # extra time, on top of a trigger gap, between one gate's last file and the next gate
# nidq_digital="events": (bit, start ms, stop ms) of each TTL pulse, repeated every second of the clock.
EVENT_PULSES: tuple[tuple[int, int, int], ...] = (
    (1, 25, 35),
    (1, 75, 85),
    (1, 125, 135),
    (2, 50, 70),
    (2, 150, 170),
)

_RATES: dict[str, int] = {"ap": AP_RATE, "lf": LF_RATE, "nidq": NIDQ_RATE}
_N_SAVED: dict[str, int] = {"ap": N_NEURAL + 1, "lf": N_NEURAL + 1, "nidq": NIDQ_ANALOG + 1}
_STREAM_CODE: dict[str, int] = {"ap": 1, "lf": 2, "nidq": 3}


def n_saved_channels(stream: Stream) -> int:
    """Channels per sample in the ``.bin`` (neural channels plus the sync/digital word)."""
    return _N_SAVED[stream]


def sampling_rate(stream: Stream) -> int:
    return _RATES[stream]


def n_frames(stream: Stream, seconds: float) -> int:
    """Samples per channel that :func:`make_spikeglx_sample` writes for ``seconds`` of ``stream``."""
    return round(seconds * _RATES[stream])


def first_sample(
    stream: Stream, seconds: float, *, gate: int = 0, trigger: int = 0, triggers: int = 1
) -> int:
    """The ``firstSample`` (index on the stream's acquisition clock) of file ``_g<gate>_t<trigger>`` when
    every file lasts ``seconds`` and each gate holds ``triggers`` files: 0 for the first file, then
    increasing by the file length plus :data:`TRIGGER_GAP_SECONDS`, plus :data:`GATE_GAP_SECONDS` per gate."""
    index = gate * triggers + trigger
    start = index * (seconds + TRIGGER_GAP_SECONDS) + gate * GATE_GAP_SECONDS
    return round(start * _RATES[stream])


def _rng(seed: int, stream: Stream, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_CODE[stream], *extra])


def _filtered_noise(
    rng: np.random.Generator, n: int, n_channels: int, sos: np.ndarray, scale: float
) -> np.ndarray:
    out = np.empty((n, n_channels), dtype=np.float32)
    for start in range(0, n_channels, _CHANNEL_GROUP):
        stop = min(start + _CHANNEL_GROUP, n_channels)
        white = rng.standard_normal((n, stop - start), dtype=np.float32)
        out[:, start:stop] = signal.sosfilt(sos, white, axis=0) * scale
    return out


def _spatially_smooth(rng: np.random.Generator, n: int, sos: np.ndarray, scale: float) -> np.ndarray:
    """A shared signal that drifts smoothly along the probe, like LFP or common-mode noise."""
    n_sources = 8
    sources = signal.sosfilt(sos, rng.standard_normal((n, n_sources)), axis=0).astype(np.float32)
    depth = np.linspace(0.0, n_sources - 1, N_NEURAL)
    weights = np.exp(-0.5 * ((depth[None, :] - np.arange(n_sources)[:, None]) / 1.5) ** 2)
    mixed = sources @ weights.astype(np.float32)
    mixed *= scale / max(float(mixed.std()), 1e-6)
    return mixed


def _add_spikes(rng: np.random.Generator, data: np.ndarray) -> None:
    """Add biphasic spikes from units spread along the probe, each seen on nearby channels."""
    n = data.shape[0]
    t = np.arange(-20, 40) / AP_RATE * 1e3  # ms
    waveform = -np.exp(-0.5 * (t / 0.12) ** 2) + 0.35 * np.exp(-0.5 * ((t - 0.45) / 0.25) ** 2)
    for _ in range(48):
        centre = int(rng.integers(0, N_NEURAL))
        amplitude = float(rng.uniform(15, 60))  # bits: ~35-140 uV at gain 500
        rate_hz = float(rng.uniform(2, 15))
        times = np.flatnonzero(rng.random(n - 80) < rate_hz / AP_RATE) + 20
        channels = np.arange(max(centre - 6, 0), min(centre + 7, N_NEURAL))
        spread = np.exp(-np.abs(channels - centre) / 2.0).astype(np.float32)
        shape = (amplitude * waveform[:, None] * spread[None, :]).astype(np.float32)
        for spike in times:
            data[spike - 20 : spike + 40, channels] += shape


@lru_cache(maxsize=6)
def _pattern(stream: Stream, seed: int) -> np.ndarray:
    """One second of int16 data for every saved channel of ``stream`` (read-only, cached)."""
    rng = _rng(seed, stream)
    rate = _RATES[stream]
    if stream == "ap":
        sos = signal.butter(2, [300, 6000], btype="bandpass", fs=rate, output="sos")
        data = _filtered_noise(rng, rate, N_NEURAL, sos, scale=17.0)
        common = signal.butter(2, [300, 3000], btype="bandpass", fs=rate, output="sos")
        data += _spatially_smooth(rng, rate, common, scale=3.0)
        _add_spikes(rng, data)
        sync = _square_wave(rate)
    elif stream == "lf":
        sos = signal.butter(2, [0.5, 500], btype="bandpass", fs=rate, output="sos")
        data = _filtered_noise(rng, rate, N_NEURAL, sos, scale=6.0)
        slow = signal.butter(2, [1, 100], btype="bandpass", fs=rate, output="sos")
        data += _spatially_smooth(rng, rate, slow, scale=40.0)
        sync = _square_wave(rate)
    else:
        time = np.arange(rate) / rate
        data = rng.normal(0, 40, (rate, NIDQ_ANALOG)).astype(np.float32)
        data[:, 0] += (_square_wave(rate) > 0) * 13_000.0  # analog copy of the sync pulse, ~2 V
        for channel in range(1, NIDQ_ANALOG):
            data[:, channel] += 3_000.0 * np.sin(2 * np.pi * channel * time)
        sync = (_square_wave(rate) > 0).astype(np.int16)  # digital word: bit 0 carries the sync pulse
    out = np.empty((rate, _N_SAVED[stream]), dtype=np.int16)
    np.rint(data, out=data)
    np.clip(data, -32768, 32767, out=data)
    out[:, :-1] = data
    del data
    out[:, -1] = sync
    out.setflags(write=False)
    return out


def _square_wave(rate: int) -> np.ndarray:
    """The 1 Hz, 50 % duty sync pulse SpikeGLX records, as the sync word of one second."""
    wave = np.zeros(rate, dtype=np.int16)
    wave[: rate // 2] = SYNC_BIT
    return wave


def _block_offset(stream: Stream, seed: int, block: int, probe: int = 0) -> int:
    # Probe 0 keeps the original draws; further probes reuse the pattern with their own offsets (cheap).
    rng = _rng(seed, stream, block) if probe == 0 else _rng(seed, stream, block, probe)
    return int(rng.integers(0, _RATES[stream]))


@lru_cache(maxsize=2)
def _digital_word(mode: NidqDigital) -> np.ndarray:
    """One second of the NIDQ digital word (XD0..XD7 as bits 0..7) for ``"silent"`` or ``"events"``
    (read-only, cached); ``"square"`` is the word already in the NIDQ pattern."""
    word = np.zeros(NIDQ_RATE, dtype=np.int16)
    if mode == "events":
        per_ms = NIDQ_RATE // 1000
        for bit, start_ms, stop_ms in EVENT_PULSES:
            word[start_ms * per_ms : stop_ms * per_ms] |= 1 << bit
    word.setflags(write=False)
    return word


def _block(
    stream: Stream, seed: int, block: int, probe: int = 0, nidq_digital: NidqDigital = "square"
) -> np.ndarray:
    """Second number ``block`` of the recording: the pattern rotated in time, sync word kept in phase."""
    pattern = _pattern(stream, seed)
    offset = _block_offset(stream, seed, block, probe)
    out = np.empty_like(pattern)
    length = pattern.shape[0]
    out[: length - offset, :-1] = pattern[offset:, :-1]
    out[length - offset :, :-1] = pattern[:offset, :-1]
    if stream == "nidq" and nidq_digital != "square":
        out[:, -1] = _digital_word(nidq_digital)
    else:
        out[:, -1] = pattern[:, -1]
    return out


def sample_traces(
    stream: Stream,
    start: int,
    stop: int,
    *,
    seed: int = 0,
    probe: int = 0,
    nidq_digital: NidqDigital = "square",
) -> np.ndarray:
    """The exact int16 samples (all saved channels) :func:`make_spikeglx_sample` writes for frames
    ``start:stop`` of ``stream``: lets tests check a reader against the generator without reading twice.

    Frames count on the acquisition clock, so the file ``_g<G>_t<T>`` holds the frames from its
    :func:`first_sample` on; ``probe`` selects ``imec<probe>`` (ignored for ``nidq``)."""
    rate = _RATES[stream]
    if stream == "nidq":
        probe = 0
    parts = []
    for block in range(start // rate, (stop - 1) // rate + 1):
        data = _block(stream, seed, block, probe, nidq_digital)
        lo = max(start - block * rate, 0)
        hi = min(stop - block * rate, rate)
        parts.append(data[lo:hi])
    if not parts:
        return np.empty((0, _N_SAVED[stream]), dtype=np.int16)
    return np.concatenate(parts)


def _write_bin(
    path: Path,
    stream: Stream,
    frames: int,
    seed: int,
    *,
    start: int = 0,
    probe: int = 0,
    nidq_digital: NidqDigital = "square",
) -> str:
    """Write frames ``start:start + frames`` one second-block at a time; return the SHA1 SpikeGLX records
    in the .meta."""
    rate = _RATES[stream]
    stop = start + frames
    sha1 = hashlib.sha1()
    with path.open("wb") as handle:
        for block in range(start // rate, (stop - 1) // rate + 1):
            data = _block(stream, seed, block, probe, nidq_digital)
            data = data[max(start - block * rate, 0) : min(stop - block * rate, rate)]
            view = np.ascontiguousarray(data).data  # contiguous rows: no copy
            sha1.update(view)
            handle.write(view)
    return sha1.hexdigest().upper()


def _chan_map(prefix: str, first_index: int, sync_index: int, header: str) -> str:
    entries = "".join(f"({prefix}{i};{first_index + i}:{first_index + i})" for i in range(N_NEURAL))
    return f"({header}){entries}(SY0;{sync_index}:{sync_index})"


def _run_keys(
    stream: Stream, seconds: float, *, gate: int, trigger: int, triggers: int, probes: int, nidq: bool
) -> dict[str, str]:
    """The .meta keys that say where this file sits in the run, over the single-file defaults of
    :func:`_imec_meta` / :func:`_nidq_meta`; empty for the default run, so its files stay byte-identical."""
    keys: dict[str, str] = {}
    first = first_sample(stream, seconds, gate=gate, trigger=trigger, triggers=triggers)
    if first:
        keys["firstSample"] = str(first)
        created = FILE_CREATE_TIME + timedelta(seconds=first / _RATES[stream])
        keys["fileCreateTime"] = created.isoformat(timespec="seconds")
    if probes != 1:
        keys["typeImEnabled"] = str(probes)
    if nidq:
        keys["typeNiEnabled"] = "1"
    if triggers > 1:  # SpikeGLX's timed trigger: TL0 latency, then NH files of H seconds, TL seconds apart
        keys.update(
            trigMode="Timed",
            trgTmH=f"{seconds:g}",
            trgTmIsHInf="false",
            trgTmIsNInf="false",
            trgTmNH=str(triggers),
            trgTmTL=f"{TRIGGER_GAP_SECONDS:g}",
            trgTmTL0="0",
        )
    return keys


def _imec_meta(
    stream: Literal["ap", "lf"], bin_path: Path, frames: int, sha1: str, probe: int = 0
) -> dict[str, str]:
    n_saved = _N_SAVED[stream]
    rate = _RATES[stream]
    imro = "".join(f"({c} 0 0 {AP_GAIN} {LF_GAIN} 1)" for c in range(N_NEURAL))
    shank_map = "".join(f"(0:{c % 2}:{c // 2}:1)" for c in range(N_NEURAL))
    if stream == "ap":
        sns_ap_lf_sy, subset = f"{N_NEURAL},0,1", f"0:{N_NEURAL - 1},{2 * N_NEURAL}"
        chan_map = _chan_map("AP", 0, 2 * N_NEURAL, f"{N_NEURAL},{N_NEURAL},1")
    else:
        sns_ap_lf_sy, subset = f"0,{N_NEURAL},1", f"{N_NEURAL}:{2 * N_NEURAL - 1},{2 * N_NEURAL}"
        chan_map = _chan_map("LF", N_NEURAL, 2 * N_NEURAL, f"{N_NEURAL},{N_NEURAL},1")
    return {
        "acqApLfSy": f"{N_NEURAL},{N_NEURAL},1",
        "appVersion": "20201103",
        "fileCreateTime": FILE_CREATE_TIME.isoformat(timespec="seconds"),
        "fileName": bin_path.as_posix(),
        "fileSHA1": sha1,
        "fileSizeBytes": str(frames * n_saved * 2),
        "fileTimeSecs": f"{frames / rate:g}",
        "firstSample": "0",
        "gateMode": "Immediate",
        "imAiRangeMax": "0.6",
        "imAiRangeMin": "-0.6",
        "imCalibrated": "true",
        "imDatApi": "3.31",
        "imDatBs_fw": "2.0.137",
        "imDatBsc_fw": "3.2.176",
        "imDatBsc_hw": "2.1",
        "imDatBsc_pn": "NP2_QBSC_00",
        "imDatBsc_sn": "434",
        "imDatFx_hw": "1.2",
        "imDatFx_pn": "NP2_FLEX_0",
        "imDatHs_fw": "5.1",
        "imDatHs_pn": "NP2_HS_30",
        "imDatHs_sn": "1116",
        "imDatPrb_dock": "1",
        "imDatPrb_pn": PROBE_PART_NUMBER,
        "imDatPrb_port": str(1 + probe),  # probe P on port P + 1 of the base station in slot 2
        "imDatPrb_slot": "2",
        "imDatPrb_sn": str(18194809281 + probe),
        "imDatPrb_type": "0",
        "imLEDEnable": "false",
        "imMaxInt": "512",
        "imRoFile": "",
        "imSampRate": str(rate),
        "imStdby": "",
        "imTrgRising": "true",
        "imTrgSource": "0",
        "nDataDirs": "1",
        "nSavedChans": str(n_saved),
        "snsApLfSy": sns_ap_lf_sy,
        "snsSaveChanSubset": subset,
        "syncImInputSlot": "2",
        "syncSourceIdx": "0",
        "syncSourcePeriod": "1",
        "trigMode": "Immediate",
        "typeImEnabled": "1",
        "typeNiEnabled": "0",
        "typeThis": "imec",
        "userNotes": "synthetic recording written by nwbagent.sample",
        "~imroTbl": f"(0,{N_NEURAL}){imro}",
        "~snsChanMap": chan_map,
        "~snsShankMap": f"(1,2,480){shank_map}",
    }


def _nidq_meta(bin_path: Path, frames: int, sha1: str) -> dict[str, str]:
    n_saved = _N_SAVED["nidq"]
    analog = "".join(f"(XA{i};{i}:{i})" for i in range(NIDQ_ANALOG))
    return {
        "acqMnMaXaDw": f"0,0,{NIDQ_ANALOG},1",
        "appVersion": "20201103",
        "fileCreateTime": FILE_CREATE_TIME.isoformat(timespec="seconds"),
        "fileName": bin_path.as_posix(),
        "fileSHA1": sha1,
        "fileSizeBytes": str(frames * n_saved * 2),
        "fileTimeSecs": f"{frames / NIDQ_RATE:g}",
        "firstSample": "0",
        "gateMode": "Immediate",
        "nDataDirs": "1",
        "nSavedChans": str(n_saved),
        "niAiRangeMax": "5",
        "niAiRangeMin": "-5",
        "niAiTermination": "Default",
        "niClockLine1": "Internal",
        "niClockSource": f"PXI1Slot4_2 : {NIDQ_RATE}",
        "niDev1": "PXI1Slot4",
        "niDev1ProductName": "PXIe-6341",
        "niMAChans1": "",
        "niMAGain": "1",
        "niMNChans1": "",
        "niMNGain": "200",
        "niMaxInt": "32768",
        "niMuxFactor": "1",
        "niSampRate": str(NIDQ_RATE),
        "niStartEnable": "false",
        "niXAChans1": f"0:{NIDQ_ANALOG - 1}",
        "niXDBytes1": "1",
        "niXDChans1": "0:7",
        "snsMnMaXaDw": f"0,0,{NIDQ_ANALOG},1",
        "snsSaveChanSubset": "all",
        "syncNiChan": "0",
        "syncNiChanType": "0",
        "syncNiThresh": "1.1",
        "syncSourceIdx": "0",
        "syncSourcePeriod": "1",
        "trigMode": "Immediate",
        "typeImEnabled": "1",
        "typeNiEnabled": "1",
        "typeThis": "nidq",
        "userNotes": "synthetic recording written by nwbagent.sample",
        "~snsChanMap": f"(0,0,{NIDQ_ANALOG},1,1){analog}(XD0;{NIDQ_ANALOG}:{NIDQ_ANALOG})",
    }


def _write_meta(path: Path, meta: dict[str, str]) -> None:
    # SpikeGLX writes plain keys sorted, then the ~ (table) keys.
    keys = sorted(k for k in meta if not k.startswith("~")) + sorted(k for k in meta if k.startswith("~"))
    path.write_text("".join(f"{k}={meta[k]}\n" for k in keys))


def make_spikeglx_sample(
    outdir: Path,
    seconds: float,
    *,
    seed: int = 0,
    lf: bool = True,
    nidq: bool = False,
    gates: int = 1,
    triggers: int = 1,
    probes: int = 1,
    folder_per_probe: bool | None = None,
    nidq_digital: NidqDigital = "square",
) -> Path:
    """Write a Neuropixels 1.0 SpikeGLX run (imec AP, optionally LF and NIDQ) of ``seconds`` per file and
    return the folder to read. Same arguments give byte-identical files.

    By default this is ``<outdir>/sample_g0/`` with one ``sample_g0_t0.*`` file pair per stream (returned).

    - ``triggers`` > 1 writes ``sample_g0_t0``, ``sample_g0_t1``, … in each gate folder (SpikeGLX's timed
      trigger).
    - ``gates`` > 1 writes ``<outdir>/sample_g0/``, ``<outdir>/sample_g1/``, … side by side and returns
      ``outdir`` (the SpikeGLX data directory).
    - ``probes`` > 1 writes ``imec0``, ``imec1``, … each in its own ``sample_g<N>_imec<P>/`` folder
      (SpikeGLX's "folder per probe", the default whenever ``probes`` > 1; ``folder_per_probe`` chooses).
      NIDQ files stay in the gate folder.
    - ``nidq_digital`` sets the NIDQ digital word: ``"square"`` (XD0 carries the 1 Hz sync pulse),
      ``"silent"`` (all lines low) or ``"events"`` (XD1 and XD2 pulse as in :data:`EVENT_PULSES`, every
      second).

    Each file holds the frames ``first_sample(...)`` to ``first_sample(...) + n_frames(...)`` of
    :func:`sample_traces` for its stream and probe, and its .meta says so (``firstSample``, ``fileName``,
    ``fileSizeBytes``, ``fileSHA1``, ``typeImEnabled``, ``typeNiEnabled``, trigger mode)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    for name, value in (("gates", gates), ("triggers", triggers), ("probes", probes)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if folder_per_probe is None:
        folder_per_probe = probes > 1
    outdir = Path(outdir)
    streams: list[Stream] = ["ap"]
    if lf:
        streams.append("lf")
    for gate in range(gates):
        gate_folder = outdir / f"{RUN_NAME}_g{gate}"
        gate_folder.mkdir(parents=True, exist_ok=True)
        for trigger in range(triggers):
            prefix = f"{RUN_NAME}_g{gate}_t{trigger}"
            files: list[tuple[Stream, int, Path]] = []
            for probe in range(probes):
                folder = gate_folder / f"{RUN_NAME}_g{gate}_imec{probe}" if folder_per_probe else gate_folder
                folder.mkdir(exist_ok=True)
                files += [(stream, probe, folder / f"{prefix}.imec{probe}.{stream}") for stream in streams]
            if nidq:
                files.append(("nidq", 0, gate_folder / f"{prefix}.nidq"))
            for stream, probe, stem in files:
                bin_path = stem.with_name(stem.name + ".bin")
                frames = n_frames(stream, seconds)
                start = first_sample(stream, seconds, gate=gate, trigger=trigger, triggers=triggers)
                sha1 = _write_bin(
                    bin_path, stream, frames, seed, start=start, probe=probe, nidq_digital=nidq_digital
                )
                meta = (
                    _nidq_meta(bin_path, frames, sha1)
                    if stream == "nidq"
                    else _imec_meta(stream, bin_path, frames, sha1, probe)
                )
                meta.update(
                    _run_keys(
                        stream,
                        seconds,
                        gate=gate,
                        trigger=trigger,
                        triggers=triggers,
                        probes=probes,
                        nidq=nidq,
                    )
                )
                _write_meta(stem.with_name(stem.name + ".meta"), meta)
    return outdir if gates > 1 else outdir / f"{RUN_NAME}_g0"


def sample_metadata() -> dict[str, Any]:
    """Complete example metadata for the sample (flat form): with it the demo conversion is DANDI-ready."""
    return {
        "subject_id": "mouse001",
        "species": "Mus musculus",
        "sex": "M",
        "age": "P90D",
        "strain": "C57BL/6J",
        "subject_description": "Adult C57BL/6J mouse, head-fixed.",
        "experimenter": ["Doe, Jane"],
        "institution": "Example University",
        "lab": "Example Systems Neuroscience Lab",
        "session_description": "Synthetic Neuropixels 1.0 recording from dorsal hippocampus (nwbagent).",
        "experiment_description": "Demonstration: a SpikeGLX recording converted to a DANDI-ready NWB file.",
        "keywords": ["Neuropixels", "hippocampus", "CA1", "extracellular electrophysiology"],
        "brain_region": "CA1",
        "session_start_time": FILE_CREATE_TIME.isoformat(timespec="seconds") + "-05:00",
    }


def sample_metadata_yaml() -> str:
    """The text of ``examples/metadata.yaml``: :func:`sample_metadata` as YAML."""
    return yaml.safe_dump(sample_metadata(), sort_keys=False, allow_unicode=True)
