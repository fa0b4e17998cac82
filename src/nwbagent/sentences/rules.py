"""Read metadata out of a sentence a scientist typed, with patterns, shipped vocabularies and nameparser.

Precision comes before recall throughout: a wrong species or age would be written into the NWB file and
archived, while a missing one only makes the agent ask. So every rule is a cue followed by a value whose
end is decided once for all fields (``spans.value_end``), vocabularies are closed lists, a field seen with
two different values is left out (unless the speaker corrects themself in between), a value the speaker
denies ("not female") is never a value, and every value must pass the same normalizer the metadata form
uses. How a value was found sets its confidence (``confidence``); the weakest readings are returned too,
flagged by that confidence, so the agent asks about them instead of saving them.

The rules for each kind of field live beside this driver: ``names`` (people, via nameparser), ``ids``,
``places`` (institutions, labs), ``subject`` (age, sex, species, strain, genotype, weight), ``regions``,
``dates``, ``labels`` ('key: value' and prose) and ``corrections`` (negations, correction cues).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from nwbagent.metadata.normalize import normalize_field
from nwbagent.metadata.schema import FIELD_NAMES
from nwbagent.sentences import confidence as conf
from nwbagent.sentences.corrections import correction_cues, mark_negations
from nwbagent.sentences.dates import read_dates
from nwbagent.sentences.ids import AMBIGUOUS, SESSION_WORDS, SUBJECT_WORDS, read_ids
from nwbagent.sentences.labels import read_labelled, read_prose
from nwbagent.sentences.names import read_experimenters
from nwbagent.sentences.places import read_institutions, read_labs
from nwbagent.sentences.regions import read_regions
from nwbagent.sentences.spans import Hit, mask_instructions, mask_markup, unsafe_value
from nwbagent.sentences.subject import (
    read_ages,
    read_genotypes,
    read_sexes,
    read_species,
    read_strains,
    read_weights,
    species_mentions,
)
from nwbagent.sentences.vocab import brain_regions, institutions, lookup_institution, lookup_region

__all__ = [
    "PROSE_FIELDS",
    "ExtractedField",
    "RulesReading",
    "brain_regions",
    "extract_rules",
    "institutions",
    "lookup_institution",
    "lookup_region",
    "mask_markup",
    "read_rules",
    "species_mentions",
    "unsafe_value",
]

# ---------------------------------------------------------------------------------------------- model


class ExtractedField(BaseModel):
    """One value read from the user's words; ``evidence`` quotes those words so the user can check them.

    ``confidence`` says how the value was found (see ``sentences.confidence``); below ``ASK_BELOW`` it is a
    guess the agent asks about. ``correction`` is set when the speaker marked it as fixing an earlier value.
    """

    field: str
    value: Any = Field(description="Normalized as the metadata schema wants it")
    source: Literal["user-text"] = "user-text"
    confidence: float = Field(ge=0, le=1)
    evidence: str
    correction: bool = Field(default=False, description="The speaker said this fixes an earlier value")

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if name not in FIELD_NAMES:
            raise ValueError(f"unknown metadata field {name!r}")
        return name

    @property
    def unsure(self) -> bool:
        return conf.unsure(self.confidence)


class RulesReading(BaseModel):
    """What the rules read: the values (sure and unsure), and the values the speaker denied."""

    fields: list[ExtractedField] = Field(default_factory=list)
    negated: list[ExtractedField] = Field(
        default_factory=list, description="'not female': values the text says the field does NOT have"
    )


# Text fields that hold prose; other fields are compared and validated as exact values.
PROSE_FIELDS = ("session_description", "experiment_description", "subject_description")

# ---------------------------------------------------------------------------------------------- driver

_ORDER = {name: i for i, name in enumerate(FIELD_NAMES)}


def _normalize(hit: Hit, species: str | None, timezone: str | None = None) -> Any:
    if hit.value is not None:
        return hit.value
    return normalize_field(hit.field, hit.raw, species=species, timezone=timezone)


def _hits(masked: str) -> tuple[list[Hit], list[Hit]]:
    """(labelled hits, every other hit), negations marked."""
    labelled = read_labelled(masked)
    id_hits = read_ids(masked, "subject_id", SUBJECT_WORDS) + read_ids(masked, "session_id", SESSION_WORDS)
    other = (
        id_hits
        + read_experimenters(masked)
        + read_institutions(masked)
        + read_labs(masked)
        + read_ages(masked)
        + read_sexes(masked)
        + read_species(masked)
        + read_strains(masked)
        + read_genotypes(masked)
        + read_weights(masked)
        + read_dates(masked)
        + read_prose(masked)
    )
    blocking = ("subject_id", "session_id", "genotype", "strain", AMBIGUOUS)
    blocked = [(h.start, h.end) for h in other if h.field in blocking]
    blocked += [(h.start, h.end) for h in labelled]
    other += read_regions(masked, blocked)
    mark_negations(masked, other)
    return labelled, other


def _normalizes(hit: Hit) -> bool:
    try:
        _normalize(hit, None)
    except ValueError:
        return False
    return True


def _key(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _pick(values: list[tuple[Any, Hit]], cues: list[tuple[int, int]]) -> list[tuple[Any, Hit]] | None:
    """The readings of one field to keep: all of them if they agree; the last one if the speaker corrected
    themself between two different values ('male, no wait, female'); None when they disagree otherwise."""
    if len({_key(v) for v, _ in values}) == 1:
        return values
    ordered = sorted(values, key=lambda vh: vh[1].start)
    last = ordered[-1]
    previous = [vh for vh in ordered if _key(vh[0]) != _key(last[0])][-1]
    if any(previous[1].end <= s and e <= last[1].start for s, e in cues):
        last[1].correction = True
        return [vh for vh in ordered if _key(vh[0]) == _key(last[0]) and vh[1].start > previous[1].start]
    return None


def read_rules(text: str, *, timezone: str | None = None) -> RulesReading:
    """Every field the text states, with how sure the reading is, and the values the text denies.

    Labelled statements ('species: rat') win over phrasing ('a rat'); within one strength of reading, sure
    readings hide guesses, and disagreement means nothing is emitted, because asking is cheaper than
    archiving a wrong value.
    """
    masked = mask_instructions(mask_markup(text))
    labelled, other = _hits(masked)
    labelled = [h for h in labelled if h.field == "sex" or _normalizes(h)]  # 'set the species to unicorn'
    by_field: dict[str, list[Hit]] = {}
    labelled_fields = {h.field for h in labelled}
    labelled_spans = [(h.start, h.end) for h in labelled]
    id_label_spans = [(h.start, h.end) for h in labelled if h.field == "subject_id"]
    for hit in other:
        # a labelled line says what its words are ('keywords: mouse, V1'): nothing else reads them
        overlaps = any(s < hit.end and hit.start < e for s, e in labelled_spans)
        if hit.field == "species" and any(s <= hit.start < e for s, e in id_label_spans):
            overlaps = False  # 'Mouse ID is 2231': the label names the species too
        if hit.field != AMBIGUOUS and hit.field not in labelled_fields and not overlaps:
            by_field.setdefault(hit.field, []).append(hit)
    for hit in labelled:
        by_field.setdefault(hit.field, []).append(hit)
    cues = correction_cues(masked)
    corrected_message = bool(cues)

    species_value: str | None = None
    results: dict[str, ExtractedField] = {}
    denied: dict[str, ExtractedField] = {}
    for field in sorted(by_field, key=lambda f: (f != "species", _ORDER[f])):
        hits = by_field[field]
        if any(not conf.unsure(h.confidence) for h in hits):
            hits = [h for h in hits if not conf.unsure(h.confidence)]  # a cue beats a guess
        if field == "session_start_time" and len(hits) > 1:
            strongest = max(h.confidence for h in hits)
            hits = [h for h in hits if h.confidence == strongest]
        values: list[tuple[Any, Hit]] = []
        negated: list[tuple[Any, Hit]] = []
        for hit in hits:
            try:
                value = _normalize(hit, species_value, timezone)
            except ValueError:
                continue
            if unsafe_value(value):
                continue
            (negated if hit.negated else values).append((value, hit))
        if not values:
            if negated and len({_key(v) for v, _ in negated}) == 1:
                value, hit = negated[0]
                denied[field] = ExtractedField(
                    field=field, value=value, confidence=hit.confidence, evidence=text[hit.start : hit.end]
                )
            continue
        correction = corrected_message or bool(negated) or any(h.correction for _, h in values)
        if field == "experimenter":
            refused = {v for value, _ in negated for v in value}
            merged = [v for v in dict.fromkeys(v for value, _ in values for v in value) if v not in refused]
            if not merged:
                continue
            value, chosen = merged, values
        else:
            kept = _pick(values, cues)
            if kept is None:
                continue
            value, chosen = kept[0][0], kept
            correction = correction or any(h.correction for _, h in kept)
        spans = sorted({(h.start, h.end) for _, h in chosen})
        evidence = " … ".join(text[s:e].strip() for s, e in spans)
        confidence = max(h.confidence for _, h in chosen)
        results[field] = ExtractedField(
            field=field, value=value, confidence=confidence, evidence=evidence, correction=correction
        )
        if field == "species":
            species_value = value
    _non_mouse_regions(results)
    return RulesReading(
        fields=[results[f] for f in FIELD_NAMES if f in results],
        negated=[denied[f] for f in FIELD_NAMES if f in denied],
    )


def extract_rules(text: str, *, timezone: str | None = None) -> list[ExtractedField]:
    """The values ``read_rules`` finds (unsure ones included, flagged by their confidence)."""
    return read_rules(text, timezone=timezone).fields


def _non_mouse_regions(results: dict[str, ExtractedField]) -> None:
    """Allen CCF names mouse structures; for other species keep the user's own words for the location."""
    region, species = results.get("brain_region"), results.get("species")
    if region is None or species is None or species.value == "Mus musculus":
        return
    if "," in str(region.value) or region.confidence >= conf.LABELLED:
        return
    results["brain_region"] = region.model_copy(update={"value": region.evidence})
