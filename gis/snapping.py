"""Snapping route segments to nodes: nearest-node matching, exact endpoint snapping, splitting at a node.

Distances are measured in UTM 48N metres; the geometries handed back stay in lon/lat and keep their original
vertices bit for bit, so a snapped endpoint equals the node's coordinate exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import LineString, Point, STRtree

from gis.geometry import to_metric

_SAME_POINT_M = 1e-3
"""Projections closer than a millimetre to a vertex land on that vertex instead of making a sliver."""


@dataclass
class EndpointMatch:
    """The nearest node to one line end: its index (None beyond tolerance) and distance in metres."""

    index: int | None
    distance_m: float


def match_endpoints(
    lines: Sequence[LineString], nodes: Sequence[Point], tolerance_m: float
) -> tuple[list[EndpointMatch], list[EndpointMatch]]:
    """Nearest node to each line's start and end, as (starts, ends), lined up with `lines`.

    The distance is reported even past the tolerance (so a message can say "12.3 m from MH-004"); it is inf when
    there are no nodes or the line is empty. Ties go to the lowest node index.
    """
    arr = np.empty(len(lines), dtype=object)
    arr[:] = list(lines)
    present = ~shapely.is_missing(arr)
    present[present] = ~shapely.is_empty(arr[present])
    node_arr = np.empty(len(nodes), dtype=object)
    node_arr[:] = list(nodes)
    tree = STRtree(to_metric(node_arr))
    ends = []
    for position in (0, -1):
        pts = np.empty(len(arr), dtype=object)
        pts[present] = to_metric(shapely.get_point(arr[present], position))
        ends.append(_nearest(tree, pts, tolerance_m))
    return ends[0], ends[1]


def _nearest(tree: STRtree, pts: np.ndarray, tolerance_m: float) -> list[EndpointMatch]:
    index = np.full(len(pts), -1)
    dist = np.full(len(pts), np.inf)
    if len(tree.geometries) and len(pts):
        (src, hit), d = tree.query_nearest(pts, return_distance=True, all_matches=True)
        # Sorted by source then node index, so the first row per source is the lowest-index nearest node.
        order = np.lexsort((hit, src))
        src, hit, d = src[order], hit[order], d[order]
        first = np.unique(src, return_index=True)[1]
        index[src[first]] = hit[first]
        dist[src[first]] = d[first]
    return [EndpointMatch(int(i) if i >= 0 and d <= tolerance_m else None, float(d)) for i, d in zip(index, dist)]


def snap_line(line: LineString, start: Point, end: Point) -> LineString:
    """The line with its first and last coordinates replaced by the nodes' coordinates exactly (2D)."""
    coords = shapely.get_coordinates(line).copy()
    coords[0] = shapely.get_coordinates(start)[0]
    coords[-1] = shapely.get_coordinates(end)[0]
    return LineString(coords)


def find_point_on_lines(point: Point, lines: Sequence[LineString]) -> tuple[int | None, float, float]:
    """The line nearest to `point`: (index, distance_m, fraction along it in 0..1). (None, inf, nan) if none."""
    arr = np.empty(len(lines), dtype=object)
    arr[:] = list(lines)
    metric = to_metric(arr)
    tree = STRtree(metric)
    if not len(tree.geometries):
        return None, math.inf, math.nan
    pt = to_metric(point)
    hits, dists = tree.query_nearest(pt, return_distance=True, all_matches=True)
    if len(hits) == 0:
        return None, math.inf, math.nan
    best = int(np.min(hits))
    fraction = float(shapely.line_locate_point(metric[best], pt, normalized=True))
    return best, float(dists[np.argmin(hits)]), fraction


def split_line_at(line: LineString, point: Point) -> tuple[LineString, LineString]:
    """Split at the projection of `point` onto `line`; both halves share that exact coordinate.

    The projection is found in metres; the split coordinate is interpolated on the original lon/lat segment, so
    every other vertex is kept unchanged. Raises ValueError when the projection falls on an end of the line.
    """
    lonlat = shapely.get_coordinates(line)
    xy = shapely.get_coordinates(to_metric(line))
    p = shapely.get_coordinates(to_metric(point))[0]
    seg, t = _closest_segment(xy, p)
    seg_len = float(np.hypot(*(xy[seg + 1] - xy[seg])))
    if t * seg_len < _SAME_POINT_M:
        t = 0.0
    elif (1.0 - t) * seg_len < _SAME_POINT_M:
        seg, t = seg + 1, 0.0
    if (seg == 0 and t == 0.0) or seg == len(lonlat) - 1:
        raise ValueError("the split point projects onto an end of the line; nothing to split")
    if t == 0.0:  # on an existing vertex: share it, add nothing
        return LineString(lonlat[: seg + 1]), LineString(lonlat[seg:])
    cut = lonlat[seg] + t * (lonlat[seg + 1] - lonlat[seg])
    first = np.vstack([lonlat[: seg + 1], cut])
    second = np.vstack([cut, lonlat[seg + 1 :]])
    return LineString(first), LineString(second)


def _closest_segment(xy: np.ndarray, p: np.ndarray) -> tuple[int, float]:
    """Index of the segment nearest to p, and p's projection parameter on it (0..1)."""
    a, b = xy[:-1], xy[1:]
    ab = b - a
    denom = np.einsum("ij,ij->i", ab, ab)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.einsum("ij,ij->i", p - a, ab) / denom, 0.0, 1.0)
    t = np.where(denom > 0, t, 0.0)
    foot = a + t[:, None] * ab
    d = np.hypot(*(foot - p).T)
    seg = int(np.argmin(d))
    return seg, float(t[seg])
