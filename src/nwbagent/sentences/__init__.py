"""Metadata from what scientists write, and answers to what they ask.

``extract_rules`` reads fields from free text with patterns, shipped vocabularies and nameparser (no
model); ``extract_metadata`` adds a language model's proposals, validated and merged, falling back to the
rules; ``to_layer`` turns the result into a ``SessionMetadata`` layer (source "user-text"). In a chat,
``read_turn`` reads one message against what the session holds (corrections, denials, values to ask back)
and ``apply_reading`` applies it. ``evaluate``/``format_report`` score an extractor on the shipped
description sets and ``evaluate_dialogues`` scores whole chats; ``answer_question`` and ``is_question``
serve the glossary of NWB/DANDI terms.
"""

from nwbagent.sentences.dialogue import TurnReading, apply_reading, read_turn, reply_lines
from nwbagent.sentences.evaluate import EvalReport, evaluate, format_report, load_cases
from nwbagent.sentences.evaluate_dialogues import DialogueReport, evaluate_dialogues, load_dialogues
from nwbagent.sentences.extract import Extraction, extract_metadata, merge_fields, output_schema, to_layer
from nwbagent.sentences.glossary import (
    Answer,
    GlossaryEntry,
    answer_question,
    is_question,
    load_glossary,
    match_terms,
)
from nwbagent.sentences.rules import (
    ExtractedField,
    extract_rules,
    lookup_institution,
    lookup_region,
    read_rules,
)

__all__ = [
    "Answer",
    "DialogueReport",
    "EvalReport",
    "ExtractedField",
    "Extraction",
    "GlossaryEntry",
    "TurnReading",
    "answer_question",
    "apply_reading",
    "evaluate",
    "evaluate_dialogues",
    "extract_metadata",
    "extract_rules",
    "format_report",
    "is_question",
    "load_cases",
    "load_dialogues",
    "load_glossary",
    "lookup_institution",
    "lookup_region",
    "match_terms",
    "merge_fields",
    "output_schema",
    "read_rules",
    "read_turn",
    "reply_lines",
    "to_layer",
]
