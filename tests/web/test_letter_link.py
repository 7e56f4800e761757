"""The compliance letter's "request it" link opens the operator's page with the proposed route already chosen and
quoted as the letter quoted it (its size class, first day and term); submitting it requests exactly that."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from ducting.calendar import today
from tests.web.browser import api, connected_pair, sign_in
from tests.web.conftest import shot


def test_the_letters_link_prefills_the_route_and_quotes_it(page, live, tokens):
    # a route with room for a 32/26 subduct: what a letter offers a 12 mm fibre cable (the page's default is Microduct)
    size = "subduct_32_26"
    a, b = connected_pair(live, tokens["op-bln"], skip=3, size_class=size)
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
            "size_class": size,
            "first_day": first,
            "term_months": 12,
        },
    ).json()
    codes = [s["code"] for s in plan["segments"]]
    assert len(codes) >= 2
    quoted = plan["quote"]

    sign_in(page, "op-bln")
    page.goto(
        "/operator?"
        + urlencode({"segments": ",".join(codes), "size": size, "first_day": first, "term": 12, "flag": "42"})
    )
    banner = page.locator("#letter-route")
    banner.wait_for()
    assert f"{len(codes)} segmen" in banner.inner_text() and "#42" in banner.inner_text()
    assert page.locator("#pt-a span").inner_text() == codes[0]
    assert page.locator("#pt-b span").inner_text() == codes[-1]
    card = page.locator("#quote-card")
    card.wait_for()  # quoted without a click
    assert page.locator("#size").input_value() == size and page.locator("#first-day").input_value() == first
    rent = quoted["annual_total_idr"]
    whole = Decimal(rent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert "Rp " + f"{whole:,}".replace(",", ".") in card.inner_text()  # the letter's price, not another
    shot(page, "operator-letter-route")
    page.get_by_role("button", name="Ajukan permohonan", exact=True).click()
    page.locator("#submitted").wait_for()
    reference = re.search(r"REQ/\d+/\d+", page.locator("#submitted strong").inner_text()).group(0)
    mine = api(live, tokens["op-bln"], "GET", "/api/v1/leasing/requests?limit=50").json()
    made = next(r for r in mine if r["reference"] == reference)
    detail = api(live, tokens["op-bln"], "GET", f"/api/v1/leasing/requests/{made['id']}").json()
    assert [s["code"] for s in detail["quote"]["route"]["segments"]] == codes
    assert detail["size_class"] == size and detail["first_day"] == first

    page.get_by_role("button", name="Ulangi", exact=True).click()  # reset: back to picking points
    assert page.locator("#letter-route").is_hidden()
    assert page.locator("#pt-a span").inner_text() == "belum dipilih"
    page.console_guard.check()
