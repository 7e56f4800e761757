"""The ORM models equal the migrated schema. Migrations are written by hand, the models by hand too: this is what
keeps the two from drifting. Alembic's autogenerate comparison runs against the suite's migrated database (tables,
columns, types, nullability, server defaults, identity, comments, indexes, unique and foreign keys); Alembic does not
compare CHECK and EXCLUDE constraints, so a second test compares those by table and name. Left out, each with its
reason: PostGIS's own tables and the tables `ducting.migrate.unmapped_reason` explains (history, audit)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.engine import Engine

import ducting.models  # noqa: F401  - every model on Base.metadata
from ducting.db import Base
from ducting.migrate import include_object, unmapped_reason


def _describe(op: object) -> str:
    if isinstance(op, list):  # column modifications come grouped
        return "\n".join(_describe(o) for o in op)
    kind, *rest = op
    target = next((r for r in rest if hasattr(r, "name")), None)
    where = getattr(getattr(target, "table", None), "name", None)
    return f"{kind} {where + '.' if where else ''}{getattr(target, 'name', '')} {rest}"[:400]


def test_the_models_equal_the_migrated_schema(owner_engine: Engine):
    with owner_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": include_object, "compare_type": True, "compare_server_default": True},
        )
        differences = compare_metadata(context, Base.metadata)
    assert not differences, (
        "models and migrations differ (fix the model; remove_* is only in the database, add_* only on a model):\n"
        + "\n".join(_describe(d) for d in differences)
    )


def test_check_and_exclusion_constraints_are_declared_on_the_models(owner_engine: Engine):
    mapped = set(Base.metadata.tables)
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text("""
            SELECT c.conrelid::regclass::text AS table_name, c.conname AS name, c.contype AS kind
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = 'public' AND c.contype IN ('c', 'x') AND c.conrelid <> 0""")
        ).all()
    in_database = {
        (r.table_name, r.name, "exclude" if r.kind == "x" else "check")
        for r in rows
        if unmapped_reason(r.table_name, mapped) is None and not r.table_name.startswith("spatial_ref_sys")
    }
    on_models = {
        (table.name, con.name, "exclude" if isinstance(con, ExcludeConstraint) else "check")
        for table in Base.metadata.tables.values()
        for con in table.constraints
        if isinstance(con, CheckConstraint | ExcludeConstraint)
    }
    assert in_database - on_models == set(), "constraints in the database that no model declares"
    assert on_models - in_database == set(), "constraints declared on models that the migrations never made"


def test_the_comparison_sees_a_difference(owner_engine: Engine):
    """The comparison above can fail: a column the database lacks is reported."""
    from sqlalchemy import Column, Integer, MetaData, Table

    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("allocation", metadata, Column("not_in_the_database", Integer), extend_existing=True)
    with owner_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        differences = compare_metadata(context, metadata)
    added = [(d[2], d[3].name) for d in differences if isinstance(d, tuple) and d[0] == "add_column"]
    assert added == [("allocation", "not_in_the_database")]
