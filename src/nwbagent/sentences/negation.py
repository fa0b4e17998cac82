"""Whether a value is denied by the words right before it ("not female", "wasn't V1", "instead of UCL")."""

from __future__ import annotations

import re
from functools import lru_cache

from nwbagent.sentences.spans import cues, words_pattern


@lru_cache(maxsize=1)
def _negator_before() -> re.Pattern[str]:
    negators = words_pattern(cues()["negators"])
    return re.compile(
        rf"{negators}\s+(?:(?i:a|an|the|in|into|from|at|of|by|actually|really|exactly)\s+){{0,2}}$"
    )


def negated_at(text: str, start: int) -> bool:
    """True when a negator ends right before ``start`` (at most two small words between)."""
    return bool(_negator_before().search(text[max(0, start - 40) : start]))
