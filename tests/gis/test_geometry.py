"""Geometry rules: every fault code, metric helpers, the service area, and a fuzz test of the GeoJSON door."""

from __future__ import annotations

import json
import math

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, Point

from gis.geometry import (
    GeometryFault,
    GeometryRejected,
    check_line,
    check_lines,
    check_point,
    check_points,
    length_m,
    lengths_m,
    load_service_area,
    shape_from_geojson,
    to_lonlat,
    to_metric,
)

NAGOYA = (104.0125, 1.1431)  # Batam's old town centre, well inside the service area
SINGAPORE = (103.8198, 1.3521)
KNOWN_CODES = {
    "geometry_missing",
    "geometry_type",
    "coordinate_not_finite",
    "coordinate_invalid",
    "coordinates_swapped",
    "outside_service_area",
    "geometry_invalid",
    "line_self_intersects",
    "line_closed",
    "line_zero_length",
    "too_many_vertices",
    "coordinate_dimension",
}


@pytest.fixture(scope="module")
def area():
    return load_service_area()


def metric_line(*offsets_m: tuple[float, float]) -> LineString:
    """A line drawn in metres from Nagoya, returned in lon/lat."""
    x0, y0 = shapely.get_coordinates(to_metric(Point(NAGOYA)))[0]
    return to_lonlat(LineString([(x0 + dx, y0 + dy) for dx, dy in offsets_m]))


def rejected(obj, expected: str = "LineString", **kwargs) -> list[GeometryFault]:
    with pytest.raises(GeometryRejected) as info:
        shape_from_geojson(obj, expected=expected, **kwargs)
    assert info.value.faults
    return info.value.faults


def codes(faults: list[GeometryFault]) -> list[str]:
    return [f.code for f in faults]


# --- shape_from_geojson ---------------------------------------------------------------------------------------


def test_valid_linestring_becomes_a_2d_shapely_line():
    geom = shape_from_geojson(
        {"type": "LineString", "coordinates": [[104.01, 1.14], [104.02, 1.15]]}, expected="LineString"
    )
    assert geom.geom_type == "LineString" and not geom.has_z


def test_3d_coordinates_are_accepted_with_height_dropped():
    geom = shape_from_geojson(
        {"type": "LineString", "coordinates": [[104.01, 1.14, 12.5], [104.02, 1.15, 3]]}, expected="LineString"
    )
    assert not geom.has_z
    assert shapely.get_coordinates(geom).tolist() == [[104.01, 1.14], [104.02, 1.15]]


def test_feature_wrapper_and_json_text_are_unwrapped():
    text = json.dumps({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [104, 1]}})
    assert shape_from_geojson(text, expected="Point").equals(Point(104, 1))


def test_missing_geometry_is_rejected_as_geometry_missing():
    assert codes(rejected(None)) == ["geometry_missing"]
    assert codes(rejected({"type": "Feature", "geometry": None})) == ["geometry_missing"]


def test_wrong_type_is_rejected_naming_expected_and_received():
    (fault,) = rejected({"type": "Point", "coordinates": [104, 1]}, expected="LineString")
    assert fault.code == "geometry_type"
    assert fault.detail == {"expected": "LineString", "got": "Point"}


def test_non_object_geometry_is_rejected_as_geometry_type():
    assert codes(rejected([104, 1], expected="Point")) == ["geometry_type"]


def test_single_part_multilinestring_is_accepted_as_linestring():
    geom = shape_from_geojson(
        {"type": "MultiLineString", "coordinates": [[[104, 1], [104.1, 1]]]}, expected="LineString"
    )
    assert geom.geom_type == "LineString"


def test_polygon_is_accepted_where_multipolygon_is_expected():
    ring = [[104, 1], [104.1, 1], [104.1, 1.1], [104, 1]]
    assert (
        shape_from_geojson({"type": "Polygon", "coordinates": [ring]}, expected="MultiPolygon").geom_type
        == "MultiPolygon"
    )


def test_empty_coordinates_are_rejected_as_geometry_missing():
    (fault,) = rejected({"type": "LineString", "coordinates": []})
    assert fault.code == "geometry_missing" and fault.detail == {"geometry": "LineString"}
    assert codes(rejected({"type": "Point", "coordinates": []}, expected="Point")) == ["geometry_missing"]


def test_nan_parsed_by_json_is_rejected_as_coordinate_not_finite():
    obj = json.loads('{"type": "LineString", "coordinates": [[NaN, 1.1], [104.0, Infinity]]}')
    (fault,) = rejected(obj)
    assert fault.code == "coordinate_not_finite"
    assert fault.detail["count"] == 2


def test_huge_integer_is_rejected_as_coordinate_not_finite():
    assert codes(rejected({"type": "Point", "coordinates": [10**400, 1]}, expected="Point")) == [
        "coordinate_not_finite"
    ]


def test_string_or_null_inside_coordinates_is_rejected_as_coordinate_invalid():
    (fault,) = rejected({"type": "LineString", "coordinates": [["104.0", 1.1], [104.0, None]]})
    assert fault.code == "coordinate_invalid"
    assert fault.detail == {"path": "coordinates[0][0]", "value": "'104.0'", "expected": "number", "count": 2}


def test_boolean_coordinate_is_rejected_as_coordinate_invalid():
    assert codes(rejected({"type": "Point", "coordinates": [True, 1.0]}, expected="Point")) == ["coordinate_invalid"]


def test_position_with_one_or_four_numbers_is_rejected_as_coordinate_dimension():
    (fault,) = rejected({"type": "LineString", "coordinates": [[104.0], [104, 1, 2, 3]]})
    assert fault.code == "coordinate_dimension" and fault.detail["count"] == 2


def test_every_kind_of_coordinate_fault_is_reported_together():
    faults = rejected({"type": "LineString", "coordinates": [[104.0], ["x", 1.0], [float("nan"), 1.0]]})
    assert set(codes(faults)) == {"coordinate_dimension", "coordinate_invalid", "coordinate_not_finite"}


def test_linestring_with_one_position_is_rejected_as_geometry_invalid():
    (fault,) = rejected({"type": "LineString", "coordinates": [[104.0, 1.1]]})
    assert fault.code == "geometry_invalid" and fault.detail == {"line_positions": 1}


def test_self_intersecting_polygon_is_rejected_as_geometry_invalid():
    bowtie = [[104, 1], [104.1, 1.1], [104.1, 1], [104, 1.1], [104, 1]]
    (fault,) = rejected({"type": "Polygon", "coordinates": [bowtie]}, expected="Polygon")
    assert fault.code == "geometry_invalid" and fault.detail["reason"].startswith("Self-intersection")


def test_unclosed_polygon_ring_is_rejected_as_geometry_invalid():
    ring = [[104, 1], [104.1, 1], [104.1, 1.1], [104, 1.1]]
    (fault,) = rejected({"type": "Polygon", "coordinates": [ring]}, expected="Polygon")
    assert fault.code == "geometry_invalid" and fault.detail == {"ring_start": [104, 1], "ring_end": [104, 1.1]}


def test_more_positions_than_the_limit_is_rejected_as_too_many_vertices():
    coords = [[104 + i * 1e-4, 1.1] for i in range(11)]
    (fault,) = rejected({"type": "LineString", "coordinates": coords}, max_vertices=10)
    assert fault.code == "too_many_vertices" and fault.detail["limit"] == 10
    assert shape_from_geojson(
        {"type": "LineString", "coordinates": coords[:10]}, expected="LineString", max_vertices=10
    )


# --- check_point / check_line ---------------------------------------------------------------------------------


def test_point_inside_batam_has_no_faults(area):
    assert check_point(Point(NAGOYA), service_area=area) == []


def test_point_with_swapped_lat_lon_is_rejected_with_hint(area):
    geom = shape_from_geojson({"type": "Point", "coordinates": [1.12, 104.05]}, expected="Point")
    faults = check_point(geom, service_area=area)
    assert codes(faults) == ["coordinates_swapped"]  # and no outside_service_area noise
    assert faults[0].detail == {"position": [1.12, 104.05], "suggested": [104.05, 1.12], "count": 1}


def test_line_with_swapped_pairs_reports_only_the_swap(area):
    faults = check_line(LineString([(1.14, 104.01), (1.15, 104.02)]), service_area=area)
    assert codes(faults) == ["coordinates_swapped"]
    assert faults[0].detail["count"] == 2


def test_point_in_singapore_is_outside_service_area_with_distance_in_km(area):
    (fault,) = check_point(Point(SINGAPORE), service_area=area)
    assert fault.code == "outside_service_area"
    assert 5 < fault.detail["distance_km"] < 40
    assert fault.detail["point"] == [SINGAPORE[0], SINGAPORE[1]] and fault.detail["buffer_m"] == 1000.0


def test_point_with_impossible_longitude_is_outside_service_area(area):
    (fault,) = check_point(Point(500, 1), service_area=area)
    assert fault.code == "outside_service_area" and fault.detail == {"position": [500, 1], "distance_km": None}


def test_line_leaving_batam_is_outside_service_area(area):
    faults = check_line(LineString([NAGOYA, SINGAPORE]), service_area=area)
    assert codes(faults) == ["outside_service_area"]
    assert faults[0].detail["distance_km"] == 0 and faults[0].detail["partly"] is True
    assert faults[0].detail["line_start"] == list(NAGOYA)


def test_service_area_is_batam_buffered_and_cached(area):
    assert area.contains(Point(NAGOYA)) and not area.contains(Point(SINGAPORE))
    assert area.polygon.is_valid and area.buffer_m == 1000.0
    assert load_service_area() is area


def test_missing_wrong_and_empty_geometries_are_named(area):
    assert codes(check_point(None, service_area=area)) == ["geometry_missing"]
    assert codes(check_point(LineString([NAGOYA, (104.02, 1.15)]), service_area=area)) == ["geometry_type"]
    assert codes(check_line(LineString(), service_area=area)) == ["geometry_missing"]
    assert codes(check_point(Point(), service_area=area)) == ["geometry_missing"]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_inside_a_shapely_geometry_is_coordinate_not_finite(area):
    assert codes(check_point(Point(math.nan, 1.1), service_area=area)) == ["coordinate_not_finite"]
    line = LineString([NAGOYA, (math.nan, 1.15)])
    assert codes(check_line(line, service_area=area)) == ["coordinate_not_finite"]


def test_repeated_points_are_line_zero_length(area):
    faults = check_line(LineString([NAGOYA, NAGOYA, NAGOYA]), service_area=area)
    assert codes(faults) == ["line_zero_length"]  # not also "too few points" or "closed"


def test_line_shorter_than_minimum_is_line_zero_length(area):
    line = metric_line((0, 0), (0.3, 0))
    (fault,) = check_line(line, service_area=area)
    assert fault.code == "line_zero_length" and fault.detail["length_m"] == pytest.approx(0.3, abs=0.01)
    assert check_line(line, service_area=area, min_length_m=0.2) == []


def test_figure_eight_is_line_self_intersects(area):
    line = metric_line((0, 0), (100, 100), (100, 0), (0, 100))
    assert codes(check_line(line, service_area=area)) == ["line_self_intersects"]


def test_loop_back_to_start_is_line_closed(area):
    line = metric_line((0, 0), (100, 0), (100, 100), (0, 0))
    faults = check_line(line, service_area=area)
    assert codes(faults) == ["line_closed"]


def test_line_with_more_vertices_than_limit_is_too_many_vertices(area):
    line = metric_line(*[(i * 10.0, 0) for i in range(20)])
    (fault,) = check_line(line, service_area=area, max_vertices=10)
    assert fault.code == "too_many_vertices" and fault.detail == {"vertices": 20, "limit": 10}


def test_a_line_reports_every_independent_fault(area):
    x, y = SINGAPORE
    figure_eight = LineString([(x, y), (x + 0.001, y + 0.001), (x + 0.001, y), (x, y + 0.001)])
    assert set(codes(check_line(figure_eight, service_area=area))) == {"outside_service_area", "line_self_intersects"}


def test_check_lines_lines_up_faults_with_input(area):
    good = metric_line((0, 0), (50, 0))
    result = check_lines([good, None, LineString([NAGOYA, NAGOYA]), Point(NAGOYA)], service_area=area)
    assert [codes(r) for r in result] == [[], ["geometry_missing"], ["line_zero_length"], ["geometry_type"]]


def test_check_points_lines_up_faults_with_input(area):
    result = check_points([Point(NAGOYA), Point(1.14, 104.01), None], service_area=area)
    assert [codes(r) for r in result] == [[], ["coordinates_swapped"], ["geometry_missing"]]


def sayable(fault: GeometryFault) -> bool:
    """The fault's facts fill one of its code's templates in the service's registry (gis itself has no words)."""
    from ducting.problems import entry

    found = entry(fault.code)
    return found is not None and found.variant(fault.detail) is not None


def test_faults_have_codes_from_the_known_set_and_the_facts_their_words_need(area):
    pile = [None, LineString(), Point(NAGOYA), LineString([NAGOYA, NAGOYA]), LineString([(1.1, 104), (1.2, 104)])]
    found = [fault for faults in check_lines(pile, service_area=area) for fault in faults]
    assert len(found) >= 4
    for fault in found:
        assert fault.code in KNOWN_CODES and sayable(fault), fault


# --- metric helpers -------------------------------------------------------------------------------------------


def test_geodesic_length_of_1km_line_matches_utm_within_0_05_percent():
    line = metric_line((0, 0), (600, 0), (600, 400))
    utm = to_metric(line).length
    assert utm == pytest.approx(1000.0, rel=1e-9)
    assert length_m(line) == pytest.approx(utm, rel=5e-4)


def test_vectorised_lengths_equal_single_lengths():
    lines = [metric_line((0, 0), (i * 10.0 + 5, 3.0), (i * 20.0 + 9, 40.0)) for i in range(5)]
    assert lengths_m(lines) == pytest.approx([length_m(g) for g in lines], rel=1e-12)
    assert math.isnan(lengths_m([None])[0])


def test_to_metric_and_back_round_trips_to_sub_millimetre():
    line = LineString([NAGOYA, (104.03, 1.16)])
    back = to_lonlat(to_metric(line))
    assert shapely.hausdorff_distance(to_metric(back), to_metric(line)) < 1e-3
    assert 300_000 < shapely.get_coordinates(to_metric(Point(NAGOYA)))[0][0] < 500_000  # west of 105° E


def test_to_metric_accepts_arrays_and_drops_z():
    out = to_metric([Point(104, 1, 5), Point(104.1, 1.1)])
    assert len(out) == 2 and not any(shapely.has_z(out))


# --- fuzz -----------------------------------------------------------------------------------------------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-200, 200),
    st.floats(-200, 200),
    st.sampled_from([104.0, 1.1, 90.0, -90.0, 180.0, 105.0]),
)
_position = st.one_of(
    st.lists(st.one_of(_number, _junk), min_size=0, max_size=5),
    st.tuples(st.floats(103.9, 104.2), st.floats(0.9, 1.3)).map(list),
    st.tuples(st.floats(0.9, 1.3), st.floats(103.9, 104.2)).map(list),
    _junk,
)
_coordinates = st.one_of(
    st.lists(_position, max_size=12),
    _position,
    _junk,
    st.lists(st.lists(_position, max_size=4), max_size=3),
    st.recursive(st.lists(_number, max_size=3), lambda inner: st.lists(inner, max_size=3), max_leaves=20),
)
_geojson = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["LineString", "MultiLineString", "Point", "Feature", "Polygon"])
            | st.text(max_size=12),
            "coordinates": _coordinates,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("Feature"),
            "geometry": st.one_of(
                st.none(), st.fixed_dictionaries({"type": st.just("LineString"), "coordinates": _coordinates})
            ),
        }
    ),
    st.dictionaries(st.text(max_size=12), _junk, max_size=3),
    _junk,
    st.lists(_junk, max_size=3),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=_geojson, expected=st.sampled_from(["LineString", "LineString", "Point", "Polygon", "MultiPolygon"]))
def test_fuzzed_geojson_only_ever_yields_rejection_or_faults(obj, expected):
    area = load_service_area()
    try:
        geom = shape_from_geojson(obj, expected=expected)
    except GeometryRejected as exc:
        assert exc.faults and {f.code for f in exc.faults} <= KNOWN_CODES
        return
    assert geom.geom_type == expected
    if expected == "LineString":
        faults = check_line(geom, service_area=area)
    elif expected == "Point":
        faults = check_point(geom, service_area=area)
    else:
        return
    assert {f.code for f in faults} <= KNOWN_CODES
    assert all(sayable(f) for f in faults)
