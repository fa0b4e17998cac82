"""One settings class for the whole system; every value can come from an ``NWBAGENT_*`` env var.

Defaults serve one person on one machine with nothing else installed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NWBAGENT_", extra="ignore")

    timezone: str | None = Field(
        default=None,
        description="IANA zone used when neither the files nor the user give a session start time zone "
        "(None: this machine's local zone).",
    )
    detect_max_files: int = Field(
        default=200_000, description="Stop walking a folder after this many files (guards against '/')."
    )
    buffer_gb: float = Field(
        default=0.1,
        description="NeuroConv read buffer per dataset, in GB: bounds memory and sets progress steps.",
    )

    # Language model. Without a key the system runs fully on the rules provider.
    llm_provider: Literal["auto", "anthropic", "openai", "rules"] = Field(
        default="auto",
        description="auto: anthropic if a key is set, else openai if a base URL/key is set, else rules",
    )
    llm_model: str | None = Field(
        default=None, description="Model id; a sensible per-provider default if unset"
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, description="Falls back to ANTHROPIC_API_KEY (read by the provider factory)"
    )
    anthropic_base_url: str | None = Field(default=None, description="Override the Messages API endpoint")
    openai_api_key: SecretStr | None = Field(
        default=None, description="Falls back to OPENAI_API_KEY (read by the provider factory)"
    )
    openai_base_url: str | None = Field(
        default=None, description="Any OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama"
    )
    llm_timeout_s: float = Field(default=60.0, description="Per-request timeout")
    llm_max_retries: int = Field(default=3, description="Retries for transient errors (429, 5xx, timeouts)")

    # Workflow.
    max_improve_rounds: int = Field(default=3, description="How many times a user may ask to improve a file")
    work_dir: str = Field(default="nwbagent-work", description="Where sessions keep their outputs")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
