"""Bad input through the real CLI: one paragraph naming the file, the problem and the fix; exit code ≠ 0;
no traceback; nothing written at the output path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nwbagent.cli import EXIT_BAD_INPUT, main

SGLX = "TEST_20210920_0_g0"
STEM = "TEST_20210920_0_g0_t0.imec0.ap"


@pytest.fixture
def sglx(ephy_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "src" / SGLX
    shutil.copytree(ephy_data / "spikeglx" / SGLX, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def _convert(source: Path, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["convert", str(source), "-o", str(out), "--stub", "--quiet", *extra])


def _assert_clear_error(res: Result, *, names: str, problem: str, out: Path) -> None:
    assert res.exit_code == EXIT_BAD_INPUT, (res.exit_code, res.output, res.exception)
    err = res.stderr
    assert err.startswith("error: "), err
    assert "Traceback" not in res.output
    assert names in err, err
    assert problem.lower() in err.lower(), err
    assert "Fix:" in err, err
    nwb_files = list(out.rglob("*.nwb")) if out.exists() else []
    assert nwb_files == [], nwb_files
    partials = [p for p in out.rglob("*") if "partial" in p.name] if out.exists() else []
    assert partials == []


def test_empty_folder(tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.mkdir()
    out = tmp_path / "out"
    _assert_clear_error(
        _convert(src, out), names=str(src), problem="no recording that NeuroConv can convert", out=out
    )


def test_unknown_format(tmp_path: Path) -> None:
    src = tmp_path / "mystery"
    src.mkdir()
    (src / "data.xyz").write_bytes(b"\x00\x01garbage" * 100)
    (src / "notes.txt").write_text("day 1")
    out = tmp_path / "out"
    _assert_clear_error(
        _convert(src, out), names=str(src), problem="no recording that NeuroConv can convert", out=out
    )


def test_meta_without_bin(sglx: Path, tmp_path: Path) -> None:
    (sglx / f"{STEM}.bin").unlink()
    out = tmp_path / "out"
    _assert_clear_error(_convert(sglx, out), names=f"{STEM}.meta", problem=".bin", out=out)


def test_bin_with_odd_byte_count(sglx: Path, tmp_path: Path) -> None:
    with open(sglx / f"{STEM}.bin", "ab") as f:
        f.write(b"\x00")
    out = tmp_path / "out"
    _assert_clear_error(_convert(sglx, out), names=f"{STEM}.bin", problem="bytes", out=out)


def test_empty_bin(sglx: Path, tmp_path: Path) -> None:
    (sglx / f"{STEM}.bin").write_bytes(b"")
    out = tmp_path / "out"
    _assert_clear_error(_convert(sglx, out), names=f"{STEM}.bin", problem="empty", out=out)


def test_short_bin_converts_with_real_duration_warning(sglx: Path, tmp_path: Path) -> None:
    res = _convert(sglx, tmp_path / "out")
    # The real excerpt holds 1000 samples at 30 kHz; its .meta declares 1.0216 s.
    assert res.exit_code in (0, 1), res.output
    assert "0.03" in res.stdout and "1.02" in res.stdout, res.stdout
    assert list((tmp_path / "out").rglob("*.nwb"))


def test_corrupt_header(sglx: Path, tmp_path: Path) -> None:
    (sglx / f"{STEM}.meta").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage without keys")
    out = tmp_path / "out"
    _assert_clear_error(_convert(sglx, out), names=f"{STEM}.meta", problem="header", out=out)


def test_corrupt_intan_header(ephy_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "intan"
    shutil.copytree(ephy_data / "intan" / "intan_fps_test_231117_052500", src)
    rhd = src / "info.rhd"
    rhd.chmod(0o644)
    data = bytearray(rhd.read_bytes())
    data[:4] = b"\x00\x00\x00\x00"
    rhd.write_bytes(bytes(data))
    out = tmp_path / "out"
    res = _convert(src, out)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "info.rhd" in res.stderr and "Fix:" in res.stderr and "Traceback" not in res.output


def test_unwritable_output_folder(sglx: Path, tmp_path: Path) -> None:
    # Running as root, permissions do not stop writes; a regular file in the way does.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    out = blocker / "out"
    res = _convert(sglx, out)
    assert res.exit_code == EXIT_BAD_INPUT
    assert str(out) in res.stderr and "cannot be written" in res.stderr and "Fix:" in res.stderr


def test_existing_output_without_overwrite(sglx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _convert(sglx, out)
    assert first.exit_code in (0, 1), first.output
    (nwb,) = list(out.rglob("*.nwb"))
    before = nwb.stat().st_mtime_ns
    again = _convert(sglx, out)
    assert again.exit_code == EXIT_BAD_INPUT
    assert str(nwb) in again.stderr and "--overwrite" in again.stderr
    assert nwb.stat().st_mtime_ns == before
    assert _convert(sglx, out, "--overwrite").exit_code in (0, 1)


def test_missing_path_and_real_entry_point(tmp_path: Path) -> None:
    """The installed console script, in a fresh process: a paragraph, no traceback."""
    exe = Path(sys.executable).parent / "nwbagent"
    missing = tmp_path / "nope"
    proc = subprocess.run([str(exe), "detect", str(missing)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_BAD_INPUT
    assert str(missing) in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr
