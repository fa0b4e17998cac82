"""Retry classification and backoff, and the price table."""

from __future__ import annotations

import email.utils
import time

import pytest

from nwbagent.llm.pricing import cost_usd, price_for
from nwbagent.llm.retry import RetryPolicy, failure_for_status, parse_retry_after


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_retryable(status: int) -> None:
    failure = failure_for_status(status, "x", {})
    assert failure.kind == "transient" and failure.retryable


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "other"), (401, "auth"), (403, "auth"), (404, "other"), (422, "other")]
)
def test_client_statuses_not_retryable(status: int, kind: str) -> None:
    failure = failure_for_status(status, "x", {})
    assert failure.kind == kind and not failure.retryable


def test_server_can_forbid_retry() -> None:
    assert not failure_for_status(500, "x", {"x-should-retry": "false"}).retryable


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"retry-after": date}) or 0) <= 31


def test_backoff_is_exponential_capped_and_honours_retry_after_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0, retry_after_cap_s=10.0)
    assert 0.75 <= policy.backoff(0, None) <= 1.0
    assert 1.5 <= policy.backoff(1, None) <= 2.0
    assert 3.0 <= policy.backoff(10, None) <= 4.0
    assert policy.backoff(0, 3600.0) == 10.0
    assert policy.backoff(5, 0.0) == 0.0


def test_prices() -> None:
    assert price_for("claude-sonnet-5-5") == (2.0, 10.0)
    assert price_for("claude-sonnet-4-5-20250929") == (3.0, 15.0)
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("gpt-4o-2024-08-06") == (2.50, 10.0)
    assert price_for("llama3.1:8b") is None
    assert cost_usd("llama3.1:8b", 10_000, 10_000) == 0.0
    assert cost_usd("claude-sonnet-5-5", 1_000_000, 100_000) == pytest.approx(3.0)
