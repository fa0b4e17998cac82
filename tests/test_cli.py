"""The CLI commands other than convert: detect, check-metadata and make-sample, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nwbagent.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_detect_json_matches_documented_contract(ephy_data: Path) -> None:
    folder = ephy_data / "spikeglx" / "TEST_20210920_0_g0"
    res = CliRunner().invoke(main, ["detect", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"path", "units", "unsupported", "warnings", "left_out"}
    unit = next(u for u in data["units"] if u["interface"] == "SpikeGLXRecordingInterface")
    documented = {"interface", "kwargs", "streams", "category", "confidence", "evidence", "alternatives"}
    assert documented <= set(unit)
    assert unit["kwargs"] == {"folder_path": str(folder), "stream_id": "imec0.ap"}
    assert Path(unit["kwargs"]["folder_path"]).is_absolute()
    assert "imec0.ap" in unit["streams"] and unit["category"] == "recording"


def test_detect_human_output_marks_uncertainty(ephy_data: Path) -> None:
    res = CliRunner().invoke(main, ["detect", str(ephy_data / "axon")])
    assert res.exit_code == 0
    assert "(uncertain)" in res.stdout and "to decide:" in res.stdout


def test_check_metadata_good_and_bad(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["check-metadata", str(REPO / "examples" / "metadata.yaml")])
    assert good.exit_code == 0, good.output
    assert "CRITICAL" not in good.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("subject_id: M1\nspecies: unicorn\nsex: X\nage: twelve weeks\n")
    res = runner.invoke(main, ["check-metadata", str(bad), "--json"])
    assert res.exit_code == 1
    issues = {i["field"]: i for i in json.loads(res.stdout)}
    for field in ("species", "sex", "age"):
        assert issues[field]["importance"] == "CRITICAL", issues
        fix = issues[field]["fix"]
        assert "?" in fix and "'" in fix, fix  # a question with a quoted example answer


def test_check_metadata_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("subject_id: [unclosed\n")
    res = CliRunner().invoke(main, ["check-metadata", str(bad)])
    assert res.exit_code == 2
    assert str(bad) in res.stderr and "Fix:" in res.stderr


def test_make_sample_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["make-sample", "spikeglx", str(tmp_path), "--seconds", "0.5"])
    assert res.exit_code == 0, res.output
    folder = Path(res.stdout.strip())
    bins = sorted(p.name for p in folder.glob("*.bin"))
    assert bins == ["sample_g0_t0.imec0.ap.bin", "sample_g0_t0.imec0.lf.bin"]
    assert (folder / "sample_g0_t0.imec0.ap.bin").stat().st_size == 15000 * 385 * 2
    res = CliRunner().invoke(main, ["make-sample", "spikeglx", str(tmp_path / "x"), "--seconds", "-1"])
    assert res.exit_code == 2 and "Fix:" in res.stderr
