"""Alembic's entry point, for the service (which passes its own connection) and for developers.

The service calls :func:`nwbagent.server.db.engine.upgrade`, which hands over an open connection in
``config.attributes``; a developer writing a new migration runs Alembic against
``nwbagent.server.db.engine.default_url()`` (NWBAGENT_DATABASE_URL), e.g.::

    python -c "from alembic.config import Config; from alembic import command; \\
      from nwbagent.server.db.engine import MIGRATIONS; c = Config(); \\
      c.set_main_option('script_location', str(MIGRATIONS)); command.revision(c, 'what', autogenerate=True)"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from nwbagent.server.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can only ALTER by copying a table
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from nwbagent.server.db.engine import default_url, make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_url())
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("nwbagent migrations run online only; the service applies them itself at start-up.")
run_migrations_online()
