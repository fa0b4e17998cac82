"""People's names after the cues that introduce them, split and normalized by ``nameparser``.

A span is a name only when a cue says a person follows ("recorded by", "I'm", "the experimenter was",
"NAME ran the session") and the words pass :func:`person`: no digits, no lab, place, species or region
words, a first and a last name. ``nameparser.HumanName`` then takes off titles and suffixes ("Dr.",
"MD") and keeps particles with the last name ("van der Berg"), which hand-written patterns got wrong.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nameparser import HumanName

from nwbagent.metadata.schema import EXPERIMENTER_PATTERN
from nwbagent.sentences import confidence as conf
from nwbagent.sentences.spans import MONTHS, WEEKDAYS, Hit, cues, words_pattern
from nwbagent.sentences.vocab import lookup_region, species_vocabulary


@lru_cache(maxsize=1)
def not_names() -> frozenset[str]:
    """Capitalised words that look like part of 'First Last' but are not people (casefolded)."""
    words = cues()["people"]["not_names"] + list(MONTHS) + list(WEEKDAYS)
    return frozenset(str(w).casefold() for w in words)


NOT_NAMES = not_names()

_UP, _LOW = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
NAME_WORD = (
    rf"(?:[{_UP}]['’][{_UP}][{_LOW}]+|(?:Mc|Mac)[A-Z][{_LOW}]+|[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?)"
)
PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|la|le|ter|ten|dos)"
NAME = (
    rf"(?:{NAME_WORD}(?:\s+{NAME_WORD})?(?:\s+[A-Z]\.)?|[A-Z]\.(?:\s?[A-Z]\.)?)(?:\s+{PARTICLE}){{0,2}}\s+"
    rf"{NAME_WORD}(?![\w'’-])"
)
TITLE = r"(?:(?:Drs?|Prof|Mr|Ms|Mrs)\.?\s+|(?:Professor|Doctor)\s+)"
NAME_LIST = rf"{TITLE}?{NAME}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*){TITLE}?{NAME})*"
_LOWER_WORD = rf"[{_LOW}]+(?:-[{_LOW}]+)?"


def _stopwords() -> frozenset[str]:
    return frozenset(str(w).casefold() for w in cues()["people"]["stopwords"])


def _is_vocabulary_word(word: str) -> bool:
    """Species, region and month words are never part of a person's name."""
    key = word.casefold().strip(".")
    names, _ = species_vocabulary()
    return key in names or key in not_names() or (len(key) > 2 and lookup_region(word) is not None)


def person(span: str, *, lower_ok: bool = False) -> str | None:
    """``'Last, First Middle'`` for a span that is one person's name; None for anything else.

    ``lower_ok`` accepts an all-lower-case name ("maria garcia") where the cue leaves no doubt that a name
    follows ("experimenter: …"); it is then capitalised.
    """
    text = re.sub(r"\s+", " ", span).strip().strip(",;")
    if not text or re.search(r"[\d@/\\<>{}()\[\]:=#]", text):
        return None
    parsed = HumanName(text)  # also reads 'Garcia, Maria' (last name first) and 'John Carter, MD'
    words = [w for w in re.split(r"[\s,]+", text) if w]
    if text == text.lower():
        if not lower_ok or not 2 <= len(words) <= 4:
            return None
        if any(w.casefold() in _stopwords() or not re.fullmatch(_LOWER_WORD, w) for w in words):
            return None
        parsed.capitalize(force=True)
    core = [w for w in [parsed.first, *parsed.middle_list, *parsed.last_list] if w]
    if not parsed.first or not parsed.last:
        return None
    for word in core:
        for part in word.split():
            if re.fullmatch(PARTICLE, part) or re.fullmatch(r"[A-Z]\.?", part):
                continue
            if not re.fullmatch(NAME_WORD, part) or _is_vocabulary_word(part):
                return None
    first = " ".join(p for p in [parsed.first, parsed.middle] if p)
    result = f"{parsed.last}, {first}"
    return result if re.fullmatch(EXPERIMENTER_PATTERN, result) else None


def people(span: str, *, lower_ok: bool = False) -> list[str] | None:
    """Every person in a list ("A and B", "A, B & C", "Doe, Jane; Roe, Rick"); None unless all are names."""
    text = span.strip()
    if not text:
        return None
    pieces = [p for p in re.split(r"\s*(?:;|&|\band\b)\s*", text) if p.strip()]
    found: list[str] = []
    for piece in pieces:
        parts = [p.strip() for p in piece.split(",") if p.strip()]
        if len(parts) == 2 and " " not in parts[1] and not re.fullmatch(r"(?i:and\s+.*)", parts[1]):
            candidates = [piece]  # 'Garcia, Maria' or 'John Carter, MD': one person
        else:
            candidates = [re.sub(r"^and\s+", "", p) for p in parts]
        for candidate in candidates:
            name = person(candidate, lower_ok=lower_ok)
            if name is None:
                return None
            found.append(name)
    return list(dict.fromkeys(found)) or None


# ---------------------------------------------------------------------------------------------- cues


@lru_cache(maxsize=1)
def _triggers() -> tuple[tuple[re.Pattern[str], float], ...]:
    lists = cues()["people"]
    by_verbs = words_pattern(lists["by_verbs"] + lists["by_nouns"])
    intro = words_pattern(lists["self_intro"])
    after = rf"(?P<names>{NAME_LIST})"
    return (
        (re.compile(rf"{intro}\s+{after}"), conf.CUE),
        (re.compile(rf"{by_verbs}\s+by\s+{after}"), conf.CUE),
        (re.compile(rf"{by_verbs}\s+(?:[^\s.;!?]+\s+){{1,8}}?by\s+{after}"), conf.TERM),
        (re.compile(rf"\b(?i:experimenters?)\s+{after}"), conf.CUE),
        (
            re.compile(rf"\b(?i:together\s+with|along\s+with|with)\s+(?:(?i:my\s+colleagues?)\s+)?{after}"),
            conf.CONTEXT,
        ),
    )


@lru_cache(maxsize=1)
def _clause_subject() -> re.Pattern[str]:
    """'Maria Garcia (and Tom Becker) recorded …' at the start of a clause."""
    verbs = words_pattern([v for v in cues()["people"]["subject_verbs"] if v not in ("is", "was")])
    return re.compile(
        rf"(?:^|[.;!?\n:,]|\b(?i:and|so|then|also|hi|hey|hello|yes|ok|okay|sorry)\b)\s*"
        rf"(?P<names>{NAME_LIST})\s+(?:and\s+(?:I|me)\s+)?(?:(?i:also|then|just|first|both)\s+)?{verbs}"
    )


_TITLED = re.compile(rf"(?<![\w'’])(?:Drs?|Prof)\.?\s+(?P<names>{NAME})")
_OPENING = re.compile(rf"^\s*(?P<names>{NAME})\s*,")
_HERE = re.compile(rf"(?:^|[.;!?\n]|\b(?i:hi|hey|hello)\b[,!]?)\s*(?P<names>{NAME})\s+(?i:here)\b")
_MY_NAME = re.compile(
    r"\b(?i:my\s+name\s+is|my\s+name['’]s)\s+(?P<names>[a-zß-öø-ÿ]+(?:\s+[a-zß-öø-ÿ]+){1,2})\b"
)
_NOT_THE_EXPERIMENTER = re.compile(r"(?i:\blab(?:oratory)?\s+of\s*$|\bwith\s*$|\bof\s*$)")


def _first_words(span: str) -> str:
    """The words of a lower-case name up to the first word that cannot be part of it ('from', 'and')."""
    kept = []
    for word in span.split():
        if word.casefold() in _stopwords():
            break
        kept.append(word)
    return " ".join(kept)


def read_experimenters(text: str) -> list[Hit]:
    """Names after the people cues; one with no cue ("Dr. Lee Chen", "Maria Garcia, mouse 3") is a guess."""
    hits: list[Hit] = []
    for pattern, confidence in (*_triggers(), (_clause_subject(), conf.CUE)):
        for m in pattern.finditer(text):
            names = people(re.sub(TITLE, "", m.group("names")))
            if names:
                hits.append(Hit("experimenter", names, m.start("names"), m.end("names"), confidence))
    for m in _HERE.finditer(text):  # 'Maria Garcia here.'
        if names := people(m.group("names")):
            hits.append(Hit("experimenter", names, m.start("names"), m.end("names"), conf.CUE))
    for m in _MY_NAME.finditer(text):  # 'my name is maria garcia': the cue leaves no doubt
        if names := people(_first_words(m.group("names")), lower_ok=True):
            hits.append(Hit("experimenter", names, m.start("names"), m.end("names"), conf.CUE))
    covered = [(h.start, h.end) for h in hits]
    for pattern in (_TITLED, _OPENING):
        for m in pattern.finditer(text):
            if any(s <= m.start("names") < e for s, e in covered):
                continue
            after = text[m.end("names") : m.end("names") + 8]
            if re.match(r"['’]s\b|\s+[Ll]ab\b", after) or _NOT_THE_EXPERIMENTER.search(text[: m.start()]):
                continue  # 'Dr. Smith's lab', 'the lab of Dr. Smith': a lab, not who recorded
            names = people(m.group("names"))
            if names:
                hits.append(Hit("experimenter", names, m.start("names"), m.end("names"), conf.GUESS))
    return hits
