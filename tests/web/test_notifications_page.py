"""Notifications in Chromium: the bell counts an operator's unread news on every page, the list opens and marks
it read; the operator registers a webhook (its secret shown once) and sends a failed delivery again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, text

from ducting.calendar import today
from tests.web.browser import api, connected_pair, sign_in
from tests.web.conftest import shot


def _unread(page) -> int:
    page.wait_for_function("document.getElementById('bell').dataset.unread !== undefined")
    return int(page.get_attribute("#bell", "data-unread"))


def test_the_bell_counts_unread_news_and_the_list_marks_it_read(page, live, tokens):
    a, b = connected_pair(live, tokens["op-bln"], skip=3)
    body = {
        "from_node": a["properties"]["code"],
        "to_node": b["properties"]["code"],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (today() + timedelta(days=7)).isoformat(),
        "term_months": 12,
    }
    r = api(live, tokens["op-bln"], "POST", "/api/v1/leasing/requests", json=body)
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    sign_in(page, "op-bln")
    before = _unread(page)
    assert before >= 1 and page.locator("#bell-count").inner_text() == str(min(before, 99))
    page.locator("#bell").click()
    page.wait_for_url("**/notifikasi")
    item = page.locator("ol.notes li.unread", has_text=f"Permohonan {reference} diajukan")
    item.wait_for()
    shot(page, "notifications-list")
    item.get_by_role("button", name="Tandai dibaca").click()
    page.locator("ol.notes li.read", has_text=reference).wait_for()
    page.wait_for_function(f"Number(document.getElementById('bell').dataset.unread) === {before - 1}")
    page.get_by_role("button", name="Tandai semua dibaca").click()
    page.wait_for_function("document.getElementById('bell').dataset.unread === '0'")
    assert page.locator("#bell-count").is_hidden()
    page.get_by_label("Cara kirim").select_option("digest")
    page.get_by_role("button", name="Simpan").click()
    page.locator("#prefs-msg .alert.ok").wait_for()
    assert api(live, tokens["op-bln"], "GET", "/api/v1/notifications/preferences").json()["email_mode"] == "digest"
    page.goto("/notifikasi?lang=en")
    page.locator("h1", has_text="Notifications").wait_for()
    page.locator("ol.notes li", has_text=f"Request {reference} submitted").wait_for()
    page.goto("/notifikasi?lang=id")
    page.console_guard.check()


def test_an_operator_registers_a_webhook_and_sends_a_failed_delivery_again(page, live, tokens, web_database):
    sign_in(page, "op-bln")
    page.goto("/notifikasi/webhook")
    page.get_by_label("URL penerima").fill("https://93.184.215.14/bedelau-uji")
    page.get_by_label("Keterangan").fill("NOC uji")
    page.get_by_role("button", name="Daftarkan webhook").click()
    secret = page.locator("#secret-once .secret")
    secret.wait_for()
    assert secret.inner_text().startswith("whsec_")
    shot(page, "webhook-registered")
    hook = next(
        w for w in api(live, tokens["op-bln"], "GET", "/api/v1/webhooks").json() if w["description"] == "NOC uji"
    )
    a, b = connected_pair(live, tokens["op-bln"], skip=4)
    body = {
        "from_node": a["properties"]["code"],
        "to_node": b["properties"]["code"],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (today() + timedelta(days=7)).isoformat(),
        "term_months": 12,
    }
    assert api(live, tokens["op-bln"], "POST", "/api/v1/leasing/requests", json=body).status_code == 201
    engine = create_engine(web_database.owner_url)  # no worker runs beside this service: play the failed attempts
    with engine.begin() as conn:
        delivery = conn.execute(
            text("""UPDATE notification_delivery SET state = 'dead', attempts = 8, last_status = 503,
                    last_response = 'layanan sedang pemeliharaan', last_error = 'HTTP 503', last_attempt_at = now()
                    WHERE endpoint_id = :w RETURNING id"""),
            {"w": hook["id"]},
        ).scalar_one()
    engine.dispose()
    page.reload()
    row = page.locator(f'#delivery-table tr[data-id="{delivery}"]')
    row.wait_for()
    assert "Gagal, dihentikan" in row.inner_text() and "layanan sedang pemeliharaan" in row.inner_text()
    shot(page, "webhook-deliveries")
    row.get_by_role("button", name="Kirim ulang").click()
    page.locator(f'#delivery-table tr[data-id="{delivery}"][data-state="pending"]').wait_for()
    state = api(live, tokens["op-bln"], "GET", f"/api/v1/webhooks/deliveries?endpoint_id={hook['id']}").json()
    assert [(d["state"], d["attempts"]) for d in state["items"]] == [("pending", 0)]
    page.console_guard.check()
