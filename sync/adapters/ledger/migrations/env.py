"""Alembic environment for the ledger.

At run time ``Ledger`` calls ``alembic upgrade head`` programmatically and hands over its own
connection (already inside a write transaction) in ``config.attributes["connection"]``, so the
version check and the upgrade are one atomic step and two processes opening a fresh ledger at
once cannot both create the tables. For developers, ``alembic -c sync/adapters/ledger/alembic.ini``
works too (``revision --autogenerate`` compares against the models).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from sync.adapters.ledger.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        transactional_ddl=True,  # SQLite's DDL is transactional: an upgrade lands whole or not at all
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured for the ledger migrations")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
