"""OpenAIProvider through the real ``openai`` SDK against a fake Chat Completions API over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.llm_inputs import MESSAGES, SCHEMA, Sleeps
from fakes.openai_server import FakeOpenAI, completion, rejects_json_schema
from fakes.scripted import ErrorReply
from nwbagent.llm import LLMError, RetryPolicy
from nwbagent.llm import openai_provider as op
from nwbagent.llm.openai_provider import OpenAIProvider, parse_json_object

KEY = "sk-openai-test-SECRET-456"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
def _forget_fallbacks() -> Iterator[None]:
    op._JSON_MODE_ONLY.clear()
    yield
    op._JSON_MODE_ONLY.clear()


def make(
    fake: FakeOpenAI,
    *,
    retries: int = 3,
    timeout_s: float = 5.0,
    sleeps: Sleeps | None = None,
    key: str | None = KEY,
) -> OpenAIProvider:
    policy = RetryPolicy(
        max_retries=retries,
        base_delay_s=0.01,
        max_delay_s=0.05,
        retry_after_cap_s=2.0,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    return OpenAIProvider(
        api_key=key, model="gpt-4o-mini", base_url=fake.base_url, timeout_s=timeout_s, retry_policy=policy
    )


def test_structured_output_success(fake: FakeOpenAI) -> None:
    fake.json_reply({"subject_id": "m1", "age_days": 60}, prompt_tokens=1000, completion_tokens=200)
    result = make(fake).complete(MESSAGES, SCHEMA, operation="extract_metadata")

    assert result.data == {"subject_id": "m1", "age_days": 60}
    assert (result.provider, result.model) == ("openai", "gpt-4o-mini")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.calls) == (1000, 200, 1)
    assert result.usage.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)

    [req] = fake.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "<redacted>"
    body = req.json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "extract_metadata", "schema": SCHEMA, "strict": False},
    }
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_text_completion_and_no_key_for_local_servers(fake: FakeOpenAI) -> None:
    fake.text_reply("hello")
    result = make(fake, key=None).complete(MESSAGES, operation="answer")
    assert result.text == "hello" and result.data is None
    assert "response_format" not in fake.bodies[0]


def test_code_fenced_json_is_accepted(fake: FakeOpenAI) -> None:
    fake.text_reply('```json\n{"subject_id": "m1"}\n```')
    assert make(fake).complete(MESSAGES, SCHEMA).data == {"subject_id": "m1"}


def test_429_then_success_honours_retry_after_ms(fake: FakeOpenAI) -> None:
    sleeps = Sleeps()
    fake.error(429, "rate limited", headers={"retry-after-ms": "250"})
    fake.json_reply({"subject_id": "m1"})
    result = make(fake, sleeps=sleeps).complete(MESSAGES, SCHEMA)
    assert result.usage.retries == 1 and result.data == {"subject_id": "m1"}
    assert sleeps == [0.25]
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(fake: FakeOpenAI, status: int) -> None:
    fake.error(status)
    fake.json_reply({"subject_id": "m1"})
    result = make(fake).complete(MESSAGES, SCHEMA)
    assert result.usage.retries == 1 and len(fake.requests) == 2


@pytest.mark.parametrize(("status", "kind"), [(401, "auth"), (403, "auth"), (422, "other")])
def test_client_errors_not_retried(fake: FakeOpenAI, status: int, kind: str) -> None:
    fake.error(status, "denied")
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES)
    assert info.value.kind == kind and info.value.usage.retries == 0
    assert len(fake.requests) == 1
    assert KEY not in str(info.value)


def test_timeout_is_transient_after_retries(fake: FakeOpenAI) -> None:
    fake.hang(3.0, times=2)
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        make(fake, retries=1, timeout_s=0.3).complete(MESSAGES, SCHEMA)
    assert info.value.kind == "transient" and info.value.usage.retries == 1
    assert len(fake.requests) == 2
    assert time.monotonic() - started < 2.5


def test_invalid_json_reasked_once_then_success(fake: FakeOpenAI) -> None:
    fake.text_reply("Sure! The subject is m1.", prompt_tokens=100)
    fake.json_reply({"subject_id": "m1"}, prompt_tokens=130)
    result = make(fake).complete(MESSAGES, SCHEMA)
    assert result.data == {"subject_id": "m1"}
    assert result.usage.calls == 2 and result.usage.input_tokens == 230
    second = fake.bodies[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "Sure! The subject is m1."
    assert "not valid JSON" in second[3]["content"]


def test_invalid_twice_raises_invalid_output(fake: FakeOpenAI) -> None:
    fake.json_reply({"subject_id": 1})
    fake.json_reply(["not", "an", "object"])
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES, SCHEMA)
    assert info.value.kind == "invalid_output" and info.value.usage.calls == 2
    assert len(fake.requests) == 2


def test_truncated_reply_is_invalid(fake: FakeOpenAI) -> None:
    fake.text_reply('{"subject_id": "m', finish_reason="length")
    fake.json_reply({"subject_id": "m1"})
    assert make(fake).complete(MESSAGES, SCHEMA).data == {"subject_id": "m1"}
    assert "cut off" in fake.bodies[1]["messages"][-1]["content"]


def test_json_schema_rejected_falls_back_to_json_mode_and_is_remembered() -> None:
    def reply(request: dict[str, Any]) -> dict[str, Any] | ErrorReply:
        return completion(json.dumps({"subject_id": "m1"}))

    with FakeOpenAI(default=rejects_json_schema(reply)) as fake:
        provider = make(fake)
        assert provider.complete(MESSAGES, SCHEMA).data == {"subject_id": "m1"}
        formats = [b["response_format"]["type"] for b in fake.bodies]
        assert formats == ["json_schema", "json_object"]
        fallback_messages = fake.bodies[1]["messages"]
        assert [m["role"] for m in fallback_messages] == ["system", "user"]  # schema merged into the system
        assert fallback_messages[0]["content"].startswith("You are a test.")
        assert '"subject_id"' in fallback_messages[0]["content"] and "JSON" in fallback_messages[0]["content"]

        provider.complete(MESSAGES, SCHEMA)
        assert [b["response_format"]["type"] for b in fake.bodies] == [
            "json_schema",
            "json_object",
            "json_object",
        ]


def test_fallback_also_rejected_is_other_and_not_remembered(fake: FakeOpenAI) -> None:
    fake.error(400, "bad request", times=2)
    with pytest.raises(LLMError) as info:
        make(fake).complete(MESSAGES, SCHEMA)
    assert info.value.kind == "other"
    assert len(fake.requests) == 2
    assert not op._JSON_MODE_ONLY


def test_parse_json_object_reports_problems() -> None:
    assert parse_json_object('{"subject_id": "a"}', SCHEMA) == ({"subject_id": "a"}, None)
    assert "not valid JSON" in (parse_json_object("{", SCHEMA)[1] or "")
    assert "JSON object" in (parse_json_object("[1]", SCHEMA)[1] or "")
    assert "subject_id" in (parse_json_object("{}", SCHEMA)[1] or "")
