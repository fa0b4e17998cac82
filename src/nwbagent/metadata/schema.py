"""The metadata fields nwbagent asks for, and the provenance each value carries.

One table (:data:`FIELDS`) drives the web form's JSON schema, the user-file keys, the NeuroConv mapping and
the checks, so a field added here shows up everywhere at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Source = Literal["user", "user-text", "file", "inferred", "default"]

#: Higher wins when two layers give the same field: the person in front of the data knows best, the files
#: record what the rig saw, names are guesses and defaults are placeholders.
PRECEDENCE: dict[str, int] = {"user": 4, "user-text": 3, "file": 2, "inferred": 1, "default": 0}
#: Where a value came from, as a page says it.
SOURCE_LABELS: dict[str, str] = {
    "user": "you (form)",
    "user-text": "you (chat)",
    "file": "from the files",
    "inferred": "inferred from names",
    "default": "default",
}

Group = Literal["NWBFile", "Subject", "Ecephys"]

# NWB Inspector's own patterns (nwbinspector.checks._nwbfile_metadata), repeated so the form rejects what
# the inspector would flag before anything is written.
DURATION_PATTERN = (
    r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?"
)
AGE_PATTERN = rf"^(({DURATION_PATTERN})|({DURATION_PATTERN})?/({DURATION_PATTERN})?)$"
SPECIES_PATTERN = r"^(([A-Z][a-z]* [a-z]+)|(http://purl\.obolibrary\.org/obo/NCBITaxon_\d+))$"
WEIGHT_PATTERN = r"^\d+(\.\d+)? (kg|g|mg|ug|μg|ng|pg)$"
EXPERIMENTER_PATTERN = r"^([\w\s\-\.']+),\s+([\w\s\-\.']+)$"


@dataclass(frozen=True)
class FieldSpec:
    """Where a field lives in NWB and how the form should present it."""

    name: str
    group: Group
    nwb_key: str
    title: str
    description: str
    examples: tuple[Any, ...]
    json_type: dict[str, Any]
    dandi_required: bool = False
    question: str = ""


_STR: dict[str, Any] = {"type": "string"}
_STR_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "session_description",
        "NWBFile",
        "session_description",
        "Session description",
        "What happened in this session: task, stimulus, state of the animal.",
        ("Head-fixed mouse running on a wheel while viewing drifting gratings.",),
        _STR,
        question="What happened in this session? e.g. 'Head-fixed mouse viewing drifting gratings'",
    ),
    FieldSpec(
        "session_start_time",
        "NWBFile",
        "session_start_time",
        "Session start time",
        "When the recording started, with a time zone (ISO 8601). All times in the file are relative to it.",
        ("2021-09-20T14:13:34+02:00",),
        {"type": "string", "format": "date-time"},
        dandi_required=True,
        question="When did the recording start? e.g. '2021-09-20T14:13:34+02:00'",
    ),
    FieldSpec(
        "identifier",
        "NWBFile",
        "identifier",
        "Identifier",
        "Globally unique id of this NWB file; a random UUID is made when left empty.",
        ("2b1c9f2e-5d7a-4f8e-9a34-0c1d2e3f4a5b",),
        _STR,
        question="A unique file id? Leave empty for a random UUID.",
    ),
    FieldSpec(
        "session_id",
        "NWBFile",
        "session_id",
        "Session ID",
        "Lab-specific id of the session; it becomes the 'ses-' part of the DANDI file name.",
        ("20210920-run0",),
        _STR,
        question="Session id? e.g. '20210920-run0' (no slashes)",
    ),
    FieldSpec(
        "experimenter",
        "NWBFile",
        "experimenter",
        "Experimenter(s)",
        "People who performed the experiment, each as 'Last, First'.",
        (["Doe, Jane", "Smith, John A."],),
        _STR_LIST,
        question="Who ran the experiment? e.g. 'Doe, Jane' (several: 'Doe, Jane; Smith, John')",
    ),
    FieldSpec(
        "institution",
        "NWBFile",
        "institution",
        "Institution",
        "Institution where the experiment was performed.",
        ("University of Oxford",),
        _STR,
        question="Institution? e.g. 'University of Oxford'",
    ),
    FieldSpec(
        "lab",
        "NWBFile",
        "lab",
        "Lab",
        "Lab where the experiment was performed.",
        ("Smith Lab",),
        _STR,
        question="Lab? e.g. 'Smith Lab'",
    ),
    FieldSpec(
        "experiment_description",
        "NWBFile",
        "experiment_description",
        "Experiment description",
        "The experiment this session belongs to, in a sentence or two.",
        ("Neuropixels recordings in visual cortex during passive viewing.",),
        _STR,
        question="What is the experiment about? e.g. 'Neuropixels recordings in V1 during passive viewing'",
    ),
    FieldSpec(
        "keywords",
        "NWBFile",
        "keywords",
        "Keywords",
        "Search terms for the archive.",
        (["electrophysiology", "Neuropixels", "visual cortex"],),
        _STR_LIST,
        question="Keywords? e.g. 'electrophysiology, Neuropixels, visual cortex'",
    ),
    FieldSpec(
        "subject_id",
        "Subject",
        "subject_id",
        "Subject ID",
        "Lab id of the animal or participant; it becomes the 'sub-' part of the DANDI file name.",
        ("M12",),
        _STR,
        dandi_required=True,
        question="Subject id? e.g. 'M12' (no slashes)",
    ),
    FieldSpec(
        "species",
        "Subject",
        "species",
        "Species",
        "Latin binomial, or an NCBI taxonomy term IRI.",
        ("Mus musculus", "http://purl.obolibrary.org/obo/NCBITaxon_10090"),
        {"type": "string", "pattern": SPECIES_PATTERN},
        dandi_required=True,
        question="Species? e.g. 'Mus musculus' (or 'mouse')",
    ),
    FieldSpec(
        "sex",
        "Subject",
        "sex",
        "Sex",
        "M (male), F (female), U (unknown) or O (other); XX/XO for C. elegans.",
        ("M",),
        {"type": "string", "enum": ["M", "F", "U", "O", "XX", "XO"]},
        dandi_required=True,
        question="Subject sex? one of 'M', 'F', 'U' (unknown), 'O' (other)",
    ),
    FieldSpec(
        "age",
        "Subject",
        "age",
        "Age",
        "Age at the session as an ISO 8601 duration, or a range 'lower/upper'. Give age or date of birth.",
        ("P90D", "P12W", "P56D/P70D"),
        {"type": "string", "pattern": AGE_PATTERN},
        dandi_required=True,
        question="Subject age? e.g. 'P90D' or '12 weeks'",
    ),
    FieldSpec(
        "date_of_birth",
        "Subject",
        "date_of_birth",
        "Date of birth",
        "Date of birth, with a time zone; can be given instead of the age.",
        ("2021-06-01T00:00:00+02:00",),
        {"type": "string", "format": "date-time"},
        question="Date of birth? e.g. '2021-06-01'",
    ),
    FieldSpec(
        "strain",
        "Subject",
        "strain",
        "Strain",
        "Strain of the subject.",
        ("C57BL/6J",),
        _STR,
        question="Strain? e.g. 'C57BL/6J'",
    ),
    FieldSpec(
        "genotype",
        "Subject",
        "genotype",
        "Genotype",
        "Genetic line; 'WT' for wild type.",
        ("Pvalb-IRES-Cre/wt",),
        _STR,
        question="Genotype? e.g. 'WT' or 'Pvalb-IRES-Cre/wt'",
    ),
    FieldSpec(
        "weight",
        "Subject",
        "weight",
        "Weight",
        "Weight at the session as 'number unit'.",
        ("25 g", "0.025 kg"),
        {"type": "string", "pattern": WEIGHT_PATTERN},
        question="Subject weight? e.g. '25 g'",
    ),
    FieldSpec(
        "subject_description",
        "Subject",
        "description",
        "Subject description",
        "Where the subject came from (breeder, vendor) and anything notable about it.",
        ("Male C57BL/6J mouse from Jackson Laboratory, implanted with a head plate.",),
        _STR,
        question="Describe the subject? e.g. 'C57BL/6J mouse from Jackson Laboratory, head-fixed'",
    ),
    FieldSpec(
        "brain_region",
        "Ecephys",
        "location",
        "Brain region",
        "Where the electrodes are; use Allen Mouse Brain Atlas terms for mice.",
        ("VISp", "CA1"),
        _STR,
        question="Where were the electrodes? e.g. 'VISp' or 'CA1'",
    ),
)

FIELD_NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
SPECS: dict[str, FieldSpec] = {spec.name: spec for spec in FIELDS}
#: Fields holding datetimes, which JSON turns into strings.
_DATETIME_FIELDS = tuple(name for name, spec in SPECS.items() if spec.json_type.get("format") == "date-time")


class FieldValue(BaseModel):
    """One value and why we believe it; ``overridden`` keeps what lower-precedence sources said."""

    model_config = ConfigDict(frozen=False)

    value: Any = Field(description="Normalized value; the raw input when ``error`` is set")
    source: Source
    confidence: float = Field(ge=0, le=1)
    evidence: str = Field(description="Where the value came from, in words a user can check")
    error: str | None = Field(default=None, description="Why the value could not be normalized, if it failed")
    overridden: list[FieldValue] = Field(default_factory=list)


def _parse_datetimes(fv: FieldValue) -> None:
    if fv.error is None and isinstance(fv.value, str):
        with contextlib.suppress(ValueError):
            fv.value = datetime.fromisoformat(fv.value)
    for older in fv.overridden:
        _parse_datetimes(older)


class SessionMetadata(BaseModel):
    """Every field of one session, each with its provenance; ``None`` means nobody has said anything yet."""

    session_description: FieldValue | None = None
    session_start_time: FieldValue | None = None
    identifier: FieldValue | None = None
    session_id: FieldValue | None = None
    experimenter: FieldValue | None = None
    institution: FieldValue | None = None
    lab: FieldValue | None = None
    experiment_description: FieldValue | None = None
    keywords: FieldValue | None = None
    subject_id: FieldValue | None = None
    species: FieldValue | None = None
    sex: FieldValue | None = None
    age: FieldValue | None = None
    date_of_birth: FieldValue | None = None
    strain: FieldValue | None = None
    genotype: FieldValue | None = None
    weight: FieldValue | None = None
    subject_description: FieldValue | None = None
    brain_region: FieldValue | None = None

    @model_validator(mode="after")
    def _restore_datetimes(self) -> SessionMetadata:
        """Turn ISO strings back into datetimes when a layer is read from JSON (a store, a bus message).

        ``FieldValue.value`` is ``Any``, so JSON keeps a start time as text; without this a restored layer
        would hand NeuroConv a string where the live one handed it a datetime. Values that failed
        normalization (``error`` set) keep the user's raw text.
        """
        for name in _DATETIME_FIELDS:
            fv = getattr(self, name)
            if fv is not None:
                _parse_datetimes(fv)
        return self

    def get(self, name: str) -> FieldValue | None:
        if name not in SPECS:
            raise KeyError(name)
        value: FieldValue | None = getattr(self, name)
        return value

    def items(self) -> list[tuple[str, FieldValue]]:
        """Fields that have a value, in form order."""
        return [(name, fv) for name in FIELD_NAMES if (fv := getattr(self, name)) is not None]

    def values(self) -> dict[str, Any]:
        """Flat ``name -> value`` of the fields that have one (malformed raw values included)."""
        return {name: fv.value for name, fv in self.items()}

    def errors(self) -> dict[str, str]:
        """Fields whose value could not be normalized, with the reason."""
        return {name: fv.error for name, fv in self.items() if fv.error is not None}

    def provenance(self) -> dict[str, Any]:
        """JSON-ready record of each value, its source and the values it overrode, for a sidecar file."""
        return {name: fv.model_dump(mode="json", exclude_none=True) for name, fv in self.items()}


class MetadataValues(BaseModel):
    """The flat values after normalization, typed; what a form submits once ``from_user`` has accepted it."""

    session_description: str | None = None
    session_start_time: datetime | None = None
    identifier: str | None = None
    session_id: str | None = None
    experimenter: list[str] | None = None
    institution: str | None = None
    lab: str | None = None
    experiment_description: str | None = None
    keywords: list[str] | None = None
    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    date_of_birth: datetime | None = None
    strain: str | None = None
    genotype: str | None = None
    weight: str | None = None
    subject_description: str | None = None
    brain_region: str | None = None


def metadata_json_schema() -> dict[str, Any]:
    """JSON schema (draft 2020-12) of the flat values, for generating the metadata form.

    Nullable unions are collapsed to the plain type: a form leaves an answer empty rather than sending null.
    ``x-dandi-required`` marks what ``dandi validate`` insists on; age may be replaced by date of birth.
    """
    properties: dict[str, Any] = {}
    for spec in FIELDS:
        prop: dict[str, Any] = {"title": spec.title, **spec.json_type}
        prop["description"] = spec.description
        prop["examples"] = list(spec.examples)
        prop["x-nwb-location"] = f"{spec.group}.{spec.nwb_key}"
        prop["x-question"] = spec.question
        if spec.dandi_required:
            prop["x-dandi-required"] = True
        properties[spec.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nwbagent/metadata.schema.json",
        "title": "Session metadata",
        "description": "Metadata nwbagent writes into the NWB file; DANDI requires the marked ones.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": ["session_start_time", "subject_id", "species", "sex"],
        "anyOf": [{"required": ["age"]}, {"required": ["date_of_birth"]}],
    }
