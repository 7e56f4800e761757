"""What the browser tests share: signing in, the API beside the browser, places in metres, and clicks at lon/lat."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import httpx
import pytest

from ducting.calendar import today
from tests.web.conftest import OPERATOR_PASSWORD, PASSWORDS

TIBAN_LAMA = (103.99705, 1.09380)  # a kelurahan 1.6 km from the sample's nearest node: room to draw
MANGSANG = (104.04184, 1.03371)


def sign_in(page, username: str) -> None:
    page.goto("/masuk")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORDS.get(username, OPERATOR_PASSWORD))
    page.get_by_label("Kata sandi").press("Enter")  # keyboard, not a mouse click
    page.wait_for_url(re.compile(r"/(peta|operator|keuangan)"))


def api(live: str, token: str, method: str, path: str, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} | (headers or {})
    return httpx.request(method, f"{live}{path}", headers=headers, timeout=60, **kw)


def offset(lon: float, lat: float, east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    return (lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 110_574)


def manholes(live: str, token: str, *points: tuple[float, float]) -> list[dict]:
    out = []
    for lon, lat in points:
        r = api(
            live,
            token,
            "POST",
            "/api/v1/network/nodes",
            json={"kind": "manhole", "geometry": {"type": "Point", "coordinates": [lon, lat]}},
        )
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def open_map_at(page, lon: float, lat: float, zoom: int = 18) -> None:
    page.goto(f"/peta#{zoom}/{lat:.6f}/{lon:.6f}")
    page.wait_for_selector("#map[data-loaded]")
    page.wait_for_function("BEDELAU_EDIT.getLayers().length > 0")


def click_lonlat(page, lon: float, lat: float) -> None:
    x, y = page.evaluate(
        "([lat, lon]) => { const p = BEDELAU_MAP.latLngToContainerPoint([lat, lon]);"
        " const r = BEDELAU_MAP.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.click(x, y)
    page.wait_for_timeout(150)


def draw_line(page, points: list[tuple[float, float]]) -> None:
    page.get_by_role("button", name="+ Segmen").click()
    for lon, lat in points:
        click_lonlat(page, lon, lat)
    click_lonlat(page, *points[-1])  # clicking the last vertex again finishes the line


def connected_pair(live: str, token: str, skip: int = 0, size_class: str = "microduct") -> tuple[dict, dict]:
    """Two nodes 300-900 m apart in the dense centre with a free route of `size_class` between them in a week;
    `skip` passes over the first pairs found, so that tests holding capacity at once do not share a route."""
    box = "104.000,1.130,104.020,1.150"
    nodes = api(live, token, "GET", f"/api/v1/collections/nodes/items?bbox={box}&limit=400&kind=manhole").json()[
        "features"
    ]
    first = (today() + timedelta(days=7)).isoformat()
    for i, a in enumerate(nodes[::7]):
        for b in nodes[i * 7 + 1 :: 5]:
            (x1, y1), (x2, y2) = a["geometry"]["coordinates"], b["geometry"]["coordinates"]
            d = math.hypot((x2 - x1) * 111_320, (y2 - y1) * 110_574)
            if not 300 < d < 900:
                continue
            q = api(
                live,
                token,
                "POST",
                "/api/v1/leasing/quotes",
                json={
                    "from_node": a["properties"]["code"],
                    "to_node": b["properties"]["code"],
                    "subduct_count": 1,
                    "size_class": size_class,
                    "first_day": first,
                    "term_months": 12,
                },
            )
            if q.status_code == 200:
                if skip == 0:
                    return a, b
                skip -= 1
    pytest.fail("no connected pair of manholes in the sample's centre")


def cable_photo() -> bytes:
    """A small drawn 'photo' of a pole with sagging cables, so the screenshots show what a report looks like."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 220))
    draw = ImageDraw.Draw(img)
    for y in range(220):  # sky to street
        draw.line([(0, y), (320, y)], fill=(150 + y // 4, 190 + y // 8, 235) if y < 170 else (110, 110, 105))
    draw.rectangle([150, 30, 162, 200], fill=(90, 90, 95))
    for i, sag in enumerate((30, 48, 70, 95)):
        points = [
            (x, 50 + 8 * i + sag * (1 - ((x - 156) / 160) ** 2) * ((x - 156) / 160) ** 2 * 4) for x in range(0, 321, 8)
        ]
        draw.line(points, fill=(20, 20, 20), width=2)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
