"""``check_metadata`` through NWB Inspector's own checks, and a real conversion that NeuroConv accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nwbagent.errors import UserFacingError
from nwbagent.metadata import (
    apply_brain_region,
    check_metadata,
    check_metadata_file,
    defaults,
    from_neuroconv,
    from_path,
    from_user,
    merge,
    to_neuroconv,
)

COMPLETE: dict[str, Any] = {
    "session_description": "Head-fixed mouse viewing drifting gratings.",
    "session_start_time": "2021-09-20T14:13:34+02:00",
    "session_id": "run0",
    "experimenter": "Jane Doe",
    "institution": "University of Oxford",
    "lab": "Doe Lab",
    "experiment_description": "Neuropixels recordings in visual cortex.",
    "keywords": "electrophysiology, Neuropixels",
    "subject_id": "M12",
    "species": "mouse",
    "sex": "male",
    "age": "12 weeks",
    "strain": "C57BL/6J",
    "genotype": "WT",
    "weight": "25 g",
    "subject_description": "C57BL/6J mouse from Jackson Laboratory.",
    "brain_region": "VISp",
}


def _by_field(issues: list[Any]) -> dict[str, Any]:
    return {issue.field: issue for issue in issues}


def test_complete_metadata_has_no_issues() -> None:
    assert check_metadata(from_user(COMPLETE)) == []


@pytest.mark.parametrize(
    ("change", "field", "check_name", "says", "fix"),
    [
        ({"species": None}, "species", "check_subject_species_exists", "missing", "'Mus musculus'"),
        ({"age": "twelve weeks"}, "age", "check_subject_age", "'twelve weeks'", "'P90D'"),
        ({"sex": "X"}, "sex", "check_subject_sex", "'X'", "'M'"),
        ({"subject_id": None}, "subject_id", "check_subject_id_exists", "missing", "'M12'"),
        ({"subject_id": "M/12"}, "subject_id", "check_subject_id_no_slashes", "slash", "'M12'"),
        ({"species": "unicorn"}, "species", "check_subject_species_form", "'unicorn'", "'Mus musculus'"),
    ],
)
def test_dandi_required_problems_are_critical(
    change: dict[str, Any], field: str, check_name: str, says: str, fix: str
) -> None:
    issues = check_metadata(from_user({**COMPLETE, **change}))
    assert [i.field for i in issues] == [field]
    issue = issues[0]
    assert issue.importance == "CRITICAL"
    assert issue.check_name == check_name
    assert says in issue.message
    assert fix in issue.fix


def test_best_practice_issues() -> None:
    reduced = {k: v for k, v in COMPLETE.items() if k not in ("experimenter", "institution", "brain_region")}
    issues = _by_field(check_metadata(from_user({**reduced, "weight": "heavy", "age": "P70D/P56D"})))
    assert issues["experimenter"].check_name == "check_experimenter_exists"
    assert issues["experimenter"].importance == "BEST_PRACTICE_SUGGESTION"
    assert issues["institution"].check_name == "check_institution"
    assert issues["brain_region"].importance == "BEST_PRACTICE_VIOLATION"
    assert "'VISp'" in issues["brain_region"].fix
    assert issues["weight"].check_name == "check_subject_weight"
    assert (
        issues["age"].check_name == "check_subject_proper_age_range"
    )  # raised to CRITICAL by the dandi config
    assert issues["age"].importance == "CRITICAL"


def test_allen_ccf_location_checked_for_mice() -> None:
    issues = check_metadata(from_user({**COMPLETE, "brain_region": "somewhere"}))
    assert [(i.field, i.check_name) for i in issues] == [
        ("brain_region", "check_electrodes_location_allen_ccf")
    ]
    rat = {**COMPLETE, "species": "rat", "brain_region": "somewhere"}
    assert check_metadata(from_user(rat)) == []


def test_future_start_time_and_unreadable_time() -> None:
    future = _by_field(
        check_metadata(from_user({**COMPLETE, "session_start_time": "2999-01-01T00:00+00:00"}))
    )
    assert future["session_start_time"].check_name == "check_session_start_time_future_date"
    bad = check_metadata(from_user({**COMPLETE, "session_start_time": "yesterday", "date_of_birth": "soon"}))
    assert {(i.field, i.importance) for i in bad} == {
        ("session_start_time", "CRITICAL"),
        ("date_of_birth", "CRITICAL"),
    }


def test_empty_metadata_reports_everything_without_crashing() -> None:
    issues = _by_field(check_metadata(merge()))
    assert {"session_start_time", "subject_id", "species", "sex", "age", "brain_region"} <= set(issues)
    assert issues["age"].importance == "CRITICAL"


def test_check_metadata_file(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text("subject_id: M12\nspecies: mouse\nsex: X\nage: twelve weeks\n")
    issues = _by_field(check_metadata_file(path))
    assert issues["sex"].importance == "CRITICAL"
    assert issues["age"].importance == "CRITICAL"
    assert issues["session_start_time"].importance == "BEST_PRACTICE_SUGGESTION"  # the recording gives it
    assert "session_description" not in issues  # nwbagent's default fills it
    path.write_text("speceis: mouse\n")
    with pytest.raises(UserFacingError, match="speceis"):
        check_metadata_file(path)


def test_to_neuroconv_refuses_malformed_values() -> None:
    with pytest.raises(UserFacingError, match="twelve weeks"):
        to_neuroconv(from_user({"age": "twelve weeks"}), {"NWBFile": {}})


def test_to_neuroconv_layout() -> None:
    base: dict[str, Any] = {
        "NWBFile": {"session_description": ""},
        "Ecephys": {"ElectrodeGroups": {"g": {"location": "unknown"}}},
    }
    metadata = to_neuroconv(from_user(COMPLETE), base)
    assert base["Ecephys"]["ElectrodeGroups"]["g"]["location"] == "unknown"  # base untouched
    assert metadata["Ecephys"]["ElectrodeGroups"]["g"]["location"] == "VISp"
    assert metadata["NWBFile"]["experimenter"] == ["Doe, Jane"]
    assert metadata["NWBFile"]["identifier"]
    assert metadata["Subject"] == {
        "subject_id": "M12",
        "species": "Mus musculus",
        "sex": "M",
        "age": "P84D",
        "strain": "C57BL/6J",
        "genotype": "WT",
        "weight": "25 g",
        "description": "C57BL/6J mouse from Jackson Laboratory.",
    }
    assert (
        to_neuroconv(from_user(COMPLETE), base)["NWBFile"]["identifier"] != metadata["NWBFile"]["identifier"]
    )


def test_spikeglx_stub_conversion_passes_inspector(ephy_data: Path, tmp_path: Path) -> None:
    from neuroconv.datainterfaces import SpikeGLXRecordingInterface
    from nwbinspector import inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    folder = ephy_data / "spikeglx" / "TEST_20210920_0_g0"
    interface = SpikeGLXRecordingInterface(folder_path=folder, stream_id="imec0.ap")
    base = interface.get_metadata()
    user = {k: v for k, v in COMPLETE.items() if k not in ("session_start_time", "session_id")}
    session = merge(defaults(), from_path(folder), from_neuroconv(base, "SpikeGLX .meta"), from_user(user))
    assert check_metadata(session) == []
    assert session.session_start_time is not None and session.session_start_time.source == "file"

    metadata = to_neuroconv(session, base)
    apply_brain_region(session, [interface])
    nwbfile_path = tmp_path / "out.nwb"
    interface.run_conversion(nwbfile_path=nwbfile_path, metadata=metadata, stub_test=True, overwrite=True)

    with NWBHDF5IO(nwbfile_path, mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.species == "Mus musculus"
        assert nwbfile.subject.age == "P84D"
        assert nwbfile.subject.sex == "M"
        assert list(nwbfile.experimenter) == ["Doe, Jane"]
        assert nwbfile.session_start_time.tzinfo is not None
        assert nwbfile.session_start_time.replace(tzinfo=None).isoformat() == "2021-09-20T14:13:34"
        assert nwbfile.session_id == "TEST_20210920_0_g0"
        assert set(nwbfile.electrodes["location"].data[:]) == {"VISp"}

    messages = list(inspect_nwbfile(nwbfile_path=nwbfile_path, config=load_config("dandi")))
    metadata_checks = {
        "check_subject_exists",
        "check_subject_id_exists",
        "check_subject_sex",
        "check_subject_species_exists",
        "check_subject_species_form",
        "check_subject_age",
        "check_experimenter_exists",
        "check_experimenter_form",
        "check_institution",
        "check_keywords",
        "check_experiment_description",
        "check_electrodes_location_allen_ccf",
    }
    found = {m.check_function_name for m in messages}
    assert not found & metadata_checks, [m.message for m in messages]
    assert not [m for m in messages if m.object_type == "Subject"]
