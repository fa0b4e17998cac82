"""List prices so a session can report what its LLM calls cost; an estimate, never a bill.

USD per million tokens (input, output) at standard rates, without batch, cache or regional multipliers.
Unknown models (local Ollama/vLLM models, new releases) cost 0 rather than failing a call: cost is
informational. Dated ids (``claude-sonnet-4-5-20250929``, ``gpt-4o-mini-2024-07-18``) match their
undated family by longest prefix.
"""

from __future__ import annotations

import logging

log = logging.getLogger("nwbagent.llm")

# Checked November 2026 against the providers' published model pages.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    # Anthropic
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-7": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-fable-5-1": (10.0, 50.0),
    "claude-haiku-4-5": (1.0, 5.0),
    # OpenAI
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.0, 8.0),
}


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens, or None when the model is not in the table."""
    key = model.strip().lower()
    if key in PRICES_PER_MTOK:
        return PRICES_PER_MTOK[key]
    best: str | None = None
    for known in PRICES_PER_MTOK:
        if key.startswith(known + "-") and (best is None or len(known) > len(best)):
            best = known
    return PRICES_PER_MTOK[best] if best else None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Estimated cost of one call; 0.0 for models we have no price for."""
    price = price_for(model)
    if price is None:
        log.debug("no price for model, counting cost as 0", extra={"model": model})
        return 0.0
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 6)
