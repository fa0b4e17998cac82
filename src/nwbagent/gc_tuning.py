"""Garbage-collector settings for processes that do one big conversion.

Importing NeuroConv, pynwb, pandas and SpikeInterface creates millions of long-lived objects, and Python's
default thresholds (a collection every 700 net allocations, a full one every 100 of those) make each
collection walk them again. On the 60 s Neuropixels benchmark that cost ~0.5 s of a ~7 s ``nwbagent
convert``. Freezing what exists and collecting young objects less often keeps cycle collection without
the repeated walks. Only processes that exist to convert call this (the CLI, executor workers); a library
user's process keeps its own settings.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000
_tuned = False


def tune_for_batch_work() -> None:
    """Once per process: a CLI invoked many times in one process (tests) must not freeze each time."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()  # what is alive now (imports, settings) is never walked again
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, max(gen2, 100))
