"""What every rule shares: a candidate value with its place in the text, and where a value ends.

Rules find a cue ("recorded by", "ID", "sex:") and read the value after it. Where that value stops is
decided here, once, for every field: at punctuation, at a conjunction, and at the cue words of any other
field. That single boundary is what keeps "M-042 and the experimenter was Maria Garcia" from becoming one
subject id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@dataclass
class Hit:
    """A candidate before normalization; ``start``/``end`` index the original text.

    ``negated`` marks a value the speaker says it is *not* ("not female", "wasn't V1"); ``correction``
    one the speaker marks as fixing an earlier value ("actually", "make that", "not X but Y").
    """

    field: str
    raw: Any
    start: int
    end: int
    confidence: float
    value: Any = None  # set when the raw text is already canonical (e.g. a region acronym)
    negated: bool = False
    correction: bool = False


@lru_cache(maxsize=1)
def cues() -> dict[str, Any]:
    """The word lists in cues.yaml, read once."""
    text = resources.files("nwbagent.sentences").joinpath("cues.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    _all_text(data)
    return data


def _all_text(node: Any) -> None:
    """YAML reads a bare yes/no/on as a boolean; a word list must hold words, so quote those."""
    if isinstance(node, dict):
        for key, item in node.items():
            _all_text(key)
            _all_text(item)
    elif isinstance(node, list):
        for item in node:
            _all_text(item)
    elif not isinstance(node, str):
        raise TypeError(f"cues.yaml: {node!r} is not text; quote it")


def words_pattern(words: list[str]) -> str:
    """A case-insensitive alternation of words or phrases, longest first, each on word boundaries."""
    parts = sorted({w.casefold() for w in words}, key=lambda w: (-len(w), w))
    body = "|".join(r"\s+".join(re.escape(p) for p in w.split()) for w in parts)
    return rf"(?i:(?<![\w'’])(?:{body})(?![\w'’]))"


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


# A sentence that pretends to come from the system or tells the reader to drop its instructions is an
# injection attempt pasted into the chat (or into a file the user copied from): nothing in it is metadata.
_INSTRUCTION = re.compile(
    r"(?:\b(?:SYSTEM|System|ASSISTANT|Assistant|ADMIN|DEVELOPER|INSTRUCTIONS?)\s*:|"
    r"\b(?i:ignore|disregard|forget)\s+(?i:all\s+|any\s+|the\s+)?(?i:previous|prior|above|earlier)\s+"
    r"(?i:instructions|rules|prompts?)|\b(?i:you\s+are\s+now\s+in)\b)"
    r"[^\n]*?(?:[.!?](?=\s|$)|(?=\n)|$)"
)


def mask_instructions(text: str) -> str:
    """``text`` with injected 'SYSTEM: …' / 'ignore previous instructions …' sentences blanked out."""
    return _INSTRUCTION.sub(lambda m: " " * len(m.group(0)), text)


def unsafe_value(value: Any) -> bool:
    """Values that carry markup or script are refused: they would end up in HTML reports and the archive."""
    items = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and _UNSAFE_VALUE.search(v) for v in items)


# ---------------------------------------------------------------------------------------------- boundaries


@lru_cache(maxsize=1)
def _boundary_word() -> re.Pattern[str]:
    lists = cues()["boundaries"]
    return re.compile(words_pattern(lists["conjunctions"] + lists["field_words"]))


@lru_cache(maxsize=1)
def _abbreviation() -> re.Pattern[str]:
    words = "|".join(re.escape(a) for a in cues()["abbreviations"])
    return re.compile(rf"(?:(?i:(?<![\w.])(?:{words}))|(?<!\S)[A-Z])$")


def value_end(text: str, start: int, *, commas: bool = True, keep: tuple[str, ...] = ()) -> int:
    """Where a value that starts at ``start`` ends: before punctuation, a conjunction or another field's cue.

    A dot ends the value unless it belongs to a token ("0.3", "C57BL/6.J") or an abbreviation ("Dr.",
    an initial "A."); ``commas=False`` lets lists and "Last, First" names run on to the next boundary, and
    ``keep`` names boundary words that belong to this field's values ("lab" in "Smith Lab").
    """
    stops = r"[;!?\n()\[\]{}\"“”]" if not commas else r"[;!?\n()\[\]{}\"“”,]"
    i = start
    boundary = _boundary_word()
    abbreviation = _abbreviation()
    n = len(text)
    while i < n:
        ch = text[i]
        if re.match(stops, ch):
            return i
        if ch == "." and (i + 1 >= n or text[i + 1].isspace()) and not abbreviation.search(text[start:i]):
            return i
        if ch == ":" and (i + 1 >= n or text[i + 1].isspace()):
            return i
        if (i == start or not (text[i - 1].isalnum() or text[i - 1] in "'’")) and (
            m := boundary.match(text, i)
        ):
            if m.group(0).casefold() not in keep:
                return i
            i = m.end()
            continue
        i += 1
    return n


def bounded(text: str, start: int, *, commas: bool = True, keep: tuple[str, ...] = ()) -> tuple[str, int]:
    """The value text from ``start`` to its boundary (stripped), and the end offset of what was kept."""
    end = value_end(text, start, commas=commas, keep=keep)
    value = text[start:end]
    stripped = value.rstrip(" \t-–—'\"’")
    return stripped.strip(), start + len(stripped)


# ---------------------------------------------------------------------------------------------- numbers

NUMBER_WORDS = {
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
NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(NUMBER_WORDS) + ")"
MONTHS = {
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
MONTH = r"(?i:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def to_number(token: str) -> str:
    return str(NUMBER_WORDS.get(token.lower(), token))
