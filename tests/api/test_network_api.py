"""Network editing through the API: topology rules with their codes, history, as_of, stale edits, deletes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import at, line, node_body, point, segment_body

API = "/api/v1/network"


def _nodes(client, people, *specs):
    ids = {}
    for code, dx, dy in specs:
        r = client.post(f"{API}/nodes", json=node_body(code, dx, dy), headers=people.headers("planner"))
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
    return ids


def _problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code or code in {e["code"] for e in body.get("errors", [])}, body
    return body


def test_planner_creates_segment_and_its_ends_snap_exactly_onto_nodes(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 120, 0))
    body = segment_body(
        "RS-T-AB", (0.4, 0.3), (60, 5), (119.6, -0.5), ducts=[{"spec": "HDPE-40/33-7xMD10", "reserve": 1}]
    )
    r = client.post(f"{API}/segments", json=body, headers=people.headers("planner"))
    assert r.status_code == 201, r.text
    seg = r.json()
    assert seg["geometry"]["coordinates"][0] == at(0, 0)
    assert seg["geometry"]["coordinates"][-1] == at(120, 0)
    assert seg["properties"]["start_node"] == "MH-T-A" and seg["properties"]["end_node"] == "MH-T-B"
    assert 120.0 < float(seg["properties"]["length_m"]) < 121.0
    assert r.headers["etag"] == '"v1"'
    ducts = client.get(f"{API}/segments/{seg['id']}/ducts", headers=people.headers("op_a")).json()
    assert [d["spec"] for d in ducts] == ["HDPE-40/33-7xMD10"]
    assert len(ducts[0]["subducts"]) == 7
    assert [s["is_reserved"] for s in ducts[0]["subducts"]] == [False] * 6 + [True]


def test_segment_end_beyond_tolerance_is_rejected_with_distance_to_nearest_node(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    r = client.post(f"{API}/segments", json=segment_body("RS-T-X", (0, 0), (103, 0)), headers=people.headers("planner"))
    body = _problem(r, 422, "segment_not_snapped")
    err = body["errors"][0]
    assert err["detail"]["nearest_node"] == "MH-T-B"
    assert 2.9 < err["detail"]["distance_m"] < 3.1
    assert (
        client.get("/api/v1/collections/segments/items", headers=people.headers("planner")).json()["numberReturned"]
        == 0
    )


def test_segment_duplicating_another_between_same_nodes_is_rejected(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    ok = client.post(
        f"{API}/segments", json=segment_body("RS-T-1", (0, 0), (100, 0)), headers=people.headers("planner")
    )
    assert ok.status_code == 201
    r = client.post(f"{API}/segments", json=segment_body("RS-T-2", (100, 0), (0, 0)), headers=people.headers("planner"))
    _problem(r, 422, "segment_duplicate")


def test_segment_whose_ends_snap_to_one_node_is_rejected(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    r = client.post(
        f"{API}/segments", json=segment_body("RS-T-1", (0, 0), (50, 40), (0.3, 0.2)), headers=people.headers("planner")
    )
    _problem(r, 422, "segment_same_node")


def test_geometry_rules_each_answer_with_their_code(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    a, b = at(0, 0), at(100, 0)
    cases = {
        "geometry_type": {"type": "Point", "coordinates": a},
        "geometry_missing": {"type": "LineString", "coordinates": []},
        "line_self_intersects": line((0, 0), (100, 50), (100, -50), (40, 60), (100, 0)),
        "line_zero_length": {"type": "LineString", "coordinates": [a, a]},
        "coordinates_swapped": {"type": "LineString", "coordinates": [[a[1], a[0]], [b[1], b[0]]]},
        "outside_service_area": {"type": "LineString", "coordinates": [[106.8, -6.2], [106.81, -6.2]]},
    }
    for code, geometry in cases.items():
        r = client.post(
            f"{API}/segments", json={"code": "RS-T-Z", "geometry": geometry}, headers=people.headers("planner")
        )
        _problem(r, 422, code)
    r = client.post(
        f"{API}/segments",
        content=b'{"code": "RS-T-Z", "geometry": {"type": "LineString", "coordinates": [[NaN, 1.1], [104.05, 1.12]]}}',
        headers=people.headers("planner") | {"content-type": "application/json"},
    )
    assert r.status_code == 422


def test_swapped_point_error_says_lat_lon_looks_swapped(client, people):
    lon, lat = at(0, 0)
    r = client.post(
        f"{API}/nodes",
        json={"kind": "manhole", "geometry": {"type": "Point", "coordinates": [lat, lon]}},
        headers=people.headers("planner"),
    )
    body = _problem(r, 422, "coordinates_swapped")
    assert "tampaknya [lat, lon]" in body["detail"] and body["title"] == "Koordinat tertukar (lat, lon)"
    assert body["position"] == pytest.approx([lat, lon]) and body["suggested"] == pytest.approx([lon, lat])
    english = client.post(
        f"{API}/nodes",
        json={"kind": "manhole", "geometry": {"type": "Point", "coordinates": [lat, lon]}},
        headers=people.headers("planner") | {"Accept-Language": "en"},
    ).json()
    assert "looks like [lat, lon]" in english["detail"] and english["title"] == "Coordinates swapped (lat, lon)"


def test_node_drawn_on_a_segment_splits_it_and_carries_ducts_onto_both_halves(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 200, 0))
    seg = client.post(
        f"{API}/segments",
        json=segment_body("RS-T-AB", (0, 0), (200, 0), ducts=[{"spec": "PVC-110-4x32"}]),
        headers=people.headers("planner"),
    ).json()
    total = float(seg["properties"]["length_m"])
    r = client.post(f"{API}/nodes", json=node_body("MH-T-M", 80, 0.4), headers=people.headers("planner"))
    assert r.status_code == 201, r.text
    split = r.json()["split"]
    first = client.get(f"{API}/segments/{split['original_segment_id']}", headers=people.headers("planner")).json()
    second = client.get(f"{API}/segments/{split['new_segment_id']}", headers=people.headers("planner")).json()
    assert first["properties"]["end_node"] == "MH-T-M" and second["properties"]["start_node"] == "MH-T-M"
    assert second["properties"]["end_node"] == "MH-T-B"
    lengths = float(first["properties"]["length_m"]) + float(second["properties"]["length_m"])
    assert abs(lengths - total) < 0.01
    for s in (first, second):
        ducts = client.get(f"{API}/segments/{s['id']}/ducts", headers=people.headers("planner")).json()
        assert [(d["spec"], len(d["subducts"])) for d in ducts] == [("PVC-110-4x32", 4)]


def test_split_endpoint_splits_at_the_given_point(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 200, 0))
    seg = client.post(
        f"{API}/segments", json=segment_body("RS-T-AB", (0, 0), (200, 0)), headers=people.headers("planner")
    ).json()
    r = client.post(
        f"{API}/segments/{seg['id']}/split",
        json={"geometry": point(150, 3), "node_code": "HH-T-S", "node_kind": "handhole"},
        headers=people.headers("planner"),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["node"]["properties"]["code"] == "HH-T-S"
    assert [round(float(s["properties"]["length_m"])) for s in out["segments"]] == [150, 50]


def test_deleting_a_segment_with_ducts_is_refused_with_blockers_then_allowed_after(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    seg = client.post(
        f"{API}/segments",
        json=segment_body("RS-T-AB", (0, 0), (100, 0), ducts=[{"spec": "HDPE-32/26"}]),
        headers=people.headers("planner"),
    ).json()
    r = client.delete(f"{API}/segments/{seg['id']}", headers=people.headers("planner"))
    body = _problem(r, 409, "delete_blocked")
    assert body["blockers"][0]["type"] == "duct"
    node_r = client.delete(f"{API}/nodes/{seg['properties']['start_node_id']}", headers=people.headers("planner"))
    assert _problem(node_r, 409, "delete_blocked")["blockers"][0]["label"] == "RS-T-AB"
    duct_id = client.get(f"{API}/segments/{seg['id']}/ducts", headers=people.headers("planner")).json()[0]["id"]
    assert client.delete(f"{API}/ducts/{duct_id}", headers=people.headers("planner")).status_code == 200
    gone = client.delete(f"{API}/segments/{seg['id']}", headers=people.headers("planner"))
    assert gone.status_code == 200
    assert gone.json()["properties"]["status"] == "decommissioned" and gone.json()["properties"]["removed_at"]


def test_a_duct_at_a_taken_position_is_409_duct_position_taken(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    seg = client.post(
        f"{API}/segments",
        json=segment_body("RS-T-AB", (0, 0), (100, 0), ducts=[{"spec": "HDPE-32/26"}]),
        headers=people.headers("planner"),
    ).json()
    r = client.post(
        f"{API}/segments/{seg['id']}/ducts",
        json={"spec": "HDPE-50/42", "position": 1},
        headers=people.headers("planner"),
    )
    assert "RS-T-AB" in _problem(r, 409, "duct_position_taken")["detail"]


def test_stale_if_match_gets_412_and_names_who_changed_it(client, people):
    ids = _nodes(client, people, ("MH-T-A", 0, 0))
    url = f"{API}/nodes/{ids['MH-T-A']}"
    etag = client.get(url, headers=people.headers("planner")).headers["etag"]
    first = client.patch(url, json={"notes": "tutup retak"}, headers=people.headers("planner") | {"If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == '"v2"'
    stale = client.patch(url, json={"notes": "lain"}, headers=people.headers("admin") | {"If-Match": etag})
    body = _problem(stale, 412, "stale_edit")
    assert body["changed_by"] == "t_planner" and body["current_version"] == 2


def test_history_lists_who_changed_what(client, people):
    ids = _nodes(client, people, ("MH-T-A", 0, 0))
    url = f"{API}/nodes/{ids['MH-T-A']}"
    client.patch(url, json={"status": "inactive"}, headers=people.headers("admin"))
    hist = client.get(f"{url}/history", headers=people.headers("auditor")).json()
    assert [h["action"] for h in hist] == ["insert", "update"]
    assert hist[1]["username"] == "t_admin"
    assert hist[1]["changes"]["status"] == {"old": "operational", "new": "inactive"}


def test_as_of_returns_the_map_as_it_was(client, people, session):
    ids = _nodes(client, people, ("MH-T-A", 0, 0))
    url = f"{API}/nodes/{ids['MH-T-A']}"
    before_move = session.execute(__import__("sqlalchemy").text("SELECT clock_timestamp()")).scalar()
    client.patch(url, json={"geometry": point(30, 0)}, headers=people.headers("planner"))
    now_items = client.get(
        "/api/v1/collections/nodes/items", params={"code": "MH-T-A"}, headers=people.headers("planner")
    ).json()
    then_items = client.get(
        "/api/v1/collections/nodes/items",
        params={"code": "MH-T-A", "as_of": before_move.isoformat()},
        headers=people.headers("planner"),
    ).json()
    assert now_items["features"][0]["geometry"]["coordinates"] == [round(c, 7) for c in at(30, 0)]
    assert then_items["features"][0]["geometry"]["coordinates"] == [round(c, 7) for c in at(0, 0)]
    earlier = (before_move - timedelta(days=3650)).isoformat()
    assert (
        client.get(
            "/api/v1/collections/nodes/items",
            params={"code": "MH-T-A", "as_of": earlier},
            headers=people.headers("planner"),
        ).json()["numberReturned"]
        == 0
    )


def test_moving_a_node_drags_its_segment_ends_along(client, people):
    ids = _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 100, 0))
    seg = client.post(
        f"{API}/segments", json=segment_body("RS-T-AB", (0, 0), (100, 0)), headers=people.headers("planner")
    ).json()
    client.patch(f"{API}/nodes/{ids['MH-T-B']}", json={"geometry": point(100, 50)}, headers=people.headers("planner"))
    moved = client.get(f"{API}/segments/{seg['id']}", headers=people.headers("planner")).json()
    assert moved["geometry"]["coordinates"][-1] == at(100, 50)
    assert 110 < float(moved["properties"]["length_m"]) < 113


def test_writes_need_a_planner_and_reads_need_a_login(client, people):
    body = node_body("MH-T-A", 0, 0)
    assert client.post(f"{API}/nodes", json=body).status_code == 401
    for who in ("op_a", "finance", "auditor"):
        _problem(client.post(f"{API}/nodes", json=body, headers=people.headers(who)), 403, "forbidden")
    assert client.get("/api/v1/collections").status_code == 401
    assert client.get("/api/v1/collections", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_bulk_reports_every_faulty_operation_with_its_index_and_writes_nothing(client, people):
    ops = [
        {"op": "create", "type": "node", "data": node_body("MH-T-1", 0, 0)},
        {
            "op": "create",
            "type": "node",
            "data": {"kind": "manhole", "geometry": {"type": "Point", "coordinates": [1.12, 104.05]}},
        },
        {"op": "create", "type": "node", "data": node_body("MH-T-2", 100, 0)},
        {"op": "create", "type": "segment", "data": segment_body("RS-T-1", (0, 0), (100, 9))},
    ]
    r = client.post(f"{API}/bulk", json={"operations": ops}, headers=people.headers("planner"))
    body = _problem(r, 422, "bulk_rejected")
    assert {e["path"].split("/")[1] for e in body["errors"]} == {"1", "3"}
    assert (
        client.get("/api/v1/collections/nodes/items", headers=people.headers("planner")).json()["numberReturned"] == 0
    )
    ops[1]["data"]["geometry"]["coordinates"] = at(50, 50)
    ops[3]["data"] = segment_body("RS-T-1", (0, 0), (100, 0))
    ok = client.post(f"{API}/bulk", json={"operations": ops}, headers=people.headers("planner"))
    assert ok.status_code == 200 and ok.json()["applied"] == 4


def test_summary_counts_km_and_subducts_per_kecamatan(client, people):
    _nodes(client, people, ("MH-T-A", 0, 0), ("MH-T-B", 1000, 0))
    client.post(
        f"{API}/segments",
        json=segment_body("RS-T-AB", (0, 0), (1000, 0), ducts=[{"spec": "HDPE-40/33-7xMD10"}, {"spec": "HDPE-32/26"}]),
        headers=people.headers("planner"),
    )
    s = client.get(f"{API}/summary", headers=people.headers("finance")).json()
    assert 0.99 < float(s["route_km"]) < 1.01 and 1.99 < float(s["duct_km"]) < 2.01
    assert s["subducts_by_status"]["operational"] == 8
    batam_kota = next(k for k in s["by_kecamatan"] if k["nama"] == "Batam Kota")
    assert batam_kota["segments"] == 1
