"""Read metadata out of a sentence a scientist typed, with regular expressions and shipped vocabularies.

Precision comes before recall throughout: a wrong species or age would be written into the NWB file and
archived, while a missing one only makes the agent ask. So every pattern is anchored on words that make
its meaning unambiguous, vocabularies are closed lists, a field seen with two different values is left
out, and every value must pass the same normalizer the metadata form uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from nwbagent.metadata.normalize import normalize_field, species_table
from nwbagent.metadata.schema import FIELD_NAMES

# ---------------------------------------------------------------------------------------------- model


class ExtractedField(BaseModel):
    """One value read from the user's words; ``evidence`` quotes those words so the user can check them."""

    field: str
    value: Any = Field(description="Normalized as the metadata schema wants it")
    source: Literal["user-text"] = "user-text"
    confidence: float = Field(ge=0, le=1)
    evidence: str

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if name not in FIELD_NAMES:
            raise ValueError(f"unknown metadata field {name!r}")
        return name


@dataclass
class _Hit:
    """A candidate before normalization; ``start``/``end`` index the original text."""

    field: str
    raw: Any
    start: int
    end: int
    confidence: float
    value: Any = None  # set when the raw text is already canonical (e.g. a region acronym)


# Text fields that hold prose; other fields are compared and validated as exact values.
PROSE_FIELDS = ("session_description", "experiment_description", "subject_description")

# ---------------------------------------------------------------------------------------------- masking

# HTML is replaced by spaces of the same length, so offsets still index the original text and evidence
# stays an exact quote, while nothing inside <script> or a tag can become a value.
_HTML = re.compile(
    r"<\s*(script|style)\b.*?(?:<\s*/\s*\1\s*>|$)|<!--.*?(?:-->|$)|<\s*/?\s*[A-Za-z][^<>]{0,300}>",
    re.I | re.S,
)
_UNSAFE_VALUE = re.compile(r"[<>{}]|javascript:|\bon\w+\s*=", re.I)


def mask_markup(text: str) -> str:
    """``text`` with markup blanked out (same length), so offsets keep pointing into the original."""
    return _HTML.sub(lambda m: " " * len(m.group(0)), text)


def unsafe_value(value: Any) -> bool:
    """Values that carry markup or script are refused: they would end up in HTML reports and the archive."""
    items = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and _UNSAFE_VALUE.search(v) for v in items)


# ---------------------------------------------------------------------------------------------- vocabularies


@dataclass(frozen=True)
class Region:
    acronym: str
    name: str
    parent: str | None
    synonyms: tuple[str, ...]
    match_acronym: str


@lru_cache(maxsize=1)
def brain_regions() -> dict[str, Region]:
    """The shipped Allen CCF subset, by acronym."""
    text = resources.files("nwbagent.nlmeta").joinpath("brain_regions.json").read_text(encoding="utf-8")
    return {
        row["acronym"]: Region(
            row["acronym"], row["name"], row["parent"], tuple(row["synonyms"]), row["match_acronym"]
        )
        for row in json.loads(text)["structures"]
    }


def region_ancestors(acronym: str) -> set[str]:
    regions = brain_regions()
    seen: set[str] = set()
    parent = regions[acronym].parent if acronym in regions else None
    while parent and parent not in seen:
        seen.add(parent)
        parent = regions[parent].parent if parent in regions else None
    return seen


def lookup_region(text: str) -> str | None:
    """The Allen acronym for an acronym, full name or synonym given on its own; None if not in the list."""
    wanted = text.strip()
    regions = brain_regions()
    if wanted in regions:
        return wanted
    key = wanted.casefold()
    for region in regions.values():
        if key == region.name.casefold() or key == region.acronym.casefold():
            return region.acronym
    for region in regions.values():
        for synonym in region.synonyms:
            sensitive = synonym != synonym.lower()
            if (wanted == synonym) if sensitive else (key == synonym.casefold()):
                return region.acronym
    return None


@lru_cache(maxsize=1)
def institutions() -> tuple[dict[str, Any], ...]:
    text = resources.files("nwbagent.nlmeta").joinpath("institutions.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["institutions"])


def lookup_institution(text: str) -> str | None:
    """The full name for an abbreviation or alias given on its own; None if not in the list."""
    wanted = text.strip()
    for row in institutions():
        if wanted in row["abbreviations"]:
            return str(row["name"])
        if wanted.casefold() in [a.casefold() for a in [row["name"], *row["aliases"]]]:
            return str(row["name"])
    return None


def _alternation(items: Iterable[tuple[str, bool]]) -> str:
    """One regex alternative per (phrase, case_sensitive), longest first so 'guinea pig' beats 'pig'."""
    parts = []
    for phrase, sensitive in sorted(set(items), key=lambda p: (-len(p[0]), p[0])):
        body = r"\s+".join(re.escape(w) for w in phrase.split())
        parts.append(body if sensitive else f"(?i:{body})")
    return "|".join(parts)


# ---------------------------------------------------------------------------------------------- shared bits

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "eighteen": 18,
    "twenty": 20,
    "thirty": 30,
}
_NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + ")"
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(?i:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Capitalised words that start phrases which look like 'First Last' but are not people.
_NOT_NAMES = {
    w.casefold()
    for w in [
        "Open",
        "Ephys",
        "Neuropixels",
        "Intan",
        "Plexon",
        "Blackrock",
        "Neuralynx",
        "Tucker",
        "Davis",
        "SpikeGLX",
        "Kilosort",
        "Phy",
        "Matlab",
        "Python",
        "Allen",
        "Institute",
        "University",
        "College",
        "Lab",
        "Laboratory",
        "Center",
        "Centre",
        "Mouse",
        "Mice",
        "Rat",
        "Rats",
        "Male",
        "Female",
        "Visual",
        "Cortex",
        "Brain",
        "Research",
        "Foundation",
        "School",
        "Medical",
        "Hospital",
        "National",
        "New",
        "York",
        "San",
        "Los",
        "Cre",
        "Jackson",
        "Charles",
        "River",
        "Long",
        "Evans",
        "Sprague",
        "Dawley",
        "Lister",
        "Hooded",
        "Swiss",
        "Webster",
        "Probe",
        "Probes",
        "The",
        "This",
        "These",
        "That",
        "Our",
        "My",
        "His",
        "Her",
        "Their",
        "We",
        "And",
        "In",
        "On",
        "At",
        "Dr",
        "Prof",
        "Professor",
        "Data",
        "Recording",
        "Recordings",
        "Session",
        "Subject",
        "Animal",
        "Experiment",
        "Experiments",
        "Primary",
        "Secondary",
        "Anterior",
        "Posterior",
        "Dorsal",
        "Ventral",
        "Medial",
        "Lateral",
        "Superior",
        "Inferior",
        "Nucleus",
        "Area",
        "Areas",
        "Hippocampus",
        "Thalamus",
        "Striatum",
        "Cambridge",
        "Max",
        "Planck",
        "Janelia",
        "Howard",
        "Hughes",
        "Sainsbury",
        "Wellcome",
        "Harvard",
        "Stanford",
        "Columbia",
        "Princeton",
        "Yale",
        "Oxford",
        "Champalimaud",
        "Caltech",
        "Salk",
        "Rockefeller",
        "Johns",
        "Hopkins",
        "Baylor",
        "Duke",
        "Cornell",
        "Emory",
        "Vanderbilt",
        "Mount",
        "Sinai",
        "Karolinska",
        "Weizmann",
        "Pasteur",
        "Flatiron",
        "Crick",
        "Francis",
        "Imperial",
        "King",
        "Kings",
        "Charité",
        "Charite",
        "Zebra",
        "Fruit",
        "Guinea",
        "Macaque",
        "Rhesus",
        "Marmoset",
        "Ferret",
        "Human",
        "Participant",
        "Patient",
        "Monkey",
        "Fish",
        "Ai",
        "Today",
        "Yesterday",
        "Tomorrow",
        "Morning",
        "Afternoon",
        "Evening",
        "Headstage",
        "Stimulus",
        "Stimulation",
        "Task",
        "Behavior",
        "Behaviour",
        "Awake",
        "Anesthetized",
        "Anaesthetized",
        "Head",
        "Fixed",
        "Freely",
        "Moving",
    ]
    + list(_MONTHS)
    + [d.casefold() for d in _WEEKDAYS]
}

_UP, _LOW = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
_NAME_WORD = (
    rf"(?:[{_UP}]['’][{_UP}][{_LOW}]+|(?:Mc|Mac)[A-Z][{_LOW}]+|[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?)"
)
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|la|le|ter|ten|dos)"
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD})?(?:\s+[A-Z]\.)?(?:\s+{_PARTICLE}){{0,2}}\s+{_NAME_WORD}(?![\w'’-])"
_TITLE = r"(?:(?:Drs?|Prof|Mr|Ms|Mrs)\.?\s+|(?:Professor|Doctor)\s+)"
_NAME_LIST = rf"{_TITLE}?{_NAME}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*){_TITLE}?{_NAME})*"


def _plausible_name(name: str) -> bool:
    words = [w for w in re.split(r"\s+", name) if not re.fullmatch(_PARTICLE + r"|[A-Z]\.", w)]
    return all(w.casefold().rstrip(".") not in _NOT_NAMES for w in words)


# ---------------------------------------------------------------------------------------------- extractors


def _experimenters(text: str) -> list[_Hit]:
    triggers = [
        (rf"\b(?:I['’]m|I\s+am|[Mm]y\s+name\s+is|[Tt]his\s+is|[Ww]e\s+are)\s+(?P<names>{_NAME_LIST})", 0.9),
        (
            r"\b(?:recorded|performed|conducted|collected|acquired|run|done|carried\s+out|ran)\s+by\s+"
            rf"(?P<names>{_NAME_LIST})",
            0.9,
        ),
        (
            r"\b(?:recorded|performed|conducted|collected|acquired)\s+(?:[^\s.;!?]+\s+){1,4}?by\s+"
            rf"(?P<names>{_NAME_LIST})",
            0.8,
        ),
        (rf"\b(?:together\s+with|along\s+with|with)\s+(?:my\s+colleagues?\s+)?(?P<names>{_NAME_LIST})", 0.75),
        (rf"\b[Ee]xperimenters?\s*(?:is|are|was|were|:)\s*(?P<names>{_NAME_LIST})", 0.95),
    ]
    hits: list[_Hit] = []
    for pattern, confidence in triggers:
        for m in re.finditer(pattern, text):
            span = m.group("names")
            names = [re.sub(_TITLE, "", n).strip() for n in re.findall(rf"{_TITLE}?{_NAME}", span)]
            names = [n for n in names if _plausible_name(n)]
            if names:
                hits.append(_Hit("experimenter", names, m.start("names"), m.end("names"), confidence))
    return hits


@lru_cache(maxsize=1)
def _institution_pattern() -> re.Pattern[str]:
    items: list[tuple[str, bool]] = []
    for row in institutions():
        items.extend((a, True) for a in row["abbreviations"])
        items.extend((a, False) for a in [row["name"], *row["aliases"]])
    return re.compile(rf"(?<![\w-])(?:{_alternation(items)})(?![\w-])")


_GENERIC_INSTITUTION = re.compile(
    r"\b(?:from|at)\s+(?:the\s+)?(?P<inst>University\s+of\s+[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
    r"|[A-Z][a-z]+\s+University|[A-Z][a-z]+\s+Institute\s+(?:of|for)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})"
    r"(?![\w-])"
)


def _institutions(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _institution_pattern().finditer(text):
        name = lookup_institution(m.group(0)) or lookup_institution(re.sub(r"\s+", " ", m.group(0)))
        if name is None:
            continue
        before = text[max(0, m.start() - 12) : m.start()]
        anchored = bool(re.search(r"\b(?:from|at|in)\s+(?:the\s+)?$", before))
        hits.append(_Hit("institution", name, m.start(), m.end(), 0.9 if anchored else 0.75, value=name))
    if not hits:
        for m in _GENERIC_INSTITUTION.finditer(text):
            inst = re.sub(r"\s+", " ", m.group("inst"))
            hits.append(_Hit("institution", inst, m.start("inst"), m.end("inst"), 0.7, value=inst))
    if len({h.value for h in hits}) > 1:
        # Several institutions named: keep the one the speaker says they are "from"/"at", if unique.
        anchored_hits = [h for h in hits if h.confidence >= 0.9]
        hits = anchored_hits if len({h.value for h in anchored_hits}) == 1 else hits
    return hits


_SURNAME = r"[A-Z][a-zß-öø-ÿ]+(?:['’][A-Z][a-z]+)?(?:[-–][A-Z][a-zß-öø-ÿ]+)?"


def _labs(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    patterns = [
        rf"(?:\b(?i:in|from|at|of|with|the|for|and)\s+|,\s*)(?:the\s+)?(?:{_TITLE})?(?P<name>{_SURNAME})(?:['’]s)?\s+[Ll]ab\b(?!oratory|s)",
        rf"^\s*(?:[Tt]he\s+)?(?P<name>{_SURNAME})\s+[Ll]ab\b(?!oratory|s)",
        rf"\b[Ll]ab(?:oratory)?\s+of\s+(?:{_TITLE})?(?:{_NAME_WORD}\s+)?(?:[A-Z]\.\s+)?(?P<name>{_SURNAME})(?![\w-])",
    ]
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            name = m.group("name")
            if name.casefold() in _NOT_NAMES:
                continue
            lab = f"{name} Lab"
            hits.append(_Hit("lab", lab, m.start(), m.end(), 0.85, value=lab))
    return hits


_AGE_UNIT = r"(?P<unit>days?|d|weeks?|wks?|wk|w|months?|mos?|mo|years?|yrs?|yr|y)"
_AGE_RANGE = rf"(?P<low>{_NUM})(?:\s*(?:-|–|to)\s*(?P<high>{_NUM}))?"


def _to_number(token: str) -> str:
    return str(_NUMBER_WORDS.get(token.lower(), token))


def _ages(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    patterns = [
        (rf"(?<![\w.]){_AGE_RANGE}[\s-]*{_AGE_UNIT}[\s-]+old\b", 0.9),
        (rf"(?<![\w.]){_AGE_RANGE}\s*{_AGE_UNIT}\s+of\s+age\b", 0.9),
        (
            rf"\b(?i:aged?|age\s+of|at\s+an\s+age\s+of)\s+(?:approximately\s+|about\s+|around\s+|~\s*)?"
            rf"{_AGE_RANGE}[\s-]*{_AGE_UNIT}(?![\w])",
            0.85,
        ),
    ]
    for pattern, confidence in patterns:
        for m in re.finditer(pattern, text, re.I):
            if re.search(r"\d\s*(?:and|or|to|-|–|,)\s*$", text[max(0, m.start() - 12) : m.start()]):
                continue  # 'between 8 and 10 weeks old': the second number alone would be wrong
            low, high, unit = _to_number(m.group("low")), m.group("high"), m.group("unit")
            raw = f"{low}-{_to_number(high)} {unit}" if high else f"{low} {unit}"
            hits.append(_Hit("age", raw, m.start(), m.end(), confidence))
    # postnatal days: 'P21', 'P56D', 'PND 21', 'postnatal day 21'
    for m in re.finditer(r"\b(?i:postnatal\s+day|PND)\s*(?P<n>\d{1,3})\b", text):
        hits.append(_Hit("age", f"{m.group('n')} days", m.start(), m.end(), 0.9))
    for m in re.finditer(r"\bP(?P<n>\d{1,3})D?\b", text):
        before = text[max(0, m.start() - 10) : m.start()]
        after = text[m.end() : m.end() + 12]
        if (
            re.search(r"\b(?:at|aged?|age:?|on)\s*$|\(\s*$", before, re.I)
            or re.match(r"\s+(?:mice|mouse|rats?|pups?|animals?|males?|females?|ferrets?)\b", after, re.I)
            or (re.search(r"(?:^|[,;])\s*$", before) and re.match(r"\s*(?:[,;).]|$)", after))
        ):
            hits.append(_Hit("age", f"{m.group('n')} days", m.start(), m.end(), 0.85))
    return hits


def _sexes(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in re.finditer(r"\b(?i:(male|female|hermaphrodite)s?)\b", text):
        word = m.group(1).lower()
        hits.append(_Hit("sex", word, m.start(), m.end(), 0.9))
    for m in re.finditer(r"\b(?i:year)[\s-]+old\s+(?P<w>man|woman|boy|girl)\b", text, re.I):
        hits.append(_Hit("sex", m.group("w").lower(), m.start("w"), m.end("w"), 0.85))
    for m in re.finditer(r"\b(?i:sex\s+(?:is\s+|was\s+)?unknown|unknown\s+sex|sex\s+not\s+known)\b", text):
        hits.append(_Hit("sex", "unknown", m.start(), m.end(), 0.9))
    return hits


# Plurals and everyday words the species table does not list, mapped to the binomial.
_SPECIES_EXTRA = {
    "participants": "Homo sapiens",
    "patients": "Homo sapiens",
    "volunteers": "Homo sapiens",
    "human subjects": "Homo sapiens",
    "flies": "Drosophila melanogaster",
    "fruit flies": "Drosophila melanogaster",
    "zebra finches": "Taeniopygia guttata",
    "macaques": "Macaca mulatta",
    "rhesus macaques": "Macaca mulatta",
    "rhesus monkeys": "Macaca mulatta",
    "marmosets": "Callithrix jacchus",
    "ferrets": "Mustela furo",
    "worms": "Caenorhabditis elegans",
    "guinea pigs": "Cavia porcellus",
    "gerbils": "Meriones unguiculatus",
    "hamsters": "Mesocricetus auratus",
    "rabbits": "Oryctolagus cuniculus",
    "cats": "Felis catus",
    "pigs": "Sus scrofa",
    "dogs": "Canis familiaris",
    "chickens": "Gallus gallus",
    "chicks": "Gallus gallus",
    "tree shrews": "Tupaia belangeri",
    "canaries": "Serinus canaria",
    "honeybees": "Apis mellifera",
    "honey bees": "Apis mellifera",
    "m. musculus": "Mus musculus",
    "r. norvegicus": "Rattus norvegicus",
    "m. mulatta": "Macaca mulatta",
    "d. rerio": "Danio rerio",
}


@lru_cache(maxsize=1)
def _species_vocabulary() -> tuple[dict[str, str], re.Pattern[str]]:
    names: dict[str, str] = {}
    for row in species_table():
        for word in [row["name"], *row["synonyms"]]:
            names[re.sub(r"\s+", " ", str(word).casefold())] = str(row["name"])
    for word, binomial in _SPECIES_EXTRA.items():
        names[word] = binomial
    pattern = re.compile(rf"(?<![\w-])(?:{_alternation((w, False) for w in names)})(?![\w-])")
    return names, pattern


@lru_cache(maxsize=1)
def _genera() -> frozenset[str]:
    return frozenset(str(row["name"]).split()[0].casefold() for row in species_table())


def _species(text: str) -> list[_Hit]:
    names, pattern = _species_vocabulary()
    hits: list[_Hit] = []
    for m in pattern.finditer(text):
        word = re.sub(r"\s+", " ", m.group(0).casefold())
        before = text[max(0, m.start() - 8) : m.start()].casefold()
        after = text[m.end() : m.end() + 12].casefold()
        if word == "fly" and before.endswith("on the "):
            continue
        epithet = re.match(r"\s+([a-z]+)\b", text[m.end() :])
        if word in _genera() and epithet and f"{word} {epithet.group(1)}" not in names:
            continue  # 'Xenopus tropicalis' is not the listed Xenopus laevis
        if word.startswith("rabbit") and re.match(r"\s*(?:anti|polyclonal|monoclonal|antibod|igg)", after):
            continue
        if word.startswith("human") and after.startswith("-"):
            continue
        if m.group(0).isupper() and len(m.group(0)) <= 4:  # 'RAT', 'CAT' are gene or assay names
            continue
        hits.append(_Hit("species", names[word], m.start(), m.end(), 0.9))
    return hits


# Allen names that are also everyday phrases ('the anterior area of the probe').
_GENERIC_REGION_NAMES = {"anterior area", "fiber tracts"}


def species_mentions(text: str) -> set[str]:
    """Binomials of every species ``text`` names, to check that quoted evidence supports a species value."""
    return {str(h.raw) for h in _species(mask_markup(text))}


@lru_cache(maxsize=1)
def _region_pattern() -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    """One regex over names, synonyms and usable acronyms; the map gives (acronym, how it matched)."""
    items: list[tuple[str, bool]] = []
    meaning: dict[str, tuple[str, str]] = {}
    for region in brain_regions().values():
        if region.name.casefold() not in _GENERIC_REGION_NAMES:
            items.append((region.name, False))
        meaning[region.name.casefold()] = (region.acronym, "name")
        for synonym in region.synonyms:
            sensitive = synonym != synonym.lower()
            items.append((synonym, sensitive))
            meaning[synonym if sensitive else synonym.casefold()] = (region.acronym, "synonym")
        if region.match_acronym != "never":
            items.append((region.acronym, True))
            meaning.setdefault(region.acronym, (region.acronym, region.match_acronym))
    for term in _unmapped_regions():
        sensitive = term != term.lower()
        items.append((term, sensitive))
        meaning[term if sensitive else term.casefold()] = (_UNMAPPED, "synonym")
    pattern = re.compile(rf"(?<![\w-])(?:{_alternation(items)})(?![\w]|-\w)")
    return pattern, meaning


_UNMAPPED = "_unmapped"


@lru_cache(maxsize=1)
def _unmapped_regions() -> tuple[str, ...]:
    text = resources.files("nwbagent.nlmeta").joinpath("brain_regions.json").read_text(encoding="utf-8")
    return tuple(json.loads(text).get("unmapped", []))


_REGION_BEFORE = re.compile(
    r"(?:\b(?:in|into|from|targeting|targeted|target|within|of|to|the|and|or|both|across|at|mostly|mainly|"
    r"primarily|including|especially|specifically|namely)|[/&+])\s*$",
    re.I,
)
_REGION_AFTER = re.compile(
    r"^\s*(?:neurons?|cells?|units?|region|nucleus|area|recordings?|layers?|L\d|and\b|or\b|/|\+)", re.I
)


def _regions(text: str, blocked: list[tuple[int, int]]) -> list[_Hit]:
    pattern, meaning = _region_pattern()
    found: list[tuple[str, int, int]] = []
    for m in pattern.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in blocked):
            continue
        phrase = re.sub(r"\s+", " ", m.group(0))
        acronym, how = meaning.get(phrase) or meaning.get(phrase.casefold()) or ("", "")
        if not acronym:
            continue
        if how == "context":
            before, after = text[max(0, m.start() - 20) : m.start()], text[m.end() : m.end() + 20]
            if not (_REGION_BEFORE.search(before) or _REGION_AFTER.match(after)):
                continue
        found.append((acronym, m.start(), m.end()))
    if not found or any(a == _UNMAPPED for a, _, _ in found):
        return []  # a region outside the list was named too: a partial answer would look complete
    acronyms = list(dict.fromkeys(a for a, _, _ in found))
    ancestors = set().union(*(region_ancestors(a) for a in acronyms))
    keep = [a for a in acronyms if a not in ancestors]
    spans = [(s, e) for a, s, e in found if a in keep]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    value = ", ".join(keep)
    confidence = 0.85 if len(keep) == 1 else 0.75
    return [_Hit("brain_region", value, start, end, confidence, value=value)]


_STRAINS: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (
        r"\bC57\s?BL(?:\s?/\s?|\s)?6(?:\s?/?(?P<sub>J|N|NJ|NCrl|NTac|JRj))?(?![\w])",
        lambda m: "C57BL/6" + (m.group("sub") or "").replace("NCRL", "NCrl"),
    ),
    (r"\bBALB\s?/\s?c(?P<sub>J|ByJ)?(?![\w])", lambda m: "BALB/c" + (m.group("sub") or "")),
    (r"\bCD-?1(?=\s+(?:mice|mouse|males?|females?)\b)", lambda m: "CD-1"),
    (r"\bFVB(?:/N(?:J)?)?(?![\w/])", lambda m: m.group(0)),
    (r"\bDBA/2J?(?![\w])", lambda m: m.group(0)),
    (r"\bSwiss[\s-]Webster\b", lambda m: "Swiss Webster"),
    (r"\bLong[\s-]Evans\b", lambda m: "Long-Evans"),
    (r"\bSprague[\s-]Dawley\b", lambda m: "Sprague-Dawley"),
    (r"\bWistar(?:\s+Han)?\b", lambda m: re.sub(r"\s+", " ", m.group(0))),
    (r"\bLister[\s-][Hh]ooded\b", lambda m: "Lister Hooded"),
    (r"\b(?:Fischer[\s-]?344|F344)\b", lambda m: "Fischer 344"),
    (r"\bBrown[\s-]Norway\b", lambda m: "Brown Norway"),
    (r"\bCanton[\s-]S\b", lambda m: "Canton-S"),
    (r"\bw1118\b", lambda m: "w1118"),
)


def _strains(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for pattern, canonical in _STRAINS:
        for m in re.finditer(pattern, text, re.I if "C57" in pattern or "BALB" in pattern else 0):
            value = canonical(m)
            if "C57" in pattern:
                value = value.upper().replace("NCRL", "NCrl").replace("NTAC", "NTac").replace("JRJ", "JRj")
            hits.append(_Hit("strain", value, m.start(), m.end(), 0.9, value=value))
    return hits


_TRANSGENE = (
    r"(?:[A-Z][A-Za-z0-9]*(?:-(?![Cc]re\b)[A-Za-z0-9]+)*-(?:(?i:IRES2?)-)?"
    r"(?:CreERT2|Cre|FlpO|Flp|Dre|tTA|j?GCaMP\w*|ChR2\w*|tdTomato|EYFP|EGFP|YFP|GFP|Arch\w*|Halo\w*)"
    r"(?:/wt|/\+)?|Ai\d{1,3}[A-Za-z]?(?![\w]))"
)
_GENOTYPE = re.compile(rf"(?<![\w-]){_TRANSGENE}(?:\s*(?:x|×|X|;|/)\s*{_TRANSGENE})*(?![\w])")


def _genotypes(text: str) -> list[_Hit]:
    hits = [
        _Hit("genotype", m.group(0), m.start(), m.end(), 0.85, value=m.group(0))
        for m in _GENOTYPE.finditer(text)
    ]
    if not hits:
        for m in re.finditer(r"\b(?i:wild[\s-]?type)\b|\bWT\b", text):
            hits.append(_Hit("genotype", "WT", m.start(), m.end(), 0.85, value="WT"))
        if hits and re.search(r"\b(?i:knock-?out|knock-?in|mutants?|transgenic)\b|\bKO\b|-/-", text):
            return []  # 'wild type and knockout littermates' describes the cohort, not this subject
    return hits


_WEIGHT_UNIT = r"(?P<unit>kg|g|gr|grams?|kilograms?)"
_WEIGHT_NUM = r"(?P<n>\d+(?:[.,]\d+)?)"


def _weights(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    patterns = [
        rf"\b(?i:weigh(?:s|ed|ing)?|(?:body\s+)?weight(?:\s+of)?|bw)\s*(?::|=|was|is|of)?\s*"
        rf"(?:approximately\s+|about\s+|around\s+|~\s*)?{_WEIGHT_NUM}\s*{_WEIGHT_UNIT}(?![\w/])(?!\s*(?:/|per\b))",
        rf"(?<![\w.]){_WEIGHT_NUM}\s*{_WEIGHT_UNIT}(?![\w/])(?=\s+(?:adult\s+)?(?:male|female|mouse|mice|rat|rats|"
        r"animal|monkey|macaque|ferret|marmoset|C57|Long|Sprague|Wistar)\b)",
        rf"\(\s*{_WEIGHT_NUM}\s*{_WEIGHT_UNIT}\s*\)",
        rf"(?<![\w.]){_WEIGHT_NUM}\s*{_WEIGHT_UNIT}\s+(?i:body\s+weight)\b",
    ]
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            raw = f"{m.group('n')} {m.group('unit')}"
            hits.append(_Hit("weight", raw, m.start(), m.end(), 0.85))
    return hits


_ID = r"(?P<id>(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9][A-Za-z0-9_-]*)"
_NOT_AN_ID_AFTER = re.compile(
    r"^(?:[\s-]*(?:weeks?|days?|months?|years?|wks?|mos?|hours?|hrs?|minutes?|min|h|s|g|kg|mg|grams?|%|mm|cm|"
    r"um|µm|μm|hz|khz|sessions?|trials?|channels?|probes?|shanks?|am|pm)\b|[.:,]\d|/\d)",
    re.I,
)
_AMBIGUOUS = "_ambiguous"
_SUBJECT_WORDS = (
    r"mouse|rat|animal|subject|monkey|macaque|marmoset|ferret|fish|zebrafish|bird|finch|participant|patient|"
    r"pup|fly|worm|gerbil"
)


def _ids(text: str, field: str, words: str) -> list[_Hit]:
    hits: list[_Hit] = []
    pattern = (
        rf"\b(?i:{words})\s*\(?\s*(?:(?i:ID|identifier|number|no\.?|name|named|called|code)\s*)?(?:[:#=]\s*|is\s+)?"
        rf"{_ID}(?![\w])"
    )
    for m in re.finditer(pattern, text):
        ident = re.sub(r"^(?:sub|ses)-", "", m.group("id"))
        if _NOT_AN_ID_AFTER.match(text[m.end() :]) or re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)", ident):
            continue
        if lookup_region(ident):
            # 'mouse V1' may be the mouse's visual cortex or an animal called V1: neither is read.
            hits.append(_Hit(_AMBIGUOUS, ident, m.start("id"), m.end("id"), 0.0))
            continue
        if re.fullmatch(r"(?:19|20)\d\d", ident) and re.match(r"\s*[-/]\s*\d", text[m.end() :]):
            continue
        hits.append(_Hit(field, ident, m.start("id"), m.end("id"), 0.85))
    prefix = "sub" if field == "subject_id" else "ses"
    for m in re.finditer(rf"(?<![\w-]){prefix}-(?P<id>[A-Za-z0-9]+)\b", text):
        hits.append(_Hit(field, m.group("id"), m.start(), m.end(), 0.9))
    return hits


# ---------------------------------------------------------------------------------------------- dates

_TZ_ABBREVIATIONS = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "CET": 1,
    "CEST": 2,
    "BST": 1,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "JST": 9,
}
_TIME = (
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*"
    r"(?P<ampm>(?i:am|pm|a\.m\.|p\.m\.)|h(?![\w]))?"
)
_TZ = (
    r"(?:\s*(?P<tz>UTC|GMT|Z|CEST|CET|BST|EST|EDT|CST|CDT|MST|MDT|PST|PDT|JST|[+-]\d{2}:?\d{2}|"
    r"(?:UTC|GMT)\s*[+-]\d{1,2}(?::?\d{2})?|[A-Z][a-z]+/[A-Z][A-Za-z_]+))?"
)
_DATE_FORMS = (
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))(?:[T ](?P<it>\d{2}:\d{2}(?::\d{2})?))?",
    rf"(?P<mon1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})",
    rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon2>{_MONTH}),?\s+(?P<y2>\d{{4}})",
)
_DATE = re.compile(r"(?<![\w-])(?:" + "|".join(_DATE_FORMS) + r")(?P<isotz>Z|[+-]\d{2}:?\d{2})?(?![\w])")
_TIME_AFTER = re.compile(rf"^\s*(?:,\s*)?(?:at|@|around|starting\s+at|from)?\s*(?<![\d:]){_TIME}{_TZ}")
_TIME_BEFORE = re.compile(rf"(?:at|@|around)\s+{_TIME}{_TZ}\s+(?:on\s+)?(?:the\s+)?$")
_BIRTH_CONTEXT = re.compile(r"\b(?:born|birth|DOB|d\.o\.b\.?|birthday)\b[^.;]{0,20}$", re.I)
_OTHER_EVENT = re.compile(
    r"\b(?:surgery|surgical|implant(?:ed|ation)?|inject(?:ed|ion)|trained|training|habituat\w*|perfused|"
    r"published|arrived|shipped|weaned|craniotomy|sacrificed)\b[^.;]{0,30}$",
    re.I,
)
_RECORDING_CONTEXT = re.compile(
    r"\b(?:record\w*|session|acquired|experiment\w*|performed|collected|ran)\b[^.;]{0,30}$", re.I
)


def _clock(m: re.Match[str]) -> tuple[int, int, int] | None:
    hour, minute, second = int(m.group("hour")), int(m.group("minute") or 0), int(m.group("second") or 0)
    ampm = (m.group("ampm") or "").lower().replace(".", "")
    if not ampm and m.group("minute") is None:
        return None  # a bare number next to a date ('2023, 12 mice') is not a time
    if ampm in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name in _TZ_ABBREVIATIONS:
        return timezone(timedelta(hours=_TZ_ABBREVIATIONS[name]))
    if m := re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?", name):
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _dates(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _DATE.finditer(text):
        try:
            if m.group("iso"):
                year, month, day = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
            elif m.group("mon1"):
                year, day = int(m.group("y1")), int(m.group("d1"))
                month = _MONTHS[m.group("mon1").rstrip(".").lower()]
            else:
                year, day = int(m.group("y2")), int(m.group("d2"))
                month = _MONTHS[m.group("mon2").rstrip(".").lower()]
            moment = datetime(year, month, day)
        except (ValueError, KeyError):
            continue
        if not 1950 <= moment.year <= datetime.now().year + 1:
            continue
        start, end, zone_name, has_time = m.start(), m.end(), m.group("isotz"), False
        if m.group("it"):
            parts = [int(p) for p in m.group("it").split(":")]
            moment = moment.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0)
            has_time = True
            if not zone_name and (tz := re.match(_TZ, text[end:])) and tz.group("tz"):
                zone_name, end = tz.group("tz"), end + tz.end()
        else:
            after = _TIME_AFTER.match(text[end:])
            before = _TIME_BEFORE.search(text[max(0, start - 40) : start])
            for tm, where in ((after, "after"), (before, "before")):
                if tm is None or (clock := _clock(tm)) is None:
                    continue
                moment = moment.replace(hour=clock[0], minute=clock[1], second=clock[2])
                zone_name, has_time = tm.group("tz"), True
                if where == "after":
                    end += tm.end()
                else:
                    start = max(0, start - 40) + tm.start()
                break
        if zone_name:
            zone = _zone(zone_name)
            if zone is None:
                continue
            moment = moment.replace(tzinfo=zone)
        context = text[max(0, start - 60) : start]
        if _BIRTH_CONTEXT.search(context):
            hits.append(_Hit("date_of_birth", moment, start, end, 0.9))
        elif _OTHER_EVENT.search(context) and not _RECORDING_CONTEXT.search(text[max(0, start - 25) : start]):
            continue
        else:
            recording = bool(_RECORDING_CONTEXT.search(context))
            confidence = (0.9 if recording else 0.75) if has_time else (0.6 if recording else 0.5)
            hits.append(_Hit("session_start_time", moment, start, end, confidence))
    return hits


# ---------------------------------------------------------------------------------------------- prose

_CLAUSE_END = r"(?=[.;!?](?:\s|$)|\n|$)"


def _prose(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    patterns = [
        (
            "experiment_description",
            r"\b(?i:(?:I\s+am|I['’]m|we\s+are|we['’]re|we|I)\s+)?(?P<v>(?i:studying|investigating|examining|"
            rf"exploring|testing\s+how|probing)\s+[^.;!?\n]{{10,}}?){_CLAUSE_END}",
        ),
        (
            "experiment_description",
            r"\b(?i:the|our|this)\s+(?i:experiment|study|project)\s+(?i:is|was)?\s*(?i:about|on|investigates|"
            rf"examines|tests)\s+(?P<v>[^.;!?\n]{{10,}}?){_CLAUSE_END}",
        ),
        (
            "session_description",
            r"\b(?i:in|during)\s+(?i:this|the)\s+session,?\s+(?P<v>[^.;!?\n]{10,}?)" + _CLAUSE_END,
        ),
    ]
    for field, pattern in patterns:
        if any(h.field == field for h in hits):
            continue  # the first statement of the experiment is the description; later ones are detail
        if m := re.search(pattern, text):
            value = m.group("v").strip().rstrip(",").strip()
            start = m.start("v")
            hits.append(_Hit(field, value[0].upper() + value[1:], start, start + len(value), 0.7))
    return hits


# ---------------------------------------------------------------------------------------------- labels

_LABELS: dict[str, str] = {
    "session description": "session_description",
    "session start time": "session_start_time",
    "start time": "session_start_time",
    "recording date": "session_start_time",
    "recording time": "session_start_time",
    "date of recording": "session_start_time",
    "identifier": "identifier",
    "session id": "session_id",
    "experimenters": "experimenter",
    "experimenter": "experimenter",
    "institution": "institution",
    "lab": "lab",
    "experiment description": "experiment_description",
    "keywords": "keywords",
    "subject id": "subject_id",
    "animal id": "subject_id",
    "mouse id": "subject_id",
    "rat id": "subject_id",
    "species": "species",
    "organism": "species",
    "sex": "sex",
    "gender": "sex",
    "age": "age",
    "date of birth": "date_of_birth",
    "dob": "date_of_birth",
    "birth date": "date_of_birth",
    "strain": "strain",
    "genotype": "genotype",
    "weight": "weight",
    "body weight": "weight",
    "subject description": "subject_description",
    "brain region": "brain_region",
    "brain area": "brain_region",
    "recording site": "brain_region",
}
# Fields whose labelled value may also follow 'is'/'was' ('the species is rat'); for prose fields only
# 'label:' counts, since 'lab is in Boston' is not a lab name.
_IS_FIELDS = {
    "species",
    "sex",
    "age",
    "subject_id",
    "session_id",
    "weight",
    "strain",
    "genotype",
    "date_of_birth",
}


def _label_regex() -> re.Pattern[str]:
    labels = "|".join(
        r"[\s_-]+".join(re.escape(w) for w in label.split())
        for label in sorted(_LABELS, key=len, reverse=True)
    )
    return re.compile(
        rf"(?:^|(?<=[\n;,.(]))\s*(?:(?i:the)\s+)?(?P<label>(?i:{labels}))\s*(?P<sep>:|=|\bis\b|\bwas\b)\s*"
        rf"(?P<value>[^\n;]*?)\s*(?=[;\n]|\.(?:\s|$)|,\s*(?i:{labels})\s*(?::|=|\bis\b)|$)",
        re.M,
    )


_LABEL_RE = _label_regex()


def _labelled(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in _LABEL_RE.finditer(text):
        field = _LABELS[re.sub(r"[\s_-]+", " ", m.group("label").lower())]
        value = m.group("value").strip().strip("'\"")
        if not value or (m.group("sep") in ("is", "was") and field not in _IS_FIELDS):
            continue
        hit = _Hit(field, value, m.start("label"), m.end("value"), 0.95)
        if field == "brain_region":
            hit.value = lookup_region(value) or value
        elif field == "institution":
            hit.value = lookup_institution(value) or value
        elif field == "lab":
            hit.value = (
                value if re.search(r"\blab\b", value, re.I) is None else re.sub(r"\blab\b", "Lab", value)
            )
        elif field in ("session_start_time", "date_of_birth"):
            dated = _dates(value)
            if not dated:
                continue
            hit.raw = dated[0].raw
        hits.append(hit)
    return hits


# ---------------------------------------------------------------------------------------------- driver

_ORDER = {name: i for i, name in enumerate(FIELD_NAMES)}


def _normalize(hit: _Hit, species: str | None) -> Any:
    if hit.value is not None:
        return hit.value
    return normalize_field(hit.field, hit.raw, species=species)


def extract_rules(text: str) -> list[ExtractedField]:
    """Every field the text states unambiguously; fields left open or stated twice differently are absent.

    Labelled statements ('species: rat') win over phrasing ('a rat'); among equally strong readings of one
    field, disagreement means nothing is emitted, because asking is cheaper than archiving a wrong value.
    """
    masked = mask_markup(text)
    labelled = _labelled(masked)
    id_hits = _ids(masked, "subject_id", _SUBJECT_WORDS) + _ids(
        masked, "session_id", r"session|recording\s+session"
    )
    other = (
        _experimenters(masked)
        + _institutions(masked)
        + _labs(masked)
        + _ages(masked)
        + _sexes(masked)
        + _species(masked)
        + _strains(masked)
        + _genotypes(masked)
        + _weights(masked)
        + _dates(masked)
        + _prose(masked)
    )
    blocking = ("subject_id", "session_id", "genotype", "strain", _AMBIGUOUS)
    blocked = [(h.start, h.end) for h in id_hits + other if h.field in blocking]
    blocked += [(h.start, h.end) for h in labelled]
    other += _regions(masked, blocked)
    by_field: dict[str, list[_Hit]] = {}
    labelled_fields = {h.field for h in labelled}
    labelled_spans = [(h.start, h.end) for h in labelled]
    for hit in id_hits + other:
        # a labelled line says what its words are ('keywords: mouse, V1'): nothing else reads them
        overlaps = any(s < hit.end and hit.start < e for s, e in labelled_spans)
        if hit.field != _AMBIGUOUS and hit.field not in labelled_fields and not overlaps:
            by_field.setdefault(hit.field, []).append(hit)
    for hit in labelled:
        by_field.setdefault(hit.field, []).append(hit)

    species_value: str | None = None
    results: dict[str, ExtractedField] = {}
    for field in sorted(by_field, key=lambda f: (f != "species", _ORDER[f])):
        hits = by_field[field]
        if field == "session_start_time" and len(hits) > 1:
            strongest = max(h.confidence for h in hits)
            hits = [h for h in hits if h.confidence == strongest]
        values: list[tuple[Any, _Hit]] = []
        for hit in hits:
            try:
                value = _normalize(hit, species_value)
            except ValueError:
                continue
            if unsafe_value(value):
                continue
            values.append((value, hit))
        if not values:
            continue
        if field == "experimenter":
            merged = list(dict.fromkeys(v for value, _ in values for v in value))
            value, chosen = merged, values
        else:
            distinct = {json.dumps(v, default=str, sort_keys=True) for v, _ in values}
            if len(distinct) > 1:
                continue
            value, chosen = values[0][0], values
        spans = sorted({(h.start, h.end) for _, h in chosen})
        evidence = " … ".join(text[s:e].strip() for s, e in spans)
        confidence = max(h.confidence for _, h in chosen)
        results[field] = ExtractedField(field=field, value=value, confidence=confidence, evidence=evidence)
        if field == "species":
            species_value = value
    _non_mouse_regions(results)
    return [results[f] for f in FIELD_NAMES if f in results]


def _non_mouse_regions(results: dict[str, ExtractedField]) -> None:
    """Allen CCF names mouse structures; for other species keep the user's own words for the location."""
    region, species = results.get("brain_region"), results.get("species")
    if region is None or species is None or species.value == "Mus musculus":
        return
    if "," in str(region.value) or region.confidence >= 0.95:
        return
    results["brain_region"] = region.model_copy(update={"value": region.evidence})
