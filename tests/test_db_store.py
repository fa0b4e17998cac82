"""The SQL store keeps the store contract on SQLite and PostgreSQL, and adds what the web service needs.

The contract tests are the very functions in ``test_store.py``, collected again here with this module's
``store`` fixture, so the SQL store can never drift from the memory and file stores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
    update,
)

from conftest_db import BACKENDS, engine, fresh_pg_schema, pg_engine, pg_url, sqlite_url  # noqa: F401
from nwbagent.agents.state import SessionState, State, TraceEntry
from nwbagent.agents.store import SessionNotFound, SessionStore, StaleSession
from nwbagent.errors import UserFacingError
from nwbagent.server.db.engine import (
    MIGRATIONS,
    PG_CONNECT_TIMEOUT_S,
    check,
    default_url,
    make_engine,
    upgrade,
)
from nwbagent.server.db.models import Base, EventRow, JobRow, SessionRow, TraceRow
from nwbagent.server.db.repos import EventRepo, JobRepo
from nwbagent.server.db.store import SqlStore
from nwbagent.server.jobs import JobSpec
from test_store import (  # noqa: F401  (re-collected: the shared store contract)
    rich,
    test_concurrent_writers_lose_nothing,
    test_crud,
    test_fetched_copies_are_isolated,
    test_save_bumps_revision_and_refuses_stale_copies,
    test_store_protocol,
)

TOKEN = "a-session-token"
TOKEN_HASH = hashlib.sha256(TOKEN.encode()).hexdigest()


@pytest.fixture
def store(engine: Engine) -> SessionStore:  # noqa: F811  (overrides the memory/file stores of test_store)
    return SqlStore(engine)


@pytest.fixture
def sql(engine: Engine) -> SqlStore:  # noqa: F811
    return SqlStore(engine)


def _walk(session: SessionState, *steps: State) -> None:
    """Steps recorded as the workflow would; its guards are tested elsewhere and need real files."""
    for step in steps:
        session.trace.append(
            TraceEntry(
                from_state=session.state,
                to_state=step,
                actor="user",
                reason=f"to {step.value}",
                input={"step": step.value},
            )
        )
        session.state = step


def test_token_hash_owner_and_listing_by_owner(sql: SqlStore) -> None:
    mine, theirs, anon = SessionState(), SessionState(), SessionState()
    sql.create(mine, token_hash=TOKEN_HASH, owner="key-aaa")
    sql.create(theirs, token_hash=TOKEN_HASH, owner="key-bbb")
    sql.create(anon)  # the plain protocol call still works

    assert sql.token_hash(mine.id) == TOKEN_HASH
    assert sql.token_hash(anon.id) == ""  # no token can match an empty hash
    assert (sql.owner(mine.id), sql.owner(anon.id)) == ("key-aaa", None)
    assert sql.list_ids(owner="key-aaa") == [mine.id]
    assert sql.list_ids() == sorted([mine.id, theirs.id, anon.id])
    with pytest.raises(ValueError, match="sha256"):
        sql.create(SessionState(), token_hash=TOKEN)  # the raw token is refused
    for call in (sql.token_hash, sql.owner, sql.touch, sql.mark_expired, sql.trace):
        with pytest.raises(SessionNotFound):
            call("missing")
        with pytest.raises(SessionNotFound):
            call("../bad id")


def test_token_itself_is_never_stored(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    state = SessionState()
    sql.create(state, token_hash=TOKEN_HASH)
    sql.save(state)
    with engine.connect() as conn:
        row = conn.execute(select(SessionRow).where(SessionRow.id == state.id)).one()
    assert TOKEN not in json.dumps([str(v) for v in row])


def test_columns_follow_the_document(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    state = SessionState()
    sql.create(state)
    _walk(state, State.files_received, State.detected)
    sql.save(state)
    with engine.connect() as conn:
        row = conn.execute(select(SessionRow).where(SessionRow.id == state.id)).one()
        detected = conn.execute(select(SessionRow.id).where(SessionRow.state == "detected")).scalars().all()
    assert (row.state, row.revision) == ("detected", 1)
    assert json.loads(row.document)["revision"] == 1  # document and column agree
    assert row.updated_at == state.updated_at and row.updated_at.tzinfo is not None
    assert detected == [state.id]


def test_trace_rows_are_written_on_save_and_queryable(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    state = SessionState()
    _walk(state, State.files_received)
    sql.create(state)
    assert [(e.from_state, e.to_state) for e in sql.trace(state.id)] == [
        (State.created, State.files_received)
    ]

    _walk(state, State.detected, State.collecting_metadata)
    sql.save(state)
    sql.save(state)  # nothing new: no duplicate rows
    assert sql.trace(state.id) == state.trace == sql.get(state.id).trace

    with engine.connect() as conn:
        rows = conn.execute(
            select(TraceRow.seq, TraceRow.to_state, TraceRow.actor, TraceRow.input)
            .where(TraceRow.session_id == state.id)
            .order_by(TraceRow.seq)
        ).all()
        by_state = (
            conn.execute(select(TraceRow.session_id).where(TraceRow.to_state == "detected")).scalars().all()
        )
    assert [tuple(r) for r in rows] == [
        (0, "files_received", "user", {"step": "files_received"}),
        (1, "detected", "user", {"step": "detected"}),
        (2, "collecting_metadata", "user", {"step": "collecting_metadata"}),
    ]
    assert by_state == [state.id]
    empty = SessionState()
    sql.create(empty)
    assert sql.trace(empty.id) == []


def test_stale_save_writes_no_trace(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    state = SessionState()
    sql.create(state)
    winner, loser = sql.get(state.id), sql.get(state.id)
    _walk(winner, State.files_received)
    sql.save(winner)
    _walk(loser, State.abandoned)
    with pytest.raises(StaleSession):
        sql.save(loser)
    assert [e.to_state for e in sql.trace(state.id)] == [State.files_received]


def test_concurrent_saves_one_wins_the_other_is_stale(sql: SqlStore) -> None:
    state = SessionState()
    sql.create(state)
    rounds, threads = 5, 4

    def save(copy: SessionState, barrier: threading.Barrier, results: list[str]) -> None:
        copy.llm_notes.append("x")
        barrier.wait()  # all threads hit the database together
        try:
            sql.save(copy)
            results.append("saved")
        except StaleSession:
            results.append("stale")

    for _ in range(rounds):
        copies = [sql.get(state.id) for _ in range(threads)]
        barrier, results = threading.Barrier(threads), list[str]()
        workers = [threading.Thread(target=save, args=(c, barrier, results)) for c in copies]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=30)
        assert sorted(results) == ["saved"] + ["stale"] * (threads - 1)
    final = sql.get(state.id)
    assert final.revision == rounds and len(final.llm_notes) == rounds


def test_touch_idle_and_expiry(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    old, fresh, flagged = SessionState(), SessionState(), SessionState()
    for s in (old, fresh, flagged):
        sql.create(s)
    long_ago = sql.last_seen(old.id) - timedelta(hours=100)
    with engine.begin() as conn:
        conn.execute(update(SessionRow).where(SessionRow.id == old.id).values(last_seen_at=long_ago))
    assert sql.last_seen(old.id).tzinfo is not None
    assert sql.idle_ids(timedelta(hours=72)) == [old.id]

    sql.mark_expired(flagged.id)
    assert sql.is_expired(flagged.id) and not sql.is_expired(fresh.id)
    assert sql.idle_ids(timedelta(hours=72)) == [old.id, flagged.id]

    before = sql.last_seen(old.id)
    sql.touch(old.id)
    assert sql.last_seen(old.id) > before
    assert sql.idle_ids(timedelta(hours=72)) == [flagged.id]
    assert sql.get(flagged.id).id == flagged.id  # expired sessions stay readable until deleted


def test_delete_removes_trace_jobs_and_events(sql: SqlStore, engine: Engine) -> None:  # noqa: F811
    state, other = SessionState(), SessionState()
    _walk(state, State.files_received)
    sql.create(state)
    sql.create(other)
    jobs, events = JobRepo(engine), EventRepo(engine)
    for sid in (state.id, other.id):
        jobs.create(JobSpec(job_id=f"job-{sid}", session_id=sid, kind="preview", request={}))
        events.append(sid, "state", {"to": "files_received"})
    sql.delete(state.id)

    with engine.connect() as conn:
        for table in (TraceRow, JobRow, EventRow):
            left = conn.execute(select(func.count()).select_from(table).where(table.session_id == state.id))
            assert left.scalar_one() == 0, table.__tablename__
    assert [j.id for j in jobs.list_for_session(other.id)] == [f"job-{other.id}"]
    assert len(events.since(other.id)) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sessions_survive_a_new_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    def fresh() -> Iterator[str]:
        if backend == "sqlite":
            yield sqlite_url(tmp_path)
        else:
            with fresh_pg_schema(request.getfixturevalue("pg_url")) as url:
                yield url

    for url in fresh():
        first = make_engine(url)
        upgrade(first)
        state = SessionState(source_paths=["/data/ünïcode"])
        _walk(state, State.files_received)
        SqlStore(first).create(state, token_hash=TOKEN_HASH)
        SqlStore(first).save(state)
        first.dispose()

        again = make_engine(url)  # a restarted service
        upgrade(again)  # a no-op on an up-to-date database
        store = SqlStore(again)
        assert store.list_ids() == [state.id]
        assert store.get(state.id) == state
        assert store.get(state.id).created_at.tzinfo == UTC
        assert store.token_hash(state.id) == TOKEN_HASH
        again.dispose()


def test_another_process_saves_the_same_sqlite_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    eng = make_engine(url)
    upgrade(eng)
    store = SqlStore(eng)
    state = SessionState()
    store.create(state)
    script = """
import sys
from nwbagent.server.db.engine import make_engine
from nwbagent.server.db.store import SqlStore
store = SqlStore(make_engine(sys.argv[1]))
session = store.get(sys.argv[2])
session.llm_notes.append("from another process")
store.save(session)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, url, state.id], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert store.get(state.id).llm_notes == ["from another process"]
    with pytest.raises(StaleSession):
        store.save(state)
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    eng.dispose()


def test_schema_has_the_indexes_queries_rely_on(engine: Engine) -> None:  # noqa: F811
    inspector = inspect(engine)
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("sessions")}
    assert {("state",), ("owner",), ("last_seen_at",)} <= indexed
    event_ix = {tuple(ix["column_names"]) for ix in inspector.get_indexes("events")}
    assert ("session_id", "id") in event_ix and ("session_id", "type", "id") in event_ix
    fks = inspector.get_foreign_keys("trace")
    assert fks[0]["referred_table"] == "sessions" and fks[0]["options"].get("ondelete") == "CASCADE"


# ---- engines and migrations ---------------------------------------------------------------------------


@contextlib.contextmanager
def _empty_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with fresh_pg_schema(request.getfixturevalue("pg_url")) as url:
            yield url


def _alembic(connection: Connection, action: str, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, action)(config, target)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_from_scratch_match_the_models(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _empty_database(backend, tmp_path, request) as url:
        eng = make_engine(url)
        try:
            assert inspect(eng).get_table_names() == []
            upgrade(eng)
            assert set(inspect(eng).get_table_names()) == {"alembic_version", *Base.metadata.tables}
            head = ScriptDirectory.from_config(_config()).get_current_head()
            with eng.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                assert context.get_current_revision() == head == "0001"
                assert compare_metadata(context, Base.metadata) == []  # models and migrations agree

                drifted = MetaData()
                for table in Base.metadata.tables.values():
                    table.to_metadata(drifted)
                Table("jobs", drifted, Column("priority", Integer), extend_existing=True)
                diffs = compare_metadata(context, drifted)
                assert [d[0] for d in diffs] == ["add_column"]  # the comparison does detect drift

            with eng.begin() as conn:
                _alembic(conn, "downgrade", "base")
            assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
            upgrade(eng)
            assert set(inspect(eng).get_table_names()) == {"alembic_version", *Base.metadata.tables}
        finally:
            eng.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_starting_together_migrate_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _empty_database(backend, tmp_path, request) as url:
        engines = [make_engine(url) for _ in range(3)]
        errors: list[BaseException] = []

        def start(eng: Engine) -> None:
            try:
                upgrade(eng)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=start, args=(e,)) for e in engines]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=30)
        assert errors == []
        SqlStore(engines[0]).create(SessionState())
        assert len(SqlStore(engines[1]).list_ids()) == 1
        for eng in engines:
            eng.dispose()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_migrations_ship_with_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "script.py.mako").is_file()
    assert [p.name for p in (MIGRATIONS / "versions").glob("*.py")] == ["0001_initial.py"]


def test_sqlite_engine_is_ready_for_threads_and_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'there.db'}"
    eng = make_engine(url)
    assert (tmp_path / "not" / "yet").is_dir()
    with eng.connect() as conn:
        pragmas = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in ("journal_mode", "foreign_keys")}
        busy = conn.execute(text("PRAGMA busy_timeout")).scalar()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1}
    assert busy is not None and int(busy) >= 5000
    ok, detail = check(eng)
    assert ok and detail.startswith("sqlite ok in")
    eng.dispose()


def test_postgres_engine_fails_fast_and_pings(pg_url: str) -> None:  # noqa: F811
    eng = make_engine(pg_url)
    assert eng.pool._pre_ping
    assert eng.dialect.driver == "psycopg"
    with eng.connect() as conn:
        params = conn.connection.dbapi_connection.info.get_parameters()
    assert params["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S)
    ok, detail = check(eng)
    assert ok and detail.startswith("postgresql ok in")
    eng.dispose()
    for spelling in ("postgresql://u@h/db", "postgres://u@h/db"):
        assert make_engine(spelling).dialect.driver == "psycopg"  # never the absent psycopg2


def test_unreachable_database_is_a_clear_fast_error(tmp_path: Path) -> None:
    down = make_engine("postgresql+psycopg://nwb:s3cret-pw@127.0.0.1:1/test")
    started = time.perf_counter()
    with pytest.raises(UserFacingError) as caught:
        upgrade(down)
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert caught.value.code == "database_unavailable"
    assert "s3cret-pw" not in message and "nwb:***@127.0.0.1:1/test" in message
    assert "ensure-services.sh" in caught.value.fix and "NWBAGENT_DATABASE_URL" in caught.value.fix
    ok, detail = check(down)
    assert not ok and "s3cret-pw" not in detail and "127.0.0.1:1" in detail
    down.dispose()

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserFacingError, match="Cannot use the database") as unwritable:
        make_engine(f"sqlite:///{blocker / 'db.sqlite'}")
    assert "writable" in unwritable.value.fix
    with pytest.raises(UserFacingError, match="not a valid SQLAlchemy URL"):
        make_engine("not a url")


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nwbagent.settings import get_settings

    monkeypatch.setenv("NWBAGENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NWBAGENT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        eng = make_engine(default_url())
        assert eng.url.database == str(tmp_path / "data" / "nwbagent.db")
        upgrade(eng)
        assert (tmp_path / "data" / "nwbagent.db").is_file()
        eng.dispose()
    finally:
        get_settings.cache_clear()


def test_a_database_from_a_newer_nwbagent_is_refused(engine: Engine) -> None:  # noqa: F811
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UserFacingError) as caught:
        upgrade(engine)
    assert caught.value.code == "database_schema_unknown" and "upgrade nwbagent" in caught.value.fix
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))


# ---- cheap reads and bounded documents (issue #13 item 3) -------------------------------------------------


def test_peek_follows_every_save_and_is_shared_until_one(sql: SqlStore) -> None:
    session = SessionState()
    sql.create(session, token_hash=TOKEN_HASH, owner="key-1")
    first = sql.peek(session.id)
    assert sql.peek(session.id) is first  # unchanged: answered from memory
    working = sql.get(session.id)
    working.state = State.files_received
    sql.save(working)
    again = sql.peek(session.id)
    assert again is not first and again.state is State.files_received and again.revision == working.revision
    assert sql.access(session.id) == (TOKEN_HASH, "key-1")
    sql.delete(session.id)
    with pytest.raises(SessionNotFound):
        sql.peek(session.id)


def test_documents_over_the_limit_are_refused_and_nothing_changes(engine: Engine) -> None:  # noqa: F811
    from nwbagent.agents.state import ChatTurn
    from nwbagent.server.db.store import SessionTooLarge

    sql = SqlStore(engine, max_document_bytes=100_000)
    session = SessionState()
    sql.create(session)
    grown = sql.get(session.id)
    grown.chat.append(ChatTurn(role="user", text="x" * 120_000))
    with pytest.raises(SessionTooLarge) as info:
        sql.save(grown)
    assert info.value.code == "session_too_large" and "100,000" in info.value.problem
    assert sql.get(session.id).chat == [] and sql.get(session.id).revision == session.revision
    assert not sql.near_limit(session.id)
    sql.peek(session.id)
    assert not sql.near_limit(session.id)


def test_touch_many_skips_sessions_deleted_meanwhile(sql: SqlStore) -> None:
    from nwbagent.agents.state import utcnow

    kept, gone = SessionState(), SessionState()
    for s in (kept, gone):
        sql.create(s)
    sql.delete(gone.id)
    later = utcnow() + timedelta(hours=1)
    sql.touch_many({kept.id: later, gone.id: later})
    assert sql.last_seen(kept.id) == later
