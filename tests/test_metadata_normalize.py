"""Normalizer tables: what people type in, what NWB/DANDI get, and the message for what cannot be read."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nwbagent.metadata.normalize import (
    normalize_age,
    normalize_date_of_birth,
    normalize_experimenter,
    normalize_keywords,
    normalize_session_start_time,
    normalize_sex,
    normalize_species,
    normalize_weight,
)
from nwbagent.metadata.schema import AGE_PATTERN, EXPERIMENTER_PATTERN, SPECIES_PATTERN, WEIGHT_PATTERN

BERLIN = "Europe/Berlin"  # what an entry point passes down from NWBAGENT_TIMEZONE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 weeks", "P56D"),
        ("P56", "P56D"),
        ("56 days", "P56D"),
        ("2 months", "P2M"),
        ("P56D", "P56D"),
        ("p56d", "P56D"),
        ("1 year", "P1Y"),
        ("3.5 months", "P3M15D"),
        ("1.5 years", "P18M"),
        ("10 wk", "P70D"),
        ("12 weeks old", "P84D"),
        ("P56D/P70D", "P56D/P70D"),
        ("P90Y/", "P90Y/"),
        ("8-10 weeks", "P56D/P70D"),
        ("8 to 10 weeks", "P56D/P70D"),
        ("1 year 2 months", "P1Y2M"),
        ("postnatal day 56", "P56D"),
        ("PND21", "P21D"),
        ("36 hours", "PT36H"),
    ],
)
def test_age(text: str, expected: str) -> None:
    assert normalize_age(text) == expected
    assert re.fullmatch(AGE_PATTERN, expected)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("twelve weeks", "not understood"),
        ("56", "no unit"),
        (56, "no unit"),
        ("12 parsecs", "unknown unit 'parsecs'"),
        ("", "empty"),
        ("/", "empty range"),
    ],
)
def test_age_rejected_with_example(text: object, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as info:
        normalize_age(text)
    assert "'P90D'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("male", "M"), ("m", "M"), ("Female", "F"), ("F", "F"), ("unknown", "U"), ("other", "O"), (" U ", "U")],
)
def test_sex(text: str, expected: str) -> None:
    assert normalize_sex(text) == expected


def test_sex_c_elegans_uses_karyotype() -> None:
    assert normalize_sex("hermaphrodite", "Caenorhabditis elegans") == "XX"
    assert normalize_sex("male", "Caenorhabditis elegans") == "XO"
    with pytest.raises(ValueError, match="'XX'"):
        normalize_sex("female", "Caenorhabditis elegans")


@pytest.mark.parametrize("text", ["X", "yes", "", "XX"])
def test_sex_rejected_with_choices(text: str) -> None:
    with pytest.raises(ValueError, match=r"'M' \(male\), 'F' \(female\)"):
        normalize_sex(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mouse", "Mus musculus"),
        ("house mouse", "Mus musculus"),
        ("Lab Mouse", "Mus musculus"),
        ("Mus musculus", "Mus musculus"),
        ("mus  musculus", "Mus musculus"),
        ("NCBITaxon:10090", "Mus musculus"),
        ("http://purl.obolibrary.org/obo/NCBITaxon_10116", "Rattus norvegicus"),
        ("rat", "Rattus norvegicus"),
        ("rhesus macaque", "Macaca mulatta"),
        ("macaque", "Macaca mulatta"),
        ("marmoset", "Callithrix jacchus"),
        ("human", "Homo sapiens"),
        ("zebra finch", "Taeniopygia guttata"),
        ("zebrafish", "Danio rerio"),
        ("fruit fly", "Drosophila melanogaster"),
        ("fly", "Drosophila melanogaster"),
        ("C. elegans", "Caenorhabditis elegans"),
        ("worm", "Caenorhabditis elegans"),
        ("ferret", "Mustela furo"),
        ("cat", "Felis catus"),
        ("pig", "Sus scrofa"),
        ("dog", "Canis familiaris"),
        ("gerbil", "Meriones unguiculatus"),
        ("Egyptian fruit bat", "Rousettus aegyptiacus"),
        ("NCBITaxon:9999999", "http://purl.obolibrary.org/obo/NCBITaxon_9999999"),
        ("Xenopus tropicalis", "Xenopus tropicalis"),
    ],
)
def test_species(text: str, expected: str) -> None:
    assert normalize_species(text) == expected
    assert re.fullmatch(SPECIES_PATTERN, expected)


def test_unknown_species_suggests_binomial() -> None:
    with pytest.raises(ValueError, match=r"Latin binomial, e\.g\. 'Mus musculus'"):
        normalize_species("unicorn")
    with pytest.raises(ValueError, match="Did you mean 'Mus musculus'"):
        normalize_species("mousse")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane Doe", ["Doe, Jane"]),
        ("Doe, Jane", ["Doe, Jane"]),
        ("Jane M. Doe", ["Doe, Jane M."]),
        ("Doe J", ["Doe, J."]),
        ("Doe JM", ["Doe, J. M."]),
        ("J. Doe", ["Doe, J."]),
        (["Jane Doe", "Smith, John"], ["Doe, Jane", "Smith, John"]),
        ("Jane Doe; John Smith", ["Doe, Jane", "Smith, John"]),
        ("Jane Doe and John Smith", ["Doe, Jane", "Smith, John"]),
        ("Jane Doe, John Smith", ["Doe, Jane", "Smith, John"]),
        ("Anna van der Berg", ["van der Berg, Anna"]),
        ("van der Berg, Anna Maria", ["van der Berg, Anna Maria"]),
    ],
)
def test_experimenter(value: object, expected: list[str]) -> None:
    result = normalize_experimenter(value)
    assert result == expected
    assert all(re.fullmatch(EXPERIMENTER_PATTERN, name) for name in result)


@pytest.mark.parametrize("value", ["Doe", "", ", Jane", 42])
def test_experimenter_rejected_with_example(value: object) -> None:
    with pytest.raises(ValueError, match="'Doe, Jane'"):
        normalize_experimenter(value)


def test_naive_start_time_gets_configured_zone() -> None:
    moment = normalize_session_start_time("2021-09-20 14:13:34", timezone=BERLIN)
    assert moment.tzinfo is not None
    assert moment == datetime(2021, 9, 20, 14, 13, 34, tzinfo=ZoneInfo("Europe/Berlin"))
    assert moment.utcoffset() == timedelta(hours=2)


def test_aware_start_time_is_kept() -> None:
    moment = normalize_session_start_time("2021-09-20T14:13:34Z", timezone=BERLIN)
    assert moment.utcoffset() == timedelta(0)
    assert normalize_session_start_time(datetime(2021, 9, 20, 14, 13, 34)).tzinfo is not None
    assert normalize_session_start_time("20210920").tzinfo is not None


def test_naive_start_time_without_a_zone_given_uses_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NWBAGENT_TIMEZONE", "Asia/Tokyo")  # the core never reads it: entry points do
    import tzlocal

    moment = normalize_session_start_time("2021-09-20T14:13:34")
    assert moment.tzinfo is not None
    assert moment.utcoffset() == datetime(2021, 9, 20, tzinfo=tzlocal.get_localzone()).utcoffset()


@pytest.mark.parametrize("value", ["yesterday", "03/04/2021", ""])
def test_start_time_rejected_with_example(value: str) -> None:
    with pytest.raises(ValueError, match="2021-09-20T14:13:34"):
        normalize_session_start_time(value)


def test_date_of_birth_is_aware() -> None:
    born = normalize_date_of_birth(date(2021, 6, 1), timezone=BERLIN)
    assert born == datetime(2021, 6, 1, tzinfo=ZoneInfo(BERLIN))
    assert normalize_date_of_birth("2021-06-01", timezone=BERLIN).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25 g", "25 g"),
        ("25g", "25 g"),
        ("0.025 kg", "0.025 kg"),
        ("0.3 KG", "0.3 kg"),
        ("25,5 grams", "25.5 g"),
    ],
)
def test_weight(value: str, expected: str) -> None:
    assert normalize_weight(value) == expected
    assert re.fullmatch(WEIGHT_PATTERN, expected)


@pytest.mark.parametrize(
    ("value", "says"), [("25", "no unit"), (25, "no unit"), ("heavy", "'25 g'"), ("3 st", "unit")]
)
def test_weight_rejected(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        normalize_weight(value)


def test_keywords() -> None:
    assert normalize_keywords("ecephys, Neuropixels;  V1 ,ecephys") == ["ecephys", "Neuropixels", "V1"]
    assert normalize_keywords(["a", " b "]) == ["a", "b"]
    with pytest.raises(ValueError, match=r"e\.g\."):
        normalize_keywords(" , ")
