"""One chat turn's worth of metadata: what to save, what changed from what, and what to ask back.

The Conversation agent and the dialogue evaluation both go through :func:`read_turn` and
:func:`apply_reading`, so the figures ``nwbagent eval-metadata --set dialogues`` prints are the agent's own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from nwbagent.llm.base import Provider, Usage
from nwbagent.metadata.merge import merge
from nwbagent.metadata.schema import SessionMetadata
from nwbagent.nlmeta.extract import extract_metadata, to_layer
from nwbagent.nlmeta.rules import ExtractedField


class TurnReading(BaseModel):
    """What one message says about the metadata, before it is applied to the session."""

    save: list[ExtractedField] = Field(default_factory=list)
    provider: str = "rules"
    usage: Usage = Field(default_factory=Usage)
    fallback_note: str | None = None


def read_turn(
    text: str,
    current: dict[str, Any] | None = None,
    pending: list[ExtractedField] | None = None,
    provider: Provider | None = None,
) -> TurnReading:
    """Read ``text`` given the values the session holds now and the values waiting for a yes or no."""
    extraction = extract_metadata(text, provider)
    return TurnReading(
        save=extraction.fields,
        provider=extraction.provider,
        usage=extraction.usage,
        fallback_note=extraction.fallback_note,
    )


def apply_reading(layer: SessionMetadata | None, reading: TurnReading) -> SessionMetadata:
    """The user-text layer after this turn."""
    new = to_layer(reading.save)
    return merge(layer, new) if layer is not None else new
