"""The planner's other jobs in Chromium: ducts in the cross-section, moving and deleting nodes, the map on a past
date, and the import wizard. Each test works in its own empty corner of Tiban Lama, far from the sample."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

from ducting.calendar import DEFAULT_ZONE_NAME, WIB, today
from tests.web.browser import TIBAN_LAMA, api, click_lonlat, manholes, offset, open_map_at, sign_in
from tests.web.conftest import shot


def _segment(live: str, token: str, a: tuple[float, float], b: tuple[float, float], **extra) -> dict:
    r = api(
        live,
        token,
        "POST",
        "/api/v1/network/segments",
        json={"geometry": {"type": "LineString", "coordinates": [list(a), list(b)]}, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _screen(page, lon: float, lat: float) -> tuple[float, float]:
    return tuple(
        page.evaluate(
            "([lat, lon]) => { const p = BEDELAU_MAP.latLngToContainerPoint([lat, lon]);"
            " const r = BEDELAU_MAP.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
            [lat, lon],
        )
    )


def _metres(a: list[float], b: list[float]) -> float:
    return math.hypot((b[0] - a[0]) * 111_320 * math.cos(math.radians(a[1])), (b[1] - a[1]) * 110_574)


def _open_segment(page, seg: dict, a, b) -> None:
    middle = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    open_map_at(page, *middle)
    click_lonlat(page, *middle)
    page.locator("#panel-body h2", has_text=seg["properties"]["code"]).wait_for()


def test_planner_lays_a_duct_sees_its_subducts_and_removes_it_again(page, live, tokens):
    a, b = offset(*TIBAN_LAMA, -500, 200), offset(*TIBAN_LAMA, -430, 200)
    manholes(live, tokens["perencana"], a, b)
    seg = _segment(live, tokens["perencana"], a, b)
    sign_in(page, "perencana")
    _open_segment(page, seg, a, b)
    xs = page.locator("#xsection")
    xs.get_by_text("Belum ada duct di segmen ini.").wait_for()

    page.get_by_label("Spesifikasi").select_option("HDPE-40/33-7xMD10")
    page.get_by_label("Cadangan kota (subduct)").fill("1")
    page.get_by_role("button", name="+ Tambah duct").click()
    page.get_by_text("Duct 1 (HDPE-40/33-7xMD10) ditambahkan").wait_for()
    table = page.locator(".xsection table.grid")
    table.wait_for()
    assert table.locator("tbody tr").count() == 7
    assert "Cadangan kota" in table.locator("tbody tr").last.inner_text()  # the last subduct is kept for the city
    assert page.locator(".xsection svg circle").count() == 8  # one duct, seven bores
    r = api(
        live,
        tokens["perencana"],
        "POST",
        "/api/v1/leasing/allocations",
        json={
            "operator": "BLN",
            "segments": [seg["properties"]["code"]],
            "subduct_count": 1,
            "first_day": today().isoformat(),
        },
    )
    assert r.status_code == 201, r.text

    # a second duct at a taken position: refused, and the refusal sits under the form that sent it
    page.get_by_label("Spesifikasi").select_option("HDPE-50/42")
    page.get_by_label("Posisi").fill("1")
    page.get_by_role("button", name="+ Tambah duct").click()
    error = page.locator("#duct-add-error")
    error.wait_for()
    assert "Posisi duct sudah terisi" in error.inner_text()
    page.get_by_label("Posisi").fill("")
    page.get_by_role("button", name="+ Tambah duct").click()
    page.get_by_text("Duct 2 (HDPE-50/42) ditambahkan").wait_for()
    page.locator(".duct-row").nth(1).wait_for()
    page.locator("#xsection").scroll_into_view_if_needed()
    shot(page, "planner-ducts")

    # duct 1 carries a lease: removing it is refused next to that duct, naming the lease
    page.get_by_role("button", name="Hapus duct 1").click()
    page.get_by_role("button", name="Ya, hapus").click()
    blocked = page.locator("#duct-error-1")
    blocked.wait_for()
    assert "Tidak bisa dihapus" in blocked.inner_text() and "sewa" in blocked.inner_text()

    page.get_by_role("button", name="Hapus duct 2").click()
    page.get_by_role("button", name="Ya, hapus").click()
    page.get_by_text("Duct 2 dihapus").wait_for()
    page.wait_for_function("document.querySelectorAll('.duct-row').length === 1")
    ducts = api(live, tokens["perencana"], "GET", f"/api/v1/network/segments/{seg['id']}/ducts").json()
    assert [(d["position"], d["status"]) for d in ducts] == [(1, "operational"), (2, "decommissioned")]
    page.console_guard.expect_http(409)
    page.console_guard.check()


def test_planner_drags_a_node_and_the_segment_end_follows(page, live, tokens):
    a, b = offset(*TIBAN_LAMA, -500, -200), offset(*TIBAN_LAMA, -420, -200)
    na, _ = manholes(live, tokens["perencana"], a, b)
    seg = _segment(live, tokens["perencana"], a, b)
    sign_in(page, "perencana")
    open_map_at(page, *offset(*a, 40, 0))
    page.get_by_role("button", name="Pindahkan").click()
    x, y = _screen(page, *a)
    target = offset(*a, 0, 25)  # 25 m north
    tx, ty = _screen(page, *target)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + (tx - x) * i / 10, y + (ty - y) * i / 10)
    page.mouse.up()
    page.get_by_text("Tersimpan").first.wait_for()
    page.locator("#panel-body h2", has_text=na["properties"]["code"]).wait_for()
    page.locator("#history ol.history li").first.wait_for()
    assert "Diubah" in page.locator("#history ol.history li").first.inner_text()
    moved = api(live, tokens["perencana"], "GET", f"/api/v1/network/nodes/{na['id']}").json()
    assert 20 < _metres(list(a), moved["geometry"]["coordinates"]) < 30
    line = api(live, tokens["perencana"], "GET", f"/api/v1/network/segments/{seg['id']}").json()
    assert _metres(line["geometry"]["coordinates"][0], moved["geometry"]["coordinates"]) < 0.01  # still attached
    shot(page, "planner-moves-node")
    page.console_guard.check()


def test_planner_deletes_a_lone_node_and_is_told_in_place_why_a_connected_one_stays(page, live, tokens):
    lone, a, b = offset(*TIBAN_LAMA, 200, -400), offset(*TIBAN_LAMA, 260, -400), offset(*TIBAN_LAMA, 330, -400)
    n_lone, n_a, _ = manholes(live, tokens["perencana"], lone, a, b)
    seg = _segment(live, tokens["perencana"], a, b)
    sign_in(page, "perencana")
    open_map_at(page, *offset(*lone, 60, 0))
    page.get_by_role("button", name="Hapus", exact=True).click()
    click_lonlat(page, *lone)
    page.get_by_text(f"{n_lone['properties']['code']} dihapus").wait_for()
    assert (
        api(live, tokens["perencana"], "GET", f"/api/v1/network/nodes/{n_lone['id']}").json()["properties"]["status"]
        == "decommissioned"
    )

    click_lonlat(page, *a)  # this one still ends a segment
    tip = page.locator(".leaflet-tooltip.error-tip")
    tip.wait_for()
    assert "Tidak bisa dihapus" in tip.inner_text() and seg["properties"]["code"] in tip.inner_text()
    tx, ty = _screen(page, *a)
    box = tip.bounding_box()
    assert abs(box["y"] + box["height"] / 2 - ty) < 60 and box["x"] - tx < 60  # at the node, not in a corner
    assert (
        api(live, tokens["perencana"], "GET", f"/api/v1/network/nodes/{n_a['id']}").json()["properties"]["status"]
        != "decommissioned"
    )
    shot(page, "planner-delete-refused")
    page.console_guard.expect_http(409)
    page.console_guard.check()


def test_the_time_slider_shows_the_network_as_it_was(page, live, tokens, web_database):
    a, b = offset(*TIBAN_LAMA, 700, 0), offset(*TIBAN_LAMA, 780, 0)
    na, nb = manholes(live, tokens["perencana"], a, b)
    seg = _segment(live, tokens["perencana"], a, b)
    page.wait_for_timeout(1100)  # the exact field has whole seconds: one clear second after the creation
    between = datetime.now(WIB)
    page.wait_for_timeout(1100)  # and one before the delete
    r = api(live, tokens["perencana"], "DELETE", f"/api/v1/network/segments/{seg['id']}", headers={"If-Match": '"v1"'})
    assert r.status_code == 200, r.text
    sign_in(page, "perencana")
    open_map_at(page, *offset(*a, 40, 0))
    assert page.evaluate("BEDELAU_EDIT.getLayers().filter((l) => l.bid && l.bid.type === 'segment').length") == 0

    page.get_by_label("Per waktu tepat (WIB)").fill(between.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Per waktu tepat (WIB)").press("Tab")  # the change event
    page.get_by_text(re.compile(r"Menampilkan jaringan per .* WIB \(hanya baca\)")).wait_for()
    page.wait_for_function("BEDELAU_EDIT.getLayers().some((l) => l.bid && l.bid.type === 'segment')")
    assert page.locator("body.historic").count() == 1
    click_lonlat(page, *offset(*a, 40, 0))
    page.locator("#panel-body h2", has_text=seg["properties"]["code"]).wait_for()
    assert page.locator("#panel-body form.edit").count() == 0  # the past is read-only
    shot(page, "planner-as-of")

    # the day before the sample was loaded (today, unless the run started before midnight WIB) shows nothing yet
    from sqlalchemy import create_engine, text

    engine = create_engine(web_database.owner_url)
    with engine.connect() as c:
        loaded = c.execute(
            text("SELECT (min(lower(sys_period)) AT TIME ZONE :zone)::date FROM node"), {"zone": DEFAULT_ZONE_NAME}
        ).scalar()
    engine.dispose()
    before = loaded - timedelta(days=1)
    slider = page.get_by_role("slider", name="Per tanggal")
    slider.focus()
    slider.press("End")  # back to today's end, then day by day to the left with the keyboard
    for _ in range((today() - before).days):
        slider.press("ArrowLeft")
    page.locator("#as-of-label", has_text=before.strftime("%d-%m-%Y")).wait_for()
    page.wait_for_function("BEDELAU_EDIT.getLayers().length === 0")
    page.locator("#panel-missing", has_text="tidak ada pada").wait_for()  # nor the selected segment
    page.get_by_role("button", name="Kembali ke sekarang").click()
    page.wait_for_function("!document.body.classList.contains('historic')")
    page.wait_for_function(
        "(ids) => ids.every((id) => BEDELAU_EDIT.getLayers().some((l) => l.bid && l.bid.id === id))",
        arg=[na["id"], nb["id"]],
    )  # today again: the two manholes, without the removed segment
    assert page.evaluate("BEDELAU_EDIT.getLayers().filter((l) => l.bid && l.bid.type === 'segment').length") == 0
    page.console_guard.expect_http(404)  # the segment asked for at a moment before it existed
    page.console_guard.check()


def _network_file(base: tuple[float, float], *, faulty: bool) -> bytes:
    def feature(props, geometry):
        return {"type": "Feature", "properties": props, "geometry": geometry}

    pts = [offset(*base, 60 * i, 0) for i in range(3)]
    nodes = [
        feature({"code": f"MH-IMPWEB-{i}", "kind": "manhole"}, {"type": "Point", "coordinates": list(p)})
        for i, p in enumerate(pts)
    ]
    segs = [
        feature(
            {"code": f"RS-IMPWEB-{i}", "ducts": json.dumps([{"spec": "HDPE-40/33-7xMD10", "reserve": 1}])},
            {"type": "LineString", "coordinates": [list(pts[i]), list(pts[i + 1])]},
        )
        for i in range(2)
    ]
    if faulty:
        nodes[1]["geometry"]["coordinates"].reverse()  # lat, lon: a swapped pair
        segs[1]["geometry"]["coordinates"][-1] = list(offset(*pts[2], 0, 40))  # a loose end, 40 m from any node
    return json.dumps({"type": "FeatureCollection", "features": nodes + segs}).encode()


def test_import_wizard_reports_every_fault_by_row_then_commits_the_fixed_file(page, live, tokens, tmp_path):
    base = offset(*TIBAN_LAMA, -300, 600)
    bad, good = tmp_path / "jaringan-salah.geojson", tmp_path / "jaringan.geojson"
    bad.write_bytes(_network_file(base, faulty=True))
    good.write_bytes(_network_file(base, faulty=False))
    sign_in(page, "perencana")
    page.get_by_role("link", name="Impor").click()
    page.get_by_label(re.compile("^Berkas")).set_input_files(str(bad))
    page.get_by_role("button", name="Periksa (uji coba)").click()
    faults = page.locator("#faults")
    faults.wait_for()
    rows = faults.locator("tbody tr")
    assert rows.count() >= 2
    text = faults.inner_text()
    assert "Koordinat tertukar" in text and "Ujung segmen tidak menempel pada node" in text
    assert re.search(r"^2\s+node", rows.nth(0).inner_text())  # row 2 of the file, the nodes layer
    assert page.get_by_role("button", name="Simpan ke jaringan").is_disabled()
    shot(page, "import-dry-run-faults")

    page.get_by_label(re.compile("^Berkas")).set_input_files(str(good))
    page.get_by_role("button", name="Periksa (uji coba)").click()
    page.locator("#dry-run").wait_for()
    summary = page.locator("#dry-run table.summary")
    assert re.search(r"Node\s+3\s+0\s+0", summary.inner_text()) and re.search(r"Subduct\s+14", summary.inner_text())
    assert (
        api(live, tokens["perencana"], "GET", "/api/v1/collections/nodes/items?code=MH-IMPWEB-0").json()["features"]
        == []
    )
    shot(page, "import-dry-run-ok")
    page.get_by_role("button", name="Simpan ke jaringan").click()
    page.locator("#committed").wait_for()
    assert page.locator("#st3[aria-current='step']").count() == 1
    assert page.get_by_role("button", name="Simpan ke jaringan").is_disabled()  # the same file is not written twice
    seg = api(live, tokens["perencana"], "GET", "/api/v1/collections/segments/items?code=RS-IMPWEB-1").json()[
        "features"
    ]
    assert len(seg) == 1
    shot(page, "import-committed")
    page.console_guard.expect_http(422)
    page.console_guard.check()


def test_planner_splits_a_segment_by_placing_a_manhole_on_it(page, live, tokens):
    a, b = offset(*TIBAN_LAMA, -150, -600), offset(*TIBAN_LAMA, -50, -600)
    manholes(live, tokens["perencana"], a, b)
    seg = _segment(live, tokens["perencana"], a, b, ducts=[{"spec": "PVC-110-4x32"}])
    middle = offset(*a, 50, 0)
    sign_in(page, "perencana")
    open_map_at(page, *middle)
    page.get_by_label("Jenis node").select_option("manhole")
    page.get_by_role("button", name="+ Node").click()
    click_lonlat(page, *middle)
    page.get_by_text(re.compile(r"Node MH-.* tersimpan; segmen dipecah")).wait_for()
    page.wait_for_function("BEDELAU_EDIT.getLayers().filter((l) => l.bid && l.bid.type === 'segment').length === 2")
    half = api(live, tokens["perencana"], "GET", f"/api/v1/network/segments/{seg['id']}").json()
    assert 45 < float(half["properties"]["length_m"]) < 55
    ducts = api(live, tokens["perencana"], "GET", f"/api/v1/network/segments/{seg['id']}/ducts").json()
    assert [(d["spec"], len(d["subducts"])) for d in ducts] == [("PVC-110-4x32", 4)]  # both halves keep the duct
    shot(page, "planner-split")
    page.console_guard.check()


def test_search_finds_a_kelurahan_by_name_and_a_node_by_code(page, live, tokens):
    (node,) = manholes(live, tokens["perencana"], offset(*TIBAN_LAMA, 900, -300))
    sign_in(page, "perencana")
    page.goto("/peta")
    page.wait_for_selector("#map[data-ready]")
    search = page.get_by_label("Cari kode atau kelurahan")
    search.fill("Tiban Lama")
    search.press("Enter")
    page.wait_for_function("""() => { const b = BEDELAU_MAP.getBounds(), c = b.getCenter();
        return BEDELAU_MAP.getZoom() >= 13 && Math.abs(c.lng - 103.99) < 0.03 && Math.abs(c.lat - 1.09) < 0.03; }""")
    search.fill(node["properties"]["code"].lower())  # codes are found whatever the case
    search.press("Enter")
    page.locator("#panel-body h2", has_text=node["properties"]["code"]).wait_for()
    page.wait_for_function("BEDELAU_MAP.getZoom() >= 17")  # and the map went there (after its zoom animation)
    page.console_guard.check()
