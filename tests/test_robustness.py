"""Layouts the shared data does not have, through the real CLI, read back, and judged by ``dandi validate``.

Every case of ``tests/corpus.py`` is converted in full once per run (module-scoped) through
``nwbagent convert``; each file is then read back and checked for what the case is about (segments become
series with unique names, experiments become files with their own start times, LFP-only and sorting-only
folders convert, empty event tables are gone, time bases agree), and validated with dandi-cli's own
validator, whose verdict ours must agree with. Damaged or incomplete variants must end in an explained
refusal or in a left-out stream with its fix, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

import corpus
from nwbagent.cli import EXIT_BAD_INPUT, main
from nwbagent.convert import convert
from nwbagent.inspect import inspect_nwb
from nwbagent.sample import sample_metadata
from test_convert_formats import COMPLETE, _case_folders

pytestmark = pytest.mark.usefixtures("ephy_data")

#: Cases whose files hold no start time: the user gives it (and nothing else differs).
NEEDS_START = {"neuralynx_sorting_only", "neuroscope_lfp_only", "neuroscope_eeg_only"}
#: Cases the installed NeuroConv would convert wrongly: refused, naming the reason and the way out.
REFUSED = {"axona_egf_dotted_folder": ("8-bit samples", "without dots")}
START = "2024-03-14T09:26:53-05:00"


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _metadata(tmp: Path, *, start: bool) -> Path:
    values = {k: v for k, v in sample_metadata().items() if k != "session_start_time"}
    if start:
        values["session_start_time"] = START
    path = tmp / ("meta-start.yaml" if start else "meta.yaml")
    path.write_text(yaml.safe_dump(values))
    return path


def _convert(source: Path, out: Path, meta: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        main, ["convert", str(source), "-o", str(out), "--metadata", str(meta), "--quiet", "--json", *extra]
    )


def _outputs(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code in (0, 1), result.output
    return list(json.loads(result.stdout)["outputs"])


def dandi_errors(nwb: str | Path) -> list[str]:
    """What ``dandi validate`` reports as an error for one file (outside a dandiset, which it also says)."""
    from dandi.validate._core import validate

    errors = []
    for found in validate(str(nwb)):
        if found.id == "DANDI.NO_DANDISET_FOUND" or found.severity is None:
            continue
        if found.severity.name in ("ERROR", "CRITICAL"):
            errors.append(f"{found.id}: {found.message}")
    return errors


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every corpus case converted in full through the CLI, once."""
    tmp = tmp_path_factory.mktemp("robust")
    results = {}
    for name, build in corpus.CASES.items():
        source = build(tmp / "cases" / name)
        meta = _metadata(tmp, start=name in NEEDS_START)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[name] = _convert(source, tmp / "out" / name, meta)
    return results


@pytest.fixture(scope="module")
def converted(runs: dict[str, Result]) -> dict[str, list[dict[str, Any]]]:
    return {name: _outputs(run) for name, run in runs.items() if name not in REFUSED}


def _read(path: str) -> Any:
    from pynwb import NWBHDF5IO

    io = NWBHDF5IO(path, mode="r")
    return io, io.read()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_case_the_reader_would_misread_is_refused_with_the_way_out(
    case: str, runs: dict[str, Result]
) -> None:
    run = runs[case]
    assert run.exit_code == EXIT_BAD_INPUT, run.output
    assert all(phrase in run.stderr for phrase in REFUSED[case]), run.stderr
    assert "Traceback" not in run.output


@pytest.mark.parametrize("case", sorted(set(corpus.CASES) - set(REFUSED)))
def test_every_case_converts_and_dandi_agrees(case: str, converted: dict[str, list[dict[str, Any]]]) -> None:
    outputs = converted[case]
    assert outputs, case
    for out in outputs:
        errors = dandi_errors(out["nwb"])
        assert errors == [], (case, errors)
        assert out["verdict"] in ("PASSED", "PASSED_WITH_ISSUES"), (case, out["findings"])


def test_segments_of_a_spikeglx_run_are_series_with_unique_names(converted: dict[str, Any]) -> None:
    (out,) = converted["spikeglx_gates_triggers"]
    io, nwb = _read(out["nwb"])
    try:
        names = sorted(nwb.acquisition)
        series = [n for n in names if n.startswith("ElectricalSeries")]
        # 2 probes x (AP, LF) x 4 segments (g0 t0, g0 t1, g1 t0, g1 t1), and one sync channel per probe
        assert len(series) == 16 and len(set(series)) == 16, names
        ap0 = [nwb.acquisition[n] for n in series if n.startswith("ElectricalSeriesAPImec0")]
        starts = sorted(s.starting_time for s in ap0)
        assert starts == pytest.approx([0.0, 0.55, 2.1, 2.65], abs=1e-6)
        assert sum(n.startswith("TimeSeriesImec") for n in names) == 8
    finally:
        io.close()


def test_picking_a_gate_keeps_only_its_segments(tmp_path: Path) -> None:
    source = corpus.build_spikeglx_gates_triggers(tmp_path / "case")
    outputs = _outputs(_convert(source, tmp_path / "out", _metadata(tmp_path, start=False), "--select", "g1"))
    (out,) = outputs
    io, nwb = _read(out["nwb"])
    try:
        ap0 = [s for n, s in nwb.acquisition.items() if n.startswith("ElectricalSeriesAPImec0")]
        assert sorted(s.starting_time for s in ap0) == pytest.approx([2.1, 2.65], abs=1e-6)
    finally:
        io.close()


def test_open_ephys_experiments_are_files_with_their_own_start_times(converted: dict[str, Any]) -> None:
    outputs = converted["openephys_multi_experiment"]
    assert [o["acquisition"] for o in outputs] == ["experiment1", "experiment2", "experiment3"]
    starts = []
    for out in outputs:
        io, nwb = _read(out["nwb"])
        try:
            starts.append(nwb.session_start_time.strftime("%H:%M:%S"))
            assert nwb.session_id.endswith(out["acquisition"])
            assert len({n for n in nwb.acquisition}) == len(nwb.acquisition)
        finally:
            io.close()
    assert starts == [d.strftime("%H:%M:%S") for d in corpus.OE_SETTINGS_DATES]


def test_only_experiment_two(tmp_path: Path) -> None:
    node = corpus.build_openephys_multi_experiment(tmp_path / "case")
    outputs = _outputs(
        _convert(node, tmp_path / "out", _metadata(tmp_path, start=False), "--select", "experiment 2")
    )
    assert [o["acquisition"] for o in outputs] == ["experiment2"]


def test_pointing_at_one_experiment_folder_converts_it(tmp_path: Path) -> None:
    node = corpus.build_openephys_multi_experiment(tmp_path / "case")
    folder = next(node.rglob("experiment3"))
    (out,) = _outputs(_convert(folder, tmp_path / "out", _metadata(tmp_path, start=False)))
    io, nwb = _read(out["nwb"])
    try:
        assert nwb.session_start_time.strftime("%H:%M:%S") == corpus.OE_SETTINGS_DATES[2].strftime("%H:%M:%S")
    finally:
        io.close()


def test_silent_digital_lines_leave_no_empty_tables(converted: dict[str, Any]) -> None:
    for case in ("spikeglx_nidq_silent", "spikeglx_nidq_events"):
        (out,) = converted[case]
        io, nwb = _read(out["nwb"])
        try:
            tables = dict(nwb.events) if nwb.events else {}
            assert all(len(t) > 0 for t in tables.values()), case
            expected = 0 if case.endswith("silent") else 2  # XD1 and XD2 toggle in the eventful case
            assert len(tables) == expected, (case, sorted(tables))
        finally:
            io.close()
        assert any("empty table" in w for w in out["warnings"]), out["warnings"]


def test_nev_alone_converts_with_the_clock_of_its_header(converted: dict[str, Any]) -> None:
    (out,) = converted["blackrock_nev_only"]
    io, nwb = _read(out["nwb"])
    try:
        assert len(nwb.units) == 218
    finally:
        io.close()
    recipe = yaml.safe_load(Path(out["recipe"]).read_text())
    (kwargs,) = recipe["experiments"]["nwbagent"]["sessions"][0]["source_data"].values()
    assert kwargs["sampling_frequency"] == 30000.0


def test_lfp_only_and_spikes_only_folders(converted: dict[str, Any]) -> None:
    (axona,) = converted["axona_lfp_only"]
    io, nwb = _read(axona["nwb"])
    try:
        lfp = next(iter(nwb.processing["ecephys"]["LFP"].electrical_series.values()))
        assert lfp.rate == 250.0 and lfp.data.shape == (1500, 4)
        assert nwb.session_start_time.strftime("%Y-%m-%d %H:%M:%S") == "2020-10-04 11:07:07"
    finally:
        io.close()
    (nlx,) = converted["neuralynx_sorting_only"]
    io, nwb = _read(nlx["nwb"])
    try:
        assert len(nwb.units) > 0
    finally:
        io.close()


def test_intan_auxiliary_inputs_last_as_long_as_the_amplifier(
    converted: dict[str, Any], tmp_path: Path
) -> None:
    (out,) = converted["intan_one_file_per_channel"]
    info = Path(out["nwb"])  # the source is rebuilt here to compare raw samples
    source = corpus.build_intan_one_file_per_channel(tmp_path / "again")
    raw = np.fromfile(source.parent / "aux-A-AUX1.dat", dtype="<u2")
    io, nwb = _read(str(info))
    try:
        amplifier = nwb.acquisition["ElectricalSeries"]
        aux = nwb.acquisition["TimeSeriesIntanAuxiliary"]
        assert aux.rate == 7500.0
        assert aux.data.shape[0] / aux.rate == pytest.approx(amplifier.data.shape[0] / amplifier.rate)
        assert np.array_equal(aux.data[:, 0], raw[::4])
    finally:
        io.close()
    assert any("every fourth sample" in w for w in out["warnings"])


def test_neuroscope_lfp_is_written_at_its_own_rate(converted: dict[str, Any], tmp_path: Path) -> None:
    (out,) = converted["neuroscope_lfp_only"]
    source = corpus.build_neuroscope_lfp_only(tmp_path / "again")
    raw = np.fromfile(source / "test1.lfp", dtype="<i2").reshape(-1, 8)
    io, nwb = _read(out["nwb"])
    try:
        lfp = next(iter(nwb.processing["ecephys"]["LFP"].electrical_series.values()))
        assert lfp.rate == 1250.0 and lfp.data.shape == raw.shape
        assert np.array_equal(lfp.data[:], raw)
    finally:
        io.close()


# ---- damaged or incomplete variants --------------------------------------------------------------------


def _spikeglx(ephy_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", folder)
    return folder


def test_an_orphaned_header_leaves_its_stream_out_and_the_rest_converts(
    ephy_data: Path, tmp_path: Path
) -> None:
    folder = _spikeglx(ephy_data, tmp_path)
    ap = folder / "TEST_20210920_0_g0_t0.imec0.ap.meta"
    (folder / "TEST_20210920_0_g0_t0.imec0.lf.meta").write_text(
        ap.read_text().replace(".imec0.ap.bin", ".imec0.lf.bin")
    )
    result = CliRunner().invoke(
        main,
        [
            "convert",
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--metadata",
            str(_metadata(tmp_path, start=False)),
            "--quiet",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert "Left out imec0.lf g0 t0" in result.stdout and "is missing next to it" in result.stdout
    assert list((tmp_path / "out").rglob("*.nwb"))


def test_two_runs_in_one_folder_are_refused_with_the_fix(tmp_path: Path) -> None:
    a = corpus.build_spikeglx_nidq_silent(tmp_path / "a")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in a.iterdir():
        shutil.copy(path, mixed / path.name)
        shutil.copy(path, mixed / path.name.replace("sample_", "other_"))
    for meta in mixed.glob("other_*.meta"):
        meta.write_text(meta.read_text().replace("sample_g0", "other_g0"))
    result = _convert(mixed, tmp_path / "out", _metadata(tmp_path, start=False))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "2 SpikeGLX runs" in result.stderr and "own folder" in result.stderr
    assert not list((tmp_path / "out").rglob("*.nwb"))


def test_a_missing_value_is_asked_for_and_recorded(ephy_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "wm"
    folder.mkdir()
    real = next((ephy_data / "whitematter").glob("*.bin"))
    shutil.copy(real, folder / "HSW_2024_12_12__10_28_23__70min_17sec__hsamp_64ch_stub.bin")
    meta = _metadata(tmp_path, start=True)
    refused = _convert(folder, tmp_path / "out", meta)
    assert refused.exit_code == EXIT_BAD_INPUT
    assert "sampling frequency" in refused.stderr and "--option" in refused.stderr
    (out,) = _outputs(_convert(folder, tmp_path / "out", meta, "--option", "sampling_frequency=25 kHz"))
    recipe = yaml.safe_load(Path(out["recipe"]).read_text())
    (kwargs,) = recipe["experiments"]["nwbagent"]["sessions"][0]["source_data"].values()
    assert kwargs["sampling_frequency"] == 25000.0 and kwargs["num_channels"] == 64
    bad = _convert(folder, tmp_path / "bad", meta, "--option", "sampling_frequency=fast")
    assert bad.exit_code == EXIT_BAD_INPUT and "must be a number" in bad.stderr


# ---- one full file per family of ../shared/data ---------------------------------------------------------


@pytest.mark.parametrize("folder", _case_folders())
def test_one_full_file_per_family_and_dandi_agrees(folder: str, ephy_data: Path, tmp_path: Path) -> None:
    interface = "AxonRecordingInterface" if folder == "axon" else None
    outputs = convert(
        ephy_data / folder, tmp_path, user_metadata=COMPLETE, interface=interface, inspect=False
    )
    for out in outputs:
        verdict = inspect_nwb(out.nwb).verdict
        errors = dandi_errors(out.nwb)
        assert (verdict == "FAILED") == bool(errors), (folder, verdict, errors)
        assert errors == [], (folder, errors)


def test_our_failed_verdict_is_dandis_error_too(ephy_data: Path, tmp_path: Path) -> None:
    """Agreement both ways: a file without the subject DANDI requires fails here and there."""
    folder = _spikeglx(ephy_data, tmp_path)
    result = CliRunner().invoke(
        main, ["convert", str(folder), "-o", str(tmp_path / "out"), "--quiet", "--json"]
    )
    (out,) = _outputs(result)
    assert out["verdict"] == "FAILED"
    assert any("subject" in e.lower() for e in dandi_errors(out["nwb"]))
