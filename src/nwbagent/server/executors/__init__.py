"""Pick the executor the settings name; heavy imports (``distributed``) happen only when it is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nwbagent.errors import UserFacingError
from nwbagent.server.executors.base import Executor
from nwbagent.settings import Settings

if TYPE_CHECKING:
    from nwbagent.server.executors.dask import DaskExecutor
    from nwbagent.server.executors.local import LocalExecutor

__all__ = ["DaskExecutor", "LocalExecutor", "make_executor"]

CONNECT_TIMEOUT_S = 5.0


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "local":
        from nwbagent.server.executors.local import LocalExecutor

        return LocalExecutor(settings.max_concurrent_conversions)
    if settings.executor == "dask":
        from nwbagent.server.executors.dask import DaskExecutor

        if not settings.dask_scheduler:
            raise UserFacingError(
                "The Dask executor is selected but no scheduler address is set.",
                fix="Set NWBAGENT_DASK_SCHEDULER=tcp://host:8786 (the address `dask scheduler` prints), "
                "or use NWBAGENT_EXECUTOR=local.",
                code="dask_not_configured",
            )
        return DaskExecutor(settings.dask_scheduler, connect_timeout_s=CONNECT_TIMEOUT_S)
    raise UserFacingError(
        f"Unknown executor {settings.executor!r}.",
        fix="Set NWBAGENT_EXECUTOR to 'local' or 'dask'.",
        code="unknown_executor",
    )


def __getattr__(name: str) -> object:
    """``from nwbagent.server.executors import LocalExecutor`` without importing both backends up front."""
    if name == "LocalExecutor":
        from nwbagent.server.executors.local import LocalExecutor

        return LocalExecutor
    if name == "DaskExecutor":
        from nwbagent.server.executors.dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(name)
