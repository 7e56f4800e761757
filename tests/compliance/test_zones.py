"""No-overhead zones drawn or imported (GeoJSON, GeoPackage, KML): per-row faults, all or nothing, re-evaluation of
the spans under a zone that appears, moves or is switched off."""

from __future__ import annotations

import io

import geopandas as gpd
import orjson
from shapely.geometry import Polygon, shape
from sqlalchemy import text

from ducting.compliance import zones
from tests.compliance.conftest import cable, flags, span, street
from tests.factories import at

API = "/api/v1/compliance"


def square(x0: float, x1: float, y0: float = -30, y1: float = 30) -> dict:
    return {"type": "Polygon", "coordinates": [[at(x0, y0), at(x1, y0), at(x1, y1), at(x0, y1), at(x0, y0)]]}


def collection(*features: tuple[dict | None, dict]) -> bytes:
    return orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
        }
    )


def _import(client, people, data: bytes, filename: str = "zona.geojson", dry_run: bool | None = None, who="planner"):
    params = {} if dry_run is None else {"dry_run": str(dry_run).lower()}
    return client.post(
        f"{API}/zones/import",
        params=params,
        headers=people.headers(who),
        files={"file": (filename, data, "application/octet-stream")},
    )


def _zone_count(session) -> int:
    return session.scalar(text("SELECT count(*) FROM no_overhead_zone"))


def test_zone_import_is_a_dry_run_by_default_and_then_writes_and_flags_spans_inside(client, session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    session.commit()  # the dry run's request rolls back what was not committed, as a real request does
    data = collection(
        (square(50, 200), {"name": "Kawasan Engku Putri", "alasan": "pusat pemerintahan"}),
        (square(1000, 1100), {"nama": "Alun-alun Batam Centre"}),
    )
    r = _import(client, people, data)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["created"] == 2 and r.json()["evaluation"] is None
    assert _zone_count(session) == 0 and flags(session, "no_overhead_zone") == []
    r = _import(client, people, data, dry_run=False)
    assert r.status_code == 200 and r.json()["created"] == 2
    assert [row["action"] for row in r.json()["rows"]] == ["create", "create"]
    (f,) = flags(session, "no_overhead_zone")
    assert f.evidence["zones"][0]["name"] == "Kawasan Engku Putri" and 49 < float(f.measured) < 51
    reasons = dict(session.execute(text("SELECT name, reason FROM no_overhead_zone")).all())
    assert reasons == {"Kawasan Engku Putri": "pusat pemerintahan", "Alun-alun Batam Centre": None}


def test_reimporting_a_zone_by_name_updates_it_and_the_flags_follow(client, session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    zone = (square(50, 200), {"name": "Kawasan Engku Putri"})
    assert _import(client, people, collection(zone), dry_run=False).json()["created"] == 1
    again = _import(client, people, collection(zone), dry_run=False).json()
    assert again["unchanged"] == 1 and again["evaluation"] is None
    moved = _import(
        client, people, collection((square(400, 500), {"name": "  kawasan  ENGKU putri "})), dry_run=False
    ).json()
    assert moved["updated"] == 1 and _zone_count(session) == 1
    assert flags(session, "no_overhead_zone") == []
    assert moved["evaluation"]["resolved"] == 1


def test_zone_file_with_faults_reports_every_row_and_writes_nothing(client, session, people):
    swapped = {"type": "Polygon", "coordinates": [[[y, x] for x, y in square(0, 100)["coordinates"][0]]]}
    far = {"type": "Polygon", "coordinates": [[[103.0, 0.5], [103.01, 0.5], [103.01, 0.51], [103.0, 0.5]]]}
    data = collection(
        (square(0, 100), {"name": "Zona A"}),  # row 1: fine
        ({"type": "Point", "coordinates": at(0, 0)}, {"name": "Titik"}),  # 2
        (swapped, {"name": "Terbalik"}),  # 3
        (square(200, 300), {"keterangan": "tanpa nama"}),  # 4
        (square(400, 500), {"name": "zona a"}),  # 5: same name as row 1
        (far, {"name": "Laut lepas"}),  # 6
        (square(600, 700), {"name": "Zona B", "aktif": "mungkin"}),  # 7
        (square(800, 900), {"name": "Zona\u0000C"}),
    )  # 8
    before = _zone_count(session)
    r = _import(client, people, data, dry_run=False)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "import_rejected"
    found = {(e["detail"]["row"], e["code"]) for e in body["errors"]}
    assert found == {
        (2, "geometry_type"),
        (3, "coordinates_swapped"),
        (4, "value_missing"),
        (5, "value_repeated"),
        (6, "outside_service_area"),
        (7, "value_invalid"),
        (8, "nul_character"),
    }
    assert all(e["path"] == f"rows/{e['detail']['row']}" for e in body["errors"])
    assert _zone_count(session) == before


def test_features_the_reader_cannot_build_are_all_reported_first(client, session, people):
    bowtie = {"type": "Polygon", "coordinates": [[at(0, 0), at(100, 100), at(100, 0), at(0, 100), at(0, 0)]]}
    data = collection(
        (square(0, 100), {"name": "Zona A"}),
        (bowtie, {"name": "Dasi kupu-kupu"}),
        ({"type": "Circle", "coordinates": at(0, 0)}, {"name": "Lingkaran"}),
    )
    r = _import(client, people, data, dry_run=False)
    assert r.status_code == 422
    assert {(e["detail"]["row"], e["code"]) for e in r.json()["errors"]} == {
        (2, "geometry_invalid"),
        (3, "geometry_type"),
    }
    assert _zone_count(session) == 0


def test_geopackage_zones_are_read(client, session, people):
    frame = gpd.GeoDataFrame(
        {"nama": ["Zona Kantor Walikota", "Zona Masjid Raya"]},
        geometry=[shape(square(0, 100)), shape(square(300, 400))],
        crs="EPSG:4326",
    )
    buf = io.BytesIO()
    frame.to_file(buf, driver="GPKG", layer="zona_larangan")
    r = _import(client, people, buf.getvalue(), filename="zona.gpkg", dry_run=False)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and {row["layer"] for row in r.json()["rows"]} == {"zona_larangan"}


def test_kml_zones_take_the_placemark_name(client, session, people):
    ring = " ".join(f"{x},{y}" for x, y in square(0, 100)["coordinates"][0])
    kml = f"""<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>
        <name>Zona Jembatan Barelang</name><description>ikon kota</description>
        <Polygon><outerBoundaryIs><LinearRing><coordinates>{ring}</coordinates></LinearRing></outerBoundaryIs></Polygon>
        </Placemark></Document></kml>"""
    r = _import(client, people, kml.encode(), filename="zona.kml", dry_run=False)
    assert r.status_code == 200, r.text
    row = session.execute(text("SELECT name, reason FROM no_overhead_zone")).one()
    assert tuple(row) == ("Zona Jembatan Barelang", "ikon kota")


def test_an_unreadable_zone_file_is_422_problem(client, people):
    r = _import(client, people, b"this is not a map", filename="zona.geojson")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_operators_and_auditors_cannot_import_zones(client, people):
    data = collection((square(0, 100), {"name": "Zona A"}))
    assert _import(client, people, data, who="op_a").status_code == 403
    assert _import(client, people, data, who="auditor").status_code == 403


def test_two_existing_zones_of_one_name_make_the_row_ambiguous(client, session, people):
    for _ in range(2):
        zones.create_zone(session, name="Zona Ganda", geometry=square(0, 100), reason=None, account_id=None)
    r = _import(client, people, collection((square(0, 50), {"name": "Zona Ganda"})), dry_run=False)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "zone_name_ambiguous"


def test_drawing_a_zone_flags_the_spans_under_it_and_switching_it_off_resolves_them(client, session, people, survey):
    survey(street() + [span("P0", "P1"), cable("P0", "P1")])
    r = client.post(
        f"{API}/zones",
        json={"name": "Kawasan Engku Putri", "geometry": square(50, 200)},
        headers=people.headers("planner"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["evaluation"]["opened"] == 1 and len(flags(session, "no_overhead_zone")) == 1
    r = client.patch(f"{API}/zones/{r.json()['id']}", json={"active": False}, headers=people.headers("planner"))
    assert r.status_code == 200 and r.json()["evaluation"]["resolved"] == 1
    assert flags(session, "no_overhead_zone") == []


def test_a_drawn_zone_with_a_bad_shape_is_422_with_the_fault(client, people):
    bowtie = {"type": "Polygon", "coordinates": [[at(0, 0), at(100, 100), at(100, 0), at(0, 100), at(0, 0)]]}
    r = client.post(f"{API}/zones", json={"name": "Dasi", "geometry": bowtie}, headers=people.headers("planner"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "geometry_invalid"
    r = client.post(
        f"{API}/zones",
        json={"name": "Garis", "geometry": {"type": "LineString", "coordinates": [at(0, 0), at(10, 0)]}},
        headers=people.headers("planner"),
    )
    assert r.status_code == 422 and r.json()["code"] == "zone_geometry_invalid"


def test_polygon_checks_name_each_fault():
    from gis.geometry import check_polygons, load_service_area

    faults = check_polygons([shape(square(0, 100)), None, Polygon()], service_area=load_service_area())
    assert [[f.code for f in row] for row in faults] == [[], ["geometry_missing"], ["geometry_missing"]]


def test_cli_checks_a_zone_file_without_writing(test_database, tmp_path):
    import os
    import subprocess
    import sys

    good, bad = tmp_path / "zona.geojson", tmp_path / "rusak.geojson"
    good.write_bytes(collection((square(0, 100), {"name": "Zona A"}), (square(300, 400), {"name": "Zona B"})))
    bad.write_bytes(collection((square(0, 100), {"name": "Zona A"}), (square(300, 400), {"name": "zona a"})))
    cli = [sys.executable, "-m", "ducting.cli", "compliance", "zones-import", "--dry-run"]  # this checkout's code
    env = os.environ | {"DATABASE_URL": test_database.app_url, "COLUMNS": "200"}
    ok = subprocess.run([*cli, str(good)], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "would create 2, updated 0, unchanged 0" in ok.stderr
    refused = subprocess.run([*cli, str(bad)], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "rows/2: value_repeated" in refused.stderr
