"""GDAL's OGC API Features driver reads our layers over real HTTP from a running service."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.models import Account
from ducting.accounts.vocab import Role
from ducting.auth import issue_token
from ducting.network.schemas import NodeIn, SegmentIn
from ducting.network.service import create_node, create_segment
from tests.factories import line, point
from tests.live import running_service


@pytest.fixture()
def committed_network(engine, test_database):
    """A small network committed for real (a separate process must see it), removed afterwards."""
    with Session(engine) as s:
        acc = Account(username="t_gdal_reader", full_name="GDAL", role=Role.AUDITOR)
        s.add(acc)
        s.flush()
        token, _ = issue_token(s, account=acc, name="gdal", ttl=timedelta(minutes=10))
        for i in range(5):
            create_node(s, data=NodeIn(code=f"MH-G-{i}", kind="manhole", geometry=point(150 * i, 500)))
        for i in range(4):
            create_segment(
                s,
                data=SegmentIn(
                    code=f"RS-G-{i}",
                    geometry=line((150 * i, 500), (150 * (i + 1), 500)),
                    ducts=[{"spec": "HDPE-32/26"}],
                ),
            )
        s.commit()
    yield token
    with Session(engine) as s:
        s.execute(
            text("""DELETE FROM subduct WHERE segment_id IN (SELECT id FROM route_segment WHERE code LIKE 'RS-G-%');
            DELETE FROM duct WHERE segment_id IN (SELECT id FROM route_segment WHERE code LIKE 'RS-G-%');
            DELETE FROM route_segment WHERE code LIKE 'RS-G-%'; DELETE FROM node WHERE code LIKE 'MH-G-%';
            DELETE FROM api_token WHERE account_id IN (SELECT id FROM account WHERE username = 't_gdal_reader');
            DELETE FROM account WHERE username = 't_gdal_reader'""")
        )
        s.commit()


def test_ogrinfo_reads_the_segments_layer_over_oapif(committed_network, test_database):
    assert shutil.which("ogrinfo"), "gdal-bin is missing: ./dev installs it"
    with running_service(test_database.app_url) as base:
        env = {"GDAL_HTTP_HEADERS": f"Authorization: Bearer {committed_network}", "PATH": "/usr/bin:/bin"}
        listing = subprocess.run(
            ["ogrinfo", "-ro", "-q", f"OAPIF:{base}/api/v1"], capture_output=True, text=True, env=env, timeout=60
        )
        assert listing.returncode == 0, listing.stderr
        assert "segments" in listing.stdout and "nodes" in listing.stdout
        out = subprocess.run(
            ["ogrinfo", "-ro", "-al", "-so", f"OAPIF:{base}/api/v1", "segments"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "Feature Count: 4" in out.stdout
        assert "length_m" in out.stdout
        geojson = subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{base}/api/v1", "nodes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        codes = sorted(f["properties"]["code"] for f in json.loads(geojson.stdout)["features"])
        assert codes == [f"MH-G-{i}" for i in range(5)]


def test_items_page_links_walk_the_whole_layer(client, people):
    from tests.factories import node_body

    for i in range(7):
        assert (
            client.post(
                "/api/v1/network/nodes", json=node_body(f"MH-P-{i}", 30 * i, 0), headers=people.headers("planner")
            ).status_code
            == 201
        )
    url, seen = "/api/v1/collections/nodes/items?limit=3", []
    while url:
        page = client.get(url, headers=people.headers("op_a"))
        assert page.headers["content-type"] == "application/geo+json"
        body = page.json()
        seen += [f["properties"]["code"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == [f"MH-P-{i}" for i in range(7)]


def test_bbox_with_swapped_axes_is_rejected_with_a_hint(client, people):
    r = client.get(
        "/api/v1/collections/segments/items", params={"bbox": "1.0,104.0,1.2,104.2"}, headers=people.headers("planner")
    )
    assert r.status_code == 422 and r.json()["suggested"] == "104,1,104.2,1.2"
    assert "tertukar" in r.json()["detail"] and r.headers["content-language"] == "id"
    r = client.get(
        "/api/v1/collections/segments/items",
        params={"bbox": "1.0,104.0,1.2,104.2"},
        headers=people.headers("planner") | {"Accept-Language": "en-GB,en;q=0.9"},
    )
    assert "swapped" in r.json()["detail"] and r.headers["content-language"] == "en"
