"""Subject and session ids after the words that introduce them ('ID', 'mouse #', 'subject', 'sub-').

An id is one token of letters, digits, hyphens and underscores, read right after its cue and ending at
the first character that cannot be part of it, so whatever follows ("and the experimenter was …") is
never swallowed. Without a cue a token is only a guess: "M17, F, 9 weeks" asks "Is the subject id 'M17'?".
"""

from __future__ import annotations

import re

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.spans import Hit
from nwbagent.sentences.vocab import lookup_region

#: One id token; it holds a digit, so words ('mouse was', 'subject to') are never ids.
ID = r"(?P<id>(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)"
_SHAPE = r"(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_OPEN = "[#'\"“‘]?"  # a hash or an opening quote before the id: "mouse #42", "mouse 'M-042'"
#: The same shape for a whole value (labelled lines, answers to "Is the subject id …?").
ID_VALUE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_NOT_AN_ID_AFTER = re.compile(
    r"^(?:[\s-]*(?:weeks?|days?|months?|years?|wks?|mos?|hours?|hrs?|minutes?|min|h|s|g|kg|mg|grams?|%|mm|cm|"
    r"um|µm|μm|hz|khz|sessions?|trials?|channels?|probes?|shanks?|am|pm|dpf|old)\b|[.:,]\d|/\d)",
    re.I,
)
AMBIGUOUS = "_ambiguous"
SUBJECT_WORDS = (
    r"mouse|rat|animal|subject|monkey|macaque|marmoset|ferret|fish|zebrafish|bird|finch|participant|patient|"
    r"pup|fly|worm|gerbil"
)
SESSION_WORDS = r"session|recording\s+session"
_SEP = (
    r"\s*(?:[:#=]\s*|\s[-–—]\s+|(?:is|was)\s+(?:(?i:actually|now)\s+)?|(?i:of)\s+)?"
    r"(?:(?i:it['’]s|it\s+is|it\s+was|should\s+be)\s+)?"
)
# 'the animal number is not 4411 but 4412': the id after 'but' (the one before it is denied)
_NOT_BUT = r"(?:(?:is|was)\s+)?(?i:not)\s+#?(?P<neg>[A-Za-z0-9_-]+)\s*,?\s*(?i:but|it['’]s|rather)\s+#?"
_ID_WORD = r"(?i:ID|identifier|number|no\.?|nr\.?|name|named|called|code|tag|label)"
# 'ID' on its own: upper case anywhere, lower case only with a separator ('id: m042', 'id is 12')
_BARE_ID = re.compile(
    rf"(?<![\w-])(?:ID|Id|identifier|(?:id|Id)(?=\s*(?:[:#=]|is\b|was\b))){_SEP}{ID}(?![\w])"
)
_OTHER_IDS = re.compile(
    r"(?i:\b(?:probe|cage|file|experiment|sample|slice|cell|unit|channel|trial|sorting)\s*$)"
)
_SESSION_BEFORE = re.compile(r"(?i:\b(?:session|recording|ses)\s*$)")
#: An id-shaped token opening terse notes: 'M17, F, 9 weeks'.
_OPENING = re.compile(r"^\s*(?P<id>[A-Za-z]{1,4}[-_]?\d{1,6}[A-Za-z]?)\s*[,;]")


def _plausible(ident: str, text: str, end: int) -> bool:
    if _NOT_AN_ID_AFTER.match(text[end:]) or re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)", ident):
        return False
    return not (re.fullmatch(r"(?:19|20)\d\d", ident) and re.match(r"\s*[-/]\s*\d", text[end:]))


def read_ids(text: str, field: str, words: str) -> list[Hit]:
    """Ids after ``words`` ('mouse M12', "animal's ID was JC-2024-03"), a bare 'ID', and 'sub-'/'ses-'."""
    hits: list[Hit] = []
    between_commas = rf"\s*,\s*(?!(?i:P\d+D?)\b)(?={_SHAPE}\s*[,)])"  # 'the animal, M-042, is …'
    pattern = (
        rf"\b(?i:{words})(?:['’]s)?\s*\(?\s*(?:{_ID_WORD}\s*)?(?:\s*{_NOT_BUT}|{_SEP}|{between_commas})"
        rf"{_OPEN}{ID}(?![\w])"
    )
    for m in re.finditer(pattern, text):
        ident = re.sub(r"^(?:sub|ses)-", "", m.group("id"))
        if not _plausible(ident, text, m.end()):
            continue
        if lookup_region(ident):
            # 'mouse V1' may be the mouse's visual cortex or an animal called V1: neither is read.
            hits.append(Hit(AMBIGUOUS, ident, m.start("id"), m.end("id"), 0.0))
            continue
        named = re.search(rf"{_ID_WORD}{_SEP}$", text[m.start() : m.start("id")])
        confidence = conf.CUE if named or m.group("neg") else conf.TERM
        hits.append(
            Hit(field, ident, m.start("id"), m.end("id"), confidence, correction=bool(m.group("neg")))
        )
        if m.group("neg"):
            hits.append(Hit(field, m.group("neg"), m.start("neg"), m.end("neg"), confidence, negated=True))
    for m in _BARE_ID.finditer(text):
        before = text[max(0, m.start() - 30) : m.start()]
        is_session = bool(_SESSION_BEFORE.search(before))
        if _OTHER_IDS.search(before) or is_session != (field == "session_id"):
            continue
        if re.search(rf"\b(?i:{words})(?:['’]s)?\s*\(?\s*$", before):
            continue  # already read with its animal word above
        ident = re.sub(r"^(?:sub|ses)-", "", m.group("id"))
        if _plausible(ident, text, m.end()) and not lookup_region(ident):
            hits.append(Hit(field, ident, m.start("id"), m.end("id"), conf.CUE))
    prefix = "sub" if field == "subject_id" else "ses"
    for m in re.finditer(rf"(?<![\w-]){prefix}-(?P<id>[A-Za-z0-9]+)\b", text):
        hits.append(Hit(field, m.group("id"), m.start(), m.end(), conf.CUE))
    if field == "subject_id" and not hits and (opening := _OPENING.match(text)):
        ident = opening.group("id")
        if not lookup_region(ident) and not re.fullmatch(r"(?i:P\d+D?|E\d+(?:\.5)?)", ident):
            hits.append(Hit(field, ident, opening.start("id"), opening.end("id"), conf.GUESS))
    return hits
