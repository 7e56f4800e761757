"""Tables of the compliance domain (created by migrations 0020 and 0021): what hangs in the air, what surveys saw, and the
flags the rules raise. Poles are `node` rows of kind `pole`; `PoleDetail` adds what only a pole has."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ducting.compliance.vocab import FlagStatus, MigrationStage, RoadClass, Severity
from ducting.db import Base
from ducting.models_base import IdMixin, enum_column
from gis.crs import UTM48N, WGS84

_NOW = text("clock_timestamp()")


class PoleDetail(Base):
    __tablename__ = "pole_detail"

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), primary_key=True)
    height_m: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    material: Mapped[str | None] = mapped_column(String(16))
    owner_ref: Mapped[str | None] = mapped_column(Text)


class SurveyRound(IdMixin, Base):
    __tablename__ = "survey_round"

    name: Mapped[str] = mapped_column(Text, nullable=False)
    surveyed_on: Mapped[date] = mapped_column(Date, nullable=False)
    team: Mapped[str] = mapped_column(Text, nullable=False)
    source_filename: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    observation_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    imported_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))


class AerialSpan(IdMixin, Base):
    __tablename__ = "aerial_span"
    __table_args__ = (CheckConstraint("from_pole_id <> to_pole_id", name="ck_span_distinct_poles"),)

    from_pole_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False)
    to_pole_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False)
    crosses_road: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    road_class: Mapped[RoadClass] = mapped_column(
        enum_column(RoadClass, "road_class"), nullable=False, server_default="none"
    )
    kecamatan_kode: Mapped[str | None] = mapped_column(String(16))
    kelurahan_kode: Mapped[str | None] = mapped_column(String(16))
    first_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=WGS84, spatial_index=False), nullable=False)
    geom_m: Mapped[Any] = mapped_column(
        Geometry("LINESTRING", srid=UTM48N, spatial_index=False),
        Computed(f"ST_Transform(geom, {UTM48N})", persisted=True),
    )
    length_m: Mapped[Decimal] = mapped_column(
        Numeric(10, 2), Computed("round(ST_Length(geom::geography)::numeric, 2)", persisted=True)
    )


class CableAttachment(IdMixin, Base):
    __tablename__ = "cable_attachment"

    span_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("aerial_span.id"))
    pole_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("node.id"))
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    cable_type: Mapped[str] = mapped_column(String(8), nullable=False)
    diameter_mm: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    attachment_height_m: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    owner_tag: Mapped[bool] = mapped_column(Boolean, nullable=False)
    permit_ref: Mapped[str | None] = mapped_column(Text)
    is_dead: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    first_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    last_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))


class Observation(IdMixin, Base):
    __tablename__ = "observation"

    survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False)
    span_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("aerial_span.id"))
    pole_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("node.id"))
    row_no: Mapped[int | None] = mapped_column(Integer)
    min_clearance_m: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    crosses: Mapped[str | None] = mapped_column(String(8))
    coiled_slack: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    sagging: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    loose_cable: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    cable_count: Mapped[int | None] = mapped_column(Integer)
    photo_ref: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=WGS84, spatial_index=False), nullable=False)


class NoOverheadZone(IdMixin, Base):
    __tablename__ = "no_overhead_zone"

    name: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=False), nullable=False)
    geom_m: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=UTM48N, spatial_index=False),
        Computed(f"ST_Transform(geom, {UTM48N})", persisted=True),
    )


class OperatorAgreement(IdMixin, Base):
    """A signed agreement (PKS) or permit: an operator with one valid today is licensed to hang cable."""

    __tablename__ = "operator_agreement"

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    reference: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)


class ComplianceFlag(IdMixin, Base):
    __tablename__ = "compliance_flag"

    rule: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "flag_severity"), nullable=False)
    status: Mapped[FlagStatus] = mapped_column(
        enum_column(FlagStatus, "flag_status"), nullable=False, server_default="open"
    )
    subject_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    span_id: Mapped[int | None] = mapped_column(BigInteger)
    pole_id: Mapped[int | None] = mapped_column(BigInteger)
    operator_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False, server_default="{}")
    measured: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    unit: Mapped[str | None] = mapped_column(String(16))
    observation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("observation.id"))
    raised_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    road_class: Mapped[RoadClass] = mapped_column(
        enum_column(RoadClass, "road_class"), nullable=False, server_default="none"
    )
    kecamatan_kode: Mapped[str | None] = mapped_column(String(16))
    evidence: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=WGS84, spatial_index=False), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    resolved_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    waived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waived_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    waived_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    opened_run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("evaluation_run.id"))


class EvaluationRun(IdMixin, Base):
    """One run of the rules (migration 0021): who asked, for which survey, what it found and how long it took."""

    __tablename__ = "evaluation_run"

    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    full_run: Mapped[bool] = mapped_column(Boolean, nullable=False)
    spans_in_scope: Mapped[int | None] = mapped_column(Integer)
    poles_in_scope: Mapped[int | None] = mapped_column(Integer)
    candidates: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    opened: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    resolved: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    seconds: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")


class FlagEvent(IdMixin, Base):
    __tablename__ = "flag_event"

    flag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("compliance_flag.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    from_status: Mapped[FlagStatus | None] = mapped_column(enum_column(FlagStatus, "flag_status"))
    to_status: Mapped[FlagStatus] = mapped_column(enum_column(FlagStatus, "flag_status"), nullable=False)
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    note: Mapped[str | None] = mapped_column(Text)


class MigrationCase(IdMixin, Base):
    __tablename__ = "migration_case"

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    span_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("aerial_span.id"), nullable=False)
    flag_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("compliance_flag.id"))
    capacity_request_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("capacity_request.id"))
    stage: Mapped[MigrationStage] = mapped_column(
        enum_column(MigrationStage, "migration_stage"), nullable=False, server_default="planned"
    )
    pulled_on: Mapped[date | None] = mapped_column(Date)
    cut_over_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    # a planned case a later survey showed the cable gone from (migration 0036)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")


class CitizenReport(IdMixin, Base):
    __tablename__ = "citizen_report"

    reference: Mapped[str] = mapped_column(String(24), unique=True, nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=WGS84, spatial_index=False), nullable=False)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    photo_media_type: Mapped[str | None] = mapped_column(String(16))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="new")
    observation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("observation.id"), nullable=False)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
