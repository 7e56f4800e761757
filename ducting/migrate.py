"""Running Alembic from code (CLI, tests, setup)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

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
