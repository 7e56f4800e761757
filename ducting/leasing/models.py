"""Capacity requests, their events, allocations (leases) and cables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ducting.db import Base
from ducting.leasing.vocab import AllocationStatus, RequestStatus
from ducting.models_base import XID8, EagerDefaultsMixin, IdMixin, UuidMixin, enum_column
from ducting.network.vocab import SizeClass
from gis.crs import WGS84


class CapacityRequest(IdMixin, UuidMixin, Base):
    __tablename__ = "capacity_request"
    __table_args__ = (
        CheckConstraint("subduct_count BETWEEN 1 AND 48", name="capacity_request_subduct_count_check"),
        CheckConstraint("last_day IS NULL OR last_day >= first_day", name="ck_request_days"),
        CheckConstraint(
            "via_segment_ids IS NOT NULL OR "
            "(from_node_id IS NOT NULL AND to_node_id IS NOT NULL AND from_node_id <> to_node_id)",
            name="ck_request_ends",
        ),
        Index("ix_capacity_request_operator", "operator_id", "created_at"),
        Index("ix_capacity_request_status_due", "status", "due_at"),
    )

    reference: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    submitted_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    from_node_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("node.id"))
    to_node_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("node.id"))
    via_segment_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    subduct_count: Mapped[int] = mapped_column(Integer, nullable=False)
    size_class: Mapped[SizeClass] = mapped_column(enum_column(SizeClass, "size_class"), nullable=False)
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date | None] = mapped_column(Date)
    status: Mapped[RequestStatus] = mapped_column(
        enum_column(RequestStatus, "request_status"), nullable=False, server_default="submitted"
    )
    status_since: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    route_geom: Mapped[Any | None] = mapped_column(Geometry("MULTILINESTRING", srid=WGS84, spatial_index=False))
    route_length_m: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    quote: Mapped[dict | None] = mapped_column(JSONB)
    quote_total_idr: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    pks_number: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    notice_given_on: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")


class RequestEvent(IdMixin, Base):
    __tablename__ = "request_event"
    __table_args__ = (Index("ix_request_event_request", "request_id", "at"),)

    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("capacity_request.id"), nullable=False)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    from_status: Mapped[RequestStatus | None] = mapped_column(enum_column(RequestStatus, "request_status"))
    to_status: Mapped[RequestStatus] = mapped_column(enum_column(RequestStatus, "request_status"), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)


class Allocation(IdMixin, UuidMixin, EagerDefaultsMixin, Base):
    """One subduct on one segment for one operator over `period` (exclusive upper bound; None = open-ended)."""

    __tablename__ = "allocation"
    __table_args__ = (
        # the database, not the service, guarantees one tenant per subduct per day (README, "Integrity")
        ExcludeConstraint(
            ("subduct_id", "="),
            ("period", "&&"),
            using="gist",
            where=text("status IN ('held', 'active', 'terminated')"),
            name="ex_allocation_subduct_period",
        ),
        # an allocation names its segment too, and the pair must be a subduct of that segment
        ForeignKeyConstraint(
            ["subduct_id", "segment_id"], ["subduct.id", "subduct.segment_id"], name="fk_allocation_subduct_segment"
        ),
        CheckConstraint("NOT isempty(period) AND NOT lower_inf(period)", name="ck_allocation_period"),
        CheckConstraint("contracted_length_m > 0", name="ck_allocation_length"),
        CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name="ck_allocation_hold"),
        Index("ix_allocation_segment", "segment_id"),
        Index("ix_allocation_request", "request_id"),
        Index("ix_allocation_operator_period", "operator_id", "period", postgresql_using="gist"),
        Index("ix_allocation_changed", "changed_at"),
        Index("ix_allocation_held", "hold_expires_at", postgresql_where=text("status = 'held'")),
        Index("ix_allocation_change_xid", "change_xid"),
    )

    request_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("capacity_request.id"))
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    subduct_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    segment_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    route_seq: Mapped[int | None] = mapped_column(Integer)
    period: Mapped[Any] = mapped_column(DATERANGE, nullable=False)
    status: Mapped[AllocationStatus] = mapped_column(enum_column(AllocationStatus, "allocation_status"), nullable=False)
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contracted_length_m: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False)
    pks_number: Mapped[str | None] = mapped_column(Text)
    is_legacy: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    # the writing transaction, set on insert and by the allocation_touch trigger: the capacity graph re-reads
    # only rows written at or after its previous look's snapshot xmin (ducting.leasing.routing)
    change_xid: Mapped[str] = mapped_column(
        XID8, nullable=False, server_default=text("pg_current_xact_id()"), server_onupdate=FetchedValue()
    )


class Cable(IdMixin, Base):
    __tablename__ = "cable"
    __table_args__ = (
        CheckConstraint("outer_diameter_mm > 0", name="cable_outer_diameter_mm_check"),
        CheckConstraint("method IN ('pulled', 'blown')", name="cable_method_check"),
        CheckConstraint("fibre_count > 0", name="cable_fibre_count_check"),
        Index("ix_cable_subduct", "subduct_id"),
    )

    subduct_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subduct.id"), nullable=False)
    allocation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("allocation.id"))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    outer_diameter_mm: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False, server_default="pulled")
    fibre_count: Mapped[int | None] = mapped_column(Integer)
    installed_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)


class NumberSeries(Base):
    """Gapless counters, one row per series and year (request references, PKS, invoice and credit-note numbers):
    the next number is taken by updating the row, which locks it until the transaction ends."""

    __tablename__ = "number_series"
    __table_args__ = (CheckConstraint("last_value >= 0", name="number_series_last_value_check"),)

    series: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
