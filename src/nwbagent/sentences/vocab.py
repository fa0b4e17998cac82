"""The closed vocabularies the rules match against: Allen CCF regions, institutions, species names.

A value outside these lists is not guessed at; it is left to the user (or refused when a model proposes it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from nwbagent.metadata.normalize import species_table


@dataclass(frozen=True)
class Region:
    acronym: str
    name: str
    parent: str | None
    synonyms: tuple[str, ...]
    match_acronym: str


@lru_cache(maxsize=1)
def brain_regions() -> dict[str, Region]:
    """The shipped Allen CCF subset, by acronym."""
    text = resources.files("nwbagent.sentences").joinpath("brain_regions.json").read_text(encoding="utf-8")
    return {
        row["acronym"]: Region(
            row["acronym"], row["name"], row["parent"], tuple(row["synonyms"]), row["match_acronym"]
        )
        for row in json.loads(text)["structures"]
    }


def region_ancestors(acronym: str) -> set[str]:
    regions = brain_regions()
    seen: set[str] = set()
    parent = regions[acronym].parent if acronym in regions else None
    while parent and parent not in seen:
        seen.add(parent)
        parent = regions[parent].parent if parent in regions else None
    return seen


def lookup_region(text: str) -> str | None:
    """The Allen acronym for an acronym, full name or synonym given on its own; None if not in the list."""
    wanted = text.strip()
    regions = brain_regions()
    if wanted in regions:
        return wanted
    key = wanted.casefold()
    for region in regions.values():
        if key == region.name.casefold() or key == region.acronym.casefold():
            return region.acronym
    for region in regions.values():
        for synonym in region.synonyms:
            sensitive = synonym != synonym.lower()
            if (wanted == synonym) if sensitive else (key == synonym.casefold()):
                return region.acronym
    return None


@lru_cache(maxsize=1)
def institutions() -> tuple[dict[str, Any], ...]:
    text = resources.files("nwbagent.sentences").joinpath("institutions.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["institutions"])


def lookup_institution(text: str) -> str | None:
    """The full name for an abbreviation or alias given on its own; None if not in the list."""
    wanted = text.strip()
    for row in institutions():
        if wanted in row["abbreviations"]:
            return str(row["name"])
        if wanted.casefold() in [a.casefold() for a in [row["name"], *row["aliases"]]]:
            return str(row["name"])
    return None


def alternation(items: Iterable[tuple[str, bool]]) -> str:
    """One regex alternative per (phrase, case_sensitive), longest first so 'guinea pig' beats 'pig'."""
    parts = []
    for phrase, sensitive in sorted(set(items), key=lambda p: (-len(p[0]), p[0])):
        body = r"\s+".join(re.escape(w) for w in phrase.split())
        parts.append(body if sensitive else f"(?i:{body})")
    return "|".join(parts)


# Plurals and everyday words the species table does not list, mapped to the binomial.
SPECIES_EXTRA = {
    "participants": "Homo sapiens",
    "patients": "Homo sapiens",
    "volunteers": "Homo sapiens",
    "human subjects": "Homo sapiens",
    "flies": "Drosophila melanogaster",
    "fruit flies": "Drosophila melanogaster",
    "zebra finches": "Taeniopygia guttata",
    "macaques": "Macaca mulatta",
    "rhesus macaques": "Macaca mulatta",
    "rhesus monkeys": "Macaca mulatta",
    "marmosets": "Callithrix jacchus",
    "ferrets": "Mustela furo",
    "worms": "Caenorhabditis elegans",
    "guinea pigs": "Cavia porcellus",
    "gerbils": "Meriones unguiculatus",
    "hamsters": "Mesocricetus auratus",
    "rabbits": "Oryctolagus cuniculus",
    "cats": "Felis catus",
    "pigs": "Sus scrofa",
    "dogs": "Canis familiaris",
    "chickens": "Gallus gallus",
    "chicks": "Gallus gallus",
    "tree shrews": "Tupaia belangeri",
    "canaries": "Serinus canaria",
    "honeybees": "Apis mellifera",
    "honey bees": "Apis mellifera",
    "m. musculus": "Mus musculus",
    "r. norvegicus": "Rattus norvegicus",
    "m. mulatta": "Macaca mulatta",
    "d. rerio": "Danio rerio",
}


@lru_cache(maxsize=1)
def species_vocabulary() -> tuple[dict[str, str], re.Pattern[str]]:
    names: dict[str, str] = {}
    for row in species_table():
        for word in [row["name"], *row["synonyms"]]:
            names[re.sub(r"\s+", " ", str(word).casefold())] = str(row["name"])
    for word, binomial in SPECIES_EXTRA.items():
        names[word] = binomial
    pattern = re.compile(rf"(?<![\w-])(?:{alternation((w, False) for w in names)})(?![\w-])")
    return names, pattern


@lru_cache(maxsize=1)
def genera() -> frozenset[str]:
    return frozenset(str(row["name"]).split()[0].casefold() for row in species_table())


# Allen names that are also everyday phrases ('the anterior area of the probe').
GENERIC_REGION_NAMES = {"anterior area", "fiber tracts"}


@lru_cache(maxsize=1)
def region_pattern() -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    """One regex over names, synonyms and usable acronyms; the map gives (acronym, how it matched)."""
    items: list[tuple[str, bool]] = []
    meaning: dict[str, tuple[str, str]] = {}
    for region in brain_regions().values():
        if region.name.casefold() not in GENERIC_REGION_NAMES:
            items.append((region.name, False))
        meaning[region.name.casefold()] = (region.acronym, "name")
        for synonym in region.synonyms:
            sensitive = synonym != synonym.lower()
            items.append((synonym, sensitive))
            meaning[synonym if sensitive else synonym.casefold()] = (region.acronym, "synonym")
        if region.match_acronym != "never":
            items.append((region.acronym, True))
            meaning.setdefault(region.acronym, (region.acronym, region.match_acronym))
    for term in unmapped_regions():
        sensitive = term != term.lower()
        items.append((term, sensitive))
        meaning[term if sensitive else term.casefold()] = (UNMAPPED, "synonym")
    pattern = re.compile(rf"(?<![\w-])(?:{alternation(items)})(?![\w]|-\w)")
    return pattern, meaning


UNMAPPED = "_unmapped"


@lru_cache(maxsize=1)
def unmapped_regions() -> tuple[str, ...]:
    text = resources.files("nwbagent.sentences").joinpath("brain_regions.json").read_text(encoding="utf-8")
    return tuple(json.loads(text).get("unmapped", []))


@lru_cache(maxsize=1)
def institution_pattern() -> re.Pattern[str]:
    """Every listed institution name, alias and (case-sensitive) abbreviation, as one regex."""
    items: list[tuple[str, bool]] = []
    for row in institutions():
        items.extend((a, True) for a in row["abbreviations"])
        items.extend((a, False) for a in [row["name"], *row["aliases"]])
    return re.compile(rf"(?<![\w-])(?:{alternation(items)})(?![\w-])")
