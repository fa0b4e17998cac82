"""Engines that behave the same from a laptop's SQLite file to a shared PostgreSQL server.

A web server runs handlers in threads and may run several worker processes, so SQLite gets WAL (readers
never block the writer) and a busy timeout (writers queue instead of failing), and foreign keys are switched
on so deleting a session deletes its trace, jobs and events as on PostgreSQL. PostgreSQL connections fail
after a few seconds instead of hanging a start-up or a health check when the server is down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from nwbagent.errors import UserFacingError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: How long a PostgreSQL connection attempt may take before the service reports the database as down.
PG_CONNECT_TIMEOUT_S = 3
#: How long an SQLite writer waits for another writer (thread or process) before giving up.
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: Any constant works; it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK_ID = 0x6E7762


def default_url() -> str:
    from nwbagent.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.data_dir).expanduser() / 'nwbagent.db'}"


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url``, tuned for its backend; does not connect yet."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True)


def _parse(url: str | URL) -> URL:
    if isinstance(url, str) and url.startswith("postgres://"):  # the Heroku/libpq spelling
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserFacingError(
            f"The database URL '{url}' is not a valid SQLAlchemy URL ({exc}).",
            fix="Set NWBAGENT_DATABASE_URL to e.g. sqlite:////path/to/nwbagent.db or "
            "postgresql+psycopg://user:password@host:5432/dbname, or unset it to use SQLite in the data dir.",
            code="database_url_invalid",
        ) from None
    if parsed.drivername == "postgresql":  # SQLAlchemy's default would be psycopg2, which is not installed
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    engine = create_engine(url, connect_args={"check_same_thread": False})
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unreachable(engine, exc) from exc

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # WAL keeps this crash-safe; only the last commit
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def masked(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def unreachable(engine: Engine, exc: BaseException) -> UserFacingError:
    """The one message a user sees when the database is down, wrong or unwritable."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    if engine.url.get_backend_name() == "sqlite":
        fix = (
            "Check that the folder of the SQLite file exists and is writable (NWBAGENT_DATA_DIR), or point "
            "NWBAGENT_DATABASE_URL at another database."
        )
    else:
        fix = (
            "Start the database server (for tests: scripts/ensure-services.sh), check host, port, user, "
            "password and database name in NWBAGENT_DATABASE_URL, or unset it to use SQLite."
        )
    return UserFacingError(
        f"Cannot use the database {masked(engine)}: {reason}", fix=fix, code="database_unavailable"
    )


_IN_PROCESS = threading.Lock()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration shipped with this nwbagent (a no-op when it is there).

    Several worker processes may start at once, so migrating is serialized: an advisory lock on
    PostgreSQL, a lock file beside the SQLite database. Within one process, Alembic keeps its migration
    context in module globals, so two services started on threads of one process also take turns.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with _IN_PROCESS, _migration_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (OperationalError, DBAPIError) as exc:
        raise unreachable(engine, exc) from exc
    except CommandError as exc:  # typically: the database knows a revision this nwbagent does not ship
        raise UserFacingError(
            f"The database {masked(engine)} has a schema this nwbagent cannot migrate ({exc}).",
            fix="It was probably upgraded by a newer nwbagent: upgrade nwbagent, or point "
            "NWBAGENT_DATABASE_URL at another database.",
            code="database_schema_unknown",
        ) from exc


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database or ""
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: one process per SQLite file
        yield
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate.lock")
    try:
        handle = open(lock_path, "a")  # noqa: SIM115  (held across the yield)
    except OSError as exc:
        raise unreachable(engine, exc) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check(engine: Engine) -> tuple[bool, str]:
    """For the health endpoint: never raises, and answers within the connect timeout."""
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return False, unreachable(engine, exc).problem
    elapsed = (time.perf_counter() - started) * 1000
    return True, f"{engine.dialect.name} ok in {elapsed:.1f} ms"
