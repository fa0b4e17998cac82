"""Choosing and building the provider from settings.

``get_provider`` is strict (an explicitly chosen provider without its key is a configuration error the
user should see); ``get_provider_or_rules`` is what entry points use, because the system must start and
work on rules even when the LLM configuration is broken.
"""

from __future__ import annotations

import logging
import os

from pydantic import SecretStr

from nwbagent.llm.anthropic_provider import DEFAULT_MODEL as ANTHROPIC_DEFAULT_MODEL
from nwbagent.llm.anthropic_provider import AnthropicProvider
from nwbagent.llm.base import LLMError, Provider
from nwbagent.llm.openai_provider import DEFAULT_MODEL as OPENAI_DEFAULT_MODEL
from nwbagent.llm.openai_provider import OpenAIProvider
from nwbagent.llm.retry import RetryPolicy
from nwbagent.llm.rules_provider import RulesProvider
from nwbagent.settings import Settings

log = logging.getLogger("nwbagent.llm")

DEFAULT_MODELS = {"anthropic": ANTHROPIC_DEFAULT_MODEL, "openai": OPENAI_DEFAULT_MODEL}


def _secret(value: SecretStr | None, env_var: str) -> str | None:
    """The settings value, else the SDK's standard env var; blank counts as unset."""
    raw = value.get_secret_value() if value is not None else os.environ.get(env_var, "")
    raw = raw.strip()
    return raw or None


def anthropic_key(settings: Settings) -> str | None:
    return _secret(settings.anthropic_api_key, "ANTHROPIC_API_KEY")


def openai_key(settings: Settings) -> str | None:
    return _secret(settings.openai_api_key, "OPENAI_API_KEY")


def openai_base_url(settings: Settings) -> str | None:
    """Settings first, then the SDK's own ``OPENAI_BASE_URL`` (Ollama setups often set only that)."""
    return settings.openai_base_url or os.environ.get("OPENAI_BASE_URL") or None


def chosen_provider(settings: Settings) -> str:
    """Which provider ``settings`` asks for, resolving ``auto`` by which credentials are present."""
    if settings.llm_provider != "auto":
        return settings.llm_provider
    if anthropic_key(settings):
        return "anthropic"
    if openai_key(settings) or openai_base_url(settings):
        return "openai"
    return "rules"


def get_provider(settings: Settings, *, retry_policy: RetryPolicy | None = None) -> Provider:
    """Build the configured provider; ``LLMError(kind="config")`` when it cannot be built.

    ``retry_policy`` overrides backoff timing (tests); by default it follows ``llm_max_retries``.
    """
    choice = chosen_provider(settings)
    policy = retry_policy or RetryPolicy(max_retries=max(settings.llm_max_retries, 0))
    if choice == "rules":
        return RulesProvider()
    model = settings.llm_model or DEFAULT_MODELS[choice]
    try:
        if choice == "anthropic":
            key = anthropic_key(settings)
            if not key:
                raise LLMError(
                    "llm_provider is 'anthropic' but no API key is set: set NWBAGENT_ANTHROPIC_API_KEY "
                    "or ANTHROPIC_API_KEY",
                    kind="config",
                )
            return AnthropicProvider(
                api_key=key,
                model=model,
                base_url=settings.anthropic_base_url,
                timeout_s=settings.llm_timeout_s,
                retry_policy=policy,
            )
        base_url = openai_base_url(settings)
        key = openai_key(settings)
        if not key and not base_url:
            raise LLMError(
                "llm_provider is 'openai' but neither an API key nor a base URL is set: set "
                "NWBAGENT_OPENAI_API_KEY / OPENAI_API_KEY, or NWBAGENT_OPENAI_BASE_URL for a local server",
                kind="config",
            )
        return OpenAIProvider(
            api_key=key,
            model=model,
            base_url=base_url,
            timeout_s=settings.llm_timeout_s,
            retry_policy=policy,
        )
    except LLMError:
        raise
    except Exception as exc:  # SDK constructors validate URLs and options
        raise LLMError(f"cannot set up the {choice} provider: {exc}", kind="config") from exc


def get_provider_or_rules(
    settings: Settings, *, retry_policy: RetryPolicy | None = None
) -> tuple[Provider, str | None]:
    """The configured provider, or rules plus a one-line note saying why the LLM is off.

    No note when rules was chosen on purpose (``rules``, or ``auto`` without any credentials).
    """
    try:
        return get_provider(settings, retry_policy=retry_policy), None
    except LLMError as err:
        note = f"Language model disabled, using rules: {err}"
        log.info(note, extra={"outcome": "config"})
        return RulesProvider(), note
