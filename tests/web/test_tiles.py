"""Vector tiles against a live service on the committed sample: content, occupancy, caching headers, auth."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from ducting.calendar import today
from gis.tiles import tile_at
from tests.web.mvt import decode

DENSE = tile_at(104.01, 1.14, 14)  # Lubuk Baja: the sample's densest tile


def _get(live: str, token: str | None, path: str, **headers: str) -> httpx.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{live}{path}", headers=headers, timeout=30)


def _path(layer: str, tile=DENSE) -> str:
    return f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.pbf"


def test_segment_tile_carries_code_and_status(live, tokens):
    r = _get(live, tokens["perencana"], _path("segments"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features = decode(r.content)["segments"]
    assert len(features) > 50
    assert features[0]["code"].startswith("RS-") and features[0]["status"] == "operational"


def test_occupancy_tile_counts_usable_and_free_subducts(live, tokens):
    features = decode(_get(live, tokens["perencana"], _path("occupancy")).content)["occupancy"]
    assert len(features) > 50
    first = features[0]
    assert first["occupancy"] in {"free", "nearly_full", "full", "none"}
    assert 0 <= first["free"] <= first["usable"]


def test_node_and_boundary_layers(live, tokens):
    nodes = decode(_get(live, tokens["perencana"], _path("nodes")).content)["nodes"]
    assert nodes and {"code", "kind", "status"} <= set(nodes[0])
    overview = tile_at(104.01, 1.14, 10)
    kel = decode(_get(live, tokens["perencana"], _path("kelurahan", overview)).content)["kelurahan"]
    assert any(f["nama"] for f in kel) and all(f["kode"].startswith("21.71.") for f in kel)


def test_a_segment_leased_to_the_last_subduct_shows_full(live, tokens):
    features = decode(_get(live, tokens["perencana"], _path("occupancy")).content)["occupancy"]
    target = next(f for f in features if f["occupancy"] == "free" and f["usable"] <= 8 and f["code"].endswith("7"))
    r = httpx.post(
        f"{live}/api/v1/leasing/allocations",
        timeout=30,
        headers={"Authorization": f"Bearer {tokens['perencana']}"},
        json={
            "operator": "DSN",
            "segments": [target["code"]],
            "subduct_count": target["usable"],
            "first_day": (today() - timedelta(days=1)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    after = {f["code"]: f for f in decode(_get(live, tokens["perencana"], _path("occupancy")).content)["occupancy"]}
    assert after[target["code"]]["occupancy"] == "full"
    assert after[target["code"]]["free"] == 0


def test_etag_answers_if_none_match_with_304(live, tokens):
    first = _get(live, tokens["perencana"], _path("nodes"))
    assert first.headers["cache-control"].startswith("private, max-age=")
    etag = first.headers["etag"]
    again = _get(live, tokens["perencana"], _path("nodes"), **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag


def test_operators_read_tiles_too_and_the_session_cookie_works(live, tokens):
    r = httpx.get(f"{live}{_path('occupancy')}", cookies={"bedelau_session": tokens["op-bln"]}, timeout=30)
    assert r.status_code == 200 and decode(r.content)["occupancy"]


@pytest.mark.parametrize("token", [None, "bdl_not-a-token"])
def test_tiles_need_a_valid_token(live, token):
    r = _get(live, token, _path("segments"))
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_tile_that_does_not_exist_is_422_and_an_unknown_layer_404(live, tokens):
    assert _get(live, tokens["perencana"], "/tiles/segments/3/9/0.pbf").json()["code"] == "bad_tile"
    assert _get(live, tokens["perencana"], "/tiles/cables/14/1/1.pbf").status_code == 404


def test_below_a_layers_minimum_zoom_the_tile_is_empty(live, tokens):
    r = _get(live, tokens["perencana"], "/tiles/nodes/5/25/15.pbf")
    assert r.status_code == 200 and r.content == b""


def test_boundary_tiles_are_public_for_the_citizen_page(live):
    overview = tile_at(104.01, 1.14, 10)
    r = _get(live, None, _path("kecamatan", overview))
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    assert decode(r.content)["kecamatan"]


def test_the_fast_path_keeps_the_problem_shape_and_the_bearer_challenge(live):
    r = _get(live, "bdl_not-a-token", _path("nodes"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "token_invalid"


def test_a_cache_busting_query_string_reaches_the_same_tile(live, tokens):
    plain = _get(live, tokens["perencana"], _path("segments"))
    busted = _get(live, tokens["perencana"], _path("segments") + "?v=7")
    assert busted.status_code == 200 and busted.content == plain.content


def test_only_get_takes_the_fast_path_other_methods_reach_the_router(live, tokens):
    r = httpx.post(f"{live}{_path('segments')}", headers={"Authorization": f"Bearer {tokens['perencana']}"}, timeout=30)
    assert r.status_code == 405
