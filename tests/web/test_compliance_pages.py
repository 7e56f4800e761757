"""The compliance page's zone and migration tabs in Chromium: a planner imports a no-overhead zone file (a faulty
file first, which saves nothing; then a clean dry run and Simpan), sees the zone drawn, and switches it off; a
planner advances a migration case one SJUT step, and sees at the case what the API refuses. The database is read
beside the browser to check what was (and was not) written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ducting.calendar import today
from tests.web.browser import TIBAN_LAMA, api, manholes, offset, sign_in
from tests.web.conftest import shot

ZONE = "Koridor Uji Tiban Lama"
BROKEN = "Zona Uji Rusak"


@pytest.fixture(scope="module")
def db(web_database) -> Iterator[Engine]:
    engine = create_engine(web_database.owner_url)  # the owner reads past row-level security
    yield engine
    engine.dispose()


def _scalar(db: Engine, sql: str, **params):
    with db.connect() as c:
        return c.execute(text(sql), params).scalar()


def _survey(live: str, token: str, base: tuple[float, float], ref: str) -> None:
    """Three poles 45 m apart with BLN's tagged fibre on both spans (refs unique to the caller)."""
    poles = [offset(*base, 45 * i, 0) for i in range(3)]
    columns = ["kind", "pole_ref", "lon", "lat", "from_pole", "to_pole", "operator", "cable_type", "owner_tag"]
    rows = [
        {"kind": "pole", "pole_ref": f"{ref}{i}", "lon": f"{lon:.8f}", "lat": f"{lat:.8f}"}
        for i, (lon, lat) in enumerate(poles)
    ]
    for a, b in ((0, 1), (1, 2)):
        rows += [
            {"kind": "span", "from_pole": f"{ref}{a}", "to_pole": f"{ref}{b}"},
            {
                "kind": "cable",
                "from_pole": f"{ref}{a}",
                "to_pole": f"{ref}{b}",
                "operator": "BLN",
                "cable_type": "fiber",
                "owner_tag": "yes",
            },
        ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    r = api(
        live,
        token,
        "POST",
        "/api/v1/compliance/surveys",
        files={"file": (f"survei-{ref}.csv", out.getvalue().encode())},
        data={"name": f"Survei {ref}", "surveyed_on": today().isoformat(), "team": "Tim Web"},
    )
    assert r.status_code == 201, r.text


def _square(centre: tuple[float, float], half_m: float) -> dict:
    (w, s), (e, n) = offset(*centre, -half_m, -half_m), offset(*centre, half_m, half_m)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _geojson(*features: tuple[str, dict]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"nama": name, "alasan": "koridor uji peramban"}, "geometry": geom}
                for name, geom in features
            ],
        }
    ).encode()


def _upload(page, name: str, data: bytes) -> None:
    page.get_by_label("Berkas zona").set_input_files({"name": name, "mimeType": "application/geo+json", "buffer": data})


def test_planner_imports_a_zone_file_only_after_a_clean_dry_run_then_switches_the_zone_off(page, live, tokens, db):
    base = offset(*TIBAN_LAMA, -350, 300)
    _survey(live, tokens["perencana"], base, "ZT")
    centre = offset(*base, 45, 0)
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                list(offset(*centre, 300, 0)),
                list(offset(*centre, 400, 100)),
                list(offset(*centre, 400, 0)),
                list(offset(*centre, 300, 100)),
                list(offset(*centre, 300, 0)),
            ]
        ],
    }
    sign_in(page, "perencana")
    page.goto("/kepatuhan")
    page.get_by_role("tab", name="Zona bebas kabel udara").click()
    page.locator("#zone-list[data-loaded]").wait_for(state="attached")

    _upload(page, "zona-rusak.geojson", _geojson((ZONE, _square(centre, 120)), (BROKEN, bowtie)))
    page.get_by_role("button", name="Periksa (uji coba)").click()
    faults = page.locator("#zone-faults")
    faults.wait_for()
    assert "1 masalah; tidak ada yang disimpan" in faults.inner_text()
    bad_row = faults.locator('tbody tr[data-row="2"]')
    assert bad_row.count() == 1 and "Geometri tidak sah" in bad_row.inner_text()
    assert page.get_by_role("button", name="Simpan", exact=True).is_disabled()
    shot(page, "compliance-zones-faults")
    assert _scalar(db, "SELECT count(*) FROM no_overhead_zone WHERE name IN (:a, :b)", a=ZONE, b=BROKEN) == 0

    _upload(page, "zona-baik.geojson", _geojson((ZONE, _square(centre, 120))))
    page.get_by_role("button", name="Periksa (uji coba)").click()
    page.locator("#zone-dry-run").wait_for()
    assert "lolos pemeriksaan: 1 baru, 0 diubah, 0 sama" in page.locator("#zone-dry-run").inner_text()
    assert _scalar(db, "SELECT count(*) FROM no_overhead_zone WHERE name = :n", n=ZONE) == 0  # a dry run writes nothing
    page.get_by_role("button", name="Simpan", exact=True).click()
    committed = page.locator("#zone-committed")
    committed.wait_for()
    assert "zona-baik.geojson tersimpan: 1 baru" in committed.inner_text()
    assert committed.locator("[data-spans]").get_attribute("data-spans") == "2"  # both surveyed spans lie under it
    zone_id = _scalar(db, "SELECT id FROM no_overhead_zone WHERE name = :n AND active", n=ZONE)
    assert zone_id is not None
    assert (
        _scalar(
            db,
            "SELECT count(*) FROM compliance_flag WHERE rule = 'no_overhead_zone' AND status = 'open' "
            "AND ST_Intersects(geom, (SELECT geom FROM no_overhead_zone WHERE id = :z))",
            z=zone_id,
        )
        >= 1
    )

    card = page.locator(f'.req[data-zone="{zone_id}"]')
    card.wait_for()
    assert "Aktif" in card.inner_text() and card.get_attribute("data-drawn") == "true"
    drawn = page.evaluate("([lat, lon]) => BEDELAU_ZONES.getBounds().contains([lat, lon])", [centre[1], centre[0]])
    assert drawn  # the zone is on the map around its spans
    card.click()
    page.wait_for_timeout(400)  # the map's fly to the zone
    shot(page, "compliance-zones")

    card.get_by_label("Nama zona").fill(ZONE + " Utara")
    card.get_by_role("button", name="Ganti nama").click()
    page.get_by_text(f"Nama zona kini {ZONE} Utara").first.wait_for()
    assert _scalar(db, "SELECT name FROM no_overhead_zone WHERE id = :z", z=zone_id) == ZONE + " Utara"
    card = page.locator(f'.req[data-zone="{zone_id}"]', has_text=ZONE + " Utara")
    card.get_by_role("button", name="Nonaktifkan").click()
    page.get_by_text(f"Zona {ZONE} Utara dinonaktifkan").wait_for()
    page.locator(f'.req[data-zone="{zone_id}"]', has_text="Nonaktif").wait_for()
    assert _scalar(db, "SELECT active FROM no_overhead_zone WHERE id = :z", z=zone_id) is False
    assert (
        _scalar(
            db,
            "SELECT count(*) FROM compliance_flag WHERE rule = 'no_overhead_zone' AND status = 'open' "
            "AND ST_Intersects(geom, (SELECT geom FROM no_overhead_zone WHERE id = :z))",
            z=zone_id,
        )
        == 0
    )
    page.console_guard.expect_http(422)  # the faulty file, refused on purpose
    page.console_guard.check()


def _duct_beside(live: str, token: str, base: tuple[float, float], ref: str) -> str:
    """A duct route 8 m north of the survey's poles, along both spans; returns its segment code."""
    a, b = manholes(live, token, offset(*base, -10, 8), offset(*base, 100, 8))
    code = f"RS-{ref}"
    r = api(
        live,
        token,
        "POST",
        "/api/v1/network/segments",
        json={
            "code": code,
            "geometry": {
                "type": "LineString",
                "coordinates": [a["geometry"]["coordinates"], b["geometry"]["coordinates"]],
            },
            "ducts": [{"spec": "PVC-110-4x32", "reserve": 1}],
        },
    )
    assert r.status_code == 201, r.text
    return code


def _case(live: str, tokens: dict[str, str], db: Engine, base: tuple[float, float], ref: str) -> int:
    """BLN's migration case for a span beside a duct route, tied to BLN's lease of that route (the cable may only
    be pulled into a duct it leases)."""
    token = tokens["perencana"]
    segment = _duct_beside(live, token, base, ref)
    _survey(live, token, base, ref)
    span_id = _scalar(
        db,
        """SELECT s.id FROM aerial_span s JOIN node n ON n.id = s.from_pole_id
        WHERE ST_DWithin(n.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 5)
        ORDER BY s.id LIMIT 1""",
        lon=base[0],
        lat=base[1],
    )
    operator_id = _scalar(db, "SELECT id FROM organisation WHERE code = 'BLN'")
    r = api(live, token, "POST", "/api/v1/compliance/migrations", json={"operator_id": operator_id, "span_id": span_id})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    body = {
        "segments": [segment],
        "subduct_count": 1,
        "size_class": "subduct_32_26",
        "first_day": today().isoformat(),
        "term_months": 12,
    }
    request = api(live, tokens["op-bln"], "POST", "/api/v1/leasing/requests", json=body)
    assert request.status_code == 201, request.text
    rid = request.json()["id"]
    assert api(live, token, "POST", f"/api/v1/leasing/requests/{rid}/approve").status_code == 200
    assert api(live, tokens["op-bln"], "POST", f"/api/v1/leasing/requests/{rid}/accept").status_code == 200
    r = api(live, token, "PATCH", f"/api/v1/compliance/migrations/{case_id}", json={"capacity_request_id": rid})
    assert r.status_code == 200, r.text
    return case_id


def test_planner_advances_a_migration_case_and_sees_a_refused_step_at_the_case(page, live, tokens, db):
    token = tokens["perencana"]
    first = _case(live, tokens, db, offset(*TIBAN_LAMA, 400, -350), "MA")
    second = _case(live, tokens, db, offset(*TIBAN_LAMA, 400, -550), "MB")
    sign_in(page, "perencana")
    page.goto("/kepatuhan")
    page.get_by_role("tab", name="Migrasi").click()
    page.locator("#mig-list[data-loaded]").wait_for(state="attached")
    board = page.locator("#mig-dashboard table")
    assert board.locator("tfoot").inner_text().split()[-1] == str(
        _scalar(
            db,
            """SELECT count(*) FROM migration_case m
        JOIN aerial_span s ON s.id = m.span_id JOIN admin_area a ON a.kode = s.kecamatan_kode AND a.level = 'kecamatan'
        WHERE m.closed_on IS NULL""",
        )
    )

    # every case's aerial span is on the map, and a case's card takes the map to its span
    cases = int(page.locator("#mig-list").get_attribute("data-loaded"))
    assert int(page.locator("#map").get_attribute("data-migration-spans")) == cases >= 2
    card = page.locator(f'.req[data-case="{first}"]')
    assert "Direncanakan" in card.inner_text()
    card.locator("dl").click()
    assert card.get_attribute("aria-selected") == "true"
    card.get_by_role("button", name="Lanjut: Ditarik ke duct").click()
    page.get_by_text(f"Kasus #{first}: Ditarik ke duct").wait_for()
    card = page.locator(f'.req[data-case="{first}"][data-stage="pulled_into_duct"]')
    card.wait_for()
    day = today()
    assert day.strftime("%d-%m-%Y") in card.inner_text()
    with db.connect() as c:
        row = c.execute(text("SELECT stage, pulled_on FROM migration_case WHERE id = :id"), {"id": first}).one()
    assert row.stage == "pulled_into_duct" and row.pulled_on == day

    # cut-over dated before the cable was pulled in: refused, and said at the case
    card.get_by_label("Tanggal").fill((day - timedelta(days=3)).isoformat())
    card.get_by_role("button", name="Lanjut: Alih layanan").click()
    card.locator(".alert.error").wait_for()
    assert "Urutan SJUT tidak boleh dilompati atau mundur" in card.inner_text()
    # the refusal's detail in Indonesian, from the problem's members (the server's `detail` is English)
    before = (day - timedelta(days=3)).strftime("%d-%m-%Y")
    assert (
        f"Alih layanan pada {before} lebih awal dari tahap sebelumnya ({day.strftime('%d-%m-%Y')})" in card.inner_text()
    )
    assert _scalar(db, "SELECT stage FROM migration_case WHERE id = :id", id=first) == "pulled_into_duct"

    # a case moved behind the page: the stale step is refused, and the case is redrawn where it now stands
    r = api(
        live,
        token,
        "POST",
        f"/api/v1/compliance/migrations/{second}/advance",
        json={"to": "pulled_into_duct", "on": day.isoformat()},
    )
    assert r.status_code == 200, r.text
    other = page.locator(f'.req[data-case="{second}"]')
    other.get_by_role("button", name="Lanjut: Ditarik ke duct").click()
    other = page.locator(f'.req[data-case="{second}"][data-stage="pulled_into_duct"]')
    other.locator(".alert.error").wait_for()
    assert (
        "kasus ada di tahap Ditarik ke duct; tahap berikutnya Alih layanan, bukan Ditarik ke duct" in other.inner_text()
    )
    assert other.get_by_role("button", name="Lanjut: Alih layanan").count() == 1
    # the list filtered by stage: none at cut-over yet, both pulled into the duct; the map follows the list
    page.get_by_label("Tahap", exact=True).select_option("cut_over")
    page.locator('#mig-list[data-filter="cut_over|"][data-loaded="0"]').wait_for(state="attached")
    assert int(page.locator("#map").get_attribute("data-migration-spans")) == 0
    page.get_by_label("Tahap", exact=True).select_option("pulled_into_duct")
    page.locator('#mig-list[data-filter="pulled_into_duct|"]').wait_for(state="attached")
    pulled = _scalar(db, "SELECT count(*) FROM migration_case WHERE stage = 'pulled_into_duct'")
    assert int(page.locator("#mig-list").get_attribute("data-loaded")) == pulled >= 2
    page.get_by_label("Tahap", exact=True).select_option("")
    page.locator('#mig-list[data-filter="|"]').wait_for(state="attached")
    page.locator(f'.req[data-case="{first}"]').scroll_into_view_if_needed()
    shot(page, "compliance-migrations")
    page.console_guard.expect_http(409)
    page.console_guard.check()


def test_auditor_reads_zones_and_migration_cases_without_changing_them(page, live, tokens):
    sign_in(page, "auditor")
    page.goto("/kepatuhan")
    page.get_by_role("tab", name="Zona bebas kabel udara").click()
    page.locator("#zone-list[data-loaded]").wait_for(state="attached")
    assert page.locator("#zone-import").count() == 0
    assert "Hanya baca" in page.locator("#zones").inner_text()
    assert page.locator("#zones button").count() == 0
    page.get_by_role("tab", name="Migrasi").click()
    page.locator("#mig-list[data-loaded]").wait_for(state="attached")
    page.locator("#mig-dashboard > *").first.wait_for()
    assert page.locator("#migrations button").count() == 0
    page.get_by_role("link", name="EN", exact=True).click()  # what the scripts draw follows the toggle too
    page.get_by_role("tab", name="Migration").click()
    page.locator("#mig-dashboard th", has_text="Kecamatan").first.wait_for()
    assert page.get_by_role("tab", name="No-overhead zones").is_visible()
    assert "Migration cases" in page.locator("#migrations").inner_text()
    page.get_by_role("link", name="ID", exact=True).click()
    page.get_by_role("tab", name="Migrasi").wait_for()
    page.console_guard.check()
