"""One settings class for the whole system; every value can come from an ``NWBAGENT_*`` env var.

Defaults serve one person on one machine with nothing else installed.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
