"""AnthropicProvider through the real ``anthropic`` SDK against a fake Messages API over HTTP."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.anthropic_server import FakeAnthropic, message, text_block, tool_use_block
from fakes.llm_inputs import MESSAGES, SCHEMA, Sleeps
from fakes.scripted import ErrorReply
from nwbagent.llm import LLMError, RetryPolicy
from nwbagent.llm import anthropic_provider as ap
from nwbagent.llm.anthropic_provider import TOOL_NAME, AnthropicProvider

KEY = "sk-ant-test-SECRET-123"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(autouse=True)
def _forget_fallbacks() -> Iterator[None]:
    ap._NO_FORCED_TOOL.clear()
    yield
    ap._NO_FORCED_TOOL.clear()


def make(
    fake: FakeAnthropic, *, retries: int = 3, timeout_s: float = 5.0, sleeps: Sleeps | None = None
) -> AnthropicProvider:
    policy = RetryPolicy(
        max_retries=retries,
        base_delay_s=0.01,
        max_delay_s=0.05,
        retry_after_cap_s=2.0,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    return AnthropicProvider(
        api_key=KEY,
        model="claude-sonnet-5-5",
        base_url=fake.base_url,
        timeout_s=timeout_s,
        retry_policy=policy,
    )


def test_structured_output_success_counts_usage_and_cost(fake: FakeAnthropic) -> None:
    fake.tool_reply({"subject_id": "m1", "age_days": 60}, input_tokens=1000, output_tokens=200)
    result = make(fake).complete(MESSAGES, SCHEMA, operation="extract_metadata")

    assert result.data == {"subject_id": "m1", "age_days": 60}
    assert (result.provider, result.model) == ("anthropic", "claude-sonnet-5-5")
    assert result.usage.input_tokens == 1000 and result.usage.output_tokens == 200
    assert result.usage.cost_usd == pytest.approx((1000 * 2.0 + 200 * 10.0) / 1e6)
    assert (result.usage.calls, result.usage.retries) == (1, 0)

    [req] = fake.requests
    assert req.path == "/v1/messages"
    assert "<redacted>" in (req.headers.get("x-api-key"), req.headers.get("authorization"))
    assert KEY not in str(req.headers)
    body = req.json
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert body["system"].startswith("You are a test.")
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_text_completion(fake: FakeAnthropic) -> None:
    fake.text_reply("hello there")
    result = make(fake).complete(MESSAGES, operation="answer")
    assert result.text == "hello there" and result.data is None
    assert "tools" not in fake.bodies[0]


def test_429_retried_once_with_capped_retry_after(fake: FakeAnthropic) -> None:
    sleeps = Sleeps()
    fake.error(429, "slow down", headers={"retry-after": "7"})
    fake.tool_reply({"subject_id": "m1"})
    result = make(fake, sleeps=sleeps).complete(MESSAGES, SCHEMA)
    assert result.data == {"subject_id": "m1"}
    assert result.usage.retries == 1 and result.usage.calls == 1
    assert sleeps == [2.0]  # retry-after honoured, capped by the policy
    assert len(fake.requests) == 2


@pytest.mark.parametrize("statuses", [[500], [529], [502, 503]])
def test_server_errors_retried(fake: FakeAnthropic, statuses: list[int]) -> None:
    for status in statuses:
        fake.error(status)
    fake.tool_reply({"subject_id": "m1"})
    result = make(fake).complete(MESSAGES, SCHEMA)
    assert result.data == {"subject_id": "m1"}
    assert result.usage.retries == len(statuses)
    assert len(fake.requests) == len(statuses) + 1


def test_retries_exhausted_is_transient(fake: FakeAnthropic) -> None:
    fake.error(529, "Overloaded", times=5)
    with pytest.raises(LLMError) as info:
        make(fake, retries=2).complete(MESSAGES, SCHEMA)
    assert info.value.kind == "transient"
    assert info.value.usage.retries == 2
    assert len(fake.requests) == 3


@pytest.mark.parametrize(("status", "kind"), [(401, "auth"), (403, "auth"), (400, "other"), (404, "other")])
def test_client_errors_not_retried(fake: FakeAnthropic, status: int, kind: str) -> None:
    fake.error(status, "nope")
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES, SCHEMA)
    assert info.value.kind == kind
    assert info.value.usage.retries == 0
    assert len(fake.requests) == 1
    assert KEY not in str(info.value)


def test_timeout_is_transient_after_retries(fake: FakeAnthropic) -> None:
    fake.hang(3.0, times=2)
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        make(fake, retries=1, timeout_s=0.3).complete(MESSAGES)
    assert info.value.kind == "transient"
    assert "timed out" in str(info.value)
    assert info.value.usage.retries == 1
    assert len(fake.requests) == 2
    assert time.monotonic() - started < 2.5


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_retries=1, base_delay_s=0.0, sleep=Sleeps())
    provider = AnthropicProvider(api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry_policy=policy)
    with pytest.raises(LLMError) as info:
        provider.complete(MESSAGES)
    assert info.value.kind == "transient" and info.value.usage.retries == 1


def test_invalid_tool_input_reasked_once_then_success(fake: FakeAnthropic) -> None:
    fake.tool_reply({"subject_id": 5}, input_tokens=100, output_tokens=10)
    fake.tool_reply({"subject_id": "m1"}, input_tokens=150, output_tokens=10)
    result = make(fake).complete(MESSAGES, SCHEMA)
    assert result.data == {"subject_id": "m1"}
    assert result.usage.calls == 2 and result.usage.input_tokens == 250

    second = fake.bodies[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    tool_use = second[1]["content"][0]
    assert tool_use["type"] == "tool_use" and tool_use["input"] == {"subject_id": 5}
    feedback = second[2]["content"]
    assert feedback[0]["type"] == "tool_result" and feedback[0]["tool_use_id"] == tool_use["id"]
    assert feedback[0]["is_error"] is True and "subject_id" in feedback[0]["content"]
    assert feedback[1]["type"] == "text"


def test_invalid_twice_raises_invalid_output(fake: FakeAnthropic) -> None:
    fake.tool_reply({"wrong": 1})
    fake.tool_reply({"subject_id": "m1", "extra": True})
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES, SCHEMA)
    assert info.value.kind == "invalid_output"
    assert info.value.usage.calls == 2
    assert len(fake.requests) == 2


def test_text_instead_of_tool_is_reasked_without_tool_result(fake: FakeAnthropic) -> None:
    fake.text_reply("I think the subject is m1.")
    fake.tool_reply({"subject_id": "m1"})
    result = make(fake).complete(MESSAGES, SCHEMA)
    assert result.data == {"subject_id": "m1"}
    feedback = fake.bodies[1]["messages"][2]["content"]
    assert [b["type"] for b in feedback] == ["text"]
    assert TOOL_NAME in feedback[0]["text"]


def test_thinking_blocks_passed_back_on_reask(fake: FakeAnthropic) -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig-1"}
    fake.respond(message([thinking, tool_use_block(TOOL_NAME, {"subject_id": None})]))
    fake.tool_reply({"subject_id": "m1"})
    make(fake).complete(MESSAGES, SCHEMA)
    assistant = fake.bodies[1]["messages"][1]["content"]
    assert assistant[0] == thinking


def test_forced_tool_choice_rejected_falls_back_to_auto_and_is_remembered() -> None:
    def server(request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        if request.get("tool_choice", {}).get("type") in {"tool", "any"}:
            error = {"type": "invalid_request_error", "message": 'tool_choice: type "tool" is not supported'}
            return ErrorReply(400, {"type": "error", "error": error})
        return message([text_block("Here."), tool_use_block(TOOL_NAME, {"subject_id": "m1"})])

    with FakeAnthropic(default=server) as fake:
        provider = make(fake)
        first = provider.complete(MESSAGES, SCHEMA)
        assert first.data == {"subject_id": "m1"} and first.text == "Here."
        assert [b["tool_choice"]["type"] for b in fake.bodies] == ["tool", "auto"]
        assert TOOL_NAME in fake.bodies[1]["system"]
        provider.complete(MESSAGES, SCHEMA)
        assert [b["tool_choice"]["type"] for b in fake.bodies] == ["tool", "auto", "auto"]


def test_schema_must_describe_an_object(fake: FakeAnthropic) -> None:
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES, {"type": "array"})
    assert info.value.kind == "unsupported"
    assert fake.requests == []


def test_each_call_logged_with_fields_and_without_key(
    fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    fake.tool_reply({"subject_id": "m1"}, input_tokens=7, output_tokens=3)
    fake.error(401, "bad key")
    provider = make(fake)
    with caplog.at_level(logging.DEBUG):
        provider.complete(MESSAGES, SCHEMA, operation="extract_metadata")
        with pytest.raises(LLMError):
            provider.complete(MESSAGES, operation="answer")
    records = [r.__dict__ for r in caplog.records if r.name == "nwbagent.llm" and hasattr(r, "outcome")]
    outcomes = [(r["operation"], r["outcome"]) for r in records]
    assert outcomes == [("extract_metadata", "ok"), ("answer", "auth")]
    ok = records[0]
    assert (ok["provider"], ok["model"]) == ("anthropic", "claude-sonnet-5-5")
    assert (ok["input_tokens"], ok["output_tokens"], ok["calls"], ok["retries"]) == (7, 3, 1, 0)
    assert isinstance(ok["duration_s"], float) and isinstance(ok["cost_usd"], float)
    assert all(KEY not in r.getMessage() and KEY not in str(r.__dict__) for r in caplog.records)
    assert KEY not in repr(provider)
