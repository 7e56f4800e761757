"""Capacity requests, their events, allocations (leases) and cables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ducting.db import Base
from ducting.leasing.vocab import AllocationStatus, RequestStatus
from ducting.models_base import EagerDefaultsMixin, IdMixin, UuidMixin, enum_column
from ducting.network.vocab import SizeClass
from gis.crs import WGS84


class CapacityRequest(IdMixin, UuidMixin, Base):
    __tablename__ = "capacity_request"

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
    route_geom: Mapped[Any] = mapped_column(Geometry("MULTILINESTRING", srid=WGS84, spatial_index=False))
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


class Cable(IdMixin, Base):
    __tablename__ = "cable"

    subduct_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subduct.id"), nullable=False)
    allocation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("allocation.id"))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    outer_diameter_mm: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False, server_default="pulled")
    fibre_count: Mapped[int | None] = mapped_column(Integer)
    installed_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
