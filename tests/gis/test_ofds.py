"""OFDS 0.4 GeoJSON export: the output validates against the bundled schema, and broken output does not."""

from __future__ import annotations

import copy
import json
import uuid

import geopandas as gpd
import orjson
import pytest
from shapely import LineString, Point

from gis.ofds import OfdsExportError, features_to_network, network_schema, to_ofds_geojson, validate_ofds

N1, N2, N3, N4, N5 = (str(uuid.UUID(int=i)) for i in range(1, 6))
S1, S2 = str(uuid.UUID(int=101)), str(uuid.UUID(int=102))
NETWORK_ID = "6f1c8a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6"
ORGANISATIONS = {
    "BP Batam": {"id": "ID-BPBATAM", "roles": ["physicalInfrastructureProvider"], "country": "ID"},
    "PLN Batam": {"id": "ID-PLNBATAM", "name": "PLN Batam", "roles": ["physicalInfrastructureProvider"]},
}


def network() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    nodes = gpd.GeoDataFrame(
        {
            "uuid": [N1, N2, N3, N4, N5],
            "code": ["MH-001", "HH-002", "CAB-003", "PL-004", "BE-005"],
            "kind": ["manhole", "handhole", "cabinet", "pole", "building_entry"],
            "status": ["operational", "planned", "underConstruction", "inactive", "proposed"],
            "owner": ["BP Batam", "BP Batam", "BP Batam", "PLN Batam", None],
        },
        geometry=[
            Point(104.01, 1.14),
            Point(104.02, 1.14),
            Point(104.03, 1.14),
            Point(104.03, 1.15),
            Point(104.04, 1.15),
        ],
        crs=4326,
    )
    segments = gpd.GeoDataFrame(
        {
            "uuid": [S1, S2],
            "code": ["SEG-1", "SEG-2"],
            "start_uuid": [N1, N2],
            "end_uuid": [N2, N3],
            "status": ["operational", "decommissioned"],
            "length_m": [1112.4, 1112.4],
            "ducts": [json.dumps([{"spec": "HDPE 40/33"}, {"spec": "HDPE 40/33"}]), None],
        },
        geometry=[
            LineString([(104.01, 1.14), (104.015, 1.141), (104.02, 1.14)]),
            LineString([(104.02, 1.14), (104.03, 1.14)]),
        ],
        crs=4326,
    )
    return nodes, segments


def export(nodes=None, segments=None, **overrides):
    default_nodes, default_segments = network()
    options = {
        "network_id": NETWORK_ID,
        "network_name": "BEDELAU Ducting",
        "publisher": "BP Batam",
        "publication_date": "2026-01-15",
        "organisations": ORGANISATIONS,
        **overrides,
    }
    return to_ofds_geojson(
        default_nodes if nodes is None else nodes, default_segments if segments is None else segments, **options
    )


@pytest.fixture(scope="module")
def published():
    return export()


def test_exported_network_validates_against_the_0_4_schema(published):
    nodes_fc, spans_fc = published
    assert validate_ofds(nodes_fc, spans_fc) == []
    assert network_schema()["$id"].endswith("0__4__0/network-schema.json")


def test_output_is_plain_json(published):
    for fc in published:
        assert json.loads(orjson.dumps(fc)) == fc


def test_nodes_carry_string_ids_names_status_and_location(published):
    nodes_fc, _ = published
    first = nodes_fc["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [104.01, 1.14]}
    props = first["properties"]
    assert (props["id"], props["name"], props["status"]) == (N1, "MH-001", "operational")
    assert props["featureType"] == "node" and "location" not in props


def test_node_kinds_map_to_supporting_infrastructure_and_node_type(published):
    nodes_fc, _ = published
    support = [f["properties"].get("supportingInfrastructure", {}).get("type") for f in nodes_fc["features"]]
    assert support == ["cableWell", "cableWell", "cabinet", "pole", "building"]
    types = [f["properties"].get("type") for f in nodes_fc["features"]]
    assert types == [None, None, ["cabinet"], None, None]


def test_owner_is_the_dereferenced_supporting_infrastructure_owner(published):
    nodes_fc, _ = published
    owner = nodes_fc["features"][0]["properties"]["supportingInfrastructure"]["owner"]
    assert owner == {"name": "BP Batam", **ORGANISATIONS["BP Batam"]}
    assert "owner" not in nodes_fc["features"][4]["properties"]["supportingInfrastructure"]


def test_spans_are_underground_ducts_with_dereferenced_end_nodes(published):
    _, spans_fc = published
    props = spans_fc["features"][0]["properties"]
    assert (props["id"], props["name"], props["status"]) == (S1, "SEG-1", "operational")
    assert props["deployment"] == ["belowGround"]
    assert props["supportingInfrastructure"] == {"type": "duct", "description": "2 ducts: 2 × HDPE 40/33"}
    assert props["start"]["id"] == N1 and props["start"]["location"]["type"] == "Point"
    assert props["end"]["id"] == N2 and props["featureType"] == "span"
    assert spans_fc["features"][0]["geometry"]["type"] == "LineString"


def test_every_feature_embeds_the_network_object(published):
    nodes_fc, spans_fc = published
    for feature in nodes_fc["features"] + spans_fc["features"]:
        embedded = feature["properties"]["network"]
        assert embedded["id"] == NETWORK_ID and embedded["publisher"] == {"name": "BP Batam"}
        assert embedded["links"][0] == {"rel": "describedby", "href": network_schema()["$id"]}
        assert "nodes" not in embedded and "organisations" not in embedded


def test_folding_back_gives_references_and_the_organisations_list(published):
    net = features_to_network(*published)
    assert net["spans"][0]["start"] == N1
    assert net["nodes"][0]["supportingInfrastructure"]["owner"] == {"id": "ID-BPBATAM", "name": "BP Batam"}
    assert sorted(o["id"] for o in net["organisations"]) == ["ID-BPBATAM", "ID-PLNBATAM"]


def test_invalid_status_fails_validation(published):
    nodes_fc, spans_fc = copy.deepcopy(published)
    nodes_fc["features"][0]["properties"]["status"] = "working"
    errors = validate_ofds(nodes_fc, spans_fc)
    assert len(errors) == 1 and errors[0].startswith("nodes/0/status")


def test_network_id_that_is_not_a_uuid_fails_validation():
    errors = validate_ofds(*export(network_id="BEDELAU-1"))
    assert errors == ["id: 'BEDELAU-1' is not a 'uuid'"]


def test_numeric_node_id_fails_validation(published):
    nodes_fc, spans_fc = copy.deepcopy(published)
    nodes_fc["features"][1]["properties"]["id"] = 2
    assert any(e.startswith("nodes/1/id") for e in validate_ofds(nodes_fc, spans_fc))


def test_span_ending_at_a_node_not_published_fails_validation(published):
    nodes_fc, spans_fc = copy.deepcopy(published)
    del nodes_fc["features"][2]
    assert validate_ofds(nodes_fc, spans_fc) == [f"spans/1/end: node '{N3}' is not in the nodes collection"]


def test_missing_links_fails_validation(published):
    nodes_fc, spans_fc = copy.deepcopy(published)
    for feature in nodes_fc["features"] + spans_fc["features"]:
        del feature["properties"]["network"]["links"]
    assert validate_ofds(nodes_fc, spans_fc) == ["(network): 'links' is a required property"]


def test_not_a_feature_collection_fails_validation(published):
    assert validate_ofds({"type": "Feature"}, published[1])[0].startswith("(publication format)")


def test_segment_pointing_at_an_unknown_node_is_refused():
    _nodes, segments = network()
    segments.loc[0, "end_uuid"] = str(uuid.UUID(int=999))
    with pytest.raises(OfdsExportError) as info:
        export(segments=segments)
    assert info.value.code == "span_node_unknown"


def test_owner_missing_from_organisations_is_refused():
    nodes, _ = network()
    nodes.loc[0, "owner"] = "Unknown Co"
    with pytest.raises(OfdsExportError) as info:
        export(nodes=nodes)
    assert info.value.code == "organisation_unknown"
