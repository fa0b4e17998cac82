"""Judge metadata before conversion with NWB Inspector's own checks, the way NWB GUIDE validates its forms.

The values go into an in-memory ``NWBFile``/``Subject`` and the inspector's metadata checks run on it under
the DANDI configuration, so a form answer is accepted here exactly when ``dandi validate`` would accept the
written file. Values our normalizers reject are reported in their place, with an example of a valid answer.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel

from nwbagent.metadata.extract import defaults, from_user, load_user_file
from nwbagent.metadata.merge import merge
from nwbagent.metadata.schema import FIELD_NAMES, SPECS, SessionMetadata

ImportanceName = Literal["CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]
_RANK: dict[str, int] = {"CRITICAL": 2, "BEST_PRACTICE_VIOLATION": 1, "BEST_PRACTICE_SUGGESTION": 0}

#: NWB Inspector checks that judge metadata fields, and the field each one is about.
CHECK_FIELDS: dict[str, str] = {
    "check_subject_exists": "subject_id",
    "check_subject_id_exists": "subject_id",
    "check_subject_id_no_slashes": "subject_id",
    "check_subject_sex": "sex",
    "check_subject_species_exists": "species",
    "check_subject_species_form": "species",
    "check_subject_age": "age",
    "check_subject_proper_age_range": "age",
    "check_subject_weight": "weight",
    "check_experimenter_exists": "experimenter",
    "check_experimenter_form": "experimenter",
    "check_institution": "institution",
    "check_keywords": "keywords",
    "check_experiment_description": "experiment_description",
    "check_session_start_time_old_date": "session_start_time",
    "check_session_start_time_future_date": "session_start_time",
    "check_session_id_no_slashes": "session_id",
    "check_description": "subject_description",
    "check_electrodes_location_allen_ccf": "brain_region",
}

# Importance of a value nwbagent cannot even read, when no inspector check speaks for the field: what
# DANDI requires (and what NWB needs to write a file at all) is critical, the rest a best-practice problem.
_CRITICAL_FIELDS = {
    "subject_id",
    "species",
    "sex",
    "age",
    "date_of_birth",
    "session_id",
    "session_start_time",
}
_NWB_REQUIRED = ("session_description", "session_start_time")


class MetadataIssue(BaseModel):
    """One finding, phrased for the person who can fix it."""

    field: str
    importance: ImportanceName
    message: str
    fix: str
    check_name: str


def _build_nwbfile(values: dict[str, Any], errors: dict[str, str]) -> Any:
    """An in-memory NWBFile holding the values; malformed values go in raw where pynwb's types allow."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    def usable(name: str, kind: type | tuple[type, ...]) -> Any:
        value = values.get(name)
        return value if isinstance(value, kind) and value != "" else None

    start = values.get("session_start_time")
    if not isinstance(start, datetime) or "session_start_time" in errors:
        start = datetime.now(UTC) - timedelta(days=1)  # stand-in that neither date check objects to
    experimenter = values.get("experimenter")
    if isinstance(experimenter, str):
        experimenter = [experimenter]
    keywords = values.get("keywords")
    if isinstance(keywords, str):
        keywords = [keywords]
    date_of_birth = values.get("date_of_birth") if "date_of_birth" not in errors else None
    subject = Subject(
        subject_id=usable("subject_id", str),
        species=usable("species", str),
        sex=usable("sex", str),
        age=usable("age", str),
        date_of_birth=date_of_birth if isinstance(date_of_birth, datetime) else None,
        strain=usable("strain", str),
        genotype=usable("genotype", str),
        weight=usable("weight", str),
        description=usable("subject_description", str),
    )
    nwbfile = NWBFile(
        session_description=usable("session_description", str) or "in-memory check",
        identifier=usable("identifier", str) or str(uuid.uuid4()),
        session_start_time=start,
        session_id=usable("session_id", str),
        experimenter=experimenter if isinstance(experimenter, list) and experimenter else None,
        institution=usable("institution", str),
        lab=usable("lab", str),
        experiment_description=usable("experiment_description", str),
        keywords=keywords if isinstance(keywords, list) and keywords else None,
        subject=subject,
    )
    region = usable("brain_region", str)
    if region:
        device = nwbfile.create_device(
            name="probe", description="in-memory stand-in for the recording device"
        )
        group = nwbfile.create_electrode_group(
            name="group",
            description="in-memory stand-in for the electrode group",
            location=region,
            device=device,
        )
        nwbfile.add_electrode(group=group, location=region)
    return nwbfile


Finding = tuple[str, ImportanceName, str, str]


def _inspector_findings(values: dict[str, Any], errors: dict[str, str]) -> list[Finding]:
    """``(field, importance, message, check_name)`` from NWB Inspector under the DANDI config."""
    from nwbinspector import inspect_nwbfile_object, load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb warns about the same problems the checks report
        try:
            nwbfile = _build_nwbfile(values, errors)
        except Exception:
            # A raw value pynwb refuses outright: leave the malformed ones out, they are reported anyway.
            nwbfile = _build_nwbfile({k: v for k, v in values.items() if k not in errors}, errors)
        messages = list(
            inspect_nwbfile_object(nwbfile, config=load_config("dandi"), select=list(CHECK_FIELDS))
        )
    findings: list[Finding] = []
    for msg in messages:
        if msg is None:
            continue
        name = msg.check_function_name
        if name == "check_description" and msg.object_type != "Subject":
            continue  # only the stand-in device/group, which the user never described
        if name.startswith("check_session_start_time") and "session_start_time" not in values:
            continue  # the stand-in time, not the user's
        importance = cast(ImportanceName, msg.importance.name)
        findings.append((CHECK_FIELDS[name], importance, msg.message, name))
    return findings


def check_metadata(session: SessionMetadata, *, partial: bool = False) -> list[MetadataIssue]:
    """Every problem NWB Inspector (DANDI config) would raise about these values, most important first.

    ``partial=True`` is for a user's metadata file alone: fields the recording normally provides (the
    start time) are then suggestions to add, not failures.
    """
    values = session.values()
    errors = session.errors()
    findings = _inspector_findings(values, errors)
    issues: list[MetadataIssue] = []

    for name, error in errors.items():
        related = [f for f in findings if f[0] == name]
        fallback: ImportanceName = "CRITICAL" if name in _CRITICAL_FIELDS else "BEST_PRACTICE_VIOLATION"
        importance = max(
            (f[1] for f in related),
            key=lambda i: _RANK[i],
            default=fallback,
        )
        check_name = related[0][3] if related else "nwbagent_value_form"
        issues.append(
            MetadataIssue(
                field=name,
                importance=importance,
                message=error,
                fix=SPECS[name].question,
                check_name=check_name,
            )
        )
    for name, importance, message, check_name in findings:
        if name in errors:
            continue  # the normalizer's message already says what is wrong, with an example
        issues.append(
            MetadataIssue(
                field=name,
                importance=importance,
                message=message,
                fix=SPECS[name].question,
                check_name=check_name,
            )
        )
    for name in _NWB_REQUIRED:
        if name in values:
            continue
        if partial and name == "session_start_time":
            issues.append(
                MetadataIssue(
                    field=name,
                    importance="BEST_PRACTICE_SUGGESTION",
                    message="No session start time here; it is read from the recording when it has one.",
                    fix=SPECS[name].question,
                    check_name="nwbagent_required",
                )
            )
            continue
        issues.append(
            MetadataIssue(
                field=name,
                importance="CRITICAL",
                message=f"{SPECS[name].title} is missing; NWB cannot write a file without it.",
                fix=SPECS[name].question,
                check_name="nwbagent_required",
            )
        )
    if "brain_region" not in values:
        issues.append(
            MetadataIssue(
                field="brain_region",
                importance="BEST_PRACTICE_VIOLATION",
                message="Electrode location (brain region) is missing; the electrodes would say 'unknown'.",
                fix=SPECS["brain_region"].question,
                check_name="nwbagent_electrode_location",
            )
        )
    order = {name: i for i, name in enumerate(FIELD_NAMES)}
    issues.sort(key=lambda issue: (-_RANK[issue.importance], order[issue.field]))
    return issues


def check_metadata_file(path: str | Path, *, timezone: str | None = None) -> list[MetadataIssue]:
    """Issues in a user's YAML/JSON metadata file, judged as it would be merged over nwbagent's defaults.

    An unreadable file or unknown field names raise ``UserFacingError`` instead: there is nothing to judge.
    """
    path = Path(path)
    user = from_user(load_user_file(path), evidence=f"from {path.name}", timezone=timezone)
    return check_metadata(merge(defaults(), user), partial=True)
