"""Byte-level progress for a conversion, fed by NeuroConv's chunk iterators.

NeuroConv reports progress per dataset in *buffers* through a tqdm-like ``progress_bar_class``; a user
wants one bar for the whole conversion in bytes with a rate and an ETA. :class:`ProgressTracker` sums the
raw bytes of every series being written, and :func:`bar_class_for` adapts one series' buffer counts into it.
The tracker only emits :class:`Progress` events through a callback, so the CLI, the agents and the service
can each render them their own way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

ProgressCallback = Callable[["Progress"], None]


@dataclass(frozen=True)
class Progress:
    stage: str
    done_bytes: int
    total_bytes: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0

    @property
    def percent(self) -> float:
        return round(100.0 * self.fraction, 1)

    @property
    def rate_mb_s(self) -> float:
        return self.done_bytes / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.done_bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0
        if rate <= 0:
            return None
        return max(0.0, (self.total_bytes - self.done_bytes) / rate)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "percent": self.percent,
            "rate_mb_s": round(self.rate_mb_s, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
        }


class ProgressTracker:
    """Thread-safe running total of bytes written across all series of one conversion."""

    def __init__(
        self, total_bytes: int, callback: ProgressCallback | None, min_interval_s: float = 0.2
    ) -> None:
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self._callback = callback
        self._min_interval_s = min_interval_s
        self._started = time.monotonic()
        self._last_emit = 0.0
        self._lock = threading.Lock()

    def snapshot(self, stage: str = "writing") -> Progress:
        return Progress(stage, self.done_bytes, self.total_bytes, time.monotonic() - self._started)

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.done_bytes = min(self.total_bytes, self.done_bytes + nbytes)
            now = time.monotonic()
            due = now - self._last_emit >= self._min_interval_s or self.done_bytes >= self.total_bytes
            if due:
                self._last_emit = now
        if due:
            self.emit("writing")

    def emit(self, stage: str) -> None:
        if self._callback is not None:
            self._callback(self.snapshot(stage))


def bar_class_for(tracker: ProgressTracker, series_bytes: int) -> type:
    """A ``progress_bar_class`` for one series: converts its buffer count into bytes on ``tracker``.

    hdmf calls ``update(1)`` when it *hands out* a buffer, before reading and writing it; counting the
    previous buffer as done at each update (and the last one at the closing ``write``) keeps the bar from
    running one buffer ahead of the disk.
    """

    class _SeriesBar:
        def __init__(self, total: int, **_: Any) -> None:
            self._per_buffer = series_bytes / max(1, total)
            self._pending = 0
            self._credited = 0.0

        def _credit(self) -> None:
            if self._pending:
                target = self._credited + self._pending * self._per_buffer
                tracker.advance(int(target) - int(self._credited))
                self._credited = target
                self._pending = 0

        def update(self, n: int = 1) -> None:
            self._credit()
            self._pending = n

        def write(self, *_: Any, **__: Any) -> None:
            self._credit()

        def close(self) -> None:
            self._credit()

    return _SeriesBar
