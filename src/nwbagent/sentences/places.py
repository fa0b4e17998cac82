"""Where the work was done: institutions (closed list) and labs (a surname before 'lab')."""

from __future__ import annotations

import re

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.names import NAME_WORD, NOT_NAMES, TITLE
from nwbagent.sentences.spans import Hit
from nwbagent.sentences.vocab import institution_pattern, lookup_institution

_GENERIC_INSTITUTION = re.compile(
    r"\b(?:from|at)\s+(?:the\s+)?(?P<inst>University\s+of\s+[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
    r"|[A-Z][a-z]+\s+University|[A-Z][a-z]+\s+Institute\s+(?:of|for)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})"
    r"(?![\w-])"
)


def read_institutions(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for m in institution_pattern().finditer(text):
        name = lookup_institution(m.group(0)) or lookup_institution(re.sub(r"\s+", " ", m.group(0)))
        if name is None:
            continue
        before = text[max(0, m.start() - 12) : m.start()]
        anchored = bool(re.search(r"\b(?:from|at|in)\s+(?:the\s+)?$", before))
        hits.append(
            Hit("institution", name, m.start(), m.end(), conf.CUE if anchored else conf.CONTEXT, value=name)
        )
    if not hits:
        for m in _GENERIC_INSTITUTION.finditer(text):
            inst = re.sub(r"\s+", " ", m.group("inst"))
            hits.append(Hit("institution", inst, m.start("inst"), m.end("inst"), conf.CONTEXT, value=inst))
    if len({h.value for h in hits}) > 1:
        # Several institutions named: keep the one the speaker says they are "from"/"at", if unique.
        anchored_hits = [h for h in hits if h.confidence >= conf.CUE]
        hits = anchored_hits if len({h.value for h in anchored_hits}) == 1 else hits
    return hits


_SURNAME = r"[A-Z][a-zß-öø-ÿ]+(?:['’][A-Z][a-z]+)?(?:[-–][A-Z][a-zß-öø-ÿ]+)?"


def read_labs(text: str) -> list[Hit]:
    hits: list[Hit] = []
    patterns = [
        rf"(?:\b(?i:in|from|at|of|with|the|for|and)\s+|,\s*)(?:the\s+)?(?:{TITLE})?(?P<name>{_SURNAME})(?:['’]s)?\s+[Ll]ab\b(?!oratory|s)",
        rf"^\s*(?:[Tt]he\s+)?(?P<name>{_SURNAME})\s+[Ll]ab\b(?!oratory|s)",
        rf"\b[Ll]ab(?:oratory)?\s+of\s+(?:{TITLE})?(?:{NAME_WORD}\s+)?(?:[A-Z]\.\s+)?(?P<name>{_SURNAME})(?![\w-])",
    ]
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            name = m.group("name")
            if name.casefold() in NOT_NAMES:
                continue
            lab = f"{name} Lab"
            hits.append(Hit("lab", lab, m.start(), m.end(), conf.TERM, value=lab))
    return hits
