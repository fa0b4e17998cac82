"""Brain regions named in running text, as Allen CCF acronyms."""

from __future__ import annotations

import re

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.negation import negated_at
from nwbagent.sentences.spans import Hit
from nwbagent.sentences.vocab import UNMAPPED, region_ancestors, region_pattern

_REGION_BEFORE = re.compile(
    r"(?:\b(?:in|into|from|targeting|targeted|target|within|of|to|the|and|or|both|across|at|mostly|mainly|"
    r"primarily|including|especially|specifically|namely)|[/&+])\s*$",
    re.I,
)
_REGION_AFTER = re.compile(
    r"^\s*(?:neurons?|cells?|units?|region|nucleus|area|recordings?|layers?|L\d|and\b|or\b|/|\+)", re.I
)


def read_regions(text: str, blocked: list[tuple[int, int]]) -> list[Hit]:
    pattern, meaning = region_pattern()
    found: list[tuple[str, int, int]] = []
    for m in pattern.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in blocked):
            continue
        phrase = re.sub(r"\s+", " ", m.group(0))
        acronym, how = meaning.get(phrase) or meaning.get(phrase.casefold()) or ("", "")
        if not acronym:
            continue
        if how == "context":
            before, after = text[max(0, m.start() - 20) : m.start()], text[m.end() : m.end() + 20]
            if not (_REGION_BEFORE.search(before) or _REGION_AFTER.match(after)):
                continue
        found.append((acronym, m.start(), m.end()))
    if not found or any(a == UNMAPPED for a, _, _ in found):
        return []  # a region outside the list was named too: a partial answer would look complete
    denied = [f for f in found if negated_at(text, f[1])]  # "it wasn't V1, it was the LGd"
    found = [f for f in found if f not in denied]
    hits = [Hit("brain_region", a, s, e, conf.TERM, value=a, negated=True) for a, s, e in denied]
    if not found:
        return hits
    acronyms = list(dict.fromkeys(a for a, _, _ in found))
    ancestors = set().union(*(region_ancestors(a) for a in acronyms))
    keep = [a for a in acronyms if a not in ancestors]
    spans = [(s, e) for a, s, e in found if a in keep]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    value = ", ".join(keep)
    confidence = conf.TERM if len(keep) == 1 else conf.CONTEXT
    return [*hits, Hit("brain_region", value, start, end, confidence, value=value)]
