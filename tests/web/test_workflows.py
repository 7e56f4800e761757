"""The rest of each user's job in Chromium: an operator accepts an offer and cancels a request; a planner works the
compliance flags and triages a citizen report, and the operator sees its own flags; finance records a payment and
reads aging and the PAD dashboard; and the English toggle reaches what the scripts draw too."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import httpx

from ducting.calendar import DEFAULT_ZONE_NAME, today
from tests.web.browser import MANGSANG, api, cable_photo, connected_pair, offset, sign_in
from tests.web.conftest import BLANK_PNG, shot


def _request(live: str, token: str, a: dict, b: dict) -> dict:
    first = (today() + timedelta(days=7)).isoformat()
    r = api(
        live,
        token,
        "POST",
        "/api/v1/leasing/requests",
        json={
            "from_node": a["properties"]["code"],
            "to_node": b["properties"]["code"],
            "subduct_count": 1,
            "size_class": "microduct",
            "first_day": first,
            "term_months": 12,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_operator_accepts_an_offer_and_cancels_another_request(page, live, tokens):
    offered = _request(live, tokens["op-bln"], *connected_pair(live, tokens["op-bln"], skip=1))
    r = api(live, tokens["perencana"], "POST", f"/api/v1/leasing/requests/{offered['id']}/approve")
    assert r.status_code == 200, r.text
    pending = _request(live, tokens["op-bln"], *connected_pair(live, tokens["op-bln"], skip=2))
    sign_in(page, "op-bln")
    card = page.locator(f'.req[data-ref="{offered["reference"]}"]')
    card.wait_for()
    assert "Ditawarkan" in card.inner_text()
    card.get_by_role("button", name="Terima penawaran").click()
    dialog = card.get_by_role("alertdialog")
    assert re.search(r"Rp \d{1,3}(\.\d{3})+", dialog.inner_text())  # the price is said before it is agreed
    shot(page, "operator-accept-confirm")
    dialog.get_by_role("button", name="Ya, terima").click()
    page.locator(f'.req[data-ref="{offered["reference"]}"] .badge', has_text="Diterima").wait_for()

    other = page.locator(f'.req[data-ref="{pending["reference"]}"]')
    other.get_by_role("button", name="Batalkan").click()
    other.get_by_label("Alasan (boleh kosong)").fill("rute lain dipilih")
    other.get_by_role("button", name="Ya, batalkan").click()
    page.locator(f'.req[data-ref="{pending["reference"]}"] .badge', has_text="Dibatalkan").wait_for()
    mine = {x["reference"]: x for x in api(live, tokens["op-bln"], "GET", "/api/v1/leasing/requests?limit=50").json()}
    assert mine[offered["reference"]]["status"] == "accepted" and mine[pending["reference"]]["status"] == "cancelled"
    shot(page, "operator-accepted-and-cancelled")

    page.get_by_role("link", name="Sewa saya").click()  # the accepted lease, with its route on the map
    page.locator(f'.req[data-ref="{offered["reference"]}"]').wait_for()
    page.locator("#map[data-routes]").wait_for(state="attached")
    assert int(page.locator("#map").get_attribute("data-routes")) >= 1
    page.console_guard.check()


def test_planner_rejects_a_request_with_a_reason_the_operator_then_reads(page, live, tokens, browser):
    req = _request(live, tokens["op-bln"], *connected_pair(live, tokens["op-bln"], skip=3))
    sign_in(page, "perencana")
    page.get_by_role("link", name="Kotak masuk").click()
    card = page.locator(f'.req[data-ref="{req["reference"]}"]')
    card.click()
    page.locator("#decision h2", has_text=req["reference"]).wait_for()
    page.get_by_role("button", name="Tolak").click()  # no reason yet: the form itself refuses
    assert page.get_by_label("Alasan penolakan").evaluate("(el) => !el.validity.valid")
    page.get_by_label("Alasan penolakan").fill("Rute melewati segmen yang dijadwalkan perbaikan.")
    page.get_by_role("button", name="Tolak").click()
    page.get_by_text(f"{req['reference']} ditolak").wait_for()
    card.wait_for(state="detached")
    # the map shows the route of the request now open, and no longer the rejected one's
    page.wait_for_function("""() => { let routes = 0; BEDELAU_MAP.eachLayer((l) => { if (l instanceof L.GeoJSON) routes++; });
                                      return routes === Math.min(1, document.querySelectorAll('#inbox .req').length); }""")
    mine = {x["reference"]: x for x in api(live, tokens["op-bln"], "GET", "/api/v1/leasing/requests?limit=50").json()}
    assert mine[req["reference"]]["status"] == "rejected"
    shot(page, "planner-rejects")
    page.console_guard.check()

    from tests.web.conftest import ConsoleGuard

    ctx = browser.new_context(base_url=live, viewport={"width": 1366, "height": 860}, timezone_id=DEFAULT_ZONE_NAME)
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="image/png", body=BLANK_PNG))
    op = ctx.new_page()
    op.console_guard = ConsoleGuard(op)
    sign_in(op, "op-bln")
    mine_card = op.locator(f'.req[data-ref="{req["reference"]}"]')
    mine_card.wait_for()
    assert "Ditolak" in mine_card.inner_text() and "dijadwalkan perbaikan" in mine_card.inner_text()
    op.console_guard.check()
    ctx.close()


def _survey_csv(base: tuple[float, float]) -> bytes:
    columns = [
        "kind",
        "pole_ref",
        "lon",
        "lat",
        "from_pole",
        "to_pole",
        "min_clearance_m",
        "crosses",
        "road_class",
        "operator",
        "cable_type",
        "owner_tag",
    ]
    poles = [offset(*base, 45 * i, 0) for i in range(3)]
    rows = [
        {"kind": "pole", "pole_ref": f"W{i}", "lon": f"{lon:.8f}", "lat": f"{lat:.8f}"}
        for i, (lon, lat) in enumerate(poles)
    ]
    rows += [
        {
            "kind": "span",
            "from_pole": "W0",
            "to_pole": "W1",
            "min_clearance_m": "3.4",
            "crosses": "road",
            "road_class": "arterial",
        },
        {
            "kind": "cable",
            "from_pole": "W0",
            "to_pole": "W1",
            "operator": "BLN",
            "cable_type": "fiber",
            "owner_tag": "yes",
        },
        {"kind": "span", "from_pole": "W1", "to_pole": "W2"},
        {
            "kind": "cable",
            "from_pole": "W1",
            "to_pole": "W2",
            "operator": "BLN",
            "cable_type": "fiber",
            "owner_tag": "no",
        },
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_planner_works_the_compliance_flags_and_triages_a_citizen_report(page, live, tokens, browser):
    base = offset(*MANGSANG, 300, 400)
    r = api(
        live,
        tokens["perencana"],
        "POST",
        "/api/v1/compliance/surveys",
        files={"file": ("survei.csv", _survey_csv(base))},
        data={"name": "Survei uji peramban", "surveyed_on": today().isoformat(), "team": "Tim Web"},
    )
    assert r.status_code == 201, r.text
    report = httpx.post(
        f"{live}/api/v1/public/reports",
        timeout=30,
        files={"photo": ("kabel.png", cable_photo(), "image/png")},
        data={
            "lon": f"{offset(*base, 50, 5)[0]:.7f}",
            "lat": f"{offset(*base, 50, 5)[1]:.7f}",
            "category": "tangled",
            "description": "Kabel kusut menggantung di tiang dekat pasar.",
        },
    )
    assert report.status_code == 201, report.text
    reference = report.json()["reference"]

    sign_in(page, "perencana")
    page.get_by_role("link", name="Kepatuhan").click()
    flags = page.locator("#flags")
    page.wait_for_function("+document.getElementById('flags').dataset.loaded > 0")
    low = flags.locator(".req", has_text="Jarak bebas kabel di atas jalan terlalu rendah").first
    untagged = flags.locator(".req", has_text="Kabel tanpa label pemilik").first
    assert "Kritis" in low.inner_text() and "3,4 m" in low.inner_text() and "Arteri" in low.inner_text()
    assert int(page.locator("#map").get_attribute("data-flags")) >= 2  # the flags are on the map too
    low.click()
    assert low.get_attribute("aria-selected") == "true"
    low.get_by_role("button", name="Akui").click()
    flags.locator(".req", has_text="Jarak bebas kabel").filter(has_text="Diakui").first.wait_for()
    shot(page, "compliance-flags")

    untagged.get_by_role("button", name="Kecualikan").click()  # a waiver without a reason is refused, in the card
    untagged.locator(".alert.error").wait_for()
    assert "Pengecualian perlu alasan" in untagged.inner_text()
    flag_id = untagged.get_attribute("data-flag")
    untagged.get_by_label("Alasan").fill("kabel milik Pemkot, label menyusul")
    untagged.get_by_role("button", name="Kecualikan").click()
    page.locator(f'.req[data-flag="{flag_id}"]').wait_for(state="detached")

    page.get_by_role("tab", name=re.compile("Laporan warga")).click()
    card = page.locator(f'.req[data-report="{reference}"]')
    card.wait_for()
    assert "Kabel semrawut/kusut" in card.inner_text()
    card.locator("img.thumb").wait_for()
    shot(page, "compliance-triage")
    card.get_by_label("Catatan").fill("dicek petugas: benar")
    card.get_by_role("button", name="Verifikasi").click()
    page.get_by_text(f"Laporan {reference} diverifikasi").wait_for()
    card.wait_for(state="detached")
    page.console_guard.expect_http(422)
    page.console_guard.check()

    # the operator whose cable it is sees its flags (not the waived one) on its own page
    from tests.web.conftest import ConsoleGuard

    ctx = browser.new_context(base_url=live, viewport={"width": 1366, "height": 860}, timezone_id=DEFAULT_ZONE_NAME)
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="image/png", body=BLANK_PNG))
    op = ctx.new_page()
    op.set_default_timeout(15_000)
    op.console_guard = ConsoleGuard(op)
    sign_in(op, "op-bln")
    op.get_by_role("link", name="Tagihan & surat").click()
    rows = op.locator("#flags tbody tr")
    rows.first.wait_for()
    assert op.locator("#flags", has_text="Jarak bebas kabel di atas jalan terlalu rendah").count() == 1
    assert "Kabel tanpa label pemilik" not in op.locator("#flags").inner_text()
    shot(op, "operator-flags-and-invoices")
    with op.expect_download() as dl:
        op.get_by_role("link", name="Surat kepatuhan (PDF)").click()
    assert dl.value.path().read_bytes().startswith(b"%PDF")
    op.console_guard.check()
    ctx.close()


def test_finance_records_a_payment_and_reads_aging_and_the_pad_dashboard(page, live, tokens):
    last_month = (today().replace(day=1) - timedelta(days=1)).replace(day=1)
    segs = api(
        live,
        tokens["perencana"],
        "GET",
        "/api/v1/collections/segments/items?bbox=104.04,1.12,104.06,1.14&limit=40&status=operational",
    ).json()["features"]
    for f in segs[:2]:
        r = api(
            live,
            tokens["perencana"],
            "POST",
            "/api/v1/leasing/allocations",
            json={
                "operator": "DSN",
                "segments": [f["properties"]["code"]],
                "subduct_count": 1,
                "first_day": last_month.isoformat(),
                "pks_number": "PKS/UJI/2026/002",
            },
        )
        assert r.status_code == 201, r.text
    sign_in(page, "keuangan")
    page.get_by_role("textbox", name="Bulan").fill(last_month.strftime("%Y-%m"))
    page.get_by_role("button", name="Pratinjau").click()
    page.locator("#by-operator", has_text="DSN").wait_for()
    page.get_by_role("button", name="Terbitkan tagihan").click()
    page.get_by_role("button", name="Ya, terbitkan").click()
    page.locator("#issued").wait_for()
    row = page.locator("#invoices tbody tr", has_text="DSN").first
    total = int(re.sub(r"\D", "", row.locator("td").nth(3).inner_text()))
    number = row.locator("td").first.inner_text()
    part = total // 2
    row.get_by_label("Jumlah (Rp)").fill(str(part))
    row.get_by_label("Referensi").fill("TRF-UJI-01")
    row.get_by_role("button", name="+").click()
    page.get_by_text(f"Pembayaran {number} tercatat").wait_for()
    row = page.locator("#invoices tbody tr", has_text=number)
    row.get_by_text("Dibayar sebagian").wait_for()
    assert row.locator("td").nth(4).inner_text() == "Rp " + f"{part:,}".replace(",", ".")
    page.locator("#aging tbody tr", has_text="DSN").wait_for()

    pad = page.locator("#pad")
    page.wait_for_function("(y) => document.getElementById('pad').dataset.loaded === y", arg=str(last_month.year))
    billed = pad.locator(".kpi").first
    assert re.search(rf"Tertagih {last_month.year}\s*Rp [1-9]", billed.inner_text())
    assert pad.locator("#pad-occupancy tbody tr").count() >= 5  # the kecamatan of Batam with capacity
    page.get_by_label("Menurut").select_option("kecamatan")
    page.wait_for_timeout(300)
    assert "by=kecamatan" in page.locator("#pad-csv").get_attribute("href")
    pad.scroll_into_view_if_needed()
    shot(page, "finance-pad-dashboard")
    page.console_guard.check()


def test_english_toggle_reaches_the_page_and_what_its_scripts_draw(page, live):
    sign_in(page, "keuangan")
    page.locator("#pad[data-loaded]").wait_for()
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("heading", name="Monthly billing").wait_for()
    page.locator("#pad[data-loaded]").wait_for()
    assert page.get_by_role("button", name="Preview").is_visible()
    assert re.search(r"Billed \d{4}", page.locator("#pad-kpis").inner_text())  # drawn by finance.js, from the catalogue
    assert re.search(r"Rp \d", page.locator("#pad-kpis").inner_text())  # Rupiah stays Rupiah
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/keuangan")  # remembered
    page.get_by_role("heading", name="Monthly billing").wait_for()
    shot(page, "finance-in-english")
    page.get_by_role("link", name="ID", exact=True).click()
    page.get_by_role("heading", name="Penagihan bulanan").wait_for()
    page.console_guard.check()
