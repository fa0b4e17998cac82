"""Turn what people type into the forms NWB and DANDI accept.

Each normalizer returns the normalized value or raises ``ValueError`` whose message quotes the input and
gives an example of a valid answer, because that message is shown to the user as-is.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nwbagent.metadata.schema import EXPERIMENTER_PATTERN, SPECIES_PATTERN

# ---------------------------------------------------------------------------------------------- age

_DURATION = re.compile(
    r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?"
)
_UNITS: dict[str, str] = {}
for _unit, _words in {
    "Y": ("y", "yr", "yrs", "year", "years", "yo"),
    "M": ("mo", "mos", "mon", "month", "months"),
    "W": ("w", "wk", "wks", "week", "weeks"),
    "D": ("d", "day", "days"),
    "H": ("h", "hr", "hrs", "hour", "hours"),
}.items():
    for _word in _words:
        _UNITS[_word] = _unit
_AGE_TOKEN = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_AGE_FILLER = re.compile(r"\b(old|of age|age|aged|postnatal|and)\b|,")
_AGE_EXAMPLE = "e.g. 'P90D', '12 weeks', '3 months' or a range 'P56D/P70D'"


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _one_duration(count: float, unit: str) -> str:
    """One ``count unit`` as ISO 8601, moving fractions to the next smaller unit so values stay exact."""
    if unit == "H":
        return f"PT{_number(str(count))}H"
    if unit == "W":  # weeks are exact days; lab ages are compared in days (8 weeks -> P56D)
        return _one_duration(count * 7, "D")
    if count.is_integer():
        return f"P{int(count)}{unit}"
    if unit == "Y":
        months = count * 12
        if months.is_integer():
            return f"P{int(months)}M"
        return _one_duration(months, "M")
    if unit == "M":  # a month has no fixed length: keep whole months, the rest as (30-day) days
        whole = math.floor(count)
        days = round((count - whole) * 30)
        return f"P{whole}M{days}D" if days else f"P{whole}M"
    whole = math.floor(count)  # days
    hours = round((count - whole) * 24)
    return f"P{whole}DT{hours}H" if hours else f"P{whole}D"


def _single_age(text: str, original: str) -> str:
    text = text.strip()
    if not text:
        return ""
    upper = text.upper().replace(" ", "")
    if _DURATION.fullmatch(upper):
        return upper
    if re.fullmatch(r"P\d+", upper):  # 'P56': the postnatal-day convention of developmental biology
        return f"{upper}D"
    if m := re.fullmatch(r"(?:PND|PD)(\d+)", upper):
        return f"P{m.group(1)}D"
    lowered = _AGE_FILLER.sub(" ", text.lower())
    lowered = re.sub(r"\bday\s+(\d+)\b", r"\1 days", lowered)  # "postnatal day 56"
    tokens = _AGE_TOKEN.findall(lowered)
    if not tokens or _AGE_TOKEN.sub("", lowered).strip():
        raise ValueError(f"Age '{original}' is not understood; give a number and a unit, {_AGE_EXAMPLE}.")
    date_part: dict[str, str] = {}
    seen: set[str] = set()
    days = 0.0
    time_part = ""
    for count, word in tokens:
        unit = _UNITS.get(word)
        if unit is None:
            raise ValueError(f"Age '{original}': unknown unit '{word}'; {_AGE_EXAMPLE}.")
        if len(tokens) == 1:
            return _one_duration(float(count), unit)
        if unit in seen:
            raise ValueError(f"Age '{original}' names '{word}' twice; {_AGE_EXAMPLE}.")
        seen.add(unit)
        if unit == "H":
            time_part = f"T{_number(count)}H"
        elif unit in ("W", "D"):  # weeks are exact days: "2 weeks 3 days" -> P17D
            days += float(count) * (7 if unit == "W" else 1)
        else:
            date_part[unit] = _number(count)
    if days:
        date_part["D"] = _number(str(days))
    order = "YMD"
    return "P" + "".join(f"{date_part[u]}{u}" for u in order if u in date_part) + time_part


def normalize_age(value: Any) -> str:
    """Age as an ISO 8601 duration (weeks become days, months and years stay); ranges become 'lower/upper'."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"Age {value!r} is not text; {_AGE_EXAMPLE}.")
    if isinstance(value, (int, float)):
        raise ValueError(f"Age '{value}' has no unit; {_AGE_EXAMPLE}.")
    text = value.strip()
    if not text:
        raise ValueError(f"Age is empty; {_AGE_EXAMPLE}.")
    if "/" in text:
        lower, _, upper = text.partition("/")
        if not lower.strip() and not upper.strip():
            raise ValueError(f"Age '{value}' is an empty range; {_AGE_EXAMPLE}.")
        return f"{_single_age(lower, value)}/{_single_age(upper, value)}"
    # "8-10 weeks", "8 to 10 weeks": a range sharing one unit
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*([A-Za-z ]+)", text):
        low, high, unit = m.groups()
        return f"{_single_age(f'{low} {unit}', value)}/{_single_age(f'{high} {unit}', value)}"
    if re.fullmatch(r"\d+(\.\d+)?", text):
        raise ValueError(f"Age '{value}' has no unit; {_AGE_EXAMPLE}.")
    return _single_age(text, value)


# ---------------------------------------------------------------------------------------------- sex

_SEX: dict[str, str] = {}
for _code, _words in {
    "M": ("m", "male", "man", "boy", "males"),
    "F": ("f", "female", "woman", "girl", "females"),
    "U": ("u", "unknown", "unk", "?", "n/a", "na", "not known", "undetermined", "unspecified"),
    "O": ("o", "other", "intersex"),
}.items():
    for _word in _words:
        _SEX[_word] = _code
C_ELEGANS = "Caenorhabditis elegans"


def normalize_sex(value: Any, species: str | None = None) -> str:
    """Sex as M/F/U/O, or XX/XO for C. elegans (what NWB Inspector's check_subject_sex expects)."""
    text = str(value).strip().lower() if value is not None else ""
    elegans = species in (C_ELEGANS, "C. elegans")
    if elegans:
        mapping = {"xx": "XX", "hermaphrodite": "XX", "herm": "XX", "xo": "XO", "male": "XO", "m": "XO"}
        if text in mapping:
            return mapping[text]
        raise ValueError(
            f"Sex '{value}' is not valid for C. elegans; answer 'XX' (hermaphrodite) or 'XO' (male)."
        )
    if text in _SEX:
        return _SEX[text]
    raise ValueError(
        f"Sex '{value}' is not understood; answer 'M' (male), 'F' (female), 'U' (unknown) or 'O' (other)."
    )


# ---------------------------------------------------------------------------------------------- species

_NCBI_IRI = "http://purl.obolibrary.org/obo/NCBITaxon_{}"


@lru_cache(maxsize=1)
def species_table() -> tuple[dict[str, Any], ...]:
    """The shipped NCBI taxonomy subset (species.json), read once."""
    text = resources.files("nwbagent.metadata").joinpath("species.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["species"])


@lru_cache(maxsize=1)
def _species_lookup() -> tuple[dict[str, str], dict[int, str]]:
    by_name: dict[str, str] = {}
    by_id: dict[int, str] = {}
    for row in species_table():
        name = str(row["name"])
        by_id[int(row["ncbi_taxon_id"])] = name
        for key in [name, *row["synonyms"]]:
            by_name[_species_key(str(key))] = name
    return by_name, by_id


def _species_key(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().lower())


def normalize_species(value: Any) -> str:
    """Latin binomial for a common name, synonym, binomial or NCBI taxon id (an IRI for unlisted ids)."""
    text = str(value).strip() if value is not None else ""
    example = "e.g. 'Mus musculus' for mouse, or an NCBI taxonomy id such as 'NCBITaxon:10090'"
    if not text:
        raise ValueError(f"Species is empty; give the Latin binomial, {example}.")
    by_name, by_id = _species_lookup()
    taxon = re.fullmatch(
        r"(?:NCBITaxon[:_]|txid|taxon:?\s*|http://purl\.obolibrary\.org/obo/NCBITaxon_)(\d+)", text, re.I
    )
    if taxon:
        taxon_id = int(taxon.group(1))
        return by_id.get(taxon_id, _NCBI_IRI.format(taxon_id))
    key = _species_key(text)
    if key in by_name:
        return by_name[key]
    # An unlisted name already written as a binomial ('Xenopus tropicalis') is taken as the user wrote it.
    if re.fullmatch(SPECIES_PATTERN, text) and not text.startswith("http"):
        return text
    close = difflib.get_close_matches(key, list(by_name), n=3, cutoff=0.75)
    hint = f" Did you mean {' or '.join(repr(by_name[c]) for c in close)}?" if close else ""
    raise ValueError(
        f"Species '{value}' is not a name nwbagent knows.{hint} Give the Latin binomial, {example}."
    )


# ---------------------------------------------------------------------------------------------- people

_PARTICLES = {
    "van",
    "von",
    "der",
    "den",
    "de",
    "del",
    "della",
    "di",
    "da",
    "du",
    "la",
    "le",
    "ter",
    "ten",
    "dos",
}
_INITIALS = re.compile(r"^(?:[A-Z]\.?){1,3}$")
_EXPERIMENTER_EXAMPLE = "e.g. 'Doe, Jane' or 'Jane Doe'"


def _initials(token: str) -> str:
    letters = token.replace(".", "")
    return " ".join(f"{c}." for c in letters)


def _one_name(text: str, original: Any) -> str:
    text = re.sub(r"\s+", " ", text.strip())
    if "," in text:
        last, _, first = (p.strip() for p in text.partition(","))
        if not last or not first:
            raise ValueError(
                f"Experimenter '{original}' is missing a first or last name; {_EXPERIMENTER_EXAMPLE}."
            )
        result = f"{last}, {first}"
    else:
        words = text.split(" ")
        if len(words) < 2:
            raise ValueError(f"Experimenter '{original}' needs first and last name; {_EXPERIMENTER_EXAMPLE}.")
        if len(words) == 2 and _INITIALS.fullmatch(words[1]) and not _INITIALS.fullmatch(words[0]):
            result = f"{words[0]}, {_initials(words[1])}"  # "Doe J", "Doe JM": citation style
        else:
            start = len(words) - 1  # the last name plus any particles before it ("van der Berg")
            while start > 1 and words[start - 1].lower() in _PARTICLES:
                start -= 1
            first = " ".join(
                _initials(w) if _INITIALS.fullmatch(w) and len(w) <= 2 else w for w in words[:start]
            )
            result = f"{' '.join(words[start:])}, {first}"
    if not re.fullmatch(EXPERIMENTER_PATTERN, result):
        raise ValueError(
            f"Experimenter '{original}' has characters DANDI does not accept; {_EXPERIMENTER_EXAMPLE}."
        )
    return result


def _split_people(text: str) -> list[str]:
    pieces = [p for p in re.split(r"\s*(?:;|\n|&|\band\b)\s*", text) if p.strip()]
    people: list[str] = []
    for piece in pieces:
        parts = [p.strip() for p in piece.split(",") if p.strip()]
        # 'Doe, Jane' is one person; 'Jane Doe, John Smith' is two. Two multi-word sides mean a list,
        # unless the left side is a last name with particles ('van der Berg, Anna').
        left_has_particle = bool(parts) and parts[0].split(" ")[0].lower() in _PARTICLES
        if len(parts) > 2 or (len(parts) == 2 and all(" " in p for p in parts) and not left_has_particle):
            people.extend(parts)
        else:
            people.append(piece)
    return people


def normalize_experimenter(value: Any) -> list[str]:
    """Names as DANDI's 'Last, First' list from 'Jane Doe', 'Doe, Jane', 'Doe J', lists or 'A; B'."""
    if isinstance(value, str):
        names = _split_people(value)
    elif isinstance(value, Iterable):
        names = [str(v) for v in value]
    else:
        raise ValueError(f"Experimenter {value!r} is not a name; {_EXPERIMENTER_EXAMPLE}.")
    names = [n for n in names if n.strip()]
    if not names:
        raise ValueError(f"Experimenter is empty; {_EXPERIMENTER_EXAMPLE}.")
    return [_one_name(n, value) for n in names]


# ---------------------------------------------------------------------------------------------- time


def assumed_timezone(configured: str | None = None) -> tuple[tzinfo, str]:
    """The zone for times recorded without one (``configured``, an IANA name the caller read from its
    settings or the user gave; else this machine's), and a phrase saying where that choice came from."""
    if configured:
        try:
            return ZoneInfo(configured), f"{configured} from settings (NWBAGENT_TIMEZONE)"
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"Configured time zone '{configured}' is not an IANA zone; set NWBAGENT_TIMEZONE to e.g. "
                "'Europe/Berlin'."
            ) from exc
    import tzlocal

    zone = tzlocal.get_localzone()
    name = getattr(zone, "key", None) or str(zone)
    return zone, f"{name}, this machine's local zone"


_DATE_FORMATS = (
    "%Y%m%d",
    "%Y%m%d_%H%M%S",
    "%Y%m%dT%H%M%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)
_TIME_EXAMPLE = "e.g. '2021-09-20T14:13:34+02:00' or '2021-09-20 14:13'"


def parse_datetime(value: Any, what: str = "Session start time") -> datetime:
    """A datetime from ISO 8601 text or a date; day/month order is never guessed, so '03/04/2021' fails."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    text = str(value).strip() if value is not None else ""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{what} '{value}' is not a date and time nwbagent can read; {_TIME_EXAMPLE}.")


def make_aware(moment: datetime, timezone: str | None = None) -> tuple[datetime, str | None]:
    """Attach the assumed zone to a naive time; the note (None when nothing was assumed) goes in evidence."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment, None
    zone, why = assumed_timezone(timezone)
    return moment.replace(tzinfo=zone), f"no time zone given; assumed {why}"


def normalize_datetime(
    value: Any, what: str = "Session start time", *, timezone: str | None = None
) -> datetime:
    """Always timezone-aware: NWB files with naive start times are ambiguous across labs and archives."""
    aware, _ = make_aware(parse_datetime(value, what), timezone)
    return aware


def normalize_session_start_time(value: Any, *, timezone: str | None = None) -> datetime:
    return normalize_datetime(value, "Session start time", timezone=timezone)


def normalize_date_of_birth(value: Any, *, timezone: str | None = None) -> datetime:
    return normalize_datetime(value, "Date of birth", timezone=timezone)


# ---------------------------------------------------------------------------------------------- misc

_WEIGHT_UNITS = {
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "g": "g",
    "gr": "g",
    "gram": "g",
    "grams": "g",
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "ug": "ug",
    "µg": "ug",
    "μg": "ug",
    "microgram": "ug",
    "micrograms": "ug",
    "ng": "ng",
    "pg": "pg",
}


def normalize_weight(value: Any) -> str:
    """Weight as 'number unit' (e.g. '25 g'), the form NWB Inspector's check_subject_weight accepts.

    The user's unit is kept: converting '25 g' to kg would only add floating-point noise.
    """
    text = str(value).strip() if value is not None else ""
    m = re.fullmatch(r"(\d+(?:[.,]\d+)?)\s*([A-Za-zµμ]+)\.?", text)
    example = "e.g. '25 g' or '0.3 kg'"
    if isinstance(value, (int, float)) or re.fullmatch(r"\d+(?:[.,]\d+)?", text):
        raise ValueError(f"Weight '{value}' has no unit; {example}.")
    if not m:
        raise ValueError(f"Weight '{value}' is not 'number unit'; {example}.")
    number, unit = m.groups()
    canonical = _WEIGHT_UNITS.get(unit.lower()) or _WEIGHT_UNITS.get(unit)
    if canonical is None:
        raise ValueError(f"Weight '{value}': unknown unit '{unit}'; {example}.")
    return f"{_number(number.replace(',', '.'))} {canonical}"


def normalize_keywords(value: Any) -> list[str]:
    """Keywords as a list; a single string is split on commas or semicolons."""
    items = re.split(r"[,;\n]", value) if isinstance(value, str) else [str(v) for v in value]
    result: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in result:
            result.append(item)
    if not result:
        raise ValueError("Keywords are empty; e.g. 'electrophysiology, Neuropixels, visual cortex'.")
    return result


def normalize_id(value: Any, what: str) -> str:
    """An id as text; a slash would split the DANDI path, so it is refused rather than silently replaced."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError(f"{what} is empty; e.g. 'M12'.")
    if "/" in text or "\\" in text:
        raise ValueError(
            f"{what} '{value}' contains a slash, which breaks DANDI paths; use '-' instead, e.g. 'M12-1'."
        )
    return text


def normalize_text(value: Any, what: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError(f"{what} is empty.")
    return text


def normalize_field(name: str, value: Any, *, species: str | None = None, timezone: str | None = None) -> Any:
    """Dispatch to the normalizer of one field; ``species`` is needed only to read ``sex`` correctly,
    ``timezone`` only for times given without a zone."""
    if name == "age":
        return normalize_age(value)
    if name == "sex":
        return normalize_sex(value, species)
    if name == "species":
        return normalize_species(value)
    if name == "experimenter":
        return normalize_experimenter(value)
    if name == "session_start_time":
        return normalize_session_start_time(value, timezone=timezone)
    if name == "date_of_birth":
        return normalize_date_of_birth(value, timezone=timezone)
    if name == "weight":
        return normalize_weight(value)
    if name == "keywords":
        return normalize_keywords(value)
    if name in ("subject_id", "session_id"):
        return normalize_id(value, "Subject ID" if name == "subject_id" else "Session ID")
    return normalize_text(value, name.replace("_", " ").capitalize())


def check_value(
    name: str, value: Any, *, species: str | None = None, timezone: str | None = None
) -> dict[str, Any]:
    """What a form shows while a user types: the value as it will be saved, or why it will not be, with an
    example. The guided page asks this instead of repeating the normalizers in JavaScript."""
    from nwbagent.metadata.schema import SPECS

    spec = SPECS.get(name)
    if spec is None:
        return {"field": name, "ok": False, "error": f"'{name}' is not a metadata field.", "example": None}
    example = spec.examples[0] if spec.examples else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return {"field": name, "ok": True, "empty": True, "value": None, "example": example}
    try:
        normalized = normalize_field(name, value, species=species, timezone=timezone)
    except ValueError as exc:
        return {"field": name, "ok": False, "error": str(exc), "example": example}
    shown = normalized.isoformat() if isinstance(normalized, datetime) else normalized
    changed = str(shown) != str(value).strip()
    return {"field": name, "ok": True, "value": shown, "changed": changed, "example": example}
