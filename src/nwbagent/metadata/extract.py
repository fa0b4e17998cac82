"""Metadata layers from each source: the recording files, their names, the user, and safe defaults.

Values a normalizer rejects are kept raw with ``error`` set instead of raising, so one bad answer does not
hide the others: ``check_metadata`` reports them all at once.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from nwbagent.errors import UserFacingError
from nwbagent.metadata.normalize import make_aware, normalize_field, parse_datetime
from nwbagent.metadata.schema import FIELD_NAMES, SPECS, FieldValue, SessionMetadata, Source

_TIME_FIELDS = ("session_start_time", "date_of_birth")
# NeuroConv fills these itself when a reader has nothing; they are not facts about the session.
_NEUROCONV_PLACEHOLDERS = {"", "no description", "unknown"}


def make_field(
    name: str,
    raw: Any,
    *,
    source: Source,
    confidence: float,
    evidence: str,
    species: str | None = None,
    timezone: str | None = None,
) -> FieldValue:
    """Normalize one raw value into a ``FieldValue``; a rejected value is kept raw with the reason."""
    try:
        if name in _TIME_FIELDS:
            what = "Session start time" if name == "session_start_time" else "Date of birth"
            value, note = make_aware(parse_datetime(raw, what), timezone)
            if note:
                evidence = f"{evidence}; {note}"
        else:
            value = normalize_field(name, raw, species=species, timezone=timezone)
    except ValueError as exc:
        return FieldValue(
            value=_jsonable(raw), source=source, confidence=confidence, evidence=evidence, error=str(exc)
        )
    return FieldValue(value=value, source=source, confidence=confidence, evidence=evidence)


def _jsonable(raw: Any) -> Any:
    """Raw values end up in the provenance file, so anything exotic is kept as its text."""
    if raw is None or isinstance(raw, (str, int, float, bool, datetime)):
        return raw
    if isinstance(raw, (list, tuple)):
        return [_jsonable(r) for r in raw]
    return str(raw)


def _build(
    raw: Mapping[str, Any],
    *,
    source: Source,
    confidence: float,
    evidence: Mapping[str, str] | str,
    timezone: str | None = None,
) -> SessionMetadata:
    """Normalize a flat mapping; species goes first because reading ``sex`` depends on it."""
    fields: dict[str, FieldValue] = {}
    species: str | None = None
    for name in sorted(raw, key=lambda n: n != "species"):
        value = raw[name]
        if value is None or (isinstance(value, (str, list)) and not value):
            continue
        why = evidence if isinstance(evidence, str) else evidence[name]
        fv = make_field(
            name,
            value,
            source=source,
            confidence=confidence,
            evidence=why,
            species=species,
            timezone=timezone,
        )
        if name == "species" and fv.error is None:
            species = fv.value
        fields[name] = fv
    return SessionMetadata(**fields)


# ---------------------------------------------------------------------------------------------- files


def from_neuroconv(
    metadata: Mapping[str, Any], evidence: str, *, timezone: str | None = None
) -> SessionMetadata:
    """Fields a NeuroConv ``get_metadata()`` dict read from the recording, as ``source="file"``.

    ``evidence`` names the reader and files (e.g. "SpikeGLX .meta of TEST_20210920_0_g0"). The random
    identifier and the empty session description NeuroConv invents are skipped: they are not facts.
    """
    raw: dict[str, Any] = {}
    where: dict[str, str] = {}
    nwbfile = metadata.get("NWBFile") or {}
    subject = metadata.get("Subject") or {}
    for name in FIELD_NAMES:
        spec = SPECS[name]
        if name == "identifier":
            continue
        if spec.group == "NWBFile" and spec.nwb_key in nwbfile:
            value = nwbfile[spec.nwb_key]
        elif spec.group == "Subject" and spec.nwb_key in subject:
            value = subject[spec.nwb_key]
        else:
            continue
        if isinstance(value, str) and value.strip().lower() in _NEUROCONV_PLACEHOLDERS:
            continue
        raw[name] = value
        where[name] = f"{evidence} ({spec.group}.{spec.nwb_key})"
    locations = sorted(
        {
            str(group.get("location"))
            for group in _electrode_groups(metadata)
            if str(group.get("location", "")).strip().lower() not in _NEUROCONV_PLACEHOLDERS
        }
    )
    if locations:
        raw["brain_region"] = ", ".join(locations)
        where["brain_region"] = f"{evidence} (Ecephys.ElectrodeGroups.location)"
    return _build(raw, source="file", confidence=0.9, evidence=where, timezone=timezone)


def from_probe(fields: Mapping[str, tuple[Any, str]], *, timezone: str | None = None) -> SessionMetadata:
    """What a format probe read from files NeuroConv does not look at, as ``source="file"``.

    Ranked above NeuroConv's own reading of the same field (confidence 0.95 vs 0.9): the probe reads the
    file that belongs to this acquisition (``settings_2.xml`` for Open Ephys experiment 2).
    """
    raw = {name: value for name, (value, _) in fields.items()}
    where = {name: why for name, (_, why) in fields.items()}
    return _build(raw, source="file", confidence=0.95, evidence=where, timezone=timezone)


def _electrode_groups(metadata: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    groups = (metadata.get("Ecephys") or {}).get("ElectrodeGroups") or []
    values = groups.values() if isinstance(groups, Mapping) else groups
    return [g for g in values if isinstance(g, Mapping)]


# ---------------------------------------------------------------------------------------------- names

_SUB = re.compile(r"(?:^|[_\-.])sub-([A-Za-z0-9]+)", re.I)
_SES = re.compile(r"(?:^|[_\-.])ses-([A-Za-z0-9]+)", re.I)
_ANIMAL = re.compile(
    r"(?:^|[_\-.\s])((?:mouse|rat|animal|subject|monkey|m)[_\-]?\d+[A-Za-z]?)(?=$|[_\-.\s])", re.I
)
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # 2021-09-20_14-13-34, 2021-09-20T14:13:34, 2021-09-20
    (
        re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[_T\s](\d{2})[-:](\d{2})[-:](\d{2}))?(?!\d)"),
        "YMDhms",
    ),
    # 20210920_141334, 20210920
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?:[_T\-](\d{2})(\d{2})(\d{2}))?(?!\d)"), "YMDhms"),
    # 231117_052500 (Intan: yymmdd_hhmmss)
    (re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?!\d)"), "yMDhms"),
)
_GENERIC_FILE_NAMES = {
    "info",
    "settings",
    "structure",
    "continuous",
    "recording",
    "data",
    "amplifier",
    "time",
}


def _date_in(text: str) -> tuple[datetime, str] | None:
    for pattern, layout in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = [int(g) if g else 0 for g in m.groups()]
            year = parts[0] + 2000 if layout.startswith("y") else parts[0]
            try:
                moment = datetime(year, parts[1], parts[2], parts[3], parts[4], parts[5])
            except ValueError:
                continue
            if 1990 <= moment.year <= datetime.now().year:
                return moment, m.group(0)
    return None


def _name_candidates(path: Path) -> list[str]:
    """Deepest first, at most four levels: higher folders describe the disk, not the session."""
    names: list[str] = []
    if path.suffix:
        # 'TEST_20210920_0_g0_t0.imec0.ap.bin' -> 'TEST_20210920_0_g0': drop stream and SpikeGLX trigger parts
        stem = re.sub(r"_t\d+$", "", path.name.split(".")[0])
        if stem.lower() not in _GENERIC_FILE_NAMES:
            names.append(stem)
        path = path.parent
    for part in (path, *path.parents):
        if part.name and len(names) < 4:
            names.append(part.name)
    return names


def from_path(path: Path, *, timezone: str | None = None) -> SessionMetadata:
    """Guesses from folder and file names (``source="inferred"``), to prefill questions, not to decide."""
    path = Path(path)
    names = _name_candidates(path)
    raw: dict[str, Any] = {}
    where: dict[str, str] = {}
    confidence: dict[str, float] = {}

    def put(name: str, value: Any, why: str, conf: float) -> None:
        if name not in raw:
            raw[name], where[name], confidence[name] = value, why, conf

    for name in names:
        if m := _SUB.search(name):
            put("subject_id", m.group(1), f"'sub-{m.group(1)}' in the name '{name}'", 0.7)
        if m := _SES.search(name):
            put("session_id", m.group(1), f"'ses-{m.group(1)}' in the name '{name}'", 0.7)
        if m := _ANIMAL.search(name):
            put("subject_id", m.group(1), f"'{m.group(1)}' in the name '{name}' looks like an animal id", 0.4)
        if re.search(r"_g\d+$", name):  # SpikeGLX run folders: <run>_g<gate>
            put("session_id", name, f"the SpikeGLX run name '{name}'", 0.5)
        if found := _date_in(name):
            moment, text = found
            has_time = moment.time() != datetime.min.time()
            put(
                "session_start_time",
                moment,
                f"'{text}' in the name '{name}' read as {'date and time' if has_time else 'date only'}",
                0.5 if has_time else 0.3,
            )
            put("session_id", name, f"the session folder/file name '{name}' (it holds a date)", 0.4)

    fields: dict[str, FieldValue] = {}
    for name, value in raw.items():
        fields[name] = make_field(
            name,
            value,
            source="inferred",
            confidence=confidence[name],
            evidence=f"from the path: {where[name]}",
            timezone=timezone,
        )
    return SessionMetadata(**fields)


# ---------------------------------------------------------------------------------------------- defaults

DEFAULT_SESSION_DESCRIPTION = "Extracellular electrophysiology recording converted by nwbagent."


def defaults() -> SessionMetadata:
    """Placeholders for descriptive fields only; species, sex, subject id and age are never defaulted."""
    return SessionMetadata(
        session_description=FieldValue(
            value=DEFAULT_SESSION_DESCRIPTION,
            source="default",
            confidence=0.1,
            evidence="nwbagent default; replace it with what happened in the session",
        ),
        keywords=FieldValue(
            value=["electrophysiology", "extracellular"],
            source="default",
            confidence=0.1,
            evidence="nwbagent default for extracellular recordings",
        ),
    )


# ---------------------------------------------------------------------------------------------- user

_ALIASES = {"description": "subject_description", "location": "brain_region", "brain_area": "brain_region"}


def _canonical_key(key: str) -> str:
    name = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return _ALIASES.get(name, name)


def from_user(
    mapping: Mapping[str, Any], *, evidence: str = "given by the user", timezone: str | None = None
) -> SessionMetadata:
    """The user's answers (flat ``field -> value``) as ``source="user"`` with confidence 1.0.

    Unknown keys are an error rather than ignored: a misspelt 'speceis' would otherwise vanish silently.
    """
    raw: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in mapping.items():
        name = _canonical_key(key)
        if name in SPECS:
            raw[name] = value
        else:
            unknown.append(str(key))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(_canonical_key(key), FIELD_NAMES, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise UserFacingError(
            f"Unknown metadata field(s): {', '.join(hints)}.",
            fix=f"Use only these names: {', '.join(FIELD_NAMES)}.",
            code="unknown_metadata_field",
        )
    return _build(raw, source="user", confidence=1.0, evidence=evidence, timezone=timezone)


class _StringLoader(yaml.SafeLoader):
    """YAML without implicit typing: 'sex: NO' stays 'NO' and 'subject_id: 012' stays '012'.

    Every value is text the normalizers read; only empty values and 'null' become None.
    """


_StringLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _flatten_neuroconv(data: dict[str, Any]) -> dict[str, Any]:
    """Accept NeuroConv's nested ``NWBFile:``/``Subject:`` layout too, since users copy it from docs."""
    if not set(data) & {"NWBFile", "Subject"}:
        return data
    flat = {k: v for k, v in data.items() if k not in ("NWBFile", "Subject")}
    for group in ("NWBFile", "Subject"):
        for key, value in (data.get(group) or {}).items():
            flat["subject_description" if (group, key) == ("Subject", "description") else key] = value
    return flat


def load_user_file(path: str | Path) -> dict[str, Any]:
    """Read a flat YAML or JSON metadata file; any problem becomes a ``UserFacingError`` with a fix."""
    path = Path(path)
    example = "e.g.\n  subject_id: M12\n  species: mouse\n  sex: M\n  age: 12 weeks"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserFacingError(
            "The metadata file does not exist.", fix="Check the path.", path=path, code="not_found"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserFacingError(
            f"The metadata file cannot be read ({exc}).",
            fix="Save it as UTF-8 text (YAML or JSON).",
            path=path,
            code="unreadable",
        ) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserFacingError(
                f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                fix='Write one object of field names and values, e.g. {"subject_id": "M12", "sex": "M"}.',
                path=path,
                code="malformed_metadata",
            ) from exc
    else:
        try:
            data = yaml.load(text, Loader=_StringLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise UserFacingError(
                f"Invalid YAML{where}: {problem}.",
                fix=f"Write one 'field: value' per line, {example} (quote values that contain ': ' or '#').",
                path=path,
                code="malformed_metadata",
            ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserFacingError(
            f"The metadata file holds a {type(data).__name__}, not field names with values.",
            fix=f"Write one 'field: value' per line, {example}.",
            path=path,
            code="malformed_metadata",
        )
    return _flatten_neuroconv(data)
