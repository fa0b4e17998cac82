"""Labelled statements ('species: rat', 'the sex is male') and the prose fields."""

from __future__ import annotations

import re

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.dates import read_dates
from nwbagent.sentences.ids import ID_VALUE
from nwbagent.sentences.names import NAME_LIST, NAME_WORD, PARTICLE, TITLE, people
from nwbagent.sentences.spans import Hit, bounded, cues, words_pattern
from nwbagent.sentences.vocab import institution_pattern, lookup_institution, lookup_region

# ---------------------------------------------------------------------------------------------- prose

_CLAUSE_END = r"(?=[.;!?](?:\s|$)|\n|$)"


def read_prose(text: str) -> list[Hit]:
    hits: list[Hit] = []
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
            hits.append(Hit(field, value[0].upper() + value[1:], start, start + len(value), conf.CONTEXT))
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
    "experimenter",
    "institution",
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


_BOUNDED_FIELDS = {
    "subject_id",
    "session_id",
    "species",
    "sex",
    "age",
    "weight",
    "strain",
    "genotype",
    "institution",
    "lab",
    "experimenter",
}
_ID_FIELDS = ("subject_id", "session_id")
# Boundary words that are part of these fields' values ("Smith Lab", "Institute of … in Paris").
_KEEP = {"lab": ("lab", "laboratory"), "institution": ("of", "in", "at", "for", "and")}
_LABEL_WORDS = "|".join(
    r"[\s_-]+".join(re.escape(w) for w in label.split()) for label in sorted(_LABELS, key=len, reverse=True)
)
_IS = r"\b(?:is|was|are|were)\b(?:\s+(?:actually|now|really))?|\bshould\s+(?:be|have\s+been)\b"
_LABEL_RE = re.compile(
    rf"(?<![\w-])(?:(?i:the|its|his|her|their|our|my)\s+)?(?:(?i:mouse|animal|rat|subject)['’]s\s+)?"
    rf"(?P<label>(?i:{_LABEL_WORDS}))\s*(?P<sep>:|=|\s[-–—](?=\s)|(?i:{_IS}))\s*"
)
_CHANGE_RE = re.compile(
    rf"\b(?P<verb>{words_pattern(cues()['corrections']['verbs'])})\s+(?:(?i:the|its|his|her|their|our|my)\s+)?"
    rf"(?:(?i:mouse|animal|rat|subject)['’]?s?\s+)?(?P<label>(?i:{_LABEL_WORDS}))\s+(?i:to|into|as)\s+"
)
# What may come right before a label: the start, punctuation, or a word that starts a clause.
_LABEL_CONTEXT = re.compile(
    r"(?:^|[\n;,.(:!?]|\b(?i:and|but|also|actually|sorry|no|yes|oh|so|then|now|wait|ok|okay|oops|correction|"
    r"well|plus|while|whereas|think|believe|note|btw|please|hi|hello|hey|guess|mean|meant))\s*$"
)
# The old, generous value: up to the end of the clause (prose, keywords, dates, regions).
_CLAUSE_VALUE = re.compile(
    rf"(?P<value>[^\n;]*?)\s*(?=[;\n]|\.(?:\s|$)|,\s*(?i:{_LABEL_WORDS})\s*(?::|=|\bis\b)|$)"
)
_NOT_BUT = re.compile(
    r"(?i:not)\s+(?:(?i:a|an|the)\s+)?(?P<neg>[^,;.!?\n]+?)\s*,?\s*(?i:but|it['’]s|it\s+(?:is|was)|rather)\s+"
    r"(?:(?i:a|an|the)\s+)?"
)
# A value that says the held one is wrong and then gives the right one, or 'me, Tom Becker'.
_WRONG = re.compile(
    r"(?:(?i:wrong|incorrect|not\s+right|not\s+correct|mistyped)\s*[,;:.!-]*\s*"
    r"(?:(?i:it\s+(?:is|was|should\s+be)|it['’]s|should\s+be|the\s+right\s+one\s+is)\s+)?"
    r"|(?i:me|myself)\s*,\s*)"
)
_LAST_FIRST = rf"{NAME_WORD}(?:\s+{PARTICLE})*,\s*{NAME_WORD}(?:\s+[A-Z]\.)*(?![ \t]*[A-Z][a-z])"
_PEOPLE_VALUE = re.compile(rf"(?:{TITLE})?(?:{_LAST_FIRST}(?:\s*;\s*{_LAST_FIRST})*|{NAME_LIST})(?![\w'’-])")
_LOWER_NAME = re.compile(r"[a-zß-öø-ÿ]+(?:[ -][a-zß-öø-ÿ]+){1,3}(?=\s*(?:[,;.!?\n]|$|\s(?:and|but)\b))")


def _value_hit(text: str, field: str, start: int, label_start: int, confidence: float) -> list[Hit]:
    """The value of ``field`` that starts at ``start``, ended by the shared boundary rules."""
    if field == "experimenter":
        if m := _PEOPLE_VALUE.match(text, start):
            names = people(re.sub(TITLE, "", m.group(0)))
        elif m := _LOWER_NAME.match(text, start):
            names = people(m.group(0), lower_ok=True)
        else:
            return []
        return [Hit(field, names, label_start, m.end(), confidence)] if names else []
    if field == "institution" and (m := institution_pattern().match(text, start)):
        name = lookup_institution(re.sub(r"\s+", " ", m.group(0)))
        return [Hit(field, name, label_start, m.end(), confidence, value=name)] if name else []
    value, end = bounded(text, start, keep=_KEEP.get(field, ()))
    value = value.strip("'\"")
    if not value:
        return []
    if field in _ID_FIELDS:
        value = value.lstrip("#").strip()
        if not ID_VALUE.fullmatch(value):
            return []
    elif field == "sex":
        value = value.split()[0]
    hit = Hit(field, value, label_start, end, confidence)
    if field == "lab":
        hit.value = value if re.search(r"\blab\b", value, re.I) is None else re.sub(r"\blab\b", "Lab", value)
    return [hit]


def _clause_hit(text: str, field: str, start: int, label_start: int, confidence: float) -> list[Hit]:
    m = _CLAUSE_VALUE.match(text, start)
    value = m.group("value").strip().strip("'\"") if m else ""
    if not m or not value:
        return []
    hit = Hit(field, value, label_start, m.end("value"), confidence)
    if field == "brain_region":
        hit.value = lookup_region(value) or value
    elif field in ("session_start_time", "date_of_birth"):
        dated = read_dates(value)
        if not dated:
            return []
        hit.raw = dated[0].raw
    return [hit]


def read_labelled(text: str) -> list[Hit]:
    """'label: value', 'the label is value', 'change the label to value'; 'not X but Y' gives Y, X denied."""
    hits: list[Hit] = []
    found = [(m, False) for m in _LABEL_RE.finditer(text)] + [(m, True) for m in _CHANGE_RE.finditer(text)]
    for m, change in found:
        field = _LABELS[re.sub(r"[\s_-]+", " ", m.group("label").lower())]
        sep = "to" if change else m.group("sep").casefold()
        if not change and not _LABEL_CONTEXT.search(text[: m.start()]):
            continue
        sep = sep.strip()
        if sep in ("-", "–", "—"):
            sep = ":"  # 'Experimenter - Maria Garcia': a dash written as a colon
        if sep not in (":", "=", "to") and field not in _IS_FIELDS:
            continue
        start, correction = m.end(), change or sep.startswith("should")
        negated: list[Hit] = []
        if field in _BOUNDED_FIELDS and (nb := _NOT_BUT.match(text, start)):
            negated = [
                Hit(h.field, h.raw, h.start, h.end, h.confidence, h.value, negated=True)
                for h in _value_hit(text, field, nb.start("neg"), nb.start("neg"), conf.LABELLED)
            ]
            start, correction = nb.end(), True
        if wrong := _WRONG.match(text, start):  # 'the experimenter is wrong, it was Kai Zhang'
            start, correction = wrong.end(), True
        read = _value_hit if field in _BOUNDED_FIELDS else _clause_hit
        for hit in read(text, field, start, m.start("label"), conf.LABELLED):
            hit.correction = correction
            hits.append(hit)
        hits.extend(negated)
    return hits
