"""Inspection on real NWB files written by real NeuroConv stub conversions (no hand-made messages)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import pytest
from neuroconv.datainterfaces import SpikeGLXNIDQInterface, SpikeGLXRecordingInterface

from nwbagent.errors import UserFacingError
from nwbagent.inspect import InspectionResult, format_text, inspect_nwb
from nwbagent.sample import make_spikeglx_sample, sample_metadata

SPIKEGLX = "spikeglx/TEST_20210920_0_g0"


def _complete(interface: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata REFERENCE.md lists as clearing every NWB Inspector message on a recording."""
    flat = sample_metadata()
    metadata["NWBFile"].update(
        session_description=flat["session_description"],
        experiment_description=flat["experiment_description"],
        experimenter=flat["experimenter"],
        institution=flat["institution"],
        lab=flat["lab"],
        keywords=flat["keywords"],
        session_start_time=flat["session_start_time"],
    )
    metadata["Subject"] = {
        "subject_id": flat["subject_id"],
        "species": flat["species"],
        "sex": flat["sex"],
        "age": flat["age"],
        "description": flat["subject_description"],
    }
    for device in metadata.get("Devices", {}).values():
        device["description"] = "Neuropixels probe"
    return metadata


def _spikeglx_interface(ephy_data: Path, *, brain_area: str | None = None) -> SpikeGLXRecordingInterface:
    interface = SpikeGLXRecordingInterface(folder_path=str(ephy_data / SPIKEGLX), stream_id="imec0.ap")
    if brain_area is not None:
        recording = interface.recording_extractor
        recording.set_property("brain_area", [brain_area] * recording.get_num_channels())
    return interface


@pytest.fixture(scope="module")
def bare_nwb(ephy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    interface = _spikeglx_interface(ephy_data)
    out = tmp_path_factory.mktemp("inspect") / "bare.nwb"
    interface.run_conversion(nwbfile_path=out, stub_test=True, metadata=interface.get_metadata())
    return out


@pytest.fixture(scope="module")
def complete_nwb(ephy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    interface = _spikeglx_interface(ephy_data, brain_area="CA1")
    out = tmp_path_factory.mktemp("inspect") / "complete.nwb"
    interface.run_conversion(
        nwbfile_path=out, stub_test=True, metadata=_complete(interface, interface.get_metadata())
    )
    return out


def test_bare_metadata_fails_on_subject(bare_nwb: Path) -> None:
    result = inspect_nwb(bare_nwb, stub=True)
    assert result.verdict == "FAILED"
    critical = result.by_importance()["CRITICAL"]
    assert [f.check_name for f in critical] == ["check_subject_exists"]
    assert "subject_id" in critical[0].fix and "P90D" in critical[0].fix
    assert result.counts["CRITICAL"] == 1
    names = {f.check_name for f in result.findings}
    assert {"check_experimenter_exists", "check_institution", "check_keywords"} <= names
    assert all(f.fix for f in result.findings)
    assert not result.tool_faults
    text = format_text(result)
    assert text.splitlines()[0].endswith("FAILED")
    assert "CRITICAL (1)" in text and "Fix: Add subject metadata" in text
    dumped = json.loads(json.dumps(result.model_dump(mode="json")))
    assert dumped["verdict"] == "FAILED" and dumped["counts"]["CRITICAL"] == 1
    assert InspectionResult.model_validate(dumped).verdict == "FAILED"


def test_incomplete_subject_gets_a_fix_per_field(ephy_data: Path, tmp_path: Path) -> None:
    interface = _spikeglx_interface(ephy_data)
    metadata = interface.get_metadata()
    metadata["Subject"] = {"subject_id": "m1"}
    out = tmp_path / "partial.nwb"
    interface.run_conversion(nwbfile_path=out, stub_test=True, metadata=metadata)
    result = inspect_nwb(out, stub=True)
    assert result.verdict == "FAILED"
    fixes = {f.check_name: f.fix for f in result.findings}
    assert "P90D" in fixes["check_subject_age"]
    assert "'M'" in fixes["check_subject_sex"]
    assert "Mus musculus" in fixes["check_subject_species_exists"]
    critical = {f.check_name for f in result.by_importance()["CRITICAL"]}
    assert {"check_subject_age", "check_subject_sex", "check_subject_species_exists"} <= critical


def test_complete_metadata_stub_passes_and_labels_orientation(complete_nwb: Path) -> None:
    result = inspect_nwb(complete_nwb, stub=True)
    # The complete metadata clears every message; only the stub's orientation message is left, labelled.
    assert result.verdict == "PASSED", format_text(result)
    orientation = [f for f in result.findings if f.check_name == "check_data_orientation"]
    assert len(orientation) == 1
    # The dandi config lowers check_data_orientation from CRITICAL to BEST_PRACTICE_VIOLATION.
    assert orientation[0].importance == "BEST_PRACTICE_VIOLATION" and orientation[0].stub_false_positive
    assert result.counts["BEST_PRACTICE_VIOLATION"] == 0 and result.counts["STUB_FALSE_POSITIVE"] == 1
    assert "Ignored in this stub preview" in format_text(result)
    assert result.validated and result.nwbinspector_version


def test_same_file_not_declared_stub_fails(complete_nwb: Path) -> None:
    """The label is what keeps the stub verdict clean: without ``stub`` the orientation message counts."""
    result = inspect_nwb(complete_nwb)
    assert result.verdict == "PASSED_WITH_ISSUES"
    assert [f.check_name for f in result.findings] == ["check_data_orientation"]
    assert not any(f.stub_false_positive for f in result.findings)


def test_zarr_output_is_inspected(ephy_data: Path, tmp_path: Path) -> None:
    interface = _spikeglx_interface(ephy_data, brain_area="CA1")
    out = tmp_path / "complete.nwb.zarr"
    interface.run_conversion(
        nwbfile_path=out,
        stub_test=True,
        metadata=_complete(interface, interface.get_metadata()),
        backend="zarr",
    )
    result = inspect_nwb(out, stub=True)
    assert result.verdict != "FAILED", format_text(result)
    assert not result.tool_faults, result.tool_faults  # e.g. Pickle decode refused on the electrodes table
    assert not result.validated and result.notes
    assert [f.check_name for f in result.findings if f.stub_false_positive] == ["check_data_orientation"]


def test_crashing_check_is_a_tool_fault(tmp_path: Path) -> None:
    """SpikeGLXNIDQInterface writes empty event tables on a stub; NWB Inspector's table checks then crash
    with IndexError. That is the inspector's fault and must not decide the verdict."""
    folder = make_spikeglx_sample(tmp_path / "raw", 1.0, lf=False, nidq=True)
    interface = SpikeGLXNIDQInterface(folder_path=str(folder))
    metadata = _complete(interface, interface.get_metadata())
    out = tmp_path / "nidq.nwb"
    interface.run_conversion(nwbfile_path=out, stub_test=True, metadata=metadata)
    result = inspect_nwb(out, stub=True)
    faults = {fault.check_name: fault for fault in result.tool_faults}
    assert "check_table_values_for_dict" in faults, format_text(result)
    fault = faults["check_table_values_for_dict"]
    assert fault.exception.startswith("IndexError")
    assert fault.count >= 1 and "Traceback" in fault.traceback
    assert not any(f.importance == "ERROR" for f in result.findings)
    assert result.verdict != "FAILED", format_text(result)
    assert result.counts["ERROR"] == 0 and result.counts["TOOL_FAULT"] >= fault.count
    assert "Inspector faults" in format_text(result)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.nwb"
    with pytest.raises(UserFacingError) as error:
        inspect_nwb(missing)
    assert str(missing) in str(error.value) and "Fix:" in str(error.value)


def test_text_file_is_not_nwb(tmp_path: Path) -> None:
    fake = tmp_path / "notes.nwb"
    fake.write_text("this is not an NWB file\n")
    with pytest.raises(UserFacingError) as error:
        inspect_nwb(fake)
    assert str(fake) in error.value.paragraph()
    assert "not HDF5" in error.value.problem


def test_raw_recording_is_not_nwb(ephy_data: Path) -> None:
    raw = ephy_data / SPIKEGLX / "TEST_20210920_0_g0_t0.imec0.ap.bin"
    with pytest.raises(UserFacingError, match="not an NWB file"):
        inspect_nwb(raw)


def test_plain_hdf5_is_not_nwb(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = [1, 2, 3]
    with pytest.raises(UserFacingError, match="nwb_version"):
        inspect_nwb(path)
