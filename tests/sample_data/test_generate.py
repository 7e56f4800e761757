"""The sample network generator and its committed output. Pure: no database."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from ducting.accounts.vocab import OrganisationKind, OrganisationStatus
from ducting.network.vocab import Lifecycle, NodeKind, TrenchType, ZoneClass
from gis.crs import GEOD, UTM48N, WGS84
from gis.geometry import check_lines, check_points, load_service_area
from sample_data import _attributes
from sample_data._growth import share_budget
from sample_data._land import load_kelurahan
from sample_data._places import DISTRICTS
from sample_data._streets import Warp
from sample_data.generate import (
    NODE_COLUMNS,
    SEGMENT_COLUMNS,
    Network,
    connected_share,
    generate_network,
    largest_component_share,
    route_km,
    write_gpkg,
)

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE = SAMPLE_DIR / "batam_network.gpkg"
ABBREVIATIONS = "|".join(d.abbr for d in DISTRICTS)
NODE_CODE = re.compile(rf"^(MH|HH|PL|CB|BE)-({ABBREVIATIONS})-\d{{5}}$")
SEGMENT_CODE = re.compile(rf"^RS-({ABBREVIATIONS})-\d{{5}}$")
SPECS = {"HDPE-40/33-7xMD10", "HDPE-32/26", "HDPE-40/33", "HDPE-50/42", "PVC-110-4x32", "PVC-110-3x40"}


def read_sample(path: Path) -> Network:
    return Network(
        nodes=pyogrio.read_dataframe(path, layer="nodes"),
        segments=pyogrio.read_dataframe(path, layer="segments"),
    )


@pytest.fixture(scope="module")
def committed() -> Network:
    return read_sample(SAMPLE)


@pytest.fixture(scope="module")
def generated() -> Network:
    return generate_network(target_segments=3000, seed=7)


@pytest.fixture(scope="module", params=["committed", "generated"])
def network(request: pytest.FixtureRequest) -> Network:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def ten_thousand() -> Network:
    return generate_network(target_segments=10_000, seed=5)


@pytest.fixture(scope="module")
def central_kelurahan() -> np.ndarray:
    kelurahan = load_kelurahan()
    return kelurahan[kelurahan["kecamatan"].isin([d.name for d in DISTRICTS])].geometry.values


@pytest.fixture(scope="module")
def central_land(central_kelurahan: np.ndarray) -> shapely.Geometry:
    # The union leaves zero-width cracks where neighbours' borders disagree; a 1 cm buffer closes them.
    land = shapely.buffer(shapely.union_all(shapely.make_valid(central_kelurahan)), 1e-7)
    shapely.prepare(land)
    return land


def node_lookup(network: Network) -> dict[str, tuple[float, float]]:
    return {code: (p.x, p.y) for code, p in zip(network.nodes["code"], network.nodes.geometry)}


# The agreed shape


def test_columns_are_exactly_the_agreed_ones(network: Network) -> None:
    assert list(network.nodes.columns) == NODE_COLUMNS
    assert list(network.segments.columns) == SEGMENT_COLUMNS
    assert network.nodes.crs.to_epsg() == WGS84 and network.segments.crs.to_epsg() == WGS84


def test_codes_are_unique_and_name_kind_and_district(network: Network) -> None:
    nodes, segments = network.nodes, network.segments
    assert nodes["code"].is_unique and segments["code"].is_unique
    assert nodes["code"].map(lambda c: bool(NODE_CODE.match(c))).all()
    assert segments["code"].map(lambda c: bool(SEGMENT_CODE.match(c))).all()
    prefix = nodes["kind"].map(lambda k: _attributes.PREFIX[NodeKind(k)])
    assert (nodes["code"].str[:2] == prefix).all()


def test_values_come_from_the_vocabulary(network: Network) -> None:
    assert set(network.nodes["kind"]) <= {k.value for k in NodeKind}
    assert set(network.nodes["status"]) | set(network.segments["status"]) <= {s.value for s in Lifecycle}
    assert set(network.segments["trench_type"]) <= {t.value for t in TrenchType}
    assert set(network.segments["zone_class"]) == {z.value for z in ZoneClass}


def test_node_kinds_are_mostly_chambers_with_a_few_of_the_rest(network: Network) -> None:
    kinds = network.nodes["kind"].value_counts()
    chambers = kinds.get(NodeKind.MANHOLE.value, 0) + kinds.get(NodeKind.HANDHOLE.value, 0)
    assert chambers / len(network.nodes) > 0.9
    for kind in (NodeKind.CABINET, NodeKind.POLE, NodeKind.BUILDING_ENTRY):
        assert 0 < kinds.get(kind.value, 0) < 0.05 * len(network.nodes)


def test_statuses_are_mostly_operational_with_some_planned_and_being_built(network: Network) -> None:
    for frame in (network.nodes, network.segments):
        share = frame["status"].value_counts(normalize=True)
        assert share[Lifecycle.OPERATIONAL.value] > 0.85
        assert share[Lifecycle.PLANNED.value] > 0 and share[Lifecycle.UNDER_CONSTRUCTION.value] > 0


def test_depths_dates_and_owners_are_in_range(network: Network) -> None:
    assert network.segments["depth_m"].between(0.6, 1.5).all()
    days = network.nodes["install_date"].map(date.fromisoformat)
    assert days.between(date(2019, 1, 1), date(2026, 12, 31)).all()
    owners = network.nodes["owner"].value_counts(normalize=True)
    assert owners["BUMD"] > 0.95
    operators = json.loads((SAMPLE_DIR / "operators.json").read_text())
    assert set(owners.index) <= {o["code"] for o in operators}  # what the importer can resolve


def test_ducts_are_one_to_four_known_specs_with_reserve_only_on_carriers(network: Network) -> None:
    counts: dict[str, int] = {}
    for text in network.segments["ducts"]:
        ducts = json.loads(text)
        assert 1 <= len(ducts) <= 4
        for duct in ducts:
            assert set(duct) == {"spec", "reserve"} and duct["spec"] in SPECS
            assert duct["reserve"] in (0, 1)
            assert duct["reserve"] == 0 or duct["spec"] in _attributes.CARRIERS
            counts[duct["spec"]] = counts.get(duct["spec"], 0) + 1
    assert max(counts, key=counts.get) == "HDPE-40/33-7xMD10"


def test_main_roads_carry_more_ducts_than_side_streets(network: Network) -> None:
    count = network.segments["ducts"].map(lambda text: len(json.loads(text)))
    zone = network.segments["zone_class"]
    assert count[zone == ZoneClass.COMMERCIAL.value].mean() > count[zone == ZoneClass.RESIDENTIAL.value].mean() + 1


# Topology


def test_segment_ends_equal_their_node_coordinates_exactly(network: Network) -> None:
    at = node_lookup(network)
    segments = network.segments
    for line, start, end in zip(segments.geometry, segments["start_node"], segments["end_node"]):
        coords = shapely.get_coordinates(line)
        assert tuple(coords[0]) == at[start] and tuple(coords[-1]) == at[end]


def test_segments_are_simple_open_short_polylines_at_least_5_m_long(network: Network) -> None:
    lines = network.segments.geometry.values
    metric = network.segments.to_crs(UTM48N).geometry.values
    assert shapely.is_simple(lines).all()
    assert not shapely.is_closed(lines).any()
    assert (shapely.length(metric) >= 5.0).all()
    assert np.isin(shapely.get_num_coordinates(lines), [2, 3, 4, 5]).all()
    assert (network.segments["start_node"] != network.segments["end_node"]).all()


def test_no_two_segments_join_the_same_node_pair(network: Network) -> None:
    pairs = {frozenset(p) for p in zip(network.segments["start_node"], network.segments["end_node"])}
    assert len(pairs) == len(network.segments)


def test_segments_meet_only_at_nodes_they_share(network: Network) -> None:
    lines = network.segments.geometry.values
    ends = list(zip(network.segments["start_node"], network.segments["end_node"]))
    at = node_lookup(network)
    left, right = shapely.STRtree(lines).query(lines, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    meeting = shapely.intersection(lines[left], lines[right])
    for i, j, where in zip(left, right, meeting):
        shared = set(ends[i]) & set(ends[j])
        assert len(shared) == 1, f"{network.segments['code'][i]} crosses {network.segments['code'][j]}"
        assert where.geom_type == "Point" and (where.x, where.y) == at[shared.pop()]


def test_every_node_lies_inside_a_central_kelurahan(network: Network, central_kelurahan: np.ndarray) -> None:
    inside, _ = shapely.STRtree(central_kelurahan).query(network.nodes.geometry.values, predicate="within")
    assert set(inside.tolist()) == set(range(len(network.nodes)))


def test_every_segment_runs_on_central_land(network: Network, central_land: shapely.Geometry) -> None:
    assert shapely.covers(central_land, network.segments.geometry.values).all()


def test_the_importers_geometry_rules_find_no_fault(network: Network) -> None:
    area = load_service_area()
    assert not any(check_points(list(network.nodes.geometry), service_area=area))
    assert not any(check_lines(list(network.segments.geometry), service_area=area))
    metric = network.nodes.to_crs(UTM48N).geometry.values
    near, other = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=5.0)
    assert (near == other).all(), "nodes closer than 5 m would be snapped together on import"


def test_every_node_is_used_by_a_segment(network: Network) -> None:
    used = set(network.segments["start_node"]) | set(network.segments["end_node"])
    assert used == set(network.nodes["code"])


def test_each_district_is_one_connected_piece(network: Network) -> None:
    shares = largest_component_share(network)
    assert set(shares) == {d.abbr for d in DISTRICTS}
    assert min(shares.values()) >= 0.95


@pytest.mark.parametrize("name", ["committed", "generated", "ten_thousand"])
def test_the_whole_city_is_one_connected_network(name: str, request: pytest.FixtureRequest) -> None:
    """Operators lease routes across districts, so trunk links must join every district's streets."""
    assert connected_share(request.getfixturevalue(name)) >= 0.99


def test_segments_cross_district_borders_as_trunks_between_manholes(network: Network) -> None:
    nodes, segments = network.nodes.set_index("code"), network.segments
    across = segments[segments["start_node"].str[3:6] != segments["end_node"].str[3:6]]
    assert len(across) >= len(DISTRICTS) - 1
    joined = {frozenset(pair) for pair in zip(across["start_node"].str[3:6], across["end_node"].str[3:6])}
    assert len(joined) >= len(DISTRICTS) - 1
    ends = pd.concat([across["start_node"], across["end_node"]])
    assert set(nodes.loc[ends, "kind"]) == {NodeKind.MANHOLE.value}
    assert set(across["zone_class"]) <= {ZoneClass.COMMERCIAL.value, ZoneClass.CBD.value}
    for text in across["ducts"]:
        ducts = json.loads(text)
        assert len(ducts) >= 3 and {d["spec"] for d in ducts} <= {"PVC-110-4x32", "HDPE-40/33-7xMD10"}


# The committed sample


def test_committed_sample_is_the_size_the_brief_asks_for(committed: Network) -> None:
    kinds = committed.nodes["kind"].value_counts()
    assert 1800 <= len(committed.segments) <= 2500
    assert route_km(committed) >= 150
    assert kinds[NodeKind.MANHOLE.value] + kinds[NodeKind.HANDHOLE.value] >= 1500
    assert SAMPLE.stat().st_size < 5_000_000


def test_committed_sample_route_length_agrees_with_the_spheroid(committed: Network) -> None:
    geodesic_km = sum(GEOD.geometry_length(line) for line in committed.segments.geometry) / 1000
    assert route_km(committed) == pytest.approx(geodesic_km, rel=1e-3)


def test_committed_sample_has_its_cbd_in_nagoya_and_batam_centre(committed: Network) -> None:
    cbd = committed.segments[committed.segments["zone_class"] == ZoneClass.CBD.value]
    assert set(cbd["code"].str[3:6]) <= {"LBJ", "BTK", "BTA", "BKG"}
    assert {"LBJ", "BTK"} <= set(cbd["code"].str[3:6])


@pytest.mark.slow
def test_committed_sample_is_what_the_generator_makes(committed: Network) -> None:
    fresh = generate_network()
    for ours, theirs in ((fresh.nodes, committed.nodes), (fresh.segments, committed.segments)):
        pd.testing.assert_frame_equal(ours.drop(columns="geometry"), theirs.drop(columns="geometry"), check_dtype=False)
        # Tolerant, so that another proj or numpy build does not fail it over the last bit.
        assert shapely.equals_exact(ours.geometry.values, theirs.geometry.values, tolerance=1e-9).all()


# The generator's contract


def test_same_seed_gives_the_same_network(generated: Network) -> None:
    again = generate_network(target_segments=3000, seed=7)
    assert again.nodes.equals(generated.nodes) and again.segments.equals(generated.segments)


def test_another_seed_gives_another_network(generated: Network) -> None:
    other = generate_network(target_segments=3000, seed=8)
    assert not shapely.equals(other.nodes.geometry.values[:50], generated.nodes.geometry.values[:50]).all()


@pytest.mark.parametrize("target", [500, 3000, 10_000])
def test_target_segment_count_is_met_within_3_percent(target: int) -> None:
    network = generate_network(target_segments=target, seed=11)
    assert abs(len(network.segments) - target) <= 0.03 * target


@pytest.mark.slow
def test_hundred_thousand_segments_fit_on_the_land_in_good_time(central_land: shapely.Geometry) -> None:
    started = time.perf_counter()
    network = generate_network(target_segments=100_000)
    assert time.perf_counter() - started < 90
    assert abs(len(network.segments) - 100_000) <= 3000
    assert shapely.covers(central_land, network.segments.geometry.values).all()
    assert network.nodes["code"].is_unique and network.segments["code"].is_unique
    assert connected_share(network) >= 0.99
    assert min(largest_component_share(network).values()) >= 0.99  # Batu Aji too, across its neck


def test_progress_counts_up_to_the_segments_made() -> None:
    calls: list[tuple[int, int]] = []
    network = generate_network(target_segments=800, seed=3, progress=lambda done, total: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (len(network.segments), len(network.segments))


def test_write_gpkg_round_trips_both_layers_exactly(generated: Network, tmp_path: Path) -> None:
    path = tmp_path / "network.gpkg"
    write_gpkg(generated, path)
    write_gpkg(generated, path)  # replaces rather than appends
    assert [name for name, _ in pyogrio.list_layers(path)] == ["nodes", "segments"]
    back = read_sample(path)
    assert len(back.nodes) == len(generated.nodes) and len(back.segments) == len(generated.segments)
    assert (back.segments["code"] == generated.segments["code"]).all()
    assert shapely.equals_exact(back.segments.geometry.values, generated.segments.geometry.values, tolerance=0).all()


def test_zero_segments_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_network(target_segments=0)


# Pieces


def test_warp_moves_two_points_apart_by_less_than_their_distance() -> None:
    """The planarity argument rests on the warp's Lipschitz constant staying well below 1."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        warp = Warp.random(rng)
        p = rng.uniform(300_000, 400_000, size=(2000, 2))
        q = p + rng.normal(0, 50, size=p.shape)
        moved = np.linalg.norm((warp(p) - p) - (warp(q) - q), axis=1)
        assert (moved <= 0.4 * np.linalg.norm(p - q, axis=1) + 1e-9).all()


def test_share_budget_fills_districts_up_to_their_capacity() -> None:
    granted = share_budget(1000, np.array([0.5, 0.3, 0.2]), np.array([100, 10_000, 10_000]))
    assert granted[0] == 100 and granted.sum() == 1000 and granted[1] > granted[2]


# operators.json


def test_operators_file_lists_the_bumd_a_utility_and_about_a_dozen_operators() -> None:
    operators = json.loads((SAMPLE_DIR / "operators.json").read_text())
    kinds = [o["kind"] for o in operators]
    assert set(kinds) <= {k.value for k in OrganisationKind}
    assert kinds.count("bumd") == 1 and kinds.count("utility") == 1 and 10 <= kinds.count("operator") <= 14
    bumd = next(o for o in operators if o["kind"] == "bumd")
    assert (bumd["code"], bumd["name"]) == ("BUMD", "PT Batam Ducting Bersama (Perseroda)")
    assert next(o for o in operators if o["kind"] == "utility")["code"] == "PLN"
    assert len({o["code"] for o in operators}) == len(operators)
    assert {o["status"] for o in operators} <= {s.value for s in OrganisationStatus}
    assert any(o["status"] == "inactive" for o in operators)


def test_operators_have_fictional_contacts_and_valid_npwp_forms() -> None:
    operators = json.loads((SAMPLE_DIR / "operators.json").read_text())
    legacy = [bool(re.fullmatch(r"\d{2}\.\d{3}\.\d{3}\.\d-\d{3}\.\d{3}", o["npwp"])) for o in operators]
    current = [bool(re.fullmatch(r"\d{16}", o["npwp"])) for o in operators]
    assert all(a or b for a, b in zip(legacy, current))
    assert 2 <= sum(legacy) < sum(current)
    assert len({o["npwp"] for o in operators}) == len(operators)
    for o in operators:
        assert o["contact_email"].endswith("@example.co.id")
        assert o["contact_phone"].startswith("+62 778 ")
        assert o["address"].endswith("Batam")
