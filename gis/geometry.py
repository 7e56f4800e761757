"""Geometry checks with named fault codes, and the metric helpers they rest on.

Two layers: `shape_from_geojson` turns untrusted GeoJSON into a shapely geometry or raises `GeometryRejected`
(structure: types, numbers, dimensions, vertex counts). `check_points` / `check_lines` / `check_polygons` then
judge geometries against the network's rules (service area, swapped axes, lengths, simplicity, validity) and
return faults, vectorised over whole imports with shapely 2 array functions. Every fault carries a machine `code`
and the facts a message about it states (`detail`: the offending value, the limit, where it is); the words are said
by whoever shows the fault (the service's problem registry, in the reader's language), so gis stays free of text.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import GEOD, UTM48N, WGS84, transformer

MAX_VERTICES = 10_000
"""Default vertex limit per geometry: a duct route is a few hundred vertices at most."""

BATAM_KOTA = Path(__file__).parent / "data" / "batam_admin" / "batam_kota.geojson"

# Batam sits near 104° E: a pair [lat, lon] puts its second value here while the first is a valid latitude.
_SWAP_LAT = (-90.0, 90.0)
_SWAP_LON = (100.0, 110.0)
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
SUPPORTED_TYPES = frozenset(_DEPTH)
_POINT, _LINESTRING, _POLYGON, _MULTIPOLYGON = 0, 1, 3, 6  # shapely type ids


@dataclass(frozen=True)
class GeometryFault:
    """One thing wrong with one geometry: its code and facts."""

    code: str
    detail: dict[str, Any] = field(default_factory=dict)


class GeometryRejected(ValueError):
    """Raised when GeoJSON cannot become a geometry at all; `.faults` lists every reason."""

    def __init__(self, faults: list[GeometryFault]) -> None:
        self.faults = faults
        super().__init__("; ".join(f"{f.code} {f.detail}" for f in faults))


@dataclass(frozen=True)
class ServiceArea:
    """Kota Batam grown by `buffer_m`, in EPSG:4326 and prepared for repeated predicates."""

    polygon: BaseGeometry
    buffer_m: float
    _edges: np.ndarray = field(init=False, repr=False, compare=False)
    _edge_tree: STRtree = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shapely.prepare(self.polygon)
        # Nearest-edge queries on single boundary segments are ~8x faster than shortest_line to the multipolygon.
        rings = shapely.get_parts(shapely.boundary(self.polygon))
        coords = [shapely.get_coordinates(r) for r in rings]
        edges = np.concatenate([shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)) for c in coords])
        object.__setattr__(self, "_edges", edges)
        object.__setattr__(self, "_edge_tree", STRtree(edges))

    def contains(self, geom: BaseGeometry) -> bool:
        """True when the whole geometry lies inside (the edge counts as inside)."""
        return bool(shapely.covers(self.polygon, geom))

    def distances_m(self, geoms: Sequence[BaseGeometry] | np.ndarray) -> np.ndarray:
        """Geodesic metres from each lon/lat geometry to the area's edge (0 where it touches or crosses it)."""
        arr = _as_array(geoms)
        if len(arr) == 0:
            return np.zeros(0)
        (src, hit), _ = self._edge_tree.query_nearest(arr, return_distance=True, all_matches=False)
        # near the equator a degree is a degree both ways, so the nearest edge in degrees is the nearest in metres
        ends = shapely.get_coordinates(shapely.shortest_line(self._edges[hit], arr[src])).reshape(-1, 2, 2)
        _, _, dist = GEOD.inv(ends[:, 0, 0], ends[:, 0, 1], ends[:, 1, 0], ends[:, 1, 1])
        out = np.full(len(arr), np.nan)
        out[src] = dist
        return out


@lru_cache(maxsize=8)
def load_service_area(buffer_m: float = 1000.0) -> ServiceArea:
    """The real Kota Batam boundary, repaired with make_valid, buffered in UTM 48N. Cached per buffer."""
    raw = orjson.loads(BATAM_KOTA.read_bytes())
    parts = [shapely.make_valid(shape(f["geometry"])) for f in raw["features"]]
    # make_valid can return a collection with slivers of lines; only the areas matter here.
    polygons = [p for g in parts for p in shapely.get_parts(g) if isinstance(p, Polygon)]
    area = shapely.union_all(polygons)
    grown = to_lonlat(to_metric(area).buffer(buffer_m)) if buffer_m > 0 else area
    if isinstance(grown, Polygon):
        grown = MultiPolygon([grown])
    return ServiceArea(polygon=grown, buffer_m=buffer_m)


# --- metric helpers -------------------------------------------------------------------------------------------


def _reproject(geom: Any, src: int, dst: int) -> Any:
    t = transformer(src, dst)

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, move, include_z=False)


def to_metric(geom: Any) -> Any:
    """Lon/lat geometry (or array of them) to UTM 48N metres, 2D."""
    return _reproject(geom, WGS84, UTM48N)


def to_lonlat(geom: Any) -> Any:
    """UTM 48N geometry (or array of them) back to lon/lat, 2D."""
    return _reproject(geom, UTM48N, WGS84)


def length_m(line: BaseGeometry) -> float:
    """Geodesic length in metres on the WGS 84 spheroid."""
    return float(GEOD.geometry_length(line))


def lengths_m(geoms: Sequence[BaseGeometry | None] | np.ndarray) -> np.ndarray:
    """Geodesic lengths of many lines at once (NaN for None, empty or non-lon/lat input)."""
    arr = _as_array(geoms)
    out = np.full(len(arr), np.nan)
    present = shapely.get_type_id(arr) >= 0
    out[present] = 0.0
    coords, idx = shapely.get_coordinates(arr, return_index=True)
    if len(coords) < 2:
        return out
    same = idx[1:] == idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    _, _, d = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    np.add.at(out, idx[1:][same], d)
    return out


# --- GeoJSON to shapely ---------------------------------------------------------------------------------------


class _Sink:
    """Collects faults, keeping the first of each code and a count, so 5,000 bad vertices make one fault."""

    def __init__(self) -> None:
        self.first: dict[str, GeometryFault] = {}
        self.count: dict[str, int] = {}

    def add(self, code: str, **detail: Any) -> None:
        self.count[code] = self.count.get(code, 0) + 1
        self.first.setdefault(code, GeometryFault(code, detail))

    def faults(self) -> list[GeometryFault]:
        return [
            GeometryFault(f.code, {**f.detail, "count": self.count[c]}) if self.count[c] > 1 else f
            for c, f in self.first.items()
        ]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _at(value: float) -> float | str:
    """A coordinate as a fact: rounded to 7 decimals (about 1 cm); not-finite values as text, which JSON can carry."""
    return round(value, 7) if math.isfinite(value) else str(value)


def _clean_position(pos: Any, path: str, sink: _Sink) -> list[float] | None:
    if not isinstance(pos, (list, tuple)):
        sink.add("coordinate_invalid", path=path, value=_show(pos), expected="position")
        return None
    if len(pos) not in (2, 3):
        sink.add("coordinate_dimension", path=path, dimension=len(pos))
        return None
    values: list[float] = []
    for i, v in enumerate(pos):
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, decimal.Decimal)):
            sink.add("coordinate_invalid", path=f"{path}[{i}]", value=_show(v), expected="number")
            return None
        try:
            f = float(v)
        except (OverflowError, ValueError):
            f = math.inf
        if not math.isfinite(f):
            sink.add("coordinate_not_finite", path=f"{path}[{i}]", value=_show(v))
            return None
        values.append(f)
    return values[:2]  # height is dropped: the network is drawn in 2D


def _clean(coords: Any, depth: int, path: str, sink: _Sink, budget: list[int]) -> Any:
    """Validate nested coordinate arrays to a fixed depth (so hostile nesting cannot recurse further)."""
    if depth == 0:
        budget[0] -= 1
        return _clean_position(coords, path, sink) if budget[0] >= 0 else None
    if not isinstance(coords, (list, tuple)):
        sink.add("coordinate_invalid", path=path, value=_show(coords), expected="array")
        return None
    out = []
    for i, item in enumerate(coords):
        if budget[0] < 0:
            break
        out.append(_clean(item, depth - 1, f"{path}[{i}]", sink, budget))
    return out


def _shape_faults(kind: str, coords: Any, sink: _Sink) -> None:
    """Counts that GeoJSON requires: 2 positions per line, 4 per ring, rings closed."""
    lines = [coords] if kind == "LineString" else coords if kind == "MultiLineString" else []
    for line in lines:
        if len(line) < 2:
            sink.add("geometry_invalid", line_positions=len(line))
    rings = coords if kind == "Polygon" else [r for p in coords for r in p] if kind == "MultiPolygon" else []
    for ring in rings:
        if len(ring) < 4:
            sink.add("geometry_invalid", ring_positions=len(ring))
        elif ring[0] != ring[-1]:
            sink.add("geometry_invalid", ring_start=[_at(v) for v in ring[0]], ring_end=[_at(v) for v in ring[-1]])


def _loosen(obj: dict[str, Any], expected: str) -> dict[str, Any]:
    """Accept lossless spellings: a one-part Multi* for its single type, a Polygon where MultiPolygon is wanted."""
    kind, coords = obj.get("type"), obj.get("coordinates")
    if kind == f"Multi{expected}" and isinstance(coords, list) and len(coords) == 1:
        return {"type": expected, "coordinates": coords[0]}
    if expected == "MultiPolygon" and kind == "Polygon":
        return {"type": "MultiPolygon", "coordinates": [coords]}
    return obj


def shape_from_geojson(obj: Any, *, expected: str, max_vertices: int = MAX_VERTICES) -> BaseGeometry:
    """Build a 2D shapely geometry from a GeoJSON geometry (or Feature). Raises GeometryRejected with every fault.

    `expected` is one of Point, LineString, Polygon, MultiPolygon (MultiPoint and MultiLineString also work).
    """
    if expected not in _DEPTH:
        raise ValueError(f"expected must be one of {sorted(_DEPTH)}, not {expected!r}")
    if isinstance(obj, (str, bytes)):
        try:
            obj = orjson.loads(obj)
        except orjson.JSONDecodeError:
            raise GeometryRejected([GeometryFault("geometry_type", {"expected": expected, "got": "text"})]) from None
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if obj is None:
        raise GeometryRejected([GeometryFault("geometry_missing", {"expected": expected})])
    if not isinstance(obj, dict):
        raise GeometryRejected([GeometryFault("geometry_type", {"expected": expected, "got": type(obj).__name__})])
    obj = _loosen(obj, expected)
    kind = obj.get("type")
    if kind != expected:
        raise GeometryRejected([GeometryFault("geometry_type", {"expected": expected, "got": str(kind)[:40]})])
    return _build(obj.get("coordinates"), expected, max_vertices)


def _build(coords: Any, kind: str, max_vertices: int) -> BaseGeometry:
    if coords is None or (isinstance(coords, (list, tuple)) and len(coords) == 0):
        raise GeometryRejected([GeometryFault("geometry_missing", {"geometry": kind})])
    sink, budget = _Sink(), [max_vertices]
    cleaned = _clean(coords, _DEPTH[kind], "coordinates", sink, budget)
    if budget[0] < 0:
        sink.add("too_many_vertices", limit=max_vertices)
    if not sink.first:
        _shape_faults(kind, cleaned, sink)
    if sink.first:
        raise GeometryRejected(sink.faults())
    geom = shape({"type": kind, "coordinates": cleaned})
    if kind in ("Polygon", "MultiPolygon") and not geom.is_valid:
        raise GeometryRejected(
            [GeometryFault("geometry_invalid", {"geometry": kind, "reason": shapely.is_valid_reason(geom)})]
        )
    return geom


# --- rule checks ----------------------------------------------------------------------------------------------


def _as_array(geoms: Sequence[BaseGeometry | None] | np.ndarray) -> np.ndarray:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    return arr


def check_point(geom: BaseGeometry | None, *, service_area: ServiceArea) -> list[GeometryFault]:
    """Every fault of one node location."""
    return check_points([geom], service_area=service_area)[0]


def check_line(
    geom: BaseGeometry | None, *, service_area: ServiceArea, min_length_m: float = 0.5, max_vertices: int = MAX_VERTICES
) -> list[GeometryFault]:
    """Every fault of one route segment."""
    return check_lines([geom], service_area=service_area, min_length_m=min_length_m, max_vertices=max_vertices)[0]


def check_points(geoms: Sequence[BaseGeometry | None], *, service_area: ServiceArea) -> list[list[GeometryFault]]:
    """Faults per point, vectorised; the outer list lines up with `geoms`."""
    arr = _as_array(geoms)
    out: list[list[GeometryFault]] = [[] for _ in arr]
    usable = _kind_faults(arr, _POINT, "Point", out)
    sane = _Coords(arr, usable).report(out)
    _area_faults(arr, sane, service_area, out, "point")
    return out


def check_lines(
    geoms: Sequence[BaseGeometry | None],
    *,
    service_area: ServiceArea,
    min_length_m: float = 0.5,
    max_vertices: int = MAX_VERTICES,
) -> list[list[GeometryFault]]:
    """Faults per line, vectorised; the outer list lines up with `geoms`.

    A line with swapped or non-finite coordinates gets that fault and not the service-area or length noise
    that would follow from it. A too-long line skips the costlier checks.
    """
    arr = _as_array(geoms)
    out: list[list[GeometryFault]] = [[] for _ in arr]
    usable = _kind_faults(arr, _LINESTRING, "LineString", out)
    nverts = shapely.get_num_coordinates(arr)
    for i in np.flatnonzero(usable & (nverts > max_vertices)):
        out[i].append(GeometryFault("too_many_vertices", {"vertices": int(nverts[i]), "limit": max_vertices}))
    usable &= nverts <= max_vertices
    coords = _Coords(arr, usable)
    sane = coords.report(out)
    _area_faults(arr, sane, service_area, out, "line")
    _line_shape_faults(arr, usable & ~coords.nonfinite, sane, min_length_m, out)
    return out


def check_polygons(
    geoms: Sequence[BaseGeometry | None],
    *,
    service_area: ServiceArea,
    min_area_m2: float = 1.0,
    max_vertices: int = MAX_VERTICES,
) -> list[list[GeometryFault]]:
    """Faults per area (Polygon or MultiPolygon, e.g. a zone), vectorised; the outer list lines up with `geoms`.

    The same coordinate and service-area checks as lines, then validity (with GEOS's reason) and a minimum area.
    """
    arr = _as_array(geoms)
    out: list[list[GeometryFault]] = [[] for _ in arr]
    usable = _kind_faults(arr, _POLYGON, "Polygon", out, also=(_MULTIPOLYGON,))
    nverts = shapely.get_num_coordinates(arr)
    for i in np.flatnonzero(usable & (nverts > max_vertices)):
        out[i].append(GeometryFault("too_many_vertices", {"vertices": int(nverts[i]), "limit": max_vertices}))
    usable &= nverts <= max_vertices
    coords = _Coords(arr, usable)
    sane = coords.report(out)
    _area_faults(arr, sane, service_area, out, "area")
    rows = np.flatnonzero(usable & ~coords.nonfinite)
    reasons = shapely.is_valid_reason(arr[rows]) if len(rows) else []
    for k, i in enumerate(rows):
        if reasons[k] != "Valid Geometry":
            out[i].append(GeometryFault("geometry_invalid", {"area_start": _start(arr[i]), "reason": reasons[k]}))
        elif sane[i] and (m2 := float(to_metric(arr[i]).area)) < min_area_m2:
            out[i].append(
                GeometryFault(
                    "area_too_small",
                    {"area_start": _start(arr[i]), "area_m2": round(m2, 3), "min_area_m2": min_area_m2},
                )
            )
    return out


def _kind_faults(
    arr: np.ndarray, type_id: int, name: str, out: list[list[GeometryFault]], also: tuple[int, ...] = ()
) -> np.ndarray:
    """geometry_missing / geometry_type / geometry_empty; returns the mask of geometries worth checking further."""
    ids = shapely.get_type_id(arr)
    wanted = name if not also else [name, f"Multi{name}"]
    for i in np.flatnonzero(ids < 0):
        out[i].append(GeometryFault("geometry_missing", {"expected": wanted}))
    right = np.isin(ids, (type_id, *also))
    wrong = (ids >= 0) & ~right
    for i in np.flatnonzero(wrong):
        out[i].append(GeometryFault("geometry_type", {"expected": wanted, "got": arr[i].geom_type}))
    empty = np.zeros(len(arr), dtype=bool)
    empty[right] = shapely.is_empty(arr[right])
    for i in np.flatnonzero(empty):
        out[i].append(GeometryFault("geometry_missing", {"geometry": name}))
    return right & ~empty


class _Coords:
    """Per-geometry verdicts on raw coordinates: finite, swapped, within the lon/lat range."""

    def __init__(self, arr: np.ndarray, usable: np.ndarray) -> None:
        n = len(arr)
        rows = np.flatnonzero(usable)
        xy, local = shapely.get_coordinates(arr[rows], return_index=True)
        gi = rows[local]
        x, y = xy[:, 0], xy[:, 1]
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(xy).all(axis=1)
            swapped = finite & (x >= _SWAP_LAT[0]) & (x <= _SWAP_LAT[1]) & (y >= _SWAP_LON[0]) & (y <= _SWAP_LON[1])
            in_range = finite & (np.abs(x) <= 180) & (np.abs(y) <= 90)
        self.usable, self.xy = usable, xy
        self.first_bad = _first_flagged(gi, ~finite, n)
        self.first_swapped = _first_flagged(gi, swapped, n)
        self.first_odd = _first_flagged(gi, ~in_range & finite, n)
        self.swapped_count = np.bincount(gi[swapped], minlength=n)
        self.nonfinite = self.first_bad >= 0

    def report(self, out: list[list[GeometryFault]]) -> np.ndarray:
        """Append coordinate faults; return the mask of geometries whose coordinates are plain lon/lat."""
        bad = self.nonfinite
        for i in np.flatnonzero(bad):
            vx, vy = (float(v) for v in self.xy[self.first_bad[i]])
            out[i].append(GeometryFault("coordinate_not_finite", {"position": [str(vx), str(vy)]}))
        swapped = (self.first_swapped >= 0) & ~bad
        for i in np.flatnonzero(swapped):
            px, py = (_at(float(v)) for v in self.xy[self.first_swapped[i]])
            out[i].append(
                GeometryFault(
                    "coordinates_swapped",
                    {"position": [px, py], "suggested": [py, px], "count": int(self.swapped_count[i])},
                )
            )
        odd = (self.first_odd >= 0) & ~bad & ~swapped
        for i in np.flatnonzero(odd):
            px, py = (_at(float(v)) for v in self.xy[self.first_odd[i]])
            out[i].append(GeometryFault("outside_service_area", {"position": [px, py], "distance_km": None}))
        return self.usable & ~bad & ~swapped & ~odd


def _first_flagged(gi: np.ndarray, flagged: np.ndarray, n: int) -> np.ndarray:
    """For each geometry, the index (into the coordinate array) of its first flagged vertex, or -1."""
    first = np.full(n, -1)
    pos = np.flatnonzero(flagged)
    if len(pos):
        groups, at = np.unique(gi[pos], return_index=True)
        first[groups] = pos[at]
    return first


def _area_faults(
    arr: np.ndarray, sane: np.ndarray, area: ServiceArea, out: list[list[GeometryFault]], noun: str
) -> None:
    rows = np.flatnonzero(sane)
    if len(rows) == 0:
        return
    inside = shapely.covers(area.polygon, arr[rows])
    outside = rows[~inside]
    if len(outside) == 0:
        return
    for i, d in zip(outside, area.distances_m(arr[outside])):
        km = round(float(d) / 1000.0, 2)
        where = "point" if noun == "point" else f"{noun}_start"
        facts = {where: _start(arr[i]), "distance_km": km, "buffer_m": area.buffer_m}
        out[i].append(GeometryFault("outside_service_area", facts | ({"partly": True} if km == 0 else {})))


def _start(geom: BaseGeometry) -> list[float | str]:
    """Where a geometry is (a point) or starts (a line or ring), as [lon, lat]: the place a message points to."""
    x, y = shapely.get_coordinates(geom)[0]
    return [_at(float(x)), _at(float(y))]


def _line_shape_faults(
    arr: np.ndarray, finite: np.ndarray, sane: np.ndarray, min_length_m: float, out: list[list[GeometryFault]]
) -> None:
    """line_zero_length on lon/lat lines; validity, simplicity and closure on every finite line."""
    lengths = np.full(len(arr), np.nan)
    lengths[sane] = lengths_m(arr[sane])
    short = sane & (lengths < min_length_m)
    for i in np.flatnonzero(short):
        out[i].append(
            GeometryFault(
                "line_zero_length",
                {"line_start": _start(arr[i]), "length_m": round(float(lengths[i]), 3), "min_length_m": min_length_m},
            )
        )
    # A degenerate line's validity, closure and simplicity are noise next to "it has no length".
    rows = np.flatnonzero(finite & ~short)
    if len(rows) == 0:
        return
    sub = arr[rows]
    reasons = shapely.is_valid_reason(sub)
    simple, closed = shapely.is_simple(sub), shapely.is_closed(sub)
    nverts = shapely.get_num_coordinates(sub)
    for k, i in enumerate(rows):
        if reasons[k] != "Valid Geometry":
            out[i].append(GeometryFault("geometry_invalid", {"line_start": _start(sub[k]), "reason": reasons[k]}))
        if not simple[k]:
            out[i].append(GeometryFault("line_self_intersects", {"line_start": _start(sub[k])}))
        if closed[k] and nverts[k] >= 3:
            out[i].append(GeometryFault("line_closed", {"line_start": _start(sub[k])}))
