"""End-to-end conversions of real recordings through the library: detect → metadata → convert → inspect."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pynwb import NWBHDF5IO

from nwbagent.convert import Progress, convert

COMPLETE = {
    "subject_id": "M12",
    "session_id": "ses1",
    "species": "house mouse",
    "sex": "male",
    "age": "12 weeks",
    "experimenter": "Jane Doe",
    "institution": "Example University",
    "lab": "Doe Lab",
    "session_description": "Neuropixels recording in CA1 during open-field exploration",
    "experiment_description": "Hippocampal place-cell recordings",
    "keywords": "hippocampus, place cells",
    "brain_region": "CA1",
}


FLAGS = ("--stub", "--json", "--quiet")


def out_flags(folder: Path) -> list[str]:
    return ["--output-folder-path", str(folder), "--overwrite"]


@pytest.fixture
def spikeglx_dir(ephy_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "src" / "TEST_20210920_0_g0"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def test_full_spikeglx_conversion_is_dandi_ready(spikeglx_dir: Path, tmp_path: Path) -> None:
    events: list[Progress] = []
    outputs = convert(spikeglx_dir, tmp_path / "out", user_metadata=COMPLETE, progress=events.append)
    assert len(outputs) == 1
    out = outputs[0]
    nwb = Path(out.nwb)
    assert nwb == tmp_path / "out" / "sub-M12" / "sub-M12_ses-ses1_ecephys.nwb"
    assert out.verdict in ("PASSED", "PASSED_WITH_ISSUES"), out.findings
    # The real .bin is an excerpt shorter than its .meta declares: converted, with a warning.
    assert any("s of the" in w or "shorter" in w for w in out.warnings), out.warnings

    with NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        assert f.subject.species == "Mus musculus"
        assert f.subject.sex == "M"
        assert f.subject.age.startswith("P")
        assert f.experimenter == ("Doe, Jane",)
        assert f.session_start_time.tzinfo is not None
        series = f.acquisition["ElectricalSeriesAP"]
        assert series.data.shape == (1000, 384)
        assert set(f.electrodes["location"][:]) == {"CA1"}
        # The probe's contact positions from the .meta geometry survive into the electrodes table.
        xs, ys = f.electrodes["rel_x"][:], f.electrodes["rel_y"][:]
        assert len(set(zip(xs, ys, strict=True))) == 384 and max(ys) > 0
        # The probe's description restates its model entry from the .meta (NP2010, serial).
        assert all(d.description for d in f.devices.values())
        assert any("19122510362" in d.description for d in f.devices.values())

    # Progress went up to the total in bytes.
    writing = [e for e in events if e.total_bytes > 0]
    assert writing and writing[-1].done_bytes == writing[-1].total_bytes
    assert writing[-1].total_bytes == 1000 * 385 * 2  # 384 AP channels + the sync channel unit
    assert all(b.done_bytes >= a.done_bytes for a, b in itertools.pairwise(writing))

    # Provenance: every field carries its source; the user's values won over the files'.
    provenance = json.loads(Path(out.metadata).read_text())
    assert "species" in json.dumps(provenance)
    assert "user" in json.dumps(provenance)
    # Nothing but the outputs in the output folder: no temporary files left behind.
    leftovers = [p.name for p in nwb.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_recipe_replays_with_neuroconv_cli(spikeglx_dir: Path, tmp_path: Path) -> None:
    (out,) = convert(spikeglx_dir, tmp_path / "out", user_metadata=COMPLETE, stub=True, inspect=False)
    recipe = Path(out.recipe)
    spec = yaml.safe_load(recipe.read_text())
    assert set(spec["data_interfaces"].values()) == {
        "SpikeGLXRecordingInterface",
        "SpikeGLXSyncChannelInterface",
    }
    replay = tmp_path / "replay"
    replay.mkdir()
    neuroconv = Path(sys.executable).parent / "neuroconv"
    proc = subprocess.run(
        [str(neuroconv), str(recipe), "--data-folder-path", str(spikeglx_dir.parent), *out_flags(replay)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (written,) = list(replay.glob("*.nwb"))
    with NWBHDF5IO(str(written), "r") as io:
        f = io.read()
        assert f.subject.subject_id == "M12"
        assert f.subject.species == "Mus musculus"
        assert "ElectricalSeriesAP" in f.acquisition


def test_intan_folder_converts_all_streams_into_one_file(ephy_data: Path, tmp_path: Path) -> None:
    (out,) = convert(
        ephy_data / "intan" / "intan_fps_test_231117_052500",
        tmp_path / "out",
        user_metadata={**COMPLETE, "session_id": "intan1"},
        stub=True,
    )
    assert len(out.units) >= 2, out.units
    assert Path(out.nwb).name.endswith("_stub.nwb")
    with NWBHDF5IO(out.nwb, "r") as io:
        f = io.read()
        names = set(f.acquisition)
    # Amplifier and at least one auxiliary stream, each under its own name.
    assert len(names) >= 2, names


def test_folder_of_sessions_gives_one_file_per_session(ephy_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    shutil.copytree(ephy_data / "spikeglx" / "TEST_20210920_0_g0", root / "day1" / "TEST_20210920_0_g0")
    intan = "intan_fps_test_231117_052500"  # its name carries the start time Intan's header lacks
    shutil.copytree(ephy_data / "intan" / intan, root / "day2" / intan)
    # An uncertain unit (ABF: intra- or extracellular?) is skipped with a warning, never guessed.
    (root / "day3").mkdir()
    shutil.copy(ephy_data / "axon" / "File_axon_1.abf", root / "day3")
    outputs = convert(
        root,
        tmp_path / "out",
        user_metadata={k: v for k, v in COMPLETE.items() if k != "session_id"},
        stub=True,
        inspect=False,
    )
    assert len(outputs) == 2
    assert len({o.nwb for o in outputs}) == 2
    assert any("--interface AbfInterface" in (x.cli_fix or "") for x in outputs[0].left_out)


def test_cli_convert_json_and_inspect_exit_codes(spikeglx_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nwbagent.cli import main

    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(COMPLETE))
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["convert", str(spikeglx_dir), "-o", str(tmp_path / "o"), "--metadata", str(meta), *FLAGS],
    )
    assert res.exit_code == 0, res.output + (res.stderr or "")
    data: dict[str, Any] = json.loads(res.stdout)
    (out,) = data["outputs"]
    assert {"nwb", "recipe", "verdict", "findings"} <= set(out)
    assert Path(out["nwb"]).exists() and Path(out["recipe"]).exists()

    # The same recording with no subject metadata fails DANDI inspection: exit code 1.
    res = runner.invoke(
        main, ["convert", str(spikeglx_dir), "-o", str(tmp_path / "bare"), "--stub", "--quiet"]
    )
    assert res.exit_code == 1, res.output
    bare = next((tmp_path / "bare").rglob("*.nwb"))
    res = runner.invoke(main, ["inspect", str(bare), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["verdict"] == "FAILED"


def test_missing_start_time_is_a_clear_error(ephy_data: Path, tmp_path: Path) -> None:
    from nwbagent.errors import UserFacingError

    src = tmp_path / "renamed"
    shutil.copytree(ephy_data / "intan" / "intan_fps_test_231117_052500", src)
    with pytest.raises(UserFacingError, match="session_start_time") as info:
        convert(src, tmp_path / "out", user_metadata=COMPLETE, stub=True)
    assert "e.g." in info.value.fix
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.nwb"))


def test_demo_sample_with_example_metadata_passes(tmp_path: Path) -> None:
    """What `make serve` does: a synthetic Neuropixels run plus examples/metadata.yaml is DANDI-clean."""
    from nwbagent.metadata import load_user_file
    from nwbagent.sample import make_spikeglx_sample

    folder = make_spikeglx_sample(tmp_path / "sample", 2.0)
    example = Path(__file__).resolve().parents[1] / "examples" / "metadata.yaml"
    (out,) = convert(folder, tmp_path / "out", user_metadata=load_user_file(example))
    assert out.verdict == "PASSED", json.dumps(out.findings, indent=1)[:3000]
    with NWBHDF5IO(out.nwb, "r") as io:
        f = io.read()
        assert f.acquisition["ElectricalSeriesAP"].data.shape == (60000, 384)
        assert f.acquisition["ElectricalSeriesLF"].data.shape == (5000, 384)


def test_stream_selection_and_zarr_backend(tmp_path: Path) -> None:
    from nwbagent.sample import make_spikeglx_sample

    folder = make_spikeglx_sample(tmp_path / "sample", 1.0)
    (out,) = convert(
        folder, tmp_path / "out", user_metadata=COMPLETE, stub=True, streams=["imec0.lf"], backend="zarr"
    )
    assert out.units == ["SpikeGLXRecordingInterface[imec0.lf]"]
    store = Path(out.nwb)
    assert store.name.endswith(".nwb.zarr") and store.is_dir()
    assert out.verdict != "FAILED", json.dumps(out.findings, indent=1)[:3000]
    from hdmf_zarr import NWBZarrIO

    with NWBZarrIO(str(store), "r") as io:
        f = io.read()
        assert set(f.acquisition) == {"ElectricalSeriesLF"}
    assert not [p for p in store.parent.iterdir() if "partial" in p.name]


def test_unknown_stream_is_a_clear_error(spikeglx_dir: Path, tmp_path: Path) -> None:
    from nwbagent.errors import UserFacingError

    with pytest.raises(UserFacingError, match=r"imec0\.ap") as info:
        convert(spikeglx_dir, tmp_path / "out", user_metadata=COMPLETE, stub=True, streams=["imec9.lf"])
    assert "nwbagent detect" in (info.value.cli_fix or "")
    assert "--" not in info.value.fix  # the form any interface shows names no command-line flag
