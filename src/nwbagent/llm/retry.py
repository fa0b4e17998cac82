"""Retrying transient provider failures ourselves, with the SDKs' own retries switched off.

Why not the SDKs' ``max_retries``: we need the number of retries in :class:`~nwbagent.llm.base.Usage`,
one policy for both providers, a hard cap on ``retry-after`` (the Anthropic SDK honours any value the
server sends, up to days), and a way to make backoff instant in tests. Both SDKs expose the same shape
of exceptions (``APIStatusError`` with ``status_code`` and ``response``, ``APITimeoutError``,
``APIConnectionError``), so one classifier per SDK feeds one loop here.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from nwbagent.llm.base import LLMError, Usage

log = logging.getLogger("nwbagent.llm")

T = TypeVar("T")

FailureKind = Literal["transient", "auth", "other"]

# 408 is the server saying the request timed out, 429 rate limiting, 5xx (incl. Anthropic's 529
# "overloaded") a server-side hiccup. Everything else in 4xx is our fault and retrying cannot help.
TRANSIENT_STATUSES = frozenset({408, 429})
AUTH_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts; ``sleep`` is injectable so tests never really wait."""

    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    retry_after_cap_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, retries_taken: int, retry_after: float | None) -> float:
        """Server-given delay (capped) wins; otherwise exponential with jitter so clients spread out."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap_s)
        delay = min(self.base_delay_s * (2.0**retries_taken), self.max_delay_s)
        return delay * (1.0 - 0.25 * random.random())


@dataclass(frozen=True)
class Failure:
    """What a provider exception means for retrying and for the caller."""

    kind: FailureKind
    retryable: bool
    message: str
    status: int | None = None
    retry_after: float | None = None


def failure_for_status(status: int, message: str, headers: Mapping[str, str] | None) -> Failure:
    """Classify an HTTP error status the same way for every provider."""
    should_retry = (headers or {}).get("x-should-retry")
    if status in AUTH_STATUSES:
        return Failure("auth", False, message, status)
    if status in TRANSIENT_STATUSES or status >= 500:
        retryable = should_retry != "false"
        return Failure("transient", retryable, message, status, parse_retry_after(headers))
    return Failure("other", False, message, status)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date); None if absent."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(float(email.utils.mktime_tz(parsed) - time.time()), 0.0)


def call_with_retries(
    call: Callable[[], T],
    classify: Callable[[Exception], Failure | None],
    policy: RetryPolicy,
    *,
    provider: str,
    operation: str,
) -> tuple[T, int]:
    """Run ``call``; retry what ``classify`` marks retryable; return the result and the retries taken.

    Exceptions ``classify`` does not recognise propagate unchanged (they are bugs, not API failures).
    Recognised failures end as :class:`LLMError` whose ``usage.retries`` says how often we tried again.
    """
    retries = 0
    while True:
        try:
            return call(), retries
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if not failure.retryable or retries >= policy.max_retries:
                detail = f"HTTP {failure.status}: " if failure.status else ""
                suffix = f" (after {retries} retries)" if retries else ""
                raise LLMError(
                    f"{provider} {operation} failed: {detail}{failure.message}{suffix}",
                    kind=failure.kind,
                    usage=Usage(retries=retries),
                ) from exc
            delay = policy.backoff(retries, failure.retry_after)
            log.warning(
                "llm transient failure, retrying in %.2fs",
                delay,
                extra={
                    "provider": provider,
                    "operation": operation,
                    "status": failure.status,
                    "retry": retries + 1,
                    "delay_s": round(delay, 3),
                },
            )
            policy.sleep(delay)
            retries += 1
