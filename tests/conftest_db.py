"""Database fixtures shared by the SQL store and repository tests: a fresh SQLite file per test, and one
PostgreSQL schema per test run (emptied before each test), so every test runs on both backends.

PostgreSQL isolation: each run creates its own schema ``nwbagent_test_<pid>_<random>`` and points every
connection at it with ``options=-csearch_path=<schema>`` in the URL, so tables, sequences and
``alembic_version`` live there; the schema is dropped at the end, and schemas left by runs whose process is
gone are dropped at the start. Parallel runs (or pytest-xdist workers) never see each other's rows.

PostgreSQL being down fails the tests within seconds with the fix, rather than skipping them: a skipped
backend is an untested backend. Set ``NWBAGENT_TEST_PG_URL`` to test against another server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from nwbagent.server.db.engine import make_engine, upgrade

BACKENDS = ["sqlite", "postgresql"]
PG_CANDIDATES = [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
]
SCHEMA_PREFIX = "nwbagent_test_"
TABLES = "sessions, trace, jobs, events"


def _with_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL URL that connects, trying the roles this machine may have."""
    candidates = [os.environ["NWBAGENT_TEST_PG_URL"]] if os.environ.get("NWBAGENT_TEST_PG_URL") else []
    errors = []
    for url in candidates or PG_CANDIDATES:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url
        except Exception as exc:
            errors.append(f"  {make_url(url).render_as_string()}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    pytest.fail(
        "PostgreSQL is needed for the database tests and none of these connected:\n"
        + "\n".join(errors)
        + "\nFix: run scripts/ensure-services.sh (starts PostgreSQL on 127.0.0.1:5432 with database 'test'), "
        "or set NWBAGENT_TEST_PG_URL.",
        pytrace=False,
    )


def _drop_orphans(admin: Engine) -> None:
    """Schemas of earlier runs whose process died before dropping them (same machine only)."""
    with admin.begin() as conn:
        names = conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": SCHEMA_PREFIX + "%"}
        ).scalars()
        for name in list(names):
            pid = name[len(SCHEMA_PREFIX) :].split("_")[0]
            if pid.isdigit() and not _alive(int(pid)):
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def fresh_pg_schema(pg_url: str) -> Iterator[str]:
    """A new empty schema; yields a URL whose connections use it, drops it afterwards."""
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(pg_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _with_schema(pg_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """One migrated schema for the whole run."""
    admin = make_engine(pg_url)
    _drop_orphans(admin)
    admin.dispose()
    with fresh_pg_schema(pg_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'db' / 'nwbagent.db'}"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        sqlite = make_engine(sqlite_url(tmp_path))
        upgrade(sqlite)
        try:
            yield sqlite
        finally:
            sqlite.dispose()
        return
    pg: Engine = request.getfixturevalue("pg_engine")
    with pg.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    yield pg
