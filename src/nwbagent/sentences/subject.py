"""The subject's fields from running text: age, sex, species, strain, genotype and weight."""

from __future__ import annotations

import re
from collections.abc import Callable

from nwbagent.sentences import confidence as conf
from nwbagent.sentences.spans import NUM, Hit, mask_markup, to_number
from nwbagent.sentences.vocab import genera, species_vocabulary

_AGE_UNIT = r"(?P<unit>days?|d|weeks?|wks?|wk|w|months?|mos?|mo|years?|yrs?|yr|y)"
_AGE_RANGE = rf"(?P<low>{NUM})(?:\s*(?:-|–|to)\s*(?P<high>{NUM}))?"


def read_ages(text: str) -> list[Hit]:
    hits: list[Hit] = []
    patterns = [
        (rf"(?<![\w.]){_AGE_RANGE}[\s-]*{_AGE_UNIT}[\s-]+old\b", conf.CUE),
        (rf"(?<![\w.]){_AGE_RANGE}\s*{_AGE_UNIT}\s+of\s+age\b", conf.CUE),
        (
            rf"\b(?i:aged?|age\s+of|at\s+an\s+age\s+of)\s+(?:approximately\s+|about\s+|around\s+|~\s*)?"
            rf"{_AGE_RANGE}[\s-]*{_AGE_UNIT}(?![\w])",
            conf.CUE,
        ),
    ]
    for pattern, confidence in patterns:
        for m in re.finditer(pattern, text, re.I):
            if re.search(r"\d\s*(?:and|or|to|-|–|,)\s*$", text[max(0, m.start() - 12) : m.start()]):
                continue  # 'between 8 and 10 weeks old': the second number alone would be wrong
            low, high, unit = to_number(m.group("low")), m.group("high"), m.group("unit")
            raw = f"{low}-{to_number(high)} {unit}" if high else f"{low} {unit}"
            hits.append(Hit("age", raw, m.start(), m.end(), confidence))
    # shorthand: an item of a list ('M17, F, 9 weeks, 22 g') or the whole predicate ("it's 11 weeks")
    shorthand = [
        rf"(?:^|(?<=[,;(]))\s*(?P<v>{_AGE_RANGE}\s*{_AGE_UNIT})\s*(?=[,;)]|\.?\s*$)",
        rf"\b(?i:it|she|he|they|the\s+(?:mouse|rat|animal|subject))(?:['’]s|\s+(?:is|was|were|are))\s+"
        rf"(?i:about\s+|around\s+|roughly\s+)?(?P<v>{_AGE_RANGE}\s*{_AGE_UNIT})(?=\s*(?:[,;.!?)]|$|\b(?:and|but)\b))",
    ]
    for pattern in shorthand:
        for m in re.finditer(pattern, text, re.I):
            low, high, unit = to_number(m.group("low")), m.group("high"), m.group("unit")
            raw = f"{low}-{to_number(high)} {unit}" if high else f"{low} {unit}"
            hits.append(Hit("age", raw, m.start("v"), m.end("v"), conf.CONTEXT))
    # postnatal days: 'P21', 'P56D', 'PND 21', 'postnatal day 21'
    for m in re.finditer(r"\b(?i:postnatal\s+day|PND)\s*(?P<n>\d{1,3})\b", text):
        hits.append(Hit("age", f"{m.group('n')} days", m.start(), m.end(), conf.CUE))
    for m in re.finditer(r"\bP(?P<n>\d{1,3})D?\b", text):
        before = text[max(0, m.start() - 10) : m.start()]
        after = text[m.end() : m.end() + 12]
        if (
            re.search(r"\b(?:at|aged?|age:?|on)\s*$|\(\s*$", before, re.I)
            or re.match(r"\s+(?:mice|mouse|rats?|pups?|animals?|males?|females?|ferrets?)\b", after, re.I)
            or (re.search(r"(?:^|[,;])\s*$", before) and re.match(r"\s*(?:[,;).]|$)", after))
        ):
            hits.append(Hit("age", f"{m.group('n')} days", m.start(), m.end(), conf.TERM))
    return hits


def read_sexes(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for m in re.finditer(r"\b(?i:(male|female|hermaphrodite)s?)\b", text):
        word = m.group(1).lower()
        hits.append(Hit("sex", word, m.start(), m.end(), conf.CUE))
    for m in re.finditer(r"\b(?i:year)[\s-]+old\s+(?P<w>man|woman|boy|girl)\b", text, re.I):
        hits.append(Hit("sex", m.group("w").lower(), m.start("w"), m.end("w"), conf.TERM))
    for m in re.finditer(r"\b(?i:sex\s+(?:is\s+|was\s+)?unknown|unknown\s+sex|sex\s+not\s+known)\b", text):
        hits.append(Hit("sex", "unknown", m.start(), m.end(), conf.CUE))
    # lab shorthand: 'M' or 'F' as an item of a list ('M17, F, 9 weeks')
    for m in re.finditer(r"(?:^|(?<=[,;(]))\s*(?P<w>[MF])\s*(?=[,;)]|\.?\s*$)", text):
        word = "male" if m.group("w") == "M" else "female"
        hits.append(Hit("sex", word, m.start("w"), m.end("w"), conf.CONTEXT))
    return hits


def read_species(text: str) -> list[Hit]:
    names, pattern = species_vocabulary()
    hits: list[Hit] = []
    for m in pattern.finditer(text):
        word = re.sub(r"\s+", " ", m.group(0).casefold())
        before = text[max(0, m.start() - 8) : m.start()].casefold()
        after = text[m.end() : m.end() + 12].casefold()
        if word == "fly" and before.endswith("on the "):
            continue
        epithet = re.match(r"\s+([a-z]+)\b", text[m.end() :])
        if word in genera() and epithet and f"{word} {epithet.group(1)}" not in names:
            continue  # 'Xenopus tropicalis' is not the listed Xenopus laevis
        if word.startswith("rabbit") and re.match(r"\s*(?:anti|polyclonal|monoclonal|antibod|igg)", after):
            continue
        if word.startswith("human") and after.startswith("-"):
            continue
        if m.group(0).isupper() and len(m.group(0)) <= 4:  # 'RAT', 'CAT' are gene or assay names
            continue
        hits.append(Hit("species", names[word], m.start(), m.end(), conf.CUE))
    return hits


def species_mentions(text: str) -> set[str]:
    """Binomials of every species ``text`` names, to check that quoted evidence supports a species value."""
    return {str(h.raw) for h in read_species(mask_markup(text))}


_STRAINS: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (
        r"\bC57\s?BL(?:\s?/\s?|\s)?6(?:\s?/?(?P<sub>J|N|NJ|NCrl|NTac|JRj))?(?![\w])",
        lambda m: "C57BL/6" + (m.group("sub") or "").replace("NCRL", "NCrl"),
    ),
    (r"\bBALB\s?/\s?c(?P<sub>J|ByJ)?(?![\w])", lambda m: "BALB/c" + (m.group("sub") or "")),
    (r"\bCD-?1(?=\s+(?:mice|mouse|males?|females?)\b)", lambda m: "CD-1"),
    (r"\bFVB(?:/N(?:J)?)?(?![\w/])", lambda m: m.group(0)),
    (r"\bDBA/2J?(?![\w])", lambda m: m.group(0)),
    (r"\bSwiss[\s-]Webster\b", lambda m: "Swiss Webster"),
    (r"\bLong[\s-]Evans\b", lambda m: "Long-Evans"),
    (r"\bSprague[\s-]Dawley\b", lambda m: "Sprague-Dawley"),
    (r"\bWistar(?:\s+Han)?\b", lambda m: re.sub(r"\s+", " ", m.group(0))),
    (r"\bLister[\s-][Hh]ooded\b", lambda m: "Lister Hooded"),
    (r"\b(?:Fischer[\s-]?344|F344)\b", lambda m: "Fischer 344"),
    (r"\bBrown[\s-]Norway\b", lambda m: "Brown Norway"),
    (r"\bCanton[\s-]S\b", lambda m: "Canton-S"),
    (r"\bw1118\b", lambda m: "w1118"),
)


def read_strains(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for pattern, canonical in _STRAINS:
        for m in re.finditer(pattern, text, re.I if "C57" in pattern or "BALB" in pattern else 0):
            value = canonical(m)
            if "C57" in pattern:
                value = value.upper().replace("NCRL", "NCrl").replace("NTAC", "NTac").replace("JRJ", "JRj")
            hits.append(Hit("strain", value, m.start(), m.end(), conf.CUE, value=value))
    return hits


_TRANSGENE = (
    r"(?:[A-Z][A-Za-z0-9]*(?:-(?![Cc]re\b)[A-Za-z0-9]+)*-(?:(?i:IRES2?)-)?"
    r"(?:CreERT2|Cre|FlpO|Flp|Dre|tTA|j?GCaMP\w*|ChR2\w*|tdTomato|EYFP|EGFP|YFP|GFP|Arch\w*|Halo\w*)"
    r"(?:/wt|/\+)?|Ai\d{1,3}[A-Za-z]?(?![\w]))"
)
_GENOTYPE = re.compile(rf"(?<![\w-]){_TRANSGENE}(?:\s*(?:x|×|X|;|/)\s*{_TRANSGENE})*(?![\w])")


def read_genotypes(text: str) -> list[Hit]:
    hits = [
        Hit("genotype", m.group(0), m.start(), m.end(), conf.TERM, value=m.group(0))
        for m in _GENOTYPE.finditer(text)
    ]
    if not hits:
        for m in re.finditer(r"\b(?i:wild[\s-]?type)\b|\bWT\b", text):
            hits.append(Hit("genotype", "WT", m.start(), m.end(), conf.TERM, value="WT"))
        if hits and re.search(r"\b(?i:knock-?out|knock-?in|mutants?|transgenic)\b|\bKO\b|-/-", text):
            return []  # 'wild type and knockout littermates' describes the cohort, not this subject
    return hits


_WEIGHT_UNIT = r"(?P<unit>kg|g|gr|grams?|kilograms?)"
_WEIGHT_NUM = r"(?P<n>\d+(?:[.,]\d+)?)"


def read_weights(text: str) -> list[Hit]:
    hits: list[Hit] = []
    patterns = [
        rf"\b(?i:weigh(?:s|ed|ing)?|(?:body\s+)?weight(?:\s+of)?|bw)\s*(?::|=|was|is|of)?\s*"
        rf"(?:approximately\s+|about\s+|around\s+|~\s*)?{_WEIGHT_NUM}\s*{_WEIGHT_UNIT}(?![\w/])(?!\s*(?:/|per\b))",
        rf"(?<![\w.]){_WEIGHT_NUM}\s*{_WEIGHT_UNIT}(?![\w/])(?=\s+(?:adult\s+)?(?:male|female|mouse|mice|rat|rats|"
        r"animal|monkey|macaque|ferret|marmoset|C57|Long|Sprague|Wistar)\b)",
        rf"\(\s*{_WEIGHT_NUM}\s*{_WEIGHT_UNIT}\s*\)",
        rf"(?<![\w.]){_WEIGHT_NUM}\s*{_WEIGHT_UNIT}\s+(?i:body\s+weight)\b",
    ]
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            raw = f"{m.group('n')} {m.group('unit')}"
            hits.append(Hit("weight", raw, m.start(), m.end(), conf.TERM))
    # an item of a list ('Female Wistar rat, 300 g', 'M17, F, 9wk, 22g')
    item = rf"(?:^|(?<=[,;(]))\s*{_WEIGHT_NUM}\s*{_WEIGHT_UNIT}\s*(?=[,;)]|\.?\s*$)"
    for m in re.finditer(item, text):
        raw = f"{m.group('n')} {m.group('unit')}"
        hits.append(Hit("weight", raw, m.start("n"), m.end("unit"), conf.CONTEXT))
    return hits
