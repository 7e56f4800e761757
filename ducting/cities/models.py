"""The city: the tenant every row will belong to (migration 0040 lays the anchor)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ducting.calendar import DEFAULT_ZONE_NAME, ZONE_NAMES
from ducting.db import Base
from ducting.models_base import IdMixin


class City(IdMixin, Base):
    """A kabupaten/kota whose duct BUMD this deployment serves, with its metric CRS and time zone."""

    __tablename__ = "city"
    __table_args__ = (
        CheckConstraint(
            "metric_srid BETWEEN 32646 AND 32654 OR metric_srid BETWEEN 32746 AND 32754", name="ck_city_metric_srid"
        ),
        CheckConstraint(
            "time_zone IN (" + ", ".join(f"'{name}'" for name in ZONE_NAMES.values()) + ")", name="ck_city_time_zone"
        ),
        {"comment": "A kabupaten/kota whose duct BUMD this deployment serves: the tenant of every row"},
    )

    kode: Mapped[str] = mapped_column(String(16), ForeignKey("admin_area.kode"), unique=True, nullable=False)
    nama: Mapped[str] = mapped_column(Text, nullable=False)
    metric_srid: Mapped[int] = mapped_column(Integer, nullable=False)
    time_zone: Mapped[str] = mapped_column(Text, nullable=False, server_default=DEFAULT_ZONE_NAME)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
