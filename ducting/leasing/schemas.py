"""Leasing request and response shapes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ducting.leasing.vocab import AllocationStatus, RequestStatus
from ducting.network.vocab import Lifecycle, SizeClass, ZoneClass
from ducting.schemas_base import DecimalText, GeometryOut, MonthText, Out


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


# -- route plans (quotes) ------------------------------------------------------------------------------------------------
class PlannedSubductOut(Out):
    id: int
    duct: int = Field(description="The duct's position in the segment")
    position: int
    size_class: SizeClass


class PlannedSegmentOut(Out):
    segment_id: int
    code: str
    length_m: DecimalText
    zone_class: ZoneClass
    subducts: list[PlannedSubductOut]


class RoutePlanOut(Out):
    """The route found for a request, its subducts and the price; a quote holds nothing."""

    length_m: DecimalText
    cost: float = Field(description="The search's cost: metres, plus the penalty on nearly full segments")
    node_ids: list[int]
    geometry: GeometryOut
    quote: dict[str, Any] = Field(
        description="The tariff's quote (amounts as text, Rupiah), or `available: false` with a reason"
    )
    segments: list[PlannedSegmentOut]


# -- occupancy ----------------------------------------------------------------------------------------------------------
SubductState = Literal["unavailable", "reserved", "free", "held", "leased"]


class StateCountsOut(Out):
    total: int
    reserved: int
    held: int
    leased: int
    free: int
    unavailable: int


class HoldingOut(Out):
    """Who holds a subduct, and from when to when. Another operator's holding reads `occupied`, nothing more."""

    status: str = Field(description="held, active, terminated, or occupied (someone else's)")
    since: date
    until: date | None
    operator: str | None = None
    request: str | None = None
    pks_number: str | None = None
    hold_expires_at: datetime | None = None


class SubductOccupancyOut(Out):
    subduct_id: int
    position: int
    spec: str
    size_class: SizeClass | None
    state: SubductState
    why: str | None = None
    holdings: list[HoldingOut] | None = None


class BoreFillOut(Out):
    subduct_id: int
    fill: float
    limit: float | None
    cables: int
    leased_empty: bool


class FillOut(Out):
    """Area fill: the sum of cable outer diameters squared over the bore's inner diameter squared, per bore."""

    duct_fill: float
    limit: float | None
    over_limit: bool
    bores: list[BoreFillOut]


class DuctOccupancyOut(Out):
    duct_id: int
    position: int
    spec: str
    inner_diameter_mm: DecimalText
    status: Lifecycle
    subducts: list[SubductOccupancyOut]
    counts: StateCountsOut
    fill: FillOut


class OccupancyOut(Out):
    segment_id: int
    code: str
    length_m: DecimalText
    first_day: date
    last_day: date | None
    totals: StateCountsOut
    ducts: list[DuctOccupancyOut]


# -- availability (GeoJSON built by the route; documented, not validated) ------------------------------------------------
class AvailabilityPropertiesOut(Out):
    code: str
    free: int
    usable: int
    state: Literal["none", "full", "nearly_full", "free"]


class AvailabilityFeatureOut(Out):
    type: Literal["Feature"]
    id: int
    geometry: GeometryOut
    properties: AvailabilityPropertiesOut


class AvailabilityOut(Out):
    """Free subducts per segment for the period, without identities."""

    type: Literal["FeatureCollection"]
    features: list[AvailabilityFeatureOut]


class SlaMonthOut(Out):
    month: MonthText
    submitted: int
    decided: int
    median_hours: DecimalText | None
    p90_hours: DecimalText | None
    overdue_now: int
