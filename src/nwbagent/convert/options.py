"""How files are written, decided once at an entry point (the CLI, the service) and carried down.

The core never reads settings itself: a conversion in an executor's worker must write exactly what the
request that reached it says, whatever that process's environment holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from nwbagent.settings import Settings


class WriteOptions(BaseModel):
    """The HDF5 writer and its knobs; the defaults are the documented settings' defaults."""

    fast: bool = Field(default=True, description="The parallel direct-chunk writer (HDF5 only)")
    buffer_gb: float = Field(default=0.1, gt=0, description="NeuroConv read buffer per dataset, in GB")
    gzip_level: int = Field(default=1, ge=0, le=3, description="Deflate level of the fast writer")
    threads: int = Field(default=0, ge=0, description="Compression threads of the fast writer (0: all)")

    @classmethod
    def from_settings(cls, settings: Settings) -> WriteOptions:
        return cls(
            fast=settings.fast_write,
            buffer_gb=settings.buffer_gb,
            gzip_level=settings.write_gzip_level,
            threads=settings.write_threads,
        )
