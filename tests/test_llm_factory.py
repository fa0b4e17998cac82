"""Provider selection from settings, and the never-refuse-to-start fallback to rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes.anthropic_server import FakeAnthropic
from nwbagent.llm import (
    ChatMessage,
    LLMError,
    Provider,
    RetryPolicy,
    RulesProvider,
    get_provider,
    get_provider_or_rules,
)
from nwbagent.llm.anthropic_provider import AnthropicProvider
from nwbagent.llm.openai_provider import OpenAIProvider
from nwbagent.settings import Settings

ENV_VARS = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "NWBAGENT_LLM_PROVIDER",
    "NWBAGENT_LLM_MODEL",
    "NWBAGENT_ANTHROPIC_API_KEY",
    "NWBAGENT_ANTHROPIC_BASE_URL",
    "NWBAGENT_OPENAI_API_KEY",
    "NWBAGENT_OPENAI_BASE_URL",
    "NWBAGENT_LLM_TIMEOUT_S",
    "NWBAGENT_LLM_MAX_RETRIES",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield


def settings(**values: Any) -> Settings:
    return Settings(**values)


def test_auto_without_credentials_is_rules_without_note() -> None:
    provider, note = get_provider_or_rules(settings())
    assert isinstance(provider, RulesProvider) and note is None
    assert (provider.name, provider.model) == ("rules", "")


def test_auto_prefers_anthropic_key() -> None:
    provider = get_provider(settings(anthropic_api_key="sk-a", openai_api_key="sk-o"))
    assert isinstance(provider, AnthropicProvider)
    assert provider.model == "claude-sonnet-5-5"


def test_auto_reads_standard_anthropic_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    assert get_provider(settings()).name == "anthropic"


@pytest.mark.parametrize(
    ("values", "env"),
    [
        ({"openai_api_key": "sk-o"}, {}),
        ({"openai_base_url": "http://localhost:11434/v1"}, {}),
        ({}, {"OPENAI_API_KEY": "sk-env"}),
        ({}, {"OPENAI_BASE_URL": "http://localhost:11434/v1"}),
    ],
)
def test_auto_picks_openai_from_key_or_base_url(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, Any], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider = get_provider(settings(**values))
    assert isinstance(provider, OpenAIProvider)
    assert provider.model == "gpt-4o-mini"


def test_blank_key_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "  ")
    assert get_provider(settings()).name == "rules"


def test_explicit_choice_and_model_honoured() -> None:
    provider = get_provider(
        settings(
            llm_provider="openai",
            anthropic_api_key="sk-a",
            openai_base_url="http://x/v1",
            llm_model="llama3.1",
        )
    )
    assert (provider.name, provider.model) == ("openai", "llama3.1")
    assert get_provider(settings(llm_provider="rules", anthropic_api_key="sk-a")).name == "rules"


@pytest.mark.parametrize("choice", ["anthropic", "openai"])
def test_explicit_provider_without_key_is_config_error_or_rules_with_note(choice: str) -> None:
    with pytest.raises(LLMError) as info:
        get_provider(settings(llm_provider=choice))
    assert info.value.kind == "config"
    assert "API_KEY" in str(info.value)

    provider, note = get_provider_or_rules(settings(llm_provider=choice))
    assert isinstance(provider, RulesProvider)
    assert note is not None and "\n" not in note and choice in note and "rules" in note


def test_rules_provider_never_answers() -> None:
    provider = RulesProvider()
    assert isinstance(provider, Provider)
    with pytest.raises(LLMError) as info:
        provider.complete([ChatMessage(role="user", content="hi")])
    assert info.value.kind == "unsupported"
    assert "no language model" in str(info.value)


def test_providers_satisfy_protocol() -> None:
    for provider in (
        get_provider(settings(anthropic_api_key="sk-a")),
        get_provider(settings(openai_api_key="sk-o")),
    ):
        assert isinstance(provider, Provider)


def test_secret_key_not_in_repr_or_note() -> None:
    key = "sk-ant-VERY-SECRET"
    provider = get_provider(settings(anthropic_api_key=key))
    assert key not in repr(provider)
    assert key not in repr(settings(anthropic_api_key=key))


def test_settings_wire_base_url_and_retry_count() -> None:
    """``llm_max_retries`` and ``anthropic_base_url`` from settings reach the provider."""
    with FakeAnthropic() as fake:
        fake.error(503, times=5)
        config = settings(anthropic_api_key="sk-a", anthropic_base_url=fake.base_url, llm_max_retries=1)
        provider = get_provider(config, retry_policy=RetryPolicy(max_retries=1, base_delay_s=0.0))
        with pytest.raises(LLMError) as info:
            provider.complete([ChatMessage(role="user", content="hi")])
        assert info.value.kind == "transient" and len(fake.requests) == 2
