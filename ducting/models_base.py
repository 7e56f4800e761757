"""Column helpers shared by every domain's models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Enum, FetchedValue, Integer, func, text
from sqlalchemy.dialects.postgresql import TSTZRANGE, UUID
from sqlalchemy.orm import Mapped, mapped_column


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """A PostgreSQL enum type that stores the enum's values (not its member names)."""
    return Enum(enum, name=name, values_callable=lambda e: [m.value for m in e], validate_strings=True)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)


class EagerDefaultsMixin:
    """Rows with columns the database fills (defaults, triggers): fetched back with RETURNING after every insert
    and update. A mixin because a mapped class cannot redeclare `__mapper_args__` as a class variable."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}


class UuidMixin:
    uuid: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, nullable=False, server_default=text("gen_random_uuid()")
    )


class VersionedMixin:
    """Rows whose every change is kept: a trigger bumps `version`, stamps `updated_*`, and files the old row in
    `<table>_history` with its validity period `sys_period` (see migrations: `versioning()`)."""

    # Written by the trigger: fetched back with RETURNING after every insert and update.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    version: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("1"), server_onupdate=FetchedValue()
    )
    sys_period: Mapped[object] = mapped_column(
        TSTZRANGE, nullable=False, server_default=text("tstzrange(now(), NULL)"), server_onupdate=FetchedValue()
    )
    updated_by: Mapped[int | None] = mapped_column(
        BigInteger, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), server_onupdate=FetchedValue()
    )


def derived_area_columns() -> tuple[Mapped[str | None], Mapped[str | None]]:
    """kecamatan/kelurahan codes, set by the `derive_admin_area` trigger from the geometry."""
    from sqlalchemy import ForeignKey, String

    return (
        mapped_column(
            String(16), ForeignKey("admin_area.kode"), server_default=FetchedValue(), server_onupdate=FetchedValue()
        ),
        mapped_column(
            String(16), ForeignKey("admin_area.kode"), server_default=FetchedValue(), server_onupdate=FetchedValue()
        ),
    )
