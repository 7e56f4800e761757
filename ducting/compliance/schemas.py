"""Request and response bodies of the compliance API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from ducting.compliance.vocab import (
    FlagStatus,
    MigrationStage,
    ReportCategory,
    ReportStatus,
    RoadClass,
    RuleCode,
    Severity,
    SubjectKind,
)
from ducting.schemas_base import GeometryOut, Out


class FlagTransitionIn(BaseModel):
    to: FlagStatus
    reason: str | None = Field(default=None, max_length=2000)
    version: int | None = Field(default=None, description="the version you read; a stale one is refused")


class ZoneIn(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    geometry: dict[str, Any]


class ZonePatch(BaseModel):
    """What to change; omitted fields stay as they are."""

    name: str | None = Field(default=None, min_length=2, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    active: bool | None = None
    geometry: dict[str, Any] | None = None


class AgreementIn(BaseModel):
    operator_id: int
    reference: str = Field(min_length=3, max_length=100)
    valid_from: date
    valid_to: date | None = None

    @model_validator(mode="after")
    def _days(self) -> AgreementIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise PydanticCustomError(
                "end_before_start",
                "valid_to is before valid_from",
                {"valid_from": self.valid_from.isoformat(), "valid_to": self.valid_to.isoformat()},
            )
        return self


class MigrationIn(BaseModel):
    operator_id: int
    span_id: int
    flag_id: int | None = None
    capacity_request_id: int | None = None


class MigrationPatch(BaseModel):
    capacity_request_id: int = Field(ge=1, le=2**63 - 1)


class AdvanceIn(BaseModel):
    to: MigrationStage
    on: date


class ReviewIn(BaseModel):
    verified: bool
    span_id: int | None = None
    note: str | None = Field(default=None, max_length=2000)


class ReportReceiptOut(BaseModel):
    reference: str
    status: str
    message: str


# -- responses ---------------------------------------------------------------------------------------------------------
class RuleOut(Out):
    code: RuleCode
    severity: Severity
    subject: SubjectKind
    threshold: float | None = Field(description="The limit the rule measures against, in `unit`; None: yes/no rule")
    unit: str | None
    setting: str | None = Field(description="The DUCTING_COMPLIANCE_ setting that holds the threshold")
    title_id: str
    title_en: str
    explanation_id: str
    explanation_en: str
    note: str


class EvaluationOut(Out):
    """One run of the rules: what it found (candidates per rule), what it changed, and how long each step took."""

    full: bool
    spans_in_scope: int | None = Field(description="None for a full run")
    poles_in_scope: int | None
    run_id: int | None
    candidates: dict[str, int]
    opened: int
    updated: int
    resolved: int
    migrations_opened: int
    seconds: dict[str, float]


class SurveyImportOut(Out):
    survey_id: int
    observations: int
    poles_matched: int
    poles_created: int
    spans_created: int
    cables_added: int
    cables_kept: int
    cables_removed: int
    spans_cleared: int
    migrations_completed: int
    migrations_closed: int = Field(description="planned cases closed because this survey shows the cable gone")
    evaluation: EvaluationOut


class SurveyOut(Out):
    id: int
    name: str
    surveyed_on: date
    team: str
    observation_count: int
    imported_at: datetime


class FlagOut(Out):
    """A rule's finding about one span, pole or attachment, with what was measured beside the rule's threshold."""

    id: int
    rule: RuleCode
    severity: Severity
    status: FlagStatus
    subject_kind: SubjectKind
    subject_id: int
    span_id: int | None
    pole_id: int | None
    operator_ids: list[int]
    measured: float | None
    threshold: float | None
    unit: str | None
    observation_id: int | None
    raised_survey_id: int | None
    road_class: RoadClass
    kecamatan_kode: str | None
    evidence: dict[str, Any]
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_survey_id: int | None
    waived_at: datetime | None
    waived_by: int | None
    waived_reason: str | None
    version: int
    opened_run_id: int | None
    geometry: GeometryOut


class FlagEventOut(Out):
    at: datetime
    from_status: FlagStatus | None
    to_status: FlagStatus
    account_id: int | None
    survey_id: int | None
    note: str | None
    run_id: int | None = Field(description="The rule run that opened the flag (its first entry)")
    seq: int


class FlagDetailOut(FlagOut):
    history: list[FlagEventOut] = Field(description="Every state of the flag, oldest first")


class ZoneOut(Out):
    id: int
    name: str
    reason: str | None
    active: bool
    geometry: GeometryOut


class ZoneWrittenOut(Out):
    id: int
    name: str
    evaluation: EvaluationOut | None = Field(description="The re-evaluation of the spans under the zone")


class ZoneImportRowOut(Out):
    layer: str
    row: int
    name: str
    action: Literal["create", "update", "unchanged"]
    zone_id: int | None


class ZoneImportOut(Out):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    rows: list[ZoneImportRowOut]
    evaluation: EvaluationOut | None


class AgreementOut(Out):
    id: int
    operator_id: int
    reference: str
    valid_from: date
    valid_to: date | None
    revoked_at: datetime | None


class AgreementCreatedOut(Out):
    id: int
    reference: str


class MigrationCaseOut(Out):
    """A migration case in a list: the operator's cable on one span, on its way into the duct (SJUT order)."""

    id: int
    operator_id: int
    operator: str
    span_id: int
    flag_id: int | None
    capacity_request_id: int | None
    stage: MigrationStage
    pulled_on: date | None
    cut_over_on: date | None
    removed_on: date | None
    closed_on: date | None = Field(description="set when a survey showed the cable gone before it moved")
    closed_survey_id: int | None
    closed_reason: str | None
    length_m: float
    kecamatan_kode: str | None
    version: int
    geometry: GeometryOut


class MigrationCreatedOut(Out):
    id: int
    stage: MigrationStage


class MigrationStageOut(Out):
    id: int
    stage: MigrationStage
    pulled_on: date | None
    cut_over_on: date | None
    removed_on: date | None
    closed_on: date | None
    capacity_request_id: int | None
    version: int


class KecamatanProgressOut(Out):
    kode: str
    nama: str
    km_aerial_removed: float
    poles_decluttered: int
    operators_signed: int
    operators_outstanding: int
    open_flags_by_rule: dict[str, int]
    migrations_by_stage: dict[str, int]


class SurveyTrendOut(Out):
    survey_id: int
    name: str
    surveyed_on: date
    observation_count: int
    flags_opened: int
    flags_resolved: int


class DashboardOut(Out):
    kecamatan: list[KecamatanProgressOut]
    trend: list[SurveyTrendOut] = Field(description="Flags opened and resolved by each survey round")


class CitizenReportOut(Out):
    id: int
    reference: str
    category: ReportCategory
    description: str
    status: ReportStatus
    created_at: datetime
    observation_id: int
    has_photo: bool
    lon: float
    lat: float
    nearest_span_id: int | None


class ReviewOut(Out):
    id: int
    reference: str
    status: ReportStatus
