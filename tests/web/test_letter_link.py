"""The compliance letter's "request it" link opens the operator's page with the proposed route already chosen and
quoted; submitting it requests exactly those segments."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

from ducting.calendar import today
from tests.web.browser import api, connected_pair, sign_in
from tests.web.conftest import shot


def test_the_letters_link_prefills_the_route_and_quotes_it(page, live, tokens):
    a, b = connected_pair(live, tokens["op-bln"], skip=3)
    first = (today() + timedelta(days=7)).isoformat()
    plan = api(
        live,
        tokens["op-bln"],
        "POST",
        "/api/v1/leasing/quotes",
        json={
            "from_node": a["properties"]["code"],
            "to_node": b["properties"]["code"],
            "subduct_count": 1,
            "size_class": "microduct",
            "first_day": first,
            "term_months": 12,
        },
    ).json()
    codes = [s["code"] for s in plan["segments"]]
    assert len(codes) >= 2

    sign_in(page, "op-bln")
    page.goto("/operator?" + urlencode({"segments": ",".join(codes), "flag": "42"}))
    banner = page.locator("#letter-route")
    banner.wait_for()
    assert f"{len(codes)} segmen" in banner.inner_text() and "#42" in banner.inner_text()
    assert page.locator("#pt-a span").inner_text() == codes[0]
    assert page.locator("#pt-b span").inner_text() == codes[-1]
    card = page.locator("#quote-card")
    card.wait_for()  # quoted without a click
    assert "Rp" in card.inner_text()
    shot(page, "operator-letter-route")
    page.get_by_role("button", name="Ajukan permohonan", exact=True).click()
    page.locator("#submitted").wait_for()
    reference = re.search(r"REQ/\d+/\d+", page.locator("#submitted strong").inner_text()).group(0)
    mine = api(live, tokens["op-bln"], "GET", "/api/v1/leasing/requests?limit=50").json()
    made = next(r for r in mine if r["reference"] == reference)
    detail = api(live, tokens["op-bln"], "GET", f"/api/v1/leasing/requests/{made['id']}").json()
    assert [s["code"] for s in detail["quote"]["route"]["segments"]] == codes

    page.get_by_role("button", name="Ulangi", exact=True).click()  # reset: back to picking points
    assert page.locator("#letter-route").is_hidden()
    assert page.locator("#pt-a span").inner_text() == "belum dipilih"
    page.console_guard.check()
