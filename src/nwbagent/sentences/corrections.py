"""Corrections, negations and yes/no answers: how a message relates to what the session already holds.

* A value right after a negator ("not female", "wasn't V1", "instead of UCL") is *negated*: it never
  becomes a value, and when nothing else is said for its field it removes that field if it holds the same.
* A message with a correction cue ("sorry", "actually", "I meant", "make that") and no cue for any field
  may still carry a bare value ("sorry, I meant M21"): its shape decides which of the fields the session
  already holds it corrects, and it is read only when exactly one fits.
* "Is the subject id 'M17'?" is answered by :func:`split_answer`: yes/no and whatever follows.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from nwbagent.metadata.normalize import normalize_field
from nwbagent.sentences.ids import ID_VALUE
from nwbagent.sentences.names import people
from nwbagent.sentences.negation import negated_at
from nwbagent.sentences.spans import Hit, cues, words_pattern
from nwbagent.sentences.vocab import lookup_institution, lookup_region, species_vocabulary

Answer = Literal["yes", "no"]


def mark_negations(text: str, hits: list[Hit]) -> None:
    """Flag hits the speaker denies ("the mouse was male, not female": 'female')."""
    for hit in hits:
        if negated_at(text, hit.start):
            hit.negated = True


@lru_cache(maxsize=1)
def _correction_cue() -> re.Pattern[str]:
    return re.compile(words_pattern(cues()["corrections"]["cues"]))


def correction_cues(text: str) -> list[tuple[int, int]]:
    """Where the message says it fixes something ('sorry', 'actually', 'no wait', 'I meant')."""
    found = [(m.start(), m.end()) for m in _correction_cue().finditer(text)]
    found += [(m.start(), m.end()) for m in re.finditer(r"(?i:^\s*no\b|\bno\s*,)", text)]
    return sorted(found)


def is_correction(text: str) -> bool:
    return bool(correction_cues(text))


# ---------------------------------------------------------------------------------------------- answers


@lru_cache(maxsize=1)
def _answer_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    words = cues()["answers"]
    lead = r"^\s*(?:(?i:oh|well|um+|uh+|ah|hmm+)\s*,?\s*)?"
    tail = r"\s*(?:[,.!;:-]+\s*|\s+|$)"
    return (
        re.compile(
            lead + rf"(?P<w>{words_pattern(words['yes'])})(?:\s*,?\s*(?i:it\s+is|it\s+was|thanks))?{tail}"
        ),
        re.compile(lead + rf"(?P<w>{words_pattern(words['no'])}){tail}"),
    )


def split_answer(text: str) -> tuple[Answer | None, str]:
    """('yes'|'no'|None, the rest): 'yes, and it weighed 24 g' -> ('yes', 'it weighed 24 g').

    Only a reply that starts with the answer word counts; 'no' is checked first, so "that's not right" is a
    no even though it contains 'right'.
    """
    yes, no = _answer_patterns()
    for answer, pattern in (("no", no), ("yes", yes)):
        if m := pattern.match(text):
            rest = text[m.end() :].strip()
            rest = re.sub(r"^(?i:and|but|also|so)\b\s*,?\s*", "", rest)
            return answer, rest  # type: ignore[return-value]
    return None, text


# ---------------------------------------------------------------------------------------------- bare values

_FILLER = re.compile(
    r"^(?:(?i:sorry|oops|actually|no|nope|wait|correction|my\s+mistake|my\s+bad|i\s+meant|i\s+mean|make\s+(?:that|it)|"
    r"should\s+(?:be|have\s+been)|rather|instead|it['’]s|it\s+is|it\s+was|that['’]s|that\s+is|that\s+was|"
    r"the|a|an|to|be|is|was|in\s+fact|please|ok|okay|then|so|just|oh)\b[\s,:;.!-]*)+"
)
_TRAILING = re.compile(r"[\s,.;!]*(?:\b(?i:sorry|please|thanks|thank\s+you|instead|then)\b[\s,.;!]*)*$")


def bare_value(text: str) -> str:
    """The message without correction fillers: 'sorry, I meant M21.' -> 'M21'."""
    value = _FILLER.sub("", text.strip())
    return _TRAILING.sub("", value).strip()


def read_as(field: str, text: str, species: str | None = None) -> Any | None:
    """``text`` read as a value of ``field`` by its shape alone; None when it does not look like one."""
    value = text.strip().strip("'\"“”")
    if not value or len(value) > 80:
        return None
    try:
        if field in ("subject_id", "session_id"):
            value = value.lstrip("#")
            return value if ID_VALUE.fullmatch(value) and re.search(r"\d", value) else None
        if field == "sex":
            return normalize_field("sex", value, species=species) if len(value.split()) == 1 else None
        if field == "age":
            ok = re.fullmatch(
                r"(?i:\d+(?:\.\d+)?\s*(?:days?|d|weeks?|wks?|w|months?|mos?|years?|yrs?|y)(?:\s+old)?"
                r"|P\d+[DWMY]?)",
                value,
            )
            return normalize_field("age", re.sub(r"(?i)\s+old$", "", value)) if ok else None
        if field == "weight":
            ok = re.fullmatch(r"(?i:\d+(?:[.,]\d+)?\s*(?:g|kg|grams?|kilograms?|mg))", value)
            return normalize_field("weight", value) if ok else None
        if field == "species":
            names, _ = species_vocabulary()
            return names.get(re.sub(r"\s+", " ", value.casefold()))
        if field == "experimenter":
            return people(value)
        if field == "brain_region":
            return lookup_region(value)
        if field == "institution":
            return lookup_institution(value)
    except ValueError:
        return None
    return None


#: Fields a bare value can correct; their shapes do not overlap ('M21', '23 g', '10 weeks', 'male', …).
SHAPED_FIELDS = (
    "subject_id",
    "sex",
    "age",
    "weight",
    "species",
    "experimenter",
    "brain_region",
    "institution",
)
