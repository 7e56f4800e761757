"""Leasing request and response shapes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ducting.leasing.vocab import AllocationStatus, RequestStatus
from ducting.network.vocab import SizeClass


class RouteQuery(BaseModel):
    """Where and what: from node A to node B (codes), or an ordered list of segment codes, or a drawn line."""

    model_config = ConfigDict(extra="forbid")

    from_node: str | None = Field(default=None, description="Node code, e.g. MH-BTK-00012")
    to_node: str | None = None
    segments: list[str] | None = Field(
        default=None, min_length=1, max_length=2000, description="Ordered segment codes, instead of from/to"
    )
    line: dict[str, Any] | None = Field(default=None, description="A drawn GeoJSON LineString matched to segments")
    subduct_count: int = Field(gt=0, le=48)
    size_class: SizeClass = Field(description="Minimum size: microduct, subduct_32_26, subduct_40_33, whole_duct")
    first_day: date
    last_day: date | None = Field(default=None, description="Inclusive; omit for open-ended")
    term_months: int | None = Field(default=None, gt=0, le=600, description="Instead of last_day")

    @model_validator(mode="after")
    def _one_way_to_say_where(self) -> RouteQuery:
        given = sum(x is not None for x in (self.segments, self.line)) + (
            self.from_node is not None or self.to_node is not None
        )
        if given != 1:
            raise PydanticCustomError(
                "field_combination",
                "give exactly one way to say where",
                {"exactly_one": ["from_node", "segments", "line"]},
            )
        if (self.from_node is None) != (self.to_node is None):
            raise PydanticCustomError(
                "field_combination", "from_node and to_node go together", {"together": ["from_node", "to_node"]}
            )
        if self.term_months is not None and self.last_day is not None:
            raise PydanticCustomError(
                "field_combination", "last_day or term_months, not both", {"at_most_one": ["last_day", "term_months"]}
            )
        return self


class RequestIn(RouteQuery):
    pass


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


class TerminateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_day: date | None = Field(default=None, description="Requested last day; not before the notice period ends")


class DirectAllocationIn(BaseModel):
    """A planner records capacity already in use (legacy cables) under the same constraint."""

    model_config = ConfigDict(extra="forbid")

    operator: str = Field(description="Organisation code")
    segments: list[str] = Field(min_length=1, max_length=2000)
    subduct_count: int = Field(default=1, gt=0, le=48)
    size_class: SizeClass = SizeClass.MICRODUCT
    first_day: date
    last_day: date | None = None
    pks_number: str | None = Field(default=None, max_length=64)


class AllocationOut(BaseModel):
    id: int
    request_reference: str | None
    operator: str | None
    segment_id: int
    segment_code: str
    subduct_id: int
    duct_position: int
    subduct_position: int
    size_class: SizeClass | None
    first_day: date
    last_day: date | None
    status: AllocationStatus
    contracted_length_m: Decimal
    pks_number: str | None
    hold_expires_at: datetime | None


class RequestOut(BaseModel):
    id: int
    reference: str
    operator: str
    status: RequestStatus
    status_since: datetime
    due_at: datetime | None
    overdue: bool
    hold_expires_at: datetime | None
    subduct_count: int
    size_class: SizeClass
    first_day: date
    last_day: date | None
    route_length_m: Decimal | None
    route: dict[str, Any] | None
    quote: dict[str, Any] | None
    pks_number: str | None
    reason: str | None
    created_at: datetime
    events: list[dict[str, Any]] = Field(default_factory=list)
