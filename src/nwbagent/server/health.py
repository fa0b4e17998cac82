"""``/api/health``: is the service able to do its work right now, and if not, why.

"ok" must mean that a user's next request can succeed, so health checks what every request needs besides
the database connection: that the database accepts writes (PostgreSQL: an update and an insert that touch
no row, so permissions and read-only transactions show; SQLite: its folder is not on a read-only file
system), that the last writes of the service itself went through, and that every disk the service writes
to (data dir, sessions, database) is writable and has at least ``NWBAGENT_MIN_FREE_DISK_BYTES`` free. Each
failing check adds a reason.

Without an API key (when keys are configured) only ``{"status": ...}`` is shown: a liveness probe needs no
more, and paths, disk sizes and worker PIDs are the operator's business.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from nwbagent.server.upload_rules import human_bytes

#: How long the PostgreSQL write probe may wait for a lock before the database counts as not writable.
_PG_PROBE_TIMEOUT_MS = 2000


def database_writable(engine: Engine) -> tuple[bool, str]:
    """Whether the database would accept a write now; never raises, never changes anything."""
    database = engine.url.database or ""
    if engine.url.get_backend_name() == "sqlite":
        if not database or database == ":memory:":
            return True, "in memory"
        folder = Path(database).expanduser().resolve().parent
        try:
            flags = os.statvfs(folder).f_flag
        except OSError as exc:
            return False, f"cannot examine {folder.name}: {exc.strerror}"
        if flags & os.ST_RDONLY:
            return False, "the database's folder is on a read-only file system"
        return True, "writable"
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            conn.execute(text(f"SET LOCAL lock_timeout = {_PG_PROBE_TIMEOUT_MS}"))
            conn.execute(text(f"SET LOCAL statement_timeout = {_PG_PROBE_TIMEOUT_MS}"))
            conn.execute(text("UPDATE sessions SET revision = revision WHERE false"))
            conn.execute(text("INSERT INTO events SELECT * FROM events WHERE false"))
            transaction.rollback()
    except Exception as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return False, detail[0] if detail else type(exc).__name__
    return True, "writable"


def disks(paths: Iterable[Path], min_free: int) -> list[dict[str, Any]]:
    """One entry per file system (and per read-only mount) among ``paths``; the first path names it."""
    seen: dict[tuple[int, bool], dict[str, Any]] = {}
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            device = probe.stat().st_dev
            usage = shutil.disk_usage(probe)
            read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        except OSError:
            continue
        key = (device, read_only)
        if key in seen:
            continue
        seen[key] = {
            "path": str(path),
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "read_only": read_only,
            "ok": usage.free >= min_free and not read_only,
        }
    return list(seen.values())


def reasons(
    *,
    db_ok: bool,
    db_detail: str,
    writable: tuple[bool, str],
    write_failure: str | None,
    executor: dict[str, Any],
    disk: list[dict[str, Any]],
    min_free: int,
) -> list[str]:
    """Why the service is degraded, one sentence each; empty when it is ok."""
    out = []
    if not db_ok:
        out.append(f"database unreachable: {db_detail}")
    elif not writable[0]:
        out.append(f"database not writable: {writable[1]}")
    if write_failure:
        out.append(f"recent writes failed: {write_failure}")
    if not executor.get("ok", False):
        out.append("the conversion executor is not running")
    for d in disk:
        if d["read_only"]:
            out.append(f"{d['path']} is on a read-only file system: nothing can be stored there")
        elif not d["ok"]:
            out.append(
                f"low disk space: {human_bytes(d['free_bytes'])} free where the service writes, below the "
                f"threshold of {human_bytes(min_free)} (NWBAGENT_MIN_FREE_DISK_BYTES)"
            )
    return out
