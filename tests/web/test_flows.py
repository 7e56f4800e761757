"""The issue's browser flows, end to end: Debian's Chromium (Playwright) against a live service and a database
with the committed Batam sample. Each flow keeps a screenshot in artifacts/screenshots/ and fails on any console
error."""

from __future__ import annotations

import re

from ducting.calendar import DEFAULT_ZONE_NAME, today
from tests.web.browser import (
    MANGSANG,
    TIBAN_LAMA,
    api,
    cable_photo,
    click_lonlat,
    connected_pair,
    draw_line,
    manholes,
    offset,
    open_map_at,
    sign_in,
)
from tests.web.conftest import shot


def test_planner_draws_a_segment_between_two_manholes_and_sees_it_saved_with_history(page, live, tokens):
    a, b = offset(*TIBAN_LAMA, 0), offset(*TIBAN_LAMA, 60, 25)
    na, nb = manholes(live, tokens["perencana"], a, b)
    sign_in(page, "perencana")
    open_map_at(page, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    draw_line(page, [a, b])
    page.get_by_text(re.compile(r"Segmen RS-.* tersimpan")).wait_for()
    history = page.locator("#history ol.history li")
    history.first.wait_for()
    assert "Dibuat" in history.first.inner_text() and "perencana" in history.first.inner_text()
    code = page.locator("#panel-body h2").inner_text().split()[0]
    seg = api(live, tokens["perencana"], "GET", f"/api/v1/collections/segments/items?code={code}").json()["features"][0]
    assert {seg["properties"]["start_node_id"], seg["properties"]["end_node_id"]} == {na["id"], nb["id"]}
    shot(page, "planner-draws-segment")
    page.console_guard.check()


def test_planner_sees_a_topology_error_next_to_the_line_end(page, live, tokens):
    a = MANGSANG
    manholes(live, tokens["perencana"], a)
    loose_end = offset(*a, 70, -20)  # nowhere near a node
    sign_in(page, "perencana")
    open_map_at(page, *offset(*a, 35, -10))
    draw_line(page, [a, loose_end])
    tip = page.locator(".leaflet-tooltip.error-tip")
    tip.wait_for()
    assert "tidak menempel" in tip.inner_text()
    assert "segment_not_snapped" not in page.locator("#edit-error").inner_text()  # translated, not a raw code
    box = tip.bounding_box()
    x, y = page.evaluate(
        "([lat, lon]) => { const p = BEDELAU_MAP.latLngToContainerPoint([lat, lon]);"
        " const r = BEDELAU_MAP.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [loose_end[1], loose_end[0]],
    )
    assert abs(box["y"] + box["height"] / 2 - y) < 60 and box["x"] - x < 60  # the message sits at the loose end
    shot(page, "planner-topology-error")
    page.console_guard.expect_http(422)  # the refusal this flow is about
    page.console_guard.check()


def test_operator_requests_capacity_a_to_b_and_a_planner_approves_it(browser, live, tokens):
    from tests.web.conftest import BLANK_PNG, ConsoleGuard

    a, b = connected_pair(live, tokens["op-bln"])
    (x1, y1), (x2, y2) = a["geometry"]["coordinates"], b["geometry"]["coordinates"]
    pages = []
    for _who in ("op-bln", "perencana"):
        ctx = browser.new_context(base_url=live, viewport={"width": 1366, "height": 860}, timezone_id=DEFAULT_ZONE_NAME)
        ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="image/png", body=BLANK_PNG))
        pg = ctx.new_page()
        pg.set_default_timeout(15_000)
        pg.console_guard = ConsoleGuard(pg)
        pages.append(pg)
    op, planner = pages
    sign_in(op, "op-bln")
    op.goto(f"/operator#16/{(y1 + y2) / 2:.6f}/{(x1 + x2) / 2:.6f}")
    op.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    click_lonlat(op, x1, y1)
    op.locator("#pt-a.set").wait_for()
    click_lonlat(op, x2, y2)
    op.locator("#pt-b.set").wait_for()
    assert op.locator("#pt-a span").inner_text() == a["properties"]["code"]
    op.get_by_label("Jumlah subduct").fill("1")
    op.get_by_role("button", name="Cari rute & harga").click()
    card = op.locator("#quote-card")
    card.wait_for()
    assert re.search(r"\d m", card.inner_text())
    assert "Rp " in card.inner_text()
    op.wait_for_timeout(400)
    shot(op, "operator-route-and-quote")
    op.get_by_role("button", name="Ajukan permohonan").click()
    done = op.locator("#submitted")
    done.wait_for()
    reference = re.search(r"(\S+) diajukan", done.inner_text()).group(1)
    assert "WIB" in done.inner_text()
    shot(op, "operator-submitted")
    op.console_guard.check()

    sign_in(planner, "perencana")
    planner.goto("/kotak-masuk")
    planner.locator(f'.req[data-ref="{reference}"]').click()
    planner.get_by_role("button", name="Setujui & tawarkan").click()
    planner.locator("#approved").wait_for()
    shot(planner, "planner-approves")
    planner.console_guard.check()
    mine = api(live, tokens["op-bln"], "GET", "/api/v1/leasing/requests").json()
    assert next(r for r in mine if r["reference"] == reference)["status"] == "offered"

    # the held subduct on the planner's cross-section: which one, whose, until when
    held = next(
        a
        for a in api(live, tokens["perencana"], "GET", "/api/v1/leasing/allocations?limit=10000").json()
        if a["request_reference"] == reference
    )
    planner.goto("/peta")
    planner.get_by_label("Cari kode atau kelurahan").fill(held["segment_code"])
    planner.get_by_label("Cari kode atau kelurahan").press("Enter")
    row = planner.locator(".xsection tr", has_text=f"{held['duct_position']}.{held['subduct_position']}")
    row.wait_for()
    assert "BLN" in row.inner_text() and "Ditahan" in row.inner_text()
    planner.locator(".xsection svg").scroll_into_view_if_needed()
    shot(planner, "planner-cross-section")
    planner.console_guard.check()
    for pg in pages:
        pg.context.close()


def test_finance_previews_issues_the_month_and_downloads_the_pdf(page, live, tokens):
    month_start = today().replace(day=1)
    segs = api(
        live,
        tokens["perencana"],
        "GET",
        "/api/v1/collections/segments/items?bbox=104.02,1.12,104.04,1.14&limit=40&status=operational",
    ).json()["features"]
    for f in segs[:3]:  # three separate legacy leases: one segment each needs no connected path
        r = api(
            live,
            tokens["perencana"],
            "POST",
            "/api/v1/leasing/allocations",
            json={
                "operator": "HLN",
                "segments": [f["properties"]["code"]],
                "subduct_count": 1,
                "first_day": month_start.isoformat(),
                "pks_number": "PKS/UJI/2026/001",
            },
        )
        assert r.status_code == 201, r.text
    sign_in(page, "keuangan")
    page.get_by_role("textbox", name="Bulan").fill(month_start.strftime("%Y-%m"))
    page.get_by_role("button", name="Pratinjau").click()
    page.locator("#by-operator table").wait_for()
    assert "HLN" in page.locator("#by-operator").inner_text()
    page.get_by_role("button", name="Terbitkan tagihan").click()
    page.get_by_role("button", name="Ya, terbitkan").click()
    page.locator("#issued").wait_for()
    row = page.locator("#invoices tr", has_text="HLN").first
    shot(page, "finance-issued")
    link = row.locator("a[data-invoice]")
    assert link.get_attribute("data-invoice").count("/") >= 1, page.locator("#invoices").inner_text()  # numbered
    with page.expect_download() as dl:
        link.click()
    pdf = dl.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    page.console_guard.check()


def test_a_citizen_files_a_report_with_a_photo_and_gets_a_reference(page, live, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/lapor")
    page.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    click_lonlat(page, 104.0305, 1.1301)
    page.get_by_label("Jenis masalah").select_option("low_cable")
    page.get_by_label("Keterangan").fill("Kabel menjuntai rendah melintang di atas jalan, dekat halte.")
    photo = tmp_path / "kabel.png"
    photo.write_bytes(cable_photo())
    page.get_by_label("Foto").set_input_files(str(photo))
    shot(page, "citizen-report-form")
    page.get_by_role("button", name="Kirim laporan").click()
    ref = page.locator("#reference .big")
    ref.wait_for()
    assert re.match(r"^[A-Z0-9][A-Z0-9/-]{5,}$", ref.inner_text().strip())
    shot(page, "citizen-report")
    page.console_guard.check()


def test_a_stale_edit_says_who_changed_it_and_offers_a_reload(page, live, tokens):
    from tests.web.conftest import login_token

    start = offset(*TIBAN_LAMA, 400, 300)
    end = offset(*start, 80, 0)
    manholes(live, tokens["perencana"], start, end)
    seg = api(
        live,
        tokens["perencana"],
        "POST",
        "/api/v1/network/segments",
        json={"geometry": {"type": "LineString", "coordinates": [list(start), list(end)]}},
    ).json()
    sign_in(page, "perencana")
    middle = offset(*start, 40, 0)
    open_map_at(page, *middle)
    click_lonlat(page, *middle)
    page.locator("#panel-body h2", has_text=seg["properties"]["code"]).wait_for()
    other = login_token(live, "perencana2")  # someone else saves first
    r = api(
        live,
        other,
        "PATCH",
        f"/api/v1/network/segments/{seg['id']}",
        json={"notes": "diperiksa lapangan"},
        headers={"If-Match": '"v1"'},
    )
    assert r.status_code == 200, r.text
    page.get_by_label("Catatan").fill("catatan saya")
    page.get_by_role("button", name="Simpan").click()
    conflict = page.locator(".alert.warn", has_text="perencana2")
    conflict.wait_for()
    shot(page, "planner-stale-edit")
    page.get_by_role("button", name="Muat versi terbaru").click()
    page.locator("#panel-body", has_text="v2").wait_for()
    page.console_guard.expect_http(412)
    page.console_guard.check()
