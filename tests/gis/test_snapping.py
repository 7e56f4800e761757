"""Snapping rules: nearest node within tolerance, exact endpoint replacement, splitting where a node is drawn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely import LineString, Point

from gis.geometry import length_m, to_lonlat, to_metric
from gis.snapping import EndpointMatch, find_point_on_lines, match_endpoints, snap_line, split_line_at

ORIGIN = shapely.get_coordinates(to_metric(Point(104.0125, 1.1431)))[0]


def at(dx: float, dy: float) -> Point:
    """A lon/lat point dx, dy metres from the origin."""
    return to_lonlat(Point(ORIGIN[0] + dx, ORIGIN[1] + dy))


def line(*offsets: tuple[float, float]) -> LineString:
    return to_lonlat(LineString([(ORIGIN[0] + dx, ORIGIN[1] + dy) for dx, dy in offsets]))


def test_endpoint_within_tolerance_matches_nearest_node_with_distance_in_metres():
    nodes = [at(0, 0), at(100, 2)]
    starts, ends = match_endpoints([line((0, 0), (100, 0))], nodes, tolerance_m=5.0)
    assert starts[0].index == 0 and starts[0].distance_m == pytest.approx(0.0, abs=1e-6)
    assert ends[0].index == 1 and ends[0].distance_m == pytest.approx(2.0, abs=1e-3)


def test_endpoint_beyond_tolerance_has_no_index_but_keeps_its_distance():
    starts, ends = match_endpoints([line((0, 0), (100, 0))], [at(0, 12.5)], tolerance_m=10.0)
    assert starts[0] == EndpointMatch(None, pytest.approx(12.5, abs=1e-3))
    assert ends[0].index is None and ends[0].distance_m > 100


def test_no_nodes_gives_infinite_distance():
    starts, ends = match_endpoints([line((0, 0), (10, 0))], [], tolerance_m=10.0)
    assert starts == ends == [EndpointMatch(None, math.inf)]


def test_missing_or_empty_line_gets_no_match():
    starts, _ = match_endpoints([None, LineString(), line((0, 0), (10, 0))], [at(0, 0)], tolerance_m=1.0)
    assert [s.index for s in starts] == [None, None, 0]
    assert starts[0].distance_m == math.inf


def test_tied_nodes_resolve_to_the_lowest_index():
    starts, _ = match_endpoints([line((0, 0), (10, 0))], [at(0, 0), at(10, 0), at(0, 0)], tolerance_m=1.0)
    assert starts[0].index == 0


def test_match_endpoints_is_vectorised_over_many_lines():
    nodes = [at(i * 50.0, 0) for i in range(201)]
    lines = [line((i * 50.0, 0.3), ((i + 1) * 50.0, -0.4)) for i in range(200)]
    starts, ends = match_endpoints(lines, nodes, tolerance_m=1.0)
    assert [s.index for s in starts] == list(range(200))
    assert [e.index for e in ends] == list(range(1, 201))


def test_snap_line_replaces_first_and_last_coordinate_exactly():
    original = line((0.4, 0.2), (50, 10), (99.7, -0.3))
    start, end = at(0, 0), at(100, 0)
    snapped = snap_line(original, start, end)
    coords = shapely.get_coordinates(snapped)
    assert tuple(coords[0]) == (start.x, start.y) and tuple(coords[-1]) == (end.x, end.y)
    assert tuple(coords[1]) == tuple(shapely.get_coordinates(original)[1])


def test_split_line_halves_share_the_exact_projected_point():
    original = line((0, 0), (100, 0), (100, 100))
    first, second = split_line_at(original, at(40, 3))
    assert tuple(shapely.get_coordinates(first)[-1]) == tuple(shapely.get_coordinates(second)[0])
    assert length_m(first) == pytest.approx(40.0, abs=0.05)
    assert length_m(first) + length_m(second) == pytest.approx(length_m(original), abs=1e-6)


def test_split_line_keeps_original_vertices_bit_for_bit():
    original = line((0, 0), (30, 5), (100, 0), (100, 100))
    first, second = split_line_at(original, at(100, 50))
    coords = shapely.get_coordinates(original)
    assert np.array_equal(shapely.get_coordinates(first)[:3], coords[:3])
    assert np.array_equal(shapely.get_coordinates(second)[-1], coords[-1])


def test_split_at_an_interior_vertex_adds_no_new_vertex():
    original = line((0, 0), (100, 0), (100, 100))
    first, second = split_line_at(original, at(100, 0))
    assert len(shapely.get_coordinates(first)) == 2 and len(shapely.get_coordinates(second)) == 2


def test_split_at_either_end_is_refused():
    original = line((0, 0), (100, 0))
    for where in (at(-5, 1), at(0, 0), at(100.0002, 0), at(130, 0)):
        with pytest.raises(ValueError):
            split_line_at(original, where)


def test_find_point_on_lines_gives_nearest_line_distance_and_fraction():
    lines = [line((0, 50), (100, 50)), line((0, 0), (100, 0))]
    index, distance, fraction = find_point_on_lines(at(25, 4), lines)
    assert index == 1 and distance == pytest.approx(4.0, abs=1e-3) and fraction == pytest.approx(0.25, abs=1e-4)


def test_find_point_on_no_lines_returns_none():
    assert find_point_on_lines(at(0, 0), [])[0] is None
