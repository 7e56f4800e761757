"""The network's topology rules, enforced by the server. Each rule has a machine code:

* geometry rules from `gis.geometry` (`geometry_type`, `geometry_missing`, `coordinate_not_finite`,
  `coordinates_swapped`, `outside_service_area`, `geometry_invalid`, `line_self_intersects`, `line_closed`,
  `line_zero_length`, `too_many_vertices`, ...);
* `segment_not_snapped`: a segment end is farther than the snap tolerance from every node (the nearest
  distance is reported); within tolerance the end is moved exactly onto the node;
* `segment_same_node`: both ends snap to one node;
* `segment_duplicate`: another live segment joins the same two nodes along overlapping geometry;
* `node_duplicate`: a new node within the snap tolerance of an existing node;
* `not_found` (`what`: node): a named end node does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.errors import FieldError, InvalidInput
from ducting.settings import get_settings
from gis.crs import WGS84
from gis.geometry import GeometryFault, GeometryRejected, check_line, check_point, load_service_area, shape_from_geojson
from gis.snapping import snap_line


class TopologyError(InvalidInput):
    code = "topology_violation"


def fault_errors(faults: list[GeometryFault], path: str) -> list[FieldError]:
    return [FieldError(path, f.code, detail=f.detail) for f in faults]


def _raise(errors: list[FieldError]) -> NoReturn:
    """One rule broken: the problem is that rule, said with its facts; several: `topology_violation`, listing them."""
    if len({e.code for e in errors}) == 1:
        raise TopologyError(code=errors[0].code, errors=errors, **errors[0].detail)
    raise TopologyError(errors=errors)


def parse_point(geojson: object, *, path: str = "geometry") -> Point:
    """Untrusted GeoJSON to a point inside the service area, or a 422 naming every fault."""
    settings = get_settings().topology
    try:
        geom = shape_from_geojson(geojson, expected="Point")
    except GeometryRejected as exc:
        _raise(fault_errors(exc.faults, path))
    faults = check_point(geom, service_area=load_service_area(settings.service_area_buffer_m))
    if faults:
        _raise(fault_errors(faults, path))
    return Point(geom.x, geom.y)


def parse_line(geojson: object, *, path: str = "geometry") -> LineString:
    try:
        geom = shape_from_geojson(geojson, expected="LineString")
    except GeometryRejected as exc:
        _raise(fault_errors(exc.faults, path))
    return check_parsed_line(LineString([c[:2] for c in geom.coords]), path=path)


def check_parsed_line(line: LineString, *, path: str = "geometry") -> LineString:
    settings = get_settings().topology
    faults = check_line(
        line, service_area=load_service_area(settings.service_area_buffer_m), min_length_m=settings.min_segment_length_m
    )
    if faults:
        _raise(fault_errors(faults, path))
    return line


@dataclass(frozen=True)
class NearNode:
    id: int
    code: str
    distance_m: float
    x: float
    y: float


_NEAREST = text("""
    SELECT id, code, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), :srid)::geography) AS d,
           ST_X(geom) AS x, ST_Y(geom) AS y
    FROM node
    WHERE removed_at IS NULL
    ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), :srid)
    LIMIT 3""")


def nearest_node(session: Session, point: Point) -> NearNode | None:
    """The closest live node in metres (index KNN in degrees, refined on the spheroid)."""
    rows = session.execute(_NEAREST, {"x": point.x, "y": point.y, "srid": WGS84}).all()
    if not rows:
        return None
    best = min(rows, key=lambda r: r.d)
    return NearNode(best.id, best.code, float(best.d), best.x, best.y)


def node_by_code(session: Session, code: str, *, path: str) -> NearNode:
    row = session.execute(
        text("SELECT id, code, ST_X(geom) x, ST_Y(geom) y FROM node WHERE code = :c AND removed_at IS NULL"),
        {"c": code},
    ).first()
    if row is None:
        _raise([FieldError(path, "not_found", what="node", ref=code)])
    return NearNode(row.id, row.code, 0.0, row.x, row.y)


def _end(
    session: Session, point: Point, code: str | None, *, path: str, which: str
) -> tuple[NearNode | None, FieldError | None]:
    tolerance = get_settings().topology.snap_tolerance_m
    if code is not None:
        named = node_by_code(session, code, path=path)
        distance = _metres(session, point, Point(named.x, named.y))
        if distance > tolerance:
            return None, FieldError(
                path, "segment_not_snapped", end=which, node=code, distance_m=round(distance, 3), tolerance_m=tolerance
            )
        return named, None
    node = nearest_node(session, point)
    if node is None or node.distance_m > tolerance:
        return None, FieldError(
            path,
            "segment_not_snapped",
            end=which,
            nearest_node=node.code if node else None,
            distance_m=round(node.distance_m, 3) if node else None,
            tolerance_m=tolerance,
        )
    return node, None


def _metres(session: Session, a: Point, b: Point) -> float:
    return float(
        session.execute(
            text(
                "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:ax, :ay), :srid)::geography,"
                " ST_SetSRID(ST_MakePoint(:bx, :by), :srid)::geography)"
            ),
            {"ax": a.x, "ay": a.y, "bx": b.x, "by": b.y, "srid": WGS84},
        ).scalar_one()
    )


def snap_segment(
    session: Session, line: LineString, *, start_code: str | None, end_code: str | None, path: str = "geometry"
) -> tuple[LineString, NearNode, NearNode]:
    """Snap both ends onto nodes (moving them exactly onto the node) or reject with every reason."""
    coords = list(line.coords)
    start, err_start = _end(session, Point(coords[0]), start_code, path=path, which="start")
    end, err_end = _end(session, Point(coords[-1]), end_code, path=path, which="end")
    errors = [e for e in (err_start, err_end) if e is not None]
    if errors:
        _raise(errors)
    assert start is not None and end is not None
    if start.id == end.id:
        _raise([FieldError(path, "segment_same_node", node=start.code)])
    snapped = snap_line(line, Point(start.x, start.y), Point(end.x, end.y))
    return check_parsed_line(snapped, path=path), start, end


def check_not_duplicate(
    session: Session,
    line: LineString,
    start_id: int,
    end_id: int,
    *,
    exclude_id: int | None = None,
    path: str = "geometry",
) -> None:
    """Refuse a segment between the same two nodes whose geometry overlaps a live one's (more than 1 m shared)."""
    row = session.execute(
        text("""
        SELECT code FROM route_segment s
        WHERE s.removed_at IS NULL AND s.id IS DISTINCT FROM CAST(:exclude AS bigint)
          AND ((s.start_node_id = :a AND s.end_node_id = :b) OR (s.start_node_id = :b AND s.end_node_id = :a))
          AND ST_Length(ST_Intersection(s.geom, ST_SetSRID(ST_GeomFromWKB(:wkb), :srid))::geography) > 1.0
        LIMIT 1"""),
        {"a": start_id, "b": end_id, "exclude": exclude_id, "wkb": line.wkb, "srid": WGS84},
    ).first()
    if row is not None:
        _raise([FieldError(path, "segment_duplicate", other=row.code)])


def check_node_free(session: Session, point: Point, *, exclude_id: int | None = None, path: str = "geometry") -> None:
    tolerance = get_settings().topology.snap_tolerance_m
    node = nearest_node(session, point)
    if node is not None and node.id != exclude_id and node.distance_m <= tolerance:
        _raise([FieldError(path, "node_duplicate", node=node.code, distance_m=round(node.distance_m, 3))])


@dataclass(frozen=True)
class SegmentHit:
    id: int
    code: str
    fraction: float
    distance_m: float


def segment_under(session: Session, point: Point) -> SegmentHit | None:
    """The live segment a point is drawn on (within the split tolerance), not at its ends."""
    tolerance = get_settings().topology.split_tolerance_m
    row = session.execute(
        text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), :srid) AS g)
        SELECT s.id, s.code, ST_LineLocatePoint(s.geom, p.g) AS f,
               ST_Distance(s.geom::geography, p.g::geography) AS d
        FROM route_segment s, p
        WHERE s.removed_at IS NULL AND ST_DWithin(s.geom, p.g, :deg)
        ORDER BY s.geom <-> p.g LIMIT 1"""),
        {"x": point.x, "y": point.y, "srid": WGS84, "deg": tolerance * 1.5 / 100_000},
    ).first()
    # :deg is only the index prefilter (1e-5 degree is about 1.1 m here, so 1.5x is generous); the decision uses metres below.
    if row is None or row.d > tolerance or row.f <= 0.0 or row.f >= 1.0:
        return None
    return SegmentHit(row.id, row.code, float(row.f), float(row.d))


def wkb_element(geom: Point | LineString) -> WKBElement:
    return from_shape(geom, srid=WGS84)
