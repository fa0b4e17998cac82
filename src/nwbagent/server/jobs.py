"""What a conversion worker runs, wherever it runs (a local worker process or a Dask worker).

Only JSON crosses the process boundary: the request is a ``ConvertRequest`` dump, the outcome a dict with
either the ``ConvertReply`` dump or a structured error, so no exception class has to pickle and a worker
never needs anything from the server but this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

ProgressSink = Callable[[dict[str, Any]], None]

JobKind = Literal["preview", "convert"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class JobSpec(BaseModel):
    job_id: str
    session_id: str
    kind: JobKind
    request: dict[str, Any]  # a ConvertRequest, as JSON


class JobOutcome(BaseModel):
    status: Literal["succeeded", "failed", "cancelled"]
    reply: dict[str, Any] | None = None  # a ConvertReply, as JSON
    error: dict[str, Any] | None = None  # {code, message, hint, path}


class JobCancelled(Exception):
    """Raised by a progress sink inside a worker when the job was cancelled between two progress steps.

    ``convert_units`` wraps any exception from the write (so a cancel arrives here as a ``UserFacingError``
    about a failed write); :func:`run_conversion_job` remembers that its sink raised this and reports the
    job as cancelled whatever the exception became on the way out.
    """


def run_conversion_job(request: dict[str, Any], progress: ProgressSink) -> dict[str, Any]:
    """Convert in this process; never raises for an expected failure, returns a ``JobOutcome`` dump."""
    from nwbagent.agents.contracts import ConvertRequest
    from nwbagent.agents.conversion import convert_request

    parsed = ConvertRequest.model_validate(request)
    cancelled = False

    def sink(event: dict[str, Any]) -> None:
        nonlocal cancelled
        try:
            progress(event)
        except JobCancelled:
            cancelled = True
            raise

    try:
        reply = convert_request(parsed, sink)
    except JobCancelled:
        return JobOutcome(status="cancelled").model_dump(mode="json")
    except Exception as exc:
        if cancelled:  # the write wrapped JobCancelled; its temporary file is already removed
            return JobOutcome(status="cancelled").model_dump(mode="json")
        return _failed(exc)
    return JobOutcome(status="succeeded", reply=reply.model_dump(mode="json")).model_dump(mode="json")


def _failed(exc: Exception) -> dict[str, Any]:
    from nwbagent.errors import UserFacingError, internal_error

    if isinstance(exc, UserFacingError):
        error = {"code": exc.code, "kind": "user_error", **_said(exc)}
        return JobOutcome(status="failed", error=error).model_dump(mode="json")
    # a bug or a reader crash: report it, the server must not die with the worker
    error = {"code": "handler_failed", **_said(internal_error(exc))}
    return JobOutcome(status="failed", error=error).model_dump(mode="json")


def _said(exc: Any) -> dict[str, Any]:
    return {"message": exc.problem, "hint": exc.fix, "path": exc.path, "details": exc.details}
