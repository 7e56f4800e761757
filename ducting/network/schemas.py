"""Request and response shapes for the network API. Geometry travels as GeoJSON in EPSG:4326 ([lon, lat]).

Write bodies accept either plain JSON with a `geometry` member or a GeoJSON Feature (its `properties` are
read as the fields).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ducting.network.vocab import Lifecycle, NodeKind, SizeClass, SpecKind, TrenchType, ZoneClass
from ducting.schemas_base import DecimalText, GeometryOut, Out

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


class KecamatanSummaryOut(Out):
    kode: str
    nama: str
    route_km: DecimalText
    segments: int
    subducts: DecimalText


class Summary(BaseModel):
    route_km: Decimal
    duct_km: Decimal
    nodes_by_kind: dict[str, int]
    subducts_by_status: dict[str, int]
    by_kecamatan: list[KecamatanSummaryOut]


# -- features (GeoJSON, EPSG:4326) --------------------------------------------------------------------------------------
class NodePropertiesOut(Out):
    code: str
    uuid: str
    kind: NodeKind
    status: Lifecycle
    owner_id: int | None
    install_date: date | None
    kecamatan: str | None = Field(description="Kecamatan code, derived from the geometry")
    kelurahan: str | None
    notes: str | None
    removed_at: datetime | None
    version: int
    updated_at: datetime


class NodeFeatureOut(Out):
    type: Literal["Feature"]
    id: int
    geometry: GeometryOut
    properties: NodePropertiesOut


class SplitRefOut(Out):
    original_segment_id: int
    new_segment_id: int


class NodeCreatedOut(NodeFeatureOut):
    split: SplitRefOut | None = Field(default=None, description="Present when the node was drawn on a segment")


class SegmentPropertiesOut(Out):
    code: str
    uuid: str
    start_node: str | None
    end_node: str | None
    start_node_id: int
    end_node_id: int
    status: Lifecycle
    trench_type: TrenchType
    depth_m: DecimalText | None
    zone_class: ZoneClass
    length_m: DecimalText = Field(description="Spheroid length in metres")
    kecamatan: str | None
    kelurahan: str | None
    notes: str | None
    removed_at: datetime | None
    version: int
    updated_at: datetime


class SegmentFeatureOut(Out):
    type: Literal["Feature"]
    id: int
    geometry: GeometryOut
    properties: SegmentPropertiesOut


class SplitOut(Out):
    node: NodeFeatureOut
    segments: list[SegmentFeatureOut] = Field(description="The two halves: the original id first")
    subduct_map: dict[str, int] = Field(description="Each subduct of the original half -> its twin on the new one")


class BulkResultOut(Out):
    type: Literal["node", "segment"]
    id: int
    code: str | None = Field(default=None, description="For a create")
    version: int | None = Field(default=None, description="For an update")
    removed: bool | None = Field(default=None, description="For a delete")


class BulkOut(Out):
    applied: int
    results: list[BulkResultOut]


class ImportCountsOut(Out):
    create: int
    update: int
    unchanged: int


class ImportOut(Out):
    dry_run: bool
    nodes: ImportCountsOut
    segments: ImportCountsOut
    ducts: int
    subducts: int


# -- OGC API - Features ------------------------------------------------------------------------------------------------
class LinkOut(Out):
    href: str
    rel: str
    type: str
    title: str | None = None


class LandingOut(Out):
    title: str
    description: str
    links: list[LinkOut]


class ConformanceOut(Out):
    conformsTo: list[str]


class SpatialExtentOut(Out):
    bbox: list[list[float]]
    crs: str


class ExtentOut(Out):
    spatial: SpatialExtentOut


class CollectionOut(Out):
    id: str
    title: str
    description: str
    itemType: str
    crs: list[str]
    storageCrs: str
    links: list[LinkOut]
    extent: ExtentOut | None = Field(default=None, description="Absent while the collection is empty")


class CollectionsOut(Out):
    links: list[LinkOut]
    collections: list[CollectionOut]


class FeatureOut(Out):
    """A feature of a collection; `properties` are the collection's (see /collections/{id} and its queryables)."""

    type: Literal["Feature"]
    id: int | str
    geometry: GeometryOut | None
    properties: dict[str, Any]


class FeatureCollectionOut(Out):
    """A page of features, built inside PostGIS (the body is not re-validated: this documents it)."""

    type: Literal["FeatureCollection"]
    numberReturned: int
    timeStamp: datetime
    links: list[LinkOut] = Field(description="self, and next/prev when there are more pages")
    features: list[FeatureOut]
