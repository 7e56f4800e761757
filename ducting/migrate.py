"""Running Alembic from code (CLI, tests, setup), and what its comparison of the models with a database leaves out."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

from ducting.settings import PROJECT_ROOT


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url:
        cfg.attributes["url"] = url
    return cfg


def upgrade(revision: str = "heads", *, url: str | None = None) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(revision: str, *, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


# Tables in the database that no model maps, each with its reason; `<table>_history` of a mapped table is the other
# kind. Everything else must have a model that equals it (tests/test_schema_matches_models.py).
UNMAPPED_TABLES = {
    "audit_log": "written only by the audit_rows() statement triggers; read with SQL by ducting.audit (0004)",
}


def unmapped_reason(table: str, mapped: Collection[str]) -> str | None:
    """Why a table of the database has no model, or None when it should have one."""
    if table in UNMAPPED_TABLES:
        return UNMAPPED_TABLES[table]
    if table.endswith("_history") and table.removesuffix("_history") in mapped:
        return "old rows filed by the versioning trigger of its table (migration 0004: versioning())"
    return None


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter when it compares the models with a database: PostGIS's own tables (GeoAlchemy2's filter)
    and the tables `unmapped_reason` explains stay out, with their indexes and constraints; the rest is compared."""
    from ducting.db import Base

    if not alembic_helpers.include_object(obj, name, type_, reflected, compare_to):
        return False
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (reflected and table is not None and unmapped_reason(table, Base.metadata.tables) is not None)
