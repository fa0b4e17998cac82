"""Prometheus hooks the core calls from wherever an event happens (LLM calls, inspections, conversions).

Every hook returns at once until :func:`enable` is called, and ``prometheus_client`` is not even imported
before then: the CLI, the library and conversion worker processes pay nothing, and a service started with
``NWBAGENT_METRICS_ENABLED=false`` has no metric objects at all. The web service enables them once, at
app creation (``nwbagent.server.metrics.install_metrics``).

All metrics here live in one process-wide registry and are only ever updated in the process that serves
``/metrics``: conversions are counted where their outcome comes back (the server thread that waited for the
executor), never inside a worker, so no multiprocess collection is needed (see ``server/metrics.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: Histogram buckets, in seconds: small files convert in seconds, real recordings in minutes.
CONVERSION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Uploaded file sizes from 1 MB to 1 GB (and above, in +Inf).
UPLOAD_BUCKETS = (1e5, 1e6, 5e6, 1e7, 5e7, 1e8, 5e8, 1e9, 5e9)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

_lock = threading.Lock()
_metrics: _Metrics | None = None


class _Metrics:
    """The metric objects, created together on first :func:`enable` (never at import)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.conversions = Counter(
            "conversion_requests",
            "Full conversions that ended, by NeuroConv interface(s) converted and outcome",
            ["format", "status"],
            registry=r,
        )
        self.conversion_duration = Histogram(
            "conversion_duration_seconds",
            "Time a full conversion ran (from leaving the queue to its outcome)",
            ["format"],
            buckets=CONVERSION_BUCKETS,
            registry=r,
        )
        self.validations = Counter(
            "validation_checks", "NWB Inspector runs on written files, by verdict", ["status"], registry=r
        )
        self.findings = Counter(
            "inspector_findings",
            "NWB Inspector findings that count toward a verdict, by importance",
            ["importance"],
            registry=r,
        )
        self.llm_calls = Counter(
            "llm_api_calls",
            "Language model calls (one per completion, retries included)",
            ["operation", "provider", "outcome"],
            registry=r,
        )
        self.llm_duration = Histogram(
            "llm_api_duration_seconds",
            "Wall time of one language model completion, retries included",
            ["operation"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "llm_tokens", "Language model tokens, by direction (input|output)", ["direction"], registry=r
        )
        self.upload_size = Histogram(
            "file_upload_size_bytes",
            "Size of each uploaded file as received (an archive counts as one file)",
            buckets=UPLOAD_BUCKETS,
            registry=r,
        )
        for direction in ("input", "output"):  # both series exist from the first scrape on
            self.llm_tokens.labels(direction)


def enable() -> CollectorRegistry:
    """Turn the hooks on in this process; the registry holding their metrics (the same one every time)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _Metrics()
        return _metrics.registry


def enabled() -> bool:
    return _metrics is not None


def format_label(interfaces: list[str]) -> str:
    """The ``format`` label: the distinct interfaces a conversion used, sorted and joined with "+".

    A SpikeGLX AP + LF run is two units of one interface and reads "SpikeGLXRecordingInterface"; the
    label's values are bounded by the interface combinations people convert, never by file names.
    """
    names = sorted({name for name in interfaces if name})
    return "+".join(names) or "unknown"


def conversion_finished(interfaces: list[str], status: str, duration_s: float | None) -> None:
    """One full conversion ended (succeeded|failed|cancelled); ``duration_s`` None when it never ran."""
    m = _metrics
    if m is None:
        return
    fmt = format_label(interfaces)
    m.conversions.labels(fmt, status).inc()
    if duration_s is not None:
        m.conversion_duration.labels(fmt).observe(max(0.0, duration_s))


def inspection_finished(verdict: str, importances: Sequence[str]) -> None:
    """One inspection: its verdict (PASSED|PASSED_WITH_ISSUES|FAILED), each counted finding's importance."""
    m = _metrics
    if m is None:
        return
    m.validations.labels(verdict.lower()).inc()
    for importance in importances:
        m.findings.labels(importance).inc()


def llm_call(provider: str, operation: str, outcome: str, duration_s: float, usage: Any) -> None:
    """One completion as :func:`nwbagent.llm._shared.log_call` records it (``usage``: a ``Usage``)."""
    m = _metrics
    if m is None:
        return
    m.llm_calls.labels(operation, provider, outcome).inc()
    m.llm_duration.labels(operation).observe(duration_s)
    if usage.input_tokens:
        m.llm_tokens.labels("input").inc(usage.input_tokens)
    if usage.output_tokens:
        m.llm_tokens.labels("output").inc(usage.output_tokens)


def observe_upload(n_bytes: int) -> None:
    """One uploaded file of ``n_bytes`` was stored."""
    m = _metrics
    if m is None:
        return
    m.upload_size.observe(n_bytes)
