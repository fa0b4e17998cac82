"""Edge cases on small trees built from real files: what users actually hand over."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from nwbagent.errors import UserFacingError
from nwbagent.formats import detect
from nwbagent.formats.registry import interface_class

SGLX = "spikeglx/TEST_20210920_0_g0"
AP = "TEST_20210920_0_g0_t0.imec0.ap"


def _lf_meta(ap_meta: str) -> str:
    """An LF-band sidecar derived from the AP one: the keys neo uses to size and label the stream."""
    lines = []
    for line in ap_meta.splitlines():
        key = line.partition("=")[0]
        if key == "imSampRate":
            line = "imSampRate=2500"
        elif key == "fileName":
            line = line.replace(".ap.bin", ".lf.bin")
        elif key == "snsApLfSy":
            line = "snsApLfSy=0,384,1"
        elif key == "typeThis":
            line = "typeThis=imec"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _instantiate(kwargs: dict[str, object], name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interface_class(name)(**kwargs)


def test_missing_path_is_a_user_facing_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UserFacingError) as raised:
        detect(missing)
    assert str(missing) in str(raised.value)


def test_empty_folder_gives_no_units_and_a_warning(tmp_path: Path) -> None:
    result = detect(tmp_path)
    assert result.units == [] and result.unsupported == []
    assert any("empty" in w for w in result.warnings)


def test_unknown_files_are_not_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "foo.xyz").write_bytes(b"\x00" * 10)
    result = detect(tmp_path)
    assert result.units == []
    assert any("2 file(s) matched no format" in w for w in result.warnings)


def test_spikeglx_meta_without_bin_is_left_out_with_its_name(tmp_path: Path, ephy_data: Path) -> None:
    shutil.copy(ephy_data / SGLX / f"{AP}.meta", tmp_path)
    result = detect(tmp_path)
    assert result.units == []
    (left,) = result.left_out
    assert left.code == "missing_data_file"
    assert left.path == str(tmp_path / f"{AP}.meta")
    assert f"{AP}.bin is missing" in left.problem and "imec0.ap" in left.label


def test_spikeglx_ap_and_lf_streams_are_two_units(tmp_path: Path, ephy_data: Path) -> None:
    source = ephy_data / SGLX
    run = tmp_path / "TEST_20210920_0_g0"
    run.mkdir()
    (run / f"{AP}.bin").symlink_to(source / f"{AP}.bin")
    shutil.copy(source / f"{AP}.meta", run)
    lf = AP.replace(".ap", ".lf")
    (run / f"{lf}.bin").symlink_to(source / f"{AP}.bin")
    (run / f"{lf}.meta").write_text(_lf_meta((source / f"{AP}.meta").read_text()))
    result = detect(run)
    recordings = {u.stream: u.category for u in result.units if u.interface == "SpikeGLXRecordingInterface"}
    assert recordings == {"imec0.ap": "recording", "imec0.lf": "lfp"}, result
    for found in result.units:
        _instantiate(found.kwargs, found.interface)


def test_recording_and_phy_beside_it(tmp_path: Path, ephy_data: Path) -> None:
    shutil.copytree(ephy_data / SGLX, tmp_path / "TEST_20210920_0_g0", symlinks=True)
    (tmp_path / "kilosort_output").symlink_to(ephy_data / "phy" / "phy_example_0", target_is_directory=True)
    result = detect(tmp_path)
    by_category = {u.category: u for u in result.units}
    assert by_category["recording"].interface == "SpikeGLXRecordingInterface"
    assert by_category["sorting"].interface in {"PhySortingInterface", "KiloSortSortingInterface"}
    assert by_category["sorting"].alternatives


def test_folder_of_sessions_yields_each(tmp_path: Path, ephy_data: Path) -> None:
    for name in ("session1", "session2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rec.abf").symlink_to(ephy_data / "axon" / "File_axon_1.abf")
    result = detect(tmp_path)
    assert sorted(Path(u.kwargs["file_paths"][0]).parent.name for u in result.units) == [
        "session1",
        "session2",
    ]


@pytest.mark.parametrize(
    ("relative", "interface"),
    [
        ("axon/File_axon_1.abf", "AbfInterface"),
        ("intan/intan_fps_test_231117_052500/info.rhd", "IntanRecordingInterface"),
        ("edf/edf+C.edf", "EDFRecordingInterface"),
    ],
)
def test_single_file_path(relative: str, interface: str, ephy_data: Path) -> None:
    result = detect(ephy_data / relative)
    assert any(u.interface == interface for u in result.units), result
    for found in result.units:
        _instantiate(found.kwargs, found.interface)


def test_single_file_ignores_its_neighbours(ephy_data: Path) -> None:
    result = detect(ephy_data / "neuroscope/test1/test1.xml")
    assert [u.interface for u in result.units] == ["NeuroScopeRecordingInterface"]


def test_intan_settings_xml_is_not_neuroscope_or_openephys(ephy_data: Path) -> None:
    result = detect(ephy_data / "intan")
    assert {u.interface for u in result.units} == {
        "IntanRecordingInterface",
        "IntanAnalogInterface",
        "IntanDigitalInterface",
    }
