"""What the agents need from the settings, read once by the entry point that builds them.

The CLI and the service build one :class:`AgentConfig` from their settings and hand it to
:class:`~nwbagent.agents.system.AgentSystem`; nothing below reads the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from nwbagent.convert.options import WriteOptions

if TYPE_CHECKING:
    from nwbagent.settings import Settings


class AgentConfig(BaseModel):
    max_improve_rounds: int = Field(default=3, ge=0)
    work_dir: str = "nwbagent-work"
    timezone: str | None = Field(default=None, description="Assumed for times given without one")
    write: WriteOptions = Field(default_factory=WriteOptions)

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentConfig:
        return cls(
            max_improve_rounds=settings.max_improve_rounds,
            work_dir=settings.work_dir,
            timezone=settings.timezone,
            write=WriteOptions.from_settings(settings),
        )
