"""Import and export through the API: every fault reported with its row, nothing written on error, round trip."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import text

from tests.factories import at

API = "/api/v1/network"


def _fc(features):
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _feature(props, geometry):
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _small_network_files():
    nodes = [
        _feature({"code": f"MH-I-{i}", "kind": "manhole"}, {"type": "Point", "coordinates": at(100 * i, 0)})
        for i in range(4)
    ]
    segs = [
        _feature(
            {"code": f"RS-I-{i}", "ducts": json.dumps([{"spec": "HDPE-40/33-7xMD10", "reserve": 1}])},
            {"type": "LineString", "coordinates": [at(100 * i, 0), at(100 * i + 50, 3), at(100 * (i + 1), 0)]},
        )
        for i in range(3)
    ]
    return nodes, segs


def _upload(client, people, name, content, dry_run):
    return client.post(
        f"{API}/import",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content)},
        headers=people.headers("planner"),
    )


def _count(session, table):
    return session.execute(text(f"SELECT count(*) FROM {table} WHERE removed_at IS NULL")).scalar()


def test_dry_run_reports_what_would_change_and_writes_nothing(client, people, session):
    nodes, segs = _small_network_files()
    r = _upload(client, people, "net.geojson", _fc(nodes + segs), True)
    assert r.status_code == 200, r.text
    assert r.json()["nodes"]["create"] == 4 and r.json()["segments"]["create"] == 3
    assert r.json()["subducts"] == 21
    assert _count(session, "node") == 0


def test_import_with_faults_reports_every_one_with_row_and_writes_nothing(client, people, session):
    nodes, segs = _small_network_files()
    nodes[1]["geometry"]["coordinates"] = list(reversed(nodes[1]["geometry"]["coordinates"]))  # swapped
    segs[2]["properties"]["ducts"] = json.dumps([{"spec": "NOPE"}])
    segs[0]["geometry"]["coordinates"][-1] = at(130, 0)  # 30 m from any node
    r = _upload(client, people, "net.geojson", _fc(nodes + segs), False)
    assert r.status_code == 422, r.text
    got = {(e["path"], e["code"]) for e in r.json()["errors"]}
    # rows count features in the file: 4 nodes (rows 1-4), then segments (rows 5-7)
    assert ("nodes/2", "coordinates_swapped") in got
    assert ("segments/7", "not_found") in got
    assert ("segments/5", "segment_not_snapped") in got
    by_path = {e["path"]: e for e in r.json()["errors"]}
    assert by_path["segments/7"]["detail"] | {"what": "spec", "ref": "NOPE"} == by_path["segments/7"]["detail"]
    assert "spesifikasi duct NOPE" in by_path["segments/7"]["message"]  # said in Indonesian, with its facts
    snapped = by_path["segments/5"]
    assert snapped["message"].startswith("ujung akhir segmen") and " m; toleransi " in snapped["message"]
    assert _count(session, "node") == 0 and _count(session, "route_segment") == 0


def test_import_commits_all_and_reimport_is_unchanged(client, people, session):
    nodes, segs = _small_network_files()
    assert _upload(client, people, "net.geojson", _fc(nodes + segs), False).status_code == 200
    assert _count(session, "route_segment") == 3
    assert session.execute(text("SELECT count(*) FROM subduct")).scalar() == 21
    again = _upload(client, people, "net.geojson", _fc(nodes + segs), True).json()
    assert again["nodes"] == {"create": 0, "update": 0, "unchanged": 4}
    assert again["segments"] == {"create": 0, "update": 0, "unchanged": 3}


def test_csv_with_lon_lat_columns_imports_nodes(client, people, session):
    rows = ["code,kind,lon,lat"] + [f"HH-C-{i},handhole,{at(40 * i, 10)[0]},{at(40 * i, 10)[1]}" for i in range(3)]
    r = _upload(client, people, "nodes.csv", "\n".join(rows).encode(), False)
    assert r.status_code == 200, r.text
    assert _count(session, "node") == 3


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "kml", "csv"])
def test_export_then_import_into_an_empty_network_gives_the_same_network(client, people, session, fmt):
    nodes, segs = _small_network_files()
    assert _upload(client, people, "net.geojson", _fc(nodes + segs), False).status_code == 200
    before = client.get(f"{API}/export", params={"format": "gpkg"}, headers=people.headers("auditor"))
    exported = client.get(f"{API}/export", params={"format": fmt}, headers=people.headers("auditor"))
    assert exported.status_code == 200, exported.text
    snapshot = _network_rows(session)
    session.execute(text("DELETE FROM subduct; DELETE FROM duct; DELETE FROM route_segment; DELETE FROM node"))
    ext = {"shp": "zip", "kml": "kml", "csv": "zip"}.get(fmt, fmt)
    r = _upload(client, people, f"export.{ext}", exported.content, False)
    assert r.status_code == 200, r.text
    assert _network_rows(session) == snapshot
    assert before.status_code == 200


def _network_rows(session):
    nodes = session.execute(
        text("SELECT code, kind, status, ST_AsText(ST_SnapToGrid(geom, 1e-9)) FROM node ORDER BY code")
    ).all()
    segs = session.execute(
        text("""
        SELECT s.code, a.code, b.code, s.zone_class, s.length_m, ST_AsText(ST_SnapToGrid(s.geom, 1e-9)),
               (SELECT string_agg(sp.code || ':' || d.position, ',' ORDER BY d.position) FROM duct d JOIN duct_spec sp ON sp.id = d.spec_id WHERE d.segment_id = s.id),
               (SELECT count(*) FILTER (WHERE is_reserved) FROM subduct WHERE segment_id = s.id)
        FROM route_segment s JOIN node a ON a.id = s.start_node_id JOIN node b ON b.id = s.end_node_id ORDER BY s.code""")
    ).all()
    return nodes, segs


def test_ofds_export_is_a_zip_of_nodes_and_spans_valid_against_the_schema(client, people):
    from gis.ofds import validate_ofds

    nodes, segs = _small_network_files()
    _upload(client, people, "net.geojson", _fc(nodes + segs), False)
    r = client.get(f"{API}/export", params={"format": "ofds"}, headers=people.headers("planner"))
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        nodes_fc = json.loads(z.read("nodes.geojson"))
        spans_fc = json.loads(z.read("spans.geojson"))
    assert len(nodes_fc["features"]) == 4 and len(spans_fc["features"]) == 3
    assert validate_ofds(nodes_fc, spans_fc) == []


def test_operators_cannot_import(client, people):
    nodes, _segs = _small_network_files()
    r = client.post(f"{API}/import", files={"file": ("n.geojson", _fc(nodes))}, headers=people.headers("op_a"))
    assert r.status_code == 403
