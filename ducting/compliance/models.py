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
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
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
    __table_args__ = (
        CheckConstraint("height_m > 0 AND height_m < 40", name="pole_detail_height_m_check"),
        CheckConstraint("material IN ('concrete', 'steel', 'wood', 'other')", name="pole_detail_material_check"),
    )

    node_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), primary_key=True)
    height_m: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    material: Mapped[str | None] = mapped_column(String(16))
    owner_ref: Mapped[str | None] = mapped_column(Text)


class SurveyRound(IdMixin, Base):
    __tablename__ = "survey_round"
    __table_args__ = (Index("ix_survey_round_date", "surveyed_on", "id"),)

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
    __table_args__ = (
        CheckConstraint("from_pole_id <> to_pole_id", name="ck_span_distinct_poles"),
        # one span per pair of poles, whichever way round it was surveyed
        Index(
            "uq_aerial_span_poles",
            func.least(text("from_pole_id"), text("to_pole_id")),
            func.greatest(text("from_pole_id"), text("to_pole_id")),
            unique=True,
        ),
        Index("ix_aerial_span_from", "from_pole_id"),
        Index("ix_aerial_span_to", "to_pole_id"),
        Index("ix_aerial_span_geom", "geom", postgresql_using="gist"),
        Index("ix_aerial_span_geom_m", "geom_m", postgresql_using="gist"),
    )

    from_pole_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False)
    to_pole_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("node.id"), nullable=False)
    crosses_road: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    road_class: Mapped[RoadClass] = mapped_column(
        enum_column(RoadClass, "road_class"), nullable=False, server_default="none"
    )
    kecamatan_kode: Mapped[str | None] = mapped_column(String(16), ForeignKey("admin_area.kode"))
    kelurahan_kode: Mapped[str | None] = mapped_column(String(16), ForeignKey("admin_area.kode"))
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
    # the chord's ends in UTM metres: the duct_available rule does its parallel test in plain arithmetic
    ax: Mapped[float] = mapped_column(
        Double, Computed(f"ST_X(ST_StartPoint(ST_Transform(geom, {UTM48N})))", persisted=True)
    )
    ay: Mapped[float] = mapped_column(
        Double, Computed(f"ST_Y(ST_StartPoint(ST_Transform(geom, {UTM48N})))", persisted=True)
    )
    bx: Mapped[float] = mapped_column(
        Double, Computed(f"ST_X(ST_EndPoint(ST_Transform(geom, {UTM48N})))", persisted=True)
    )
    by_: Mapped[float] = mapped_column(
        Double, Computed(f"ST_Y(ST_EndPoint(ST_Transform(geom, {UTM48N})))", persisted=True)
    )


class CableAttachment(IdMixin, Base):
    __tablename__ = "cable_attachment"
    __table_args__ = (
        CheckConstraint(
            "cable_type IN ('fiber', 'copper', 'coax', 'drop', 'power', 'other')",
            name="cable_attachment_cable_type_check",
        ),
        CheckConstraint("diameter_mm > 0 AND diameter_mm < 200", name="cable_attachment_diameter_mm_check"),
        CheckConstraint(
            "attachment_height_m > 0 AND attachment_height_m < 40", name="cable_attachment_attachment_height_m_check"
        ),
        CheckConstraint("(span_id IS NULL) <> (pole_id IS NULL)", name="ck_attachment_on_span_or_pole"),
        Index("ix_attachment_span", "span_id", postgresql_where=text("removed_at IS NULL")),
        Index("ix_attachment_pole", "pole_id", postgresql_where=text("removed_at IS NULL")),
        Index("ix_attachment_operator", "operator_id"),
        Index("ix_attachment_removed", "removed_survey_id", postgresql_where=text("removed_survey_id IS NOT NULL")),
    )

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
    __table_args__ = (
        CheckConstraint("source IN ('survey', 'citizen')", name="observation_source_check"),
        CheckConstraint("source = 'citizen' OR survey_id IS NOT NULL", name="ck_observation_source"),
        CheckConstraint("min_clearance_m >= 0 AND min_clearance_m < 40", name="observation_min_clearance_m_check"),
        CheckConstraint("crosses IN ('road', 'sidewalk', 'none')", name="observation_crosses_check"),
        CheckConstraint("cable_count >= 0", name="observation_cable_count_check"),
        Index("ix_observation_span", "span_id", "id", postgresql_where=text("span_id IS NOT NULL")),
        Index("ix_observation_pole", "pole_id", "id", postgresql_where=text("pole_id IS NOT NULL")),
        Index("ix_observation_survey", "survey_id"),
        Index("ix_observation_unverified", "id", postgresql_where=text("NOT verified")),
    )

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
    __table_args__ = (Index("ix_no_overhead_zone_geom_m", "geom_m", postgresql_using="gist"),)

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
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_agreement_days"),
        Index("ix_agreement_operator", "operator_id"),
    )

    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisation.id"), nullable=False)
    reference: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)


class ComplianceFlag(IdMixin, Base):
    __tablename__ = "compliance_flag"
    __table_args__ = (
        CheckConstraint("subject_kind IN ('span', 'pole', 'attachment')", name="compliance_flag_subject_kind_check"),
        CheckConstraint(
            "status <> 'waived' OR (waived_reason IS NOT NULL AND waived_by IS NOT NULL)",
            name="ck_flag_waived_has_reason",
        ),
        # one live flag per subject and rule; leads with subject_id, which compares cheapest (migration 0022)
        Index(
            "uq_flag_live",
            "subject_id",
            "rule",
            "subject_kind",
            unique=True,
            postgresql_where=text("status IN ('open', 'acknowledged', 'waived')"),
        ),
        Index(
            "ix_flag_worklist",
            "severity",
            "road_class",
            "opened_at",
            postgresql_where=text("status IN ('open', 'acknowledged')"),
        ),
        Index("ix_flag_span", "span_id", postgresql_where=text("span_id IS NOT NULL")),
        Index("ix_flag_pole", "pole_id", postgresql_where=text("pole_id IS NOT NULL")),
        Index("ix_flag_operators", "operator_ids", postgresql_using="gin"),
    )

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
    # observation_id, raised_survey_id and opened_run_id are links checked once per statement by a trigger, not
    # declared foreign keys (a rule run writes ~500k flags in one INSERT: migration 0022)
    observation_id: Mapped[int | None] = mapped_column(BigInteger)
    raised_survey_id: Mapped[int | None] = mapped_column(BigInteger)
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
    opened_run_id: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="The rule run that opened the flag (who, when, which survey). Flags opened before revision 0021 "
        "have an open event in flag_event instead.",
    )


class EvaluationRun(IdMixin, Base):
    """One run of the rules (migration 0021): who asked, for which survey, what it found and how long it took."""

    __tablename__ = "evaluation_run"
    __table_args__ = (Index("ix_evaluation_run_survey", "survey_id", postgresql_where=text("survey_id IS NOT NULL")),)

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
    __table_args__ = (
        Index("ix_flag_event_flag", "flag_id", "id"),
        Index("ix_flag_event_survey", "survey_id", postgresql_where=text("survey_id IS NOT NULL")),
    )

    flag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("compliance_flag.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    from_status: Mapped[FlagStatus | None] = mapped_column(enum_column(FlagStatus, "flag_status"))
    to_status: Mapped[FlagStatus] = mapped_column(enum_column(FlagStatus, "flag_status"), nullable=False)
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id"))
    survey_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("survey_round.id"))
    note: Mapped[str | None] = mapped_column(Text)


class MigrationCase(IdMixin, Base):
    __tablename__ = "migration_case"
    __table_args__ = (
        UniqueConstraint("operator_id", "span_id", name="uq_migration_operator_span"),
        CheckConstraint(
            "(stage = 'planned' AND pulled_on IS NULL)"
            " OR (stage = 'pulled_into_duct' AND pulled_on IS NOT NULL AND cut_over_on IS NULL)"
            " OR (stage = 'cut_over' AND cut_over_on IS NOT NULL AND removed_on IS NULL)"
            " OR (stage = 'aerial_removed' AND removed_on IS NOT NULL)",
            name="ck_migration_stage_dates",
        ),
        CheckConstraint(
            "cut_over_on IS NULL OR (pulled_on IS NOT NULL AND cut_over_on >= pulled_on)",
            name="ck_migration_cut_over_after_pull",
        ),
        CheckConstraint(
            "removed_on IS NULL OR (cut_over_on IS NOT NULL AND removed_on >= cut_over_on)",
            name="ck_migration_removed_after_cut_over",
        ),
        CheckConstraint("closed_on IS NULL OR stage = 'planned'", name="ck_migration_closed_planned"),
        CheckConstraint("(closed_on IS NULL) = (closed_reason IS NULL)", name="ck_migration_closed_reason"),
    )

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
    __table_args__ = (
        CheckConstraint(
            "category IN ('low_cable', 'fallen_cable', 'tangled', 'leaning_pole', 'other')",
            name="citizen_report_category_check",
        ),
        CheckConstraint("length(description) BETWEEN 5 AND 2000", name="citizen_report_description_check"),
        CheckConstraint("status IN ('new', 'verified', 'rejected')", name="citizen_report_status_check"),
        CheckConstraint("photo IS NULL OR octet_length(photo) < 20000000", name="ck_report_photo_sane"),
        Index("ix_citizen_report_client", "client_key", "created_at"),
        Index("ix_citizen_report_status", "status", "created_at"),
    )

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
