"""Write speed: NeuroConv's default HDF5 write against nwbagent's fast path, on the same recording.

Converts one recording (by default a synthetic Neuropixels 1.0 SpikeGLX run, AP band only: 385 channels ×
30 kHz int16, cached under the work folder) four times, each run in its own fresh Python process so that its
peak RSS (``wait4`` → ``ru_maxrss``) is its own:

1. write stage, NeuroConv default: the plan nwbagent builds (same interfaces, same metadata), then only
   ``pipe.run_conversion(backend="hdf5")`` is timed;
2. write stage, fast path: the same plan, only ``direct_write.run_conversion`` is timed;
3. end to end, the plain NeuroConv script a lab writes today (``SpikeGLXConverterPipe``), timed by this
   process around the whole child (start-up, imports, conversion); skipped for a non-SpikeGLX ``--source``;
4. end to end, ``nwbagent convert --writer direct``, timed the same way (start-up, detection, conversion,
   NWB Inspector, reports).

The source files are read once before timing so every run reads them from the page cache, and dirty pages
are flushed (``sync``) between runs so no run pays for writing back the previous run's output. Prints wall
time, throughput (MB/s of raw recording data), output size and peak RSS per run, the ratios and the targets
(write throughput ≥ 8×, end to end ≥ 5×, fast output no larger than NeuroConv's, peak RSS of both fast-path
runs ≤ 500 MB). Then reads both write-stage files back with h5py and checks every ElectricalSeries in
``acquisition`` is identical, block by block. MB are 10^6 bytes.

    .venv/bin/python bench/write.py                      # 60 s synthetic recording (1.39 GB raw)
    .venv/bin/python bench/write.py --seconds 5          # quick
    .venv/bin/python bench/write.py --source DIR --json results.json --check

Exit status: 0 done; 1 with ``--check`` when a target is missed; 2 when a run fails or the two write-stage
files differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METADATA = REPO / "examples" / "metadata.yaml"
MB = 1e6
VERIFY_ROWS = 100_000
TARGET_WRITE_SPEEDUP = 8.0
TARGET_END_TO_END_SPEEDUP = 5.0
TARGET_PEAK_RSS_MB = 500.0

# What a lab writes today; argv: recording folder, output file.
PLAIN_SCRIPT = """\
import sys
from zoneinfo import ZoneInfo
from neuroconv.converters import SpikeGLXConverterPipe
converter = SpikeGLXConverterPipe(folder_path=sys.argv[1])
metadata = converter.get_metadata()
start = metadata["NWBFile"]["session_start_time"]
metadata["NWBFile"]["session_start_time"] = start.replace(tzinfo=ZoneInfo("UTC"))
metadata["Subject"] = dict(subject_id="mouse001", species="Mus musculus", sex="M", age="P56D")
converter.run_conversion(nwbfile_path=sys.argv[2], metadata=metadata, overwrite=True)
"""

RUNS = {
    "neuroconv": "write stage, NeuroConv default",
    "direct": "write stage, fast path",
    "script": "end to end, plain NeuroConv script",
    "nwbagent": "end to end, nwbagent convert",
}


class BenchError(Exception):
    """A run failed or the outputs disagree: exit 2."""


# ---------------------------------------------------------------- child: one timed write stage


def child_write(writer: str, source: Path, out_dir: Path) -> int:
    """Build the plan exactly as ``nwbagent convert`` does, time only the write, print one JSON line."""
    import yaml

    from nwbagent.convert import direct_write
    from nwbagent.convert import run as R
    from nwbagent.formats import detect
    from nwbagent.metadata import from_user
    from nwbagent.settings import get_settings

    source = source.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    units = R.select_units(detect(source))
    layers = [from_user(yaml.safe_load(METADATA.read_text()))]
    plan = R._plan(units, source, out_dir, layers, False)
    raw_bytes = R._total_bytes(plan)
    tracker = R.ProgressTracker(raw_bytes, None)
    options = R._conversion_options(plan, tracker)
    path = plan.nwb_path
    path.parent.mkdir(parents=True, exist_ok=True)  # DANDI layout: sub-<id>/sub-<id>_ses-<id>_ecephys.nwb
    settings = get_settings()
    stats: dict[str, int] = {}
    started = time.perf_counter()
    if writer == "neuroconv":
        # NeuroConv's defaults throughout: default backend configuration and default iterator options
        # (nwbagent's own buffer_gb setting is left out so the baseline is NeuroConv as shipped).
        plan.pipe.run_conversion(
            nwbfile_path=str(path),
            metadata=plan.metadata,
            overwrite=True,
            backend="hdf5",
        )
    else:
        fill = R._write(plan, path, "hdf5", options, tracker, direct=True)  # exactly what convert runs
        assert fill is not None
        stats = {
            "datasets": fill.datasets,
            "chunks": fill.chunks,
            "raw_bytes": fill.raw_bytes,
            "stored_bytes": fill.stored_bytes,
            "threads": settings.write_threads or direct_write.default_threads(),
            "level": settings.write_gzip_level,
        }
    seconds = time.perf_counter() - started
    recordings = []
    for key, iface in plan.pipe.data_interface_objects.items():
        rec = getattr(iface, "recording_extractor", None)
        if rec is None:
            continue
        frames = sum(rec.get_num_samples(segment_index=i) for i in range(rec.get_num_segments()))
        recordings.append(
            {
                "interface": key,
                "channels": rec.get_num_channels(),
                "rate_hz": float(rec.get_sampling_frequency()),
                "frames": int(frames),
                "seconds": frames / float(rec.get_sampling_frequency()),
                "dtype": str(rec.get_dtype()),
                "raw_bytes": R._recording_bytes(iface, False),
            }
        )
    result = {
        "writer": writer,
        "seconds": seconds,
        "raw_bytes": raw_bytes,
        "nwb": str(path),
        "output_bytes": path.stat().st_size,
        "interfaces": [u.interface for u in plan.units],
        "recordings": recordings,
        "fill": stats,
    }
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- parent


def _measure(name: str, cmd: list[str], logs: Path) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process; wall time around the whole process and its peak RSS from wait4.

    stdout and stderr go to files (a pipe nobody reads while we sit in wait4 could fill up and block).
    """
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{name}.stdout", logs / f"{name}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "exit_code": proc.returncode,
        "peak_rss_bytes": rusage.ru_maxrss * 1024,  # KiB on Linux
        "stdout": out_path.read_text(errors="replace"),
        "stderr": err_path.read_text(errors="replace"),
    }


def _fail(name: str, cmd: list[str], run: dict[str, Any], why: str) -> BenchError:
    tail = "\n".join(run["stderr"].strip().splitlines()[-40:])
    return BenchError(
        f"{RUNS[name]} failed ({why}, exit code {run['exit_code']}).\n"
        f"command: {' '.join(cmd)}\n--- stderr (last 40 lines) ---\n{tail}"
    )


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                return None
    return None


def _json_document(text: str) -> dict[str, Any] | None:
    """The JSON ``nwbagent convert --json`` prints, even if a library printed something before it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip() == "{":
            try:
                return dict(json.loads("\n".join(lines[i:])))
            except json.JSONDecodeError:
                continue
    return None


def run_write_stage(writer: str, source: Path, out_dir: Path, logs: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-write",
        writer,
        "--source",
        str(source),
        "--workdir",
        str(out_dir),
    ]
    run = _measure(writer, cmd, logs)
    result = _last_json_line(run["stdout"])
    if run["exit_code"] != 0 or result is None:
        raise _fail(writer, cmd, run, "no result" if run["exit_code"] == 0 else "crashed")
    return {
        "name": RUNS[writer],
        "process_wall_s": run["wall_s"],
        "wall_s": result["seconds"],
        "raw_bytes": result["raw_bytes"],
        "output_bytes": result["output_bytes"],
        "peak_rss_bytes": run["peak_rss_bytes"],
        "nwb": result["nwb"],
        "interfaces": result["interfaces"],
        "recordings": result["recordings"],
        "fill": result["fill"],
    }


def run_script(source: Path, out_dir: Path, logs: Path, raw_bytes: int) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    nwb = out_dir / "plain_neuroconv.nwb"
    cmd = [sys.executable, "-c", PLAIN_SCRIPT, str(source), str(nwb)]
    run = _measure("script", cmd, logs)
    if run["exit_code"] != 0 or not nwb.exists():
        raise _fail(
            "script",
            ["python", "-c", "<plain NeuroConv script>", str(source), str(nwb)],
            run,
            "crashed or wrote no file",
        )
    return {
        "name": RUNS["script"],
        "wall_s": run["wall_s"],
        "raw_bytes": raw_bytes,
        "output_bytes": nwb.stat().st_size,
        "peak_rss_bytes": run["peak_rss_bytes"],
        "nwb": str(nwb),
    }


def _median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time stands for its kind; peak RSS is the highest of all repeats."""
    ordered = sorted(results, key=lambda r: r["wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_wall_s"] = [r["wall_s"] for r in results]
    chosen["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in results)
    return chosen


def _nwbagent_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "nwbagent"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nwbagent.cli"]


def run_nwbagent(source: Path, out_dir: Path, logs: Path, raw_bytes: int) -> dict[str, Any]:
    cmd = [
        *_nwbagent_cmd(),
        "convert",
        str(source),
        "-o",
        str(out_dir),
        "--metadata",
        str(METADATA),
        "--writer",
        "direct",
        "--quiet",
        "--overwrite",
        "--json",
    ]
    run = _measure("nwbagent", cmd, logs)
    result = _json_document(run["stdout"])
    if result is None or not result.get("outputs"):
        raise _fail("nwbagent", cmd, run, "no JSON result on stdout")
    outputs = result["outputs"]
    return {
        "name": RUNS["nwbagent"],
        "wall_s": run["wall_s"],
        "raw_bytes": raw_bytes,
        "output_bytes": sum(int(o["size_bytes"]) for o in outputs),
        "peak_rss_bytes": run["peak_rss_bytes"],
        "exit_code": run["exit_code"],
        "nwb": [o["nwb"] for o in outputs],
        "verdicts": [o["verdict"] for o in outputs],
        "writer": [o.get("writer") for o in outputs],
        "reported_seconds": [o["seconds"] for o in outputs],
    }


def sample_recording(workdir: Path, seconds: float) -> Path:
    """The synthetic run under ``workdir/recording``, reused when its .bin has the expected size."""
    from nwbagent.sample import make_spikeglx_sample, n_frames, n_saved_channels

    root = workdir / "recording"
    folder = root / "sample_g0"
    bin_path = folder / "sample_g0_t0.imec0.ap.bin"
    meta_path = folder / "sample_g0_t0.imec0.ap.meta"
    expected = n_frames("ap", seconds) * n_saved_channels("ap") * 2
    cached = bin_path.exists() and meta_path.exists() and bin_path.stat().st_size == expected
    if cached and f"fileSizeBytes={expected}\n" in meta_path.read_text():
        print(f"reusing the cached sample recording {folder}")
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    print(f"writing a {seconds:g} s synthetic Neuropixels recording to {folder} ...", flush=True)
    started = time.perf_counter()
    made = make_spikeglx_sample(root, seconds, lf=False)
    print(f"  done in {time.perf_counter() - started:.1f} s")
    return made


def warm_page_cache(source: Path) -> tuple[int, int, float]:
    """Read every file of the recording once (SpikeGLX: the .bin/.meta pairs) so runs read from memory."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    total = 0
    buf = bytearray(16 << 20)
    started = time.perf_counter()
    for path in files:
        with path.open("rb", buffering=0) as handle:
            while n := handle.readinto(buf):
                total += n
    return len(files), total, time.perf_counter() - started


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _series(h5: Any) -> dict[str, tuple[str, Any]]:
    """Every series in ``acquisition`` with a data array: name → (neurodata type, dataset)."""
    found = {}
    for name, obj in h5.get("acquisition", {}).items():
        kind = obj.attrs.get("neurodata_type", b"")
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if "data" in obj and hasattr(obj["data"], "shape"):
            found[name] = (kind, obj["data"])
    return found


def _filters(dset: Any) -> dict[str, Any]:
    return {
        "compression": dset.compression,
        "compression_opts": dset.compression_opts,
        "shuffle": bool(dset.shuffle),
        "chunks": list(dset.chunks) if dset.chunks else None,
        "stored_bytes": int(dset.id.get_storage_size()),
    }


def verify(reference: Path, fast: Path) -> dict[str, Any]:
    """Every series in ``acquisition`` of both files (the ElectricalSeries and any other, e.g. the sync
    channel), compared VERIFY_ROWS rows at a time; raise on any difference."""
    import h5py
    import numpy as np

    filters: dict[str, dict[str, Any]] = {"neuroconv": {}, "direct": {}}
    rows_compared = 0
    with h5py.File(reference, "r") as fa, h5py.File(fast, "r") as fb:
        sa, sb = _series(fa), _series(fb)
        if not any(kind == "ElectricalSeries" for kind, _ in sa.values()):
            raise BenchError(f"no ElectricalSeries in acquisition of {reference}: nothing to compare")
        if sorted(sa) != sorted(sb):
            raise BenchError(f"different series: NeuroConv {sorted(sa)} vs fast path {sorted(sb)}")
        for name in sorted(sa):
            (kind, da), (_, db) = sa[name], sb[name]
            filters["neuroconv"][name] = {"type": kind, **_filters(da)}
            filters["direct"][name] = {"type": kind, **_filters(db)}
            if da.shape != db.shape or da.dtype != db.dtype:
                raise BenchError(
                    f"{name}: NeuroConv {da.shape} {da.dtype} vs fast path {db.shape} {db.dtype}"
                )
            for start in range(0, da.shape[0], VERIFY_ROWS):
                stop = min(da.shape[0], start + VERIFY_ROWS)
                a, b = da[start:stop], db[start:stop]
                if not np.array_equal(a, b):
                    row = start + int(np.flatnonzero((a != b).reshape(len(a), -1).any(axis=1))[0])
                    raise BenchError(f"{name}: data differ, first at row {row} (block {start}:{stop})")
                rows_compared += stop - start
    series = [f"{name} ({filters['direct'][name]['type']}, {sa[name][1].shape})" for name in sorted(sa)]
    return {"identical": True, "series": series, "rows_compared": rows_compared, "filters": filters}


def _mb(n: float) -> float:
    return n / MB


def _target(value: float | None, ok: bool | None, text: str, shown: str) -> dict[str, Any]:
    return {"target": text, "value": value, "met": ok, "shown": shown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic recording")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "nwbagent-bench-write",
        help="sample cache and outputs (default: %(default)s)",
    )
    parser.add_argument("--source", type=Path, help="bench this recording folder instead of the sample")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write all figures to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the NWB outputs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of the four runs; medians are reported (default 3)"
    )
    parser.add_argument("--child-write", choices=["neuroconv", "direct"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_write:
        return child_write(args.child_write, args.source, args.workdir)
    try:
        return bench(args)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir.expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    source = args.source.expanduser().resolve() if args.source else sample_recording(workdir, args.seconds)
    if not source.exists():
        raise BenchError(f"{source} does not exist")
    outputs = workdir / "out"
    logs = workdir / "logs"
    if outputs.exists():
        shutil.rmtree(outputs)

    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load_before = os.getloadavg()
    print(f"machine: {cores} cores ({usable} usable), load average {load_before[0]:.2f} (1 min)")
    if load_before[0] > 0.5:
        print(f"  note: the machine is not idle (load {load_before[0]:.2f}); timings may be noisy")
    n_files, warmed, warm_s = warm_page_cache(source)
    available = _mem_available()
    print(
        f"warmed the page cache: read {_mb(warmed):.0f} MB from {n_files} file(s) of {source} in "
        f"{warm_s:.2f} s, so both write paths read the recording from memory"
    )
    if available is not None and warmed > 0.5 * available:
        print(f"  note: only {_mb(available):.0f} MB available; the page cache may not hold the recording")
    try:
        return _bench_runs(args, source, outputs, logs, cores, load_before, warmed)
    finally:
        if args.keep:
            print(f"\noutputs kept in {outputs}")
        else:
            shutil.rmtree(outputs, ignore_errors=True)


def _bench_runs(
    args: argparse.Namespace,
    source: Path,
    outputs: Path,
    logs: Path,
    cores: int,
    load_before: tuple[float, float, float],
    warmed: int,
) -> int:
    runs: dict[str, dict[str, Any] | None] = {}
    notes: list[str] = []
    repeats: dict[str, list[dict[str, Any]]] = {key: [] for key in RUNS}
    print(
        f"\nruns ({args.repeat} round(s) of the four, interleaved; each run in a fresh process, page cache "
        "re-warmed before and sync after each):",
        flush=True,
    )

    def timed(key: str, run: Any) -> None:
        # This VM reclaims page cache proactively (DAMON): re-read the source so every run finds it cached.
        warm_page_cache(source)
        print(f"  {RUNS[key]} ...", end="", flush=True)
        result = run()
        if result is not None:
            repeats[key].append(result)
        print(f" {result['wall_s']:.1f} s" if result else " skipped", flush=True)
        os.sync()

    os.sync()
    is_spikeglx: bool | None = None
    raw_bytes = 0
    for _ in range(args.repeat):
        for writer in ("neuroconv", "direct"):
            timed(writer, lambda w=writer: run_write_stage(w, source, outputs / w, logs))
        raw_bytes = int(repeats["direct"][-1]["raw_bytes"])
        if repeats["neuroconv"][-1]["raw_bytes"] != raw_bytes:
            raise BenchError("the two write stages wrote different numbers of raw bytes")
        if is_spikeglx is None:
            is_spikeglx = all(i.startswith("SpikeGLX") for i in repeats["direct"][-1]["interfaces"])
        if is_spikeglx:
            timed("script", lambda n=raw_bytes: run_script(source, outputs / "script", logs, n))
        timed("nwbagent", lambda n=raw_bytes: run_nwbagent(source, outputs / "nwbagent", logs, n))
    for key, results in repeats.items():
        runs[key] = _median_run(results) if results else None
    reference, fast = runs["neuroconv"], runs["direct"]
    assert reference is not None and fast is not None
    if not is_spikeglx:
        notes.append(
            f"end-to-end plain NeuroConv script skipped: {source} is not a SpikeGLX folder "
            f"(detected {', '.join(fast['interfaces'])})"
        )
    load_after = os.getloadavg()

    print("\nverifying: both write-stage files, every series in acquisition, block by block ...", flush=True)
    verification = verify(Path(reference["nwb"]), Path(fast["nwb"]))

    # -------------------------------------------------------------- report
    recordings = fast["recordings"]
    print("\nrecording:")
    for rec in recordings:
        print(
            f"  {rec['interface']}: {rec['channels']} channel{'s' if rec['channels'] != 1 else ''} × "
            f"{rec['rate_hz'] / 1000:g} kHz × "
            f"{rec['seconds']:.1f} s, {rec['dtype']}, {rec['raw_bytes'] / 1e9:.3f} GB raw"
        )
    print(f"  total raw data written: {raw_bytes / 1e9:.3f} GB; source files: {_mb(warmed):.0f} MB")
    print(
        f"machine: {cores} cores; load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )

    print(f"\n{'run':38} {'wall s':>8} {'raw MB/s':>9} {'output MB':>10} {'peak RSS MB':>12}")
    for key, label in RUNS.items():
        run = runs[key]
        if run is None:
            print(f"{label:38} {'skipped':>8}")
            continue
        run["raw_mb_s"] = _mb(run["raw_bytes"]) / run["wall_s"]
        walls = ", ".join(f"{w:.2f}" for w in run["all_wall_s"])
        print(
            f"{label:38} {run['wall_s']:8.2f} {run['raw_mb_s']:9.1f} {_mb(run['output_bytes']):10.1f} "
            f"{_mb(run['peak_rss_bytes']):12.0f}   ({walls})"
        )
    print(
        "  (wall: median of the rounds, all rounds in brackets; peak RSS: highest of the rounds. Write "
        "stage: the write call alone; end to end: the whole process, incl. start-up, imports, detection, "
        "inspection, reports)"
    )
    agent = runs["nwbagent"]
    assert agent is not None
    print(
        f"  nwbagent convert: verdict {', '.join(agent['verdicts'])}, "
        f"writer {', '.join(map(str, agent['writer']))}, "
        f"exit code {agent['exit_code']}, {', '.join(agent['nwb'])}"
    )
    if fast["fill"]:
        fill = fast["fill"]
        print(
            f"  fast path: {fill['chunks']} chunks in {fill['datasets']} dataset(s), {fill['threads']} "
            f"thread(s), ISA-L level {fill['level']}"
        )

    write_speedup = reference["wall_s"] / fast["wall_s"]
    script = runs["script"]
    e2e_speedup = script["wall_s"] / agent["wall_s"] if script else None
    size_ratio = fast["output_bytes"] / reference["output_bytes"]
    rss_fast_mb = _mb(fast["peak_rss_bytes"])
    rss_agent_mb = _mb(agent["peak_rss_bytes"])
    print("\nratios:")
    print(f"  write throughput, fast / NeuroConv:        {write_speedup:6.2f}x")
    if e2e_speedup is not None:
        print(f"  end-to-end wall, script / nwbagent:        {e2e_speedup:6.2f}x")
    else:
        print("  end-to-end wall, script / nwbagent:        n/a (script skipped)")
    print(f"  output size, fast / NeuroConv:             {size_ratio:6.3f}")
    print(f"  peak RSS, fast write stage:                {rss_fast_mb:6.0f} MB")
    print(f"  peak RSS, nwbagent convert:                {rss_agent_mb:6.0f} MB")

    ok_e2e = None if e2e_speedup is None else e2e_speedup >= TARGET_END_TO_END_SPEEDUP
    targets = {
        "write_throughput": _target(
            write_speedup,
            write_speedup >= TARGET_WRITE_SPEEDUP,
            f">= {TARGET_WRITE_SPEEDUP:g}x",
            f"{write_speedup:.2f}x",
        ),
        "end_to_end": _target(
            e2e_speedup,
            ok_e2e,
            f">= {TARGET_END_TO_END_SPEEDUP:g}x",
            "n/a" if e2e_speedup is None else f"{e2e_speedup:.2f}x",
        ),
        "output_size": _target(
            size_ratio, fast["output_bytes"] <= reference["output_bytes"], "<= 1", f"{size_ratio:.4f}"
        ),
        "peak_rss_fast_write": _target(
            rss_fast_mb,
            rss_fast_mb <= TARGET_PEAK_RSS_MB,
            f"<= {TARGET_PEAK_RSS_MB:g} MB",
            f"{rss_fast_mb:.0f} MB",
        ),
        "peak_rss_nwbagent_convert": _target(
            rss_agent_mb,
            rss_agent_mb <= TARGET_PEAK_RSS_MB,
            f"<= {TARGET_PEAK_RSS_MB:g} MB",
            f"{rss_agent_mb:.0f} MB",
        ),
    }
    labels = {
        "write_throughput": "write throughput fast/NeuroConv",
        "end_to_end": "end-to-end wall script/nwbagent",
        "output_size": "output size fast/NeuroConv",
        "peak_rss_fast_write": "peak RSS, fast write stage",
        "peak_rss_nwbagent_convert": "peak RSS, nwbagent convert",
    }
    print("\ntargets:")
    for key, t in targets.items():
        status = "n/a (skipped)" if t["met"] is None else "MET" if t["met"] else "MISSED"
        print(f"  {labels[key]:34} {t['shown']:>8}  target {t['target']:10} {status}")

    print(
        f"\ndata identical: {', '.join(verification['series'])}, {verification['rows_compared']:,} rows "
        f"compared in blocks of {VERIFY_ROWS:,}"
    )
    print("dataset filters:")
    for writer, per_series in verification["filters"].items():
        for name, f in per_series.items():
            print(
                f"  {RUNS[writer]:30} {name} ({f['type']}): compression={f['compression']} "
                f"compression_opts={f['compression_opts']} shuffle={f['shuffle']} "
                f"chunks={tuple(f['chunks'] or ())} "
                f"stored {_mb(f['stored_bytes']):.3f} MB"
            )
    for note in notes:
        print(f"note: {note}")

    missed = [k for k, t in targets.items() if t["met"] is False]
    if args.json_path:
        document = {
            "source": str(source),
            "synthetic_seconds": None if args.source else args.seconds,
            "machine": {
                "cores": cores,
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "recordings": recordings,
            "raw_bytes": raw_bytes,
            "warmed_bytes": warmed,
            "runs": dict(runs),
            "ratios": {
                "write_throughput_fast_over_neuroconv": write_speedup,
                "end_to_end_script_over_nwbagent": e2e_speedup,
                "output_size_fast_over_neuroconv": size_ratio,
            },
            "targets": targets,
            "missed": missed,
            "verification": verification,
            "notes": notes,
        }
        args.json_path.write_text(json.dumps(document, indent=2, default=str))
        print(f"figures written to {args.json_path}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
