"""Request and response bodies of the compliance API."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from ducting.compliance.vocab import FlagStatus, MigrationStage


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
