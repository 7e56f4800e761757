"""The duct network: nodes, route segments (the graph's edges, the only geometry), duct specifications, and the
ducts and subducts placed in each segment by position.

Geometry is stored once, in EPSG:4326 (`geom`). Each segment also keeps a generated UTM 48N copy (`geom_m`,
GiST-indexed, for metre distances) and a generated spheroid length (`length_m`) that rent is billed on.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ducting.db import Base
from ducting.models_base import IdMixin, UuidMixin, VersionedMixin, derived_area_columns, enum_column
from ducting.network.vocab import Lifecycle, NodeKind, SizeClass, SpecKind, TrenchType, ZoneClass
from gis.crs import UTM48N, WGS84

LENGTH_M_SQL = "round(ST_Length(geom::geography)::numeric, 3)"
GEOM_M_SQL = f"ST_Transform(geom, {UTM48N})"


class AdminArea(Base):
    """Kota, kecamatan and kelurahan of Batam (real boundaries, loaded by a migration)."""

    __tablename__ = "admin_area"
    __table_args__ = (
        CheckConstraint("level IN ('kota', 'kecamatan', 'kelurahan')", name="ck_admin_area_level"),
        Index("ix_admin_area_geom", "geom", postgresql_using="gist"),
    )

    kode: Mapped[str] = mapped_column(String(16), primary_key=True)
    nama: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(String(12), nullable=False)
    parent_kode: Mapped[str | None] = mapped_column(String(16), ForeignKey("admin_area.kode"))
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=False), nullable=False)


class Node(IdMixin, UuidMixin, VersionedMixin, Base):
    __tablename__ = "node"
    __table_args__ = (
        CheckConstraint("removed_at IS NULL OR status = 'decommissioned'", name="ck_node_removed_is_decommissioned"),
        Index("ix_node_geom", "geom", postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    kind: Mapped[NodeKind] = mapped_column(enum_column(NodeKind, "node_kind"), nullable=False)
    status: Mapped[Lifecycle] = mapped_column(enum_column(Lifecycle, "lifecycle"), nullable=False)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    install_date: Mapped[date | None] = mapped_column(Date)
    kecamatan_kode, kelurahan_kode = derived_area_columns()
    notes: Mapped[str | None] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=WGS84, spatial_index=False), nullable=False)


class RouteSegment(IdMixin, UuidMixin, VersionedMixin, Base):
    __tablename__ = "route_segment"
    __table_args__ = (
        CheckConstraint("start_node_id <> end_node_id", name="ck_segment_distinct_ends"),
        CheckConstraint("depth_m IS NULL OR (depth_m > 0 AND depth_m < 10)", name="ck_segment_depth"),
        CheckConstraint("removed_at IS NULL OR status = 'decommissioned'", name="ck_segment_removed_is_decommissioned"),
        CheckConstraint("length_m > 0", name="ck_segment_length_positive"),
        Index("ix_route_segment_geom", "geom", postgresql_using="gist"),
        Index("ix_route_segment_geom_m", "geom_m", postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    start_node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False, index=True)
    end_node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False, index=True)
    status: Mapped[Lifecycle] = mapped_column(enum_column(Lifecycle, "lifecycle"), nullable=False)
    trench_type: Mapped[TrenchType] = mapped_column(enum_column(TrenchType, "trench_type"), nullable=False)
    depth_m: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))
    zone_class: Mapped[ZoneClass] = mapped_column(enum_column(ZoneClass, "zone_class"), nullable=False)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    install_date: Mapped[date | None] = mapped_column(Date)
    kecamatan_kode, kelurahan_kode = derived_area_columns()
    notes: Mapped[str | None] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=WGS84, spatial_index=False), nullable=False)
    geom_m: Mapped[WKBElement] = mapped_column(
        Geometry("LINESTRING", srid=UTM48N, spatial_index=False), Computed(GEOM_M_SQL, persisted=True)
    )
    length_m: Mapped[Decimal] = mapped_column(Numeric(12, 3), Computed(LENGTH_M_SQL, persisted=True))

    ducts: Mapped[list[Duct]] = relationship(back_populates="segment", order_by="Duct.position")


class DuctSpec(IdMixin, Base):
    """A catalogue product. Versioned: a changed product is a new version; rows in use keep the one they had."""

    __tablename__ = "duct_spec"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_duct_spec_code_version"),
        CheckConstraint(
            "inner_diameter_mm > 0 AND inner_diameter_mm < outer_diameter_mm", name="ck_duct_spec_diameters"
        ),
        CheckConstraint("kind = 'carrier' OR size_class IS NOT NULL", name="ck_duct_spec_leasable_has_class"),
    )

    code: Mapped[str] = mapped_column(String(40), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[SpecKind] = mapped_column(enum_column(SpecKind, "spec_kind"), nullable=False)
    size_class: Mapped[SizeClass | None] = mapped_column(enum_column(SizeClass, "size_class"))
    outer_diameter_mm: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    inner_diameter_mm: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    material: Mapped[str] = mapped_column(String(16), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False, server_default=text("CURRENT_DATE"))
    retired_on: Mapped[date | None] = mapped_column(Date)

    children: Mapped[list[DuctSpecChild]] = relationship(foreign_keys="DuctSpecChild.parent_id", lazy="selectin")


class DuctSpecChild(Base):
    """Nested structure: a carrier spec holds `count` inner ducts of `child_id`'s spec."""

    __tablename__ = "duct_spec_child"
    __table_args__ = (CheckConstraint("count > 0", name="ck_duct_spec_child_count"),)

    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("duct_spec.id"), primary_key=True)
    child_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("duct_spec.id"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)

    child: Mapped[DuctSpec] = relationship(foreign_keys=[child_id], lazy="joined")


class Duct(IdMixin, UuidMixin, VersionedMixin, Base):
    __tablename__ = "duct"
    __table_args__ = (
        UniqueConstraint("segment_id", "position", name="uq_duct_segment_position"),
        UniqueConstraint("id", "segment_id", name="uq_duct_id_segment"),  # target of subduct's composite FK
        CheckConstraint("position > 0", name="ck_duct_position"),
    )

    segment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("route_segment.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    spec_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("duct_spec.id"), nullable=False)
    status: Mapped[Lifecycle] = mapped_column(
        enum_column(Lifecycle, "lifecycle"), nullable=False, server_default="operational"
    )
    install_date: Mapped[date | None] = mapped_column(Date)

    segment: Mapped[RouteSegment] = relationship(back_populates="ducts")
    spec: Mapped[DuctSpec] = relationship(lazy="joined")
    subducts: Mapped[list[Subduct]] = relationship(back_populates="duct", order_by="Subduct.position")


class Subduct(IdMixin, UuidMixin, VersionedMixin, Base):
    """The unit leasing allocates. A plain duct has one subduct: its own bore (position 1, the duct's spec)."""

    __tablename__ = "subduct"
    __table_args__ = (
        UniqueConstraint("duct_id", "position", name="uq_subduct_duct_position"),
        UniqueConstraint("id", "segment_id", name="uq_subduct_id_segment"),  # target of allocation's composite FK
        ForeignKeyConstraint(["duct_id", "segment_id"], ["duct.id", "duct.segment_id"], name="fk_subduct_duct_segment"),
        CheckConstraint("position > 0", name="ck_subduct_position"),
    )

    duct_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    segment_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    spec_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("duct_spec.id"), nullable=False)
    status: Mapped[Lifecycle] = mapped_column(
        enum_column(Lifecycle, "lifecycle"), nullable=False, server_default="operational"
    )
    is_reserved: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")  # the city's reserve

    duct: Mapped[Duct] = relationship(
        back_populates="subducts", foreign_keys=[duct_id], primaryjoin="Subduct.duct_id == Duct.id"
    )
    spec: Mapped[DuctSpec] = relationship(lazy="joined")
