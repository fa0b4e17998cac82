"""Layers from files, names, users and defaults, and how ``merge`` ranks them while keeping the trail."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from nwbagent.errors import UserFacingError
from nwbagent.metadata import (
    FIELD_NAMES,
    FieldValue,
    SessionMetadata,
    dandi_filename,
    defaults,
    from_neuroconv,
    from_path,
    from_user,
    load_user_file,
    merge,
    metadata_json_schema,
)
from nwbagent.metadata.schema import Source

SPIKEGLX = Path("spikeglx/TEST_20210920_0_g0")
INTAN = Path("intan/intan_fps_test_231117_052500/info.rhd")


BERLIN = "Europe/Berlin"  # what an entry point passes down from NWBAGENT_TIMEZONE


def _fv(value: object, source: Source, confidence: float = 0.5) -> FieldValue:
    return FieldValue(value=value, source=source, confidence=confidence, evidence=f"{source} layer")


def test_merge_precedence_keeps_trail() -> None:
    default = SessionMetadata(session_description=_fv("placeholder", "default", 0.1))
    inferred = SessionMetadata(subject_id=_fv("mouse12", "inferred", 0.4))
    files = SessionMetadata(
        subject_id=_fv("M12-file", "file", 0.9), session_description=_fv("from rig", "file")
    )
    user = SessionMetadata(subject_id=_fv("M12", "user", 1.0))

    merged = merge(user, files, inferred, default)  # order of layers does not matter, precedence does

    assert merged.values() == {"session_description": "from rig", "subject_id": "M12"}
    assert merged.subject_id is not None
    assert merged.subject_id.source == "user"
    assert [(o.value, o.source) for o in merged.subject_id.overridden] == [
        ("M12-file", "file"),
        ("mouse12", "inferred"),
    ]
    assert merged.session_description is not None
    assert [o.source for o in merged.session_description.overridden] == ["default"]


def test_merge_twice_flattens_trail_and_higher_confidence_wins_within_source() -> None:
    first = merge(
        SessionMetadata(lab=_fv("A", "inferred", 0.2)), SessionMetadata(lab=_fv("B", "inferred", 0.6))
    )
    assert first.lab is not None and first.lab.value == "B"
    again = merge(first, SessionMetadata(lab=_fv("C", "user", 1.0)))
    assert again.lab is not None
    assert again.lab.value == "C"
    assert [o.value for o in again.lab.overridden] == ["B", "A"]
    assert all(not o.overridden for o in again.lab.overridden)


def test_provenance_is_json() -> None:
    given = {"session_start_time": "2021-09-20 14:13", "subject_id": "M12"}
    session = merge(defaults(), from_user(given, timezone=BERLIN))
    record = json.loads(json.dumps(session.provenance()))
    assert record["session_start_time"]["value"] == "2021-09-20T14:13:00+02:00"
    assert "assumed Europe/Berlin" in record["session_start_time"]["evidence"]
    assert record["subject_id"] == {
        "value": "M12",
        "source": "user",
        "confidence": 1.0,
        "evidence": "given by the user",
        "overridden": [],
    }


def test_from_neuroconv_spikeglx(ephy_data: Path) -> None:
    from neuroconv.datainterfaces import SpikeGLXRecordingInterface

    interface = SpikeGLXRecordingInterface(folder_path=ephy_data / SPIKEGLX, stream_id="imec0.ap")
    session = from_neuroconv(interface.get_metadata(), evidence="SpikeGLX .meta", timezone=BERLIN)

    start = session.session_start_time
    assert start is not None
    assert start.source == "file"
    assert start.value == datetime(2021, 9, 20, 14, 13, 34, tzinfo=ZoneInfo("Europe/Berlin"))
    assert "no time zone given; assumed Europe/Berlin" in start.evidence
    # NeuroConv's random identifier, empty description and 'unknown' locations are not facts
    assert session.identifier is None
    assert session.session_description is None
    assert session.brain_region is None


def test_from_neuroconv_reads_subject_and_locations() -> None:
    metadata = {
        "NWBFile": {"session_start_time": "2020-01-01T10:00:00+00:00", "experimenter": ["Jane Doe"]},
        "Subject": {"species": "mouse", "sex": "male", "description": "a mouse", "age": "P30"},
        "Ecephys": {"ElectrodeGroups": {"g0": {"name": "g0", "location": "CA1"}}},
    }
    values = from_neuroconv(metadata, "test").values()
    assert values["experimenter"] == ["Doe, Jane"]
    assert values["species"] == "Mus musculus"
    assert values["sex"] == "M"
    assert values["age"] == "P30D"
    assert values["subject_description"] == "a mouse"
    assert values["brain_region"] == "CA1"


def test_from_neuroconv_intan_has_no_start_time_but_path_does(ephy_data: Path) -> None:
    from neuroconv.datainterfaces import IntanRecordingInterface

    interface = IntanRecordingInterface(file_path=ephy_data / INTAN)
    files = from_neuroconv(interface.get_metadata(), evidence="Intan .rhd header", timezone=BERLIN)
    names = from_path(ephy_data / INTAN, timezone=BERLIN)
    merged = merge(files, names)

    assert merged.session_start_time is not None
    assert merged.session_start_time.source == "inferred"
    assert merged.session_start_time.value == datetime(
        2023, 11, 17, 5, 25, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert merged.session_id is not None
    assert merged.session_id.value == "intan_fps_test_231117_052500"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/d/sub-M12/ses-3/rec.bin", {"subject_id": "M12", "session_id": "3"}),
        ("/d/sub-M12_ses-3_ecephys.nwb", {"subject_id": "M12", "session_id": "3"}),
        ("/d/mouse12/2021-09-20_14-13-34", {"subject_id": "mouse12", "session_id": "2021-09-20_14-13-34"}),
        (
            "/d/TEST_20210920_0_g0/TEST_20210920_0_g0_t0.imec0.ap.bin",
            {"session_id": "TEST_20210920_0_g0"},
        ),
        ("/d/recordings/rec.bin", {}),
    ],
)
def test_from_path(path: str, expected: dict[str, str]) -> None:
    session = from_path(Path(path))
    got = {k: v for k, v in session.values().items() if k != "session_start_time"}
    assert got == expected
    assert all(fv.source == "inferred" and fv.confidence < 0.9 for _, fv in session.items())


def test_from_path_dates() -> None:
    berlin_tz = ZoneInfo(BERLIN)
    run = from_path(Path("/d/TEST_20210920_0_g0"), timezone=BERLIN)
    assert run.values()["session_start_time"] == datetime(2021, 9, 20, tzinfo=berlin_tz)
    session = from_path(Path("/d/mouse12/2021-09-20_14-13-34"), timezone=BERLIN)
    assert session.values()["session_start_time"] == datetime(2021, 9, 20, 14, 13, 34, tzinfo=berlin_tz)
    assert "session_start_time" not in from_path(Path("/d/20219999")).values()


def test_defaults_never_scientific() -> None:
    values = defaults().values()
    assert "session_description" in values
    assert not {"species", "sex", "subject_id", "age", "date_of_birth", "weight"} & set(values)
    assert all(fv.source == "default" for _, fv in defaults().items())


def test_from_user_normalizes_and_keeps_bad_values() -> None:
    session = from_user({"Species": "rat", "sex": "female", "age": "twelve weeks", "subject-id": 12})
    assert session.values()["species"] == "Rattus norvegicus"
    assert session.values()["sex"] == "F"
    assert session.values()["subject_id"] == "12"
    assert session.age is not None
    assert session.age.value == "twelve weeks"
    assert session.age.error is not None and "'P90D'" in session.age.error
    assert all(fv.source == "user" and fv.confidence == 1.0 for _, fv in session.items())


def test_from_user_sex_depends_on_species() -> None:
    assert from_user({"sex": "hermaphrodite", "species": "C. elegans"}).values()["sex"] == "XX"


def test_from_user_unknown_key_lists_valid_names() -> None:
    with pytest.raises(UserFacingError) as info:
        from_user({"speceis": "mouse"})
    assert "did you mean 'species'" in info.value.problem
    assert all(name in info.value.fix for name in FIELD_NAMES)


def test_load_user_file_yaml_keeps_text(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text(
        "subject_id: 012\nsex: NO\nage: 12 weeks\nsession_start_time: 2021-09-20 14:13:34\nlab:\n"
    )
    assert load_user_file(path) == {
        "subject_id": "012",
        "sex": "NO",
        "age": "12 weeks",
        "session_start_time": "2021-09-20 14:13:34",
        "lab": None,
    }


def test_load_user_file_accepts_neuroconv_layout(tmp_path: Path) -> None:
    path = tmp_path / "meta.yml"
    path.write_text("NWBFile:\n  institution: Uni\nSubject:\n  species: mouse\n  description: a mouse\n")
    assert load_user_file(path) == {
        "institution": "Uni",
        "species": "mouse",
        "subject_description": "a mouse",
    }


def test_load_user_file_json(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text('{"subject_id": "M12", "keywords": ["a", "b"]}')
    assert from_user(load_user_file(path)).values() == {"subject_id": "M12", "keywords": ["a", "b"]}


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.yaml", "subject_id: M12\nspecies: [mouse\n", "line 3"),
        ("bad.yaml", "subject_id: M12\n  sex: M\n", "line 2"),
        ("list.yaml", "- mouse\n- rat\n", "holds a list"),
        ("bad.json", '{"subject_id": "M12",\n "sex": }', "line 2"),
    ],
)
def test_load_user_file_malformed(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserFacingError) as info:
        load_user_file(path)
    assert info.value.path == str(path)
    assert says in info.value.problem
    assert "e.g." in info.value.fix


def test_load_user_file_missing(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="does not exist"):
        load_user_file(tmp_path / "nope.yaml")


def test_dandi_filename() -> None:
    session = from_user({"subject_id": "M_12.a", "session_id": "TEST_20210920_0_g0"})
    assert dandi_filename(session) == "sub-M-12-a/sub-M-12-a_ses-TEST-20210920-0-g0_ecephys.nwb"
    assert dandi_filename(from_user({"subject_id": "M12"})) == "sub-M12/sub-M12_ecephys.nwb"
    with pytest.raises(UserFacingError, match="subject ID"):
        dandi_filename(from_user({"session_id": "3"}))


def test_json_schema_is_valid() -> None:
    schema = metadata_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(schema["properties"]) == list(FIELD_NAMES)
    assert {n for n, p in schema["properties"].items() if p.get("x-dandi-required")} == {
        "session_start_time",
        "subject_id",
        "species",
        "sex",
        "age",
    }
    assert all(p["description"] and p["examples"] for p in schema["properties"].values())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    good = {
        "session_start_time": "2021-09-20T14:13:34+02:00",
        "subject_id": "M12",
        "species": "Mus musculus",
        "sex": "M",
        "age": "P90D",
        "experimenter": ["Doe, Jane"],
        "weight": "25 g",
    }
    assert not list(validator.iter_errors(good))
    bad_fields = {
        e.path[0] if e.path else e.validator
        for e in validator.iter_errors({**good, "sex": "X", "age": "12 w"})
    }
    assert bad_fields == {"sex", "age"}
    no_age = {k: v for k, v in good.items() if k != "age"}
    assert list(validator.iter_errors(no_age))
    assert not list(validator.iter_errors({**no_age, "date_of_birth": "2021-06-01T00:00:00+02:00"}))


def test_start_time_offset_for_winter() -> None:
    value = from_user({"session_start_time": "2021-01-05T09:00"}, timezone=BERLIN).values()[
        "session_start_time"
    ]
    assert value.utcoffset() == timedelta(hours=1)
