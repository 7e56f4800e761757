"""Alembic environment. Migrations are written by hand (one concern each); the GeoAlchemy2 hooks are kept so
that `alembic revision --autogenerate` renders spatial columns and indexes correctly when used as a draft."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

import ducting.models  # noqa: F401  - registers every table on Base.metadata
from ducting.db import Base, database_url
from ducting.migrate import include_object
from ducting.settings import get_settings

config = context.config


def _url() -> str:
    return config.attributes.get("url") or database_url(get_settings(), migrations=True)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=Base.metadata,
        literal_binds=True,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection") or create_engine(_url(), poolclass=pool.NullPool)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
