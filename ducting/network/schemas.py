"""Request and response shapes for the network API. Geometry travels as GeoJSON in EPSG:4326 ([lon, lat]).

Write bodies accept either plain JSON with a `geometry` member or a GeoJSON Feature (its `properties` are
read as the fields).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ducting.network.vocab import Lifecycle, NodeKind, SizeClass, SpecKind, TrenchType, ZoneClass

CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_./-]{1,31}$"


class _FeatureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _flatten_feature(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "Feature":
            props = dict(data.get("properties") or {})
            if "geometry" in data:
                props["geometry"] = data["geometry"]
            return props
        return data


class NodeIn(_FeatureBody):
    code: str | None = Field(
        default=None, pattern=CODE_PATTERN, description="Unique, e.g. MH-BTK-00123; generated if omitted"
    )
    kind: NodeKind
    status: Lifecycle = Lifecycle.OPERATIONAL
    owner: str | None = Field(default=None, description="Organisation code")
    install_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)
    geometry: Any = Field(description="GeoJSON Point, [lon, lat]")
    split: bool = Field(default=True, description="Split a segment the node is drawn on")


class NodePatch(_FeatureBody):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    kind: NodeKind | None = None
    status: Lifecycle | None = None
    owner: str | None = None
    install_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)
    geometry: Any = None
    version: int | None = Field(default=None, description="The version you edited (or send If-Match)")


class DuctPlacement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: str = Field(description="Duct specification code, e.g. HDPE-40/33-7xMD10")
    reserve: int = Field(default=0, ge=0, description="Subducts kept free for the city (the last positions)")
    position: int | None = Field(default=None, gt=0)


class SegmentIn(_FeatureBody):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    start_node: str | None = Field(default=None, description="Node code; otherwise the line's first point is snapped")
    end_node: str | None = Field(default=None, description="Node code; otherwise the line's last point is snapped")
    status: Lifecycle = Lifecycle.OPERATIONAL
    trench_type: TrenchType = TrenchType.OPEN_CUT
    depth_m: Decimal | None = Field(default=None, gt=0, lt=10)
    zone_class: ZoneClass = ZoneClass.RESIDENTIAL
    owner: str | None = None
    install_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)
    ducts: list[DuctPlacement] = Field(default_factory=list, max_length=64)
    geometry: Any = Field(description="GeoJSON LineString, [lon, lat]")


class SegmentPatch(_FeatureBody):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    status: Lifecycle | None = None
    trench_type: TrenchType | None = None
    depth_m: Decimal | None = Field(default=None, gt=0, lt=10)
    zone_class: ZoneClass | None = None
    owner: str | None = None
    install_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)
    geometry: Any = None
    version: int | None = None


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    geometry: Any = Field(description="GeoJSON Point on (or within the split tolerance of) the segment")
    node_code: str | None = Field(default=None, pattern=CODE_PATTERN)
    node_kind: NodeKind = NodeKind.MANHOLE
    version: int | None = None


class SubductOut(BaseModel):
    id: int
    position: int
    spec: str
    size_class: SizeClass | None
    inner_diameter_mm: Decimal
    status: Lifecycle
    is_reserved: bool


class DuctOut(BaseModel):
    id: int
    segment_id: int
    position: int
    spec: str
    spec_name: str
    kind: SpecKind
    outer_diameter_mm: Decimal
    inner_diameter_mm: Decimal
    status: Lifecycle
    version: int
    subducts: list[SubductOut]


class DuctIn(DuctPlacement):
    install_date: date | None = None


class DuctSpecOut(BaseModel):
    id: int
    code: str
    version: int
    name: str
    kind: SpecKind
    size_class: SizeClass | None
    outer_diameter_mm: Decimal
    inner_diameter_mm: Decimal
    material: str
    children: list[dict[str, Any]]


class HistoryEntry(BaseModel):
    at: datetime
    action: str
    version: int | None
    account_id: int | None
    username: str | None
    request_id: str | None
    changes: dict[str, dict[str, Any]]


class BulkOp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: str = Field(pattern="^(create|update|delete)$")
    type: str = Field(pattern="^(node|segment)$")
    id: int | None = None
    version: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operations: list[BulkOp] = Field(min_length=1, max_length=10_000)


class Summary(BaseModel):
    route_km: Decimal
    duct_km: Decimal
    nodes_by_kind: dict[str, int]
    subducts_by_status: dict[str, int]
    by_kecamatan: list[dict[str, Any]]
