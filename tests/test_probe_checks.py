"""Damage checks on damaged copies of real recordings: each case is built from the real files in tmp_path.

The checks belong to the probes: detection runs them on the files each unit reads and leaves a damaged
unit out with the explained error; the conversion then raises that error when nothing else is left.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nwbagent.convert.select import nothing_to_convert
from nwbagent.errors import UserFacingError
from nwbagent.formats import detect
from nwbagent.formats.probes import PROBES
from nwbagent.formats.probes.spikeglx_checks import read_spikeglx_meta


def preflight(path: Path) -> list[str]:
    """Detection's warnings, raising the error of the first unit left out when nothing can convert."""
    result = detect(path)
    if result.left_out and not result.units:
        raise nothing_to_convert(result)
    assert not result.left_out, result.left_out
    return result.warnings


SPIKEGLX = "spikeglx/TEST_20210920_0_g0"
STEM = "TEST_20210920_0_g0_t0.imec0.ap"
N_CHANNELS = 385
RATE = 30_000.0


@pytest.fixture
def glx(ephy_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the real SpikeGLX pair."""
    folder = tmp_path / "TEST_20210920_0_g0"
    folder.mkdir()
    for suffix in (".meta", ".bin"):
        shutil.copyfile(ephy_data / SPIKEGLX / f"{STEM}{suffix}", folder / f"{STEM}{suffix}")
    return folder


def _assert_user_error(error: UserFacingError, path: Path, *phrases: str) -> None:
    text = error.paragraph()
    assert str(path) in text, text
    assert "Fix:" in text, text
    for phrase in phrases:
        assert phrase in text, text
    assert "\n" not in text  # one paragraph


def test_real_data_passes(ephy_data: Path) -> None:
    folders = sorted(p for p in ephy_data.iterdir() if p.is_dir())
    assert len(folders) >= 16
    for folder in folders:
        result = detect(folder)
        assert result.units and result.left_out == [], (folder, result.left_out)
    assert any("0.03 s of the 1.02 s" in w for w in preflight(ephy_data))


def test_real_spikeglx_stub_warns_with_real_duration(ephy_data: Path) -> None:
    bin_path = ephy_data / SPIKEGLX / f"{STEM}.bin"
    warnings = [w for w in preflight(ephy_data / SPIKEGLX) if w.startswith(str(bin_path))]
    held = bin_path.stat().st_size // (N_CHANNELS * 2) / RATE
    assert warnings == [
        f"{bin_path}: file holds {held:.2f} s of the 1.02 s the .meta declares; converting what is there "
        "(if this is not a deliberate excerpt, the copy is incomplete: copy it again)."
    ]


def test_short_bin_is_a_warning_with_duration(glx: Path) -> None:
    bin_path = glx / f"{STEM}.bin"
    n_samples = 700
    with bin_path.open("r+b") as handle:
        handle.truncate(n_samples * N_CHANNELS * 2)
    meta = glx / f"{STEM}.meta"
    declared_seconds = 600.0
    text = meta.read_text().replace(
        "fileSizeBytes=23598960", f"fileSizeBytes={int(declared_seconds * RATE) * 770}"
    )
    meta.write_text(text)
    warnings = [w for w in preflight(glx) if "the .meta declares" in w]
    assert len(warnings) == 1
    assert f"file holds {n_samples / RATE:.2f} s of the 600.00 s the .meta declares" in warnings[0]
    assert str(bin_path) in warnings[0]


def test_meta_without_bin(glx: Path) -> None:
    (glx / f"{STEM}.bin").unlink()
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, glx / f"{STEM}.meta", f"{STEM}.bin is missing")


def test_neuroconv_fails_on_meta_without_bin_without_preflight(glx: Path) -> None:
    """Why the check exists: with an LF .meta whose .bin is gone, NeuroConv reports an unknown stream id.
    Detection leaves that stream out with the reason and keeps the AP stream beside it."""
    from neuroconv.datainterfaces import SpikeGLXRecordingInterface

    lf_meta = glx / "TEST_20210920_0_g0_t0.imec0.lf.meta"
    lf_meta.write_text((glx / f"{STEM}.meta").read_text().replace(".imec0.ap.bin", ".imec0.lf.bin"))
    with pytest.raises(Exception, match=r"imec0\.lf"):
        SpikeGLXRecordingInterface(folder_path=str(glx), stream_id="imec0.lf")
    result = detect(glx)
    assert "imec0.ap" in {u.stream for u in result.units}
    (left,) = result.left_out
    assert left.path == str(lf_meta) and "TEST_20210920_0_g0_t0.imec0.lf.bin is missing" in left.problem


def test_odd_byte_count(glx: Path) -> None:
    bin_path = glx / f"{STEM}.bin"
    size = bin_path.stat().st_size
    with bin_path.open("ab") as handle:
        handle.write(b"\x00" * 3)
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(
        error.value, bin_path, f"{size + 3:,} bytes", "not a whole number of samples", f"{size:,} bytes"
    )


def test_byte_count_not_multiple_of_channels(glx: Path) -> None:
    """An even count can still cut a sample: 385 channels x 2 bytes must divide the size."""
    bin_path = glx / f"{STEM}.bin"
    with bin_path.open("r+b") as handle:
        handle.truncate(1000 * N_CHANNELS * 2 - 100)
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    whole = 999 * N_CHANNELS * 2
    _assert_user_error(error.value, bin_path, "770 bytes per sample", f"truncate -s {whole}")


def test_single_bin_file_is_checked_through_its_meta(glx: Path) -> None:
    bin_path = glx / f"{STEM}.bin"
    with bin_path.open("ab") as handle:
        handle.write(b"\x01")
    with pytest.raises(UserFacingError, match="not a whole number of samples"):
        preflight(bin_path)


def test_empty_bin(glx: Path) -> None:
    bin_path = glx / f"{STEM}.bin"
    bin_path.write_bytes(b"")
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, bin_path, "empty (0 bytes)")


def test_meta_missing_keys(glx: Path) -> None:
    meta = glx / f"{STEM}.meta"
    lines = [
        line
        for line in meta.read_text().splitlines()
        if not line.startswith(("fileCreateTime=", "imDatPrb_pn=", "~imroTbl="))
    ]
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, meta, "fileCreateTime", "imDatPrb_pn", "~imroTbl")


def test_meta_not_key_value_text(glx: Path) -> None:
    meta = glx / f"{STEM}.meta"
    meta.write_text("SpikeGLX settings\nnothing here is a key value pair\n")
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, meta, "no key=value lines")


def test_meta_binary_garbage(glx: Path) -> None:
    meta = glx / f"{STEM}.meta"
    meta.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, meta, "binary")


def test_unknown_probe_part_number(glx: Path) -> None:
    meta = glx / f"{STEM}.meta"
    meta.write_text(meta.read_text().replace("imDatPrb_pn=NP2010", "imDatPrb_pn=NPXXXX"))
    with pytest.raises(UserFacingError) as error:
        preflight(glx)
    _assert_user_error(error.value, meta, "NPXXXX")


def test_meta_parser_keeps_table_keys(ephy_data: Path) -> None:
    meta = read_spikeglx_meta(ephy_data / SPIKEGLX / f"{STEM}.meta")
    assert meta["nSavedChans"] == "385" and meta["~imroTbl"].startswith("(24,384)")


HEADER_CASES = [
    ("intan/intan_fps_test_231117_052500/info.rhd", "Intan RHD", "0xC6912702"),
    ("axon/File_axon_1.abf", "Axon ABF", "ABF2"),
    ("edf/edf+C.edf", "EDF", "7 spaces"),
    ("blackrock/blackrock_2_1/l101210-001.ns2", "Blackrock NSx", "NEURALCD"),
    ("blackrock/blackrock_2_1/l101210-001.nev", "Blackrock NEV", "NEURALEV"),
]


@pytest.mark.parametrize(("relative", "family", "expected"), HEADER_CASES)
def test_corrupt_binary_headers(
    ephy_data: Path, tmp_path: Path, relative: str, family: str, expected: str
) -> None:
    """Real file with its first bytes damaged (as a bad copy or a mis-saved export would leave it)."""
    real = ephy_data / relative
    assert preflight(real) == []
    damaged = tmp_path / real.name
    data = bytearray(real.read_bytes()[:65536])
    data[:8] = b"\x00" * 8
    damaged.write_bytes(bytes(data))
    with pytest.raises(UserFacingError) as error:
        preflight(tmp_path)
    _assert_user_error(error.value, damaged, family, expected)


@pytest.mark.parametrize("name", ["info.rhd", "x.abf", "x.edf", "x.ns5", "x.nev"])
def test_header_too_short(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"AB")
    with pytest.raises(UserFacingError) as error:
        preflight(tmp_path / name)
    _assert_user_error(error.value, tmp_path / name, "too short")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="does not exist"):
        preflight(tmp_path / "nope")


def test_format_knowledge_lives_in_the_probes() -> None:
    """Signatures are declared by the probes; there is no second registry of formats in convert/."""
    import importlib.util

    assert importlib.util.find_spec("nwbagent.convert.preflight") is None
    signed = {s.format: p.family for p in PROBES for s in p.signatures}
    assert {
        "Intan RHD",
        "Intan RHS",
        "Axon ABF",
        "EDF",
        "Blackrock NSx",
        "Blackrock NEV",
        "Neuralynx",
    } <= set(signed)
    for probe in PROBES:
        for interface, category in probe.categories.items():
            assert interface in probe.interfaces, (probe.family, interface)
            assert category in {"recording", "lfp", "sorting", "auxiliary", "icephys"}


def test_a_neuralynx_events_file_is_not_a_damaged_blackrock_file(tmp_path: Path) -> None:
    """`.nev` is both Blackrock's and Neuralynx's suffix: only a file that fits neither is damaged."""
    from corpus import build_neuralynx_with_events

    folder = build_neuralynx_with_events(tmp_path)
    events = folder / "Events.nev"
    result = detect(folder)
    assert result.left_out == []
    assert [u.interface for u in result.units] == ["NeuralynxRecordingInterface"]
    alone = tmp_path / "just-events"
    alone.mkdir()
    (alone / "Events.nev").write_bytes(b"\x00" * 20000)
    (damaged,) = detect(alone).left_out
    assert damaged.path == str(alone / "Events.nev") and "Blackrock NEV or Neuralynx" in damaged.problem
    # beside .ncs files the reader opens every file: the recording is left out, naming the damaged one
    events.write_bytes(b"\x00" * 20000)
    result = detect(folder)
    assert result.units == []
    (left,) = result.left_out
    assert left.path == str(events) and "Events.nev does not start with the Neuralynx header" in left.problem
    assert "move it out of the folder" in left.fix
