"""Combine metadata layers so the most trustworthy source wins and nothing said is lost.

Precedence is user > user-text > file > inferred > default (``schema.PRECEDENCE``); within one source the more
confident value wins, and on a full tie the later layer. Every losing value stays in the winner's
``overridden`` trail, so the provenance sidecar shows what the files said even when the user corrected it.
"""

from __future__ import annotations

from nwbagent.metadata.schema import FIELD_NAMES, PRECEDENCE, FieldValue, SessionMetadata


def _flatten(fv: FieldValue) -> list[FieldValue]:
    """A value and everything it already overrode, each without its own trail."""
    return [fv.model_copy(update={"overridden": []}), *(x for o in fv.overridden for x in _flatten(o))]


def merge(*layers: SessionMetadata) -> SessionMetadata:
    """One ``SessionMetadata`` from several, keeping the losers of each field in the winner's trail."""
    merged: dict[str, FieldValue] = {}
    for name in FIELD_NAMES:
        candidates = [
            (PRECEDENCE[fv.source], fv.confidence, order, fv)
            for order, layer in enumerate(layers)
            if (fv := layer.get(name)) is not None
        ]
        if not candidates:
            continue
        candidates.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
        winner = candidates[0][3]
        trail = list(winner.overridden)
        for _, _, _, loser in candidates[1:]:
            trail.extend(_flatten(loser))
        merged[name] = winner.model_copy(update={"overridden": trail})
    return SessionMetadata(**merged)
