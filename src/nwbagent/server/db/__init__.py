"""The service's database: sessions, their trace, jobs and events, on SQLite or PostgreSQL.

The same code runs on a single-user SQLite file (the default, nothing to install) and on a shared
PostgreSQL server; the schema is owned by the Alembic migrations shipped in this package, which the service
applies itself at start-up, so an upgrade never needs a manual step.
"""

from __future__ import annotations

from nwbagent.server.db.engine import check, make_engine, upgrade
from nwbagent.server.db.repos import Event, EventRepo, Job, JobRepo
from nwbagent.server.db.store import SqlStore

__all__ = ["Event", "EventRepo", "Job", "JobRepo", "SqlStore", "check", "make_engine", "upgrade"]
