"""Metadata from what scientists write, and answers to what they ask.

``extract_rules`` reads fields from free text with patterns and shipped vocabularies (no model);
``extract_metadata`` adds a language model's proposals, validated and merged, falling back to the rules;
``to_layer`` turns the result into a ``SessionMetadata`` layer (source "user-text"); ``evaluate`` and
``format_report`` score an extractor on the shipped description set; ``answer_question`` and
``is_question`` serve the glossary of NWB/DANDI terms.
"""

from nwbagent.nlmeta.evaluate import EvalReport, evaluate, format_report, load_cases
from nwbagent.nlmeta.extract import Extraction, extract_metadata, merge_fields, output_schema, to_layer
from nwbagent.nlmeta.glossary import (
    Answer,
    GlossaryEntry,
    answer_question,
    is_question,
    load_glossary,
    match_terms,
)
from nwbagent.nlmeta.rules import ExtractedField, extract_rules, lookup_institution, lookup_region

__all__ = [
    "Answer",
    "EvalReport",
    "ExtractedField",
    "Extraction",
    "GlossaryEntry",
    "answer_question",
    "evaluate",
    "extract_metadata",
    "extract_rules",
    "format_report",
    "is_question",
    "load_cases",
    "load_glossary",
    "lookup_institution",
    "lookup_region",
    "match_terms",
    "merge_fields",
    "output_schema",
    "to_layer",
]
