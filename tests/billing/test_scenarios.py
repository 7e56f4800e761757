"""Hand-computed invoice runs. Each test carries its arithmetic; 100 m of subduct 32/26 in a residential zone at
Rp 13,000 per metre per year (Rp 5,000 of it retribusi) unless it says otherwise. 2026 has 365 days, 2028 has 366.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import text

from billing.invoicing import issue_month, run_month
from billing.settlement import credit_invoice
from ducting.leasing.vocab import AllocationStatus
from tests.billing.conftest import FINANCE, invoice_of, lines_of

MARCH = date(2026, 3, 1)
AB = "RS-T-AB"


def _amounts(lines):
    return [(ln["period_from"], ln["period_to"], ln["days"], ln["amount_idr"]) for ln in lines]


def test_full_month_is_metres_times_rate_times_days_over_365(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 1, 1), None)
    run_month(session, month=MARCH, actor=FINANCE)
    [line] = lines_of(session, op, MARCH)
    # 100 x 13,000 x 31 / 365 = 40,300,000 / 365 = 110,410.96 -> 110,411
    assert (line["days"], line["days_in_year"], line["amount_idr"]) == (31, 365, Decimal("110411"))
    # retribusi 100 x 5,000 x 31 / 365 = 42,465.75 -> 42,466 (shown, included in the amount)
    assert line["retribusi_idr"] == Decimal("42466")
    assert (line["segment_code"], line["subduct_label"], line["length_m"]) == (AB, "1/1", Decimal("100.000"))
    inv = invoice_of(session, op, MARCH)
    # PPN = 110,411 x 12 % x 11/12 = 12,145.21 -> 12,145; DPP nilai lain 110,411 x 11/12 = 101,210.08
    assert (inv["subtotal_idr"], inv["ppn_idr"], inv["total_idr"]) == (110411, 12145, 122556)
    assert inv["dpp_nilai_lain_idr"] == Decimal("101210.08")
    assert inv["status"] == "draft" and inv["number"] is None


def test_lease_starting_on_the_17th_bills_15_days(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 3, 17), None)
    run_month(session, month=MARCH, actor=FINANCE)
    # 17..31 March = 15 days: 100 x 13,000 x 15 / 365 = 19,500,000 / 365 = 53,424.66 -> 53,425
    assert _amounts(lines_of(session, op, MARCH)) == [(date(2026, 3, 17), date(2026, 3, 31), 15, 53425)]


def test_lease_terminated_on_the_9th_bills_9_days(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2025, 6, 1), date(2026, 3, 9), status=AllocationStatus.TERMINATED)
    run_month(session, month=MARCH, actor=FINANCE)
    # 1..9 March = 9 days: 100 x 13,000 x 9 / 365 = 11,700,000 / 365 = 32,054.79 -> 32,055
    assert _amounts(lines_of(session, op, MARCH)) == [(date(2026, 3, 1), date(2026, 3, 9), 9, 32055)]


def test_tariff_change_on_the_15th_splits_the_line(session, people, net):
    op = people.orgs["op_a"].id
    net.set_price("subduct_32_26", "residential", 14_600, levy=5_000, since=date(2026, 3, 15))
    net.lease(op, AB, date(2026, 1, 1), None)
    run_month(session, month=MARCH, actor=FINANCE)
    lines = lines_of(session, op, MARCH)
    # 1..14 March at 13,000: 100 x 13,000 x 14 / 365 = 18,200,000 / 365 = 49,863.01 -> 49,863
    # 15..31 March at 14,600: 100 x 14,600 x 17 / 365 = 24,820,000 / 365 = 68,000 exactly
    assert _amounts(lines) == [
        (date(2026, 3, 1), date(2026, 3, 14), 14, 49863),
        (date(2026, 3, 15), date(2026, 3, 31), 17, 68000),
    ]
    assert [ln["rate_idr_per_m_year"] for ln in lines] == [Decimal("13000.00"), Decimal("14600.00")]
    assert invoice_of(session, op, MARCH)["subtotal_idr"] == 117863


def test_february_2028_counts_29_days_of_a_366_day_year(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2027, 1, 1), None)
    feb = date(2028, 2, 1)
    run_month(session, month=feb, actor=FINANCE)
    [line] = lines_of(session, op, feb)
    # 29 days / 366: 100 x 13,000 x 29 / 366 = 37,700,000 / 366 = 103,005.46 -> 103,005
    assert (line["days"], line["days_in_year"], line["amount_idr"]) == (29, 366, 103005)


def test_one_metre_one_day_lease_rounds_a_half_rupiah_up_once(session, people, net):
    op = people.orgs["op_a"].id
    session.execute(
        text(
            "UPDATE tariff SET price_idr_per_m_year = 13322.50 WHERE product = 'subduct_32_26' "
            "AND zone_class = 'residential'"
        )
    )
    net.lease(op, AB, date(2026, 3, 31), date(2026, 3, 31), metres="1")
    run_month(session, month=MARCH, actor=FINANCE)
    [line] = lines_of(session, op, MARCH)
    # 1 m x 13,322.50 x 1 / 365 = 36.5 exactly -> 37 (half away from zero, the only rounding of the line)
    assert line["amount_idr"] == 37
    # PPN = 37 x 11 % = 4.07 -> 4; total 41
    inv = invoice_of(session, op, MARCH)
    assert (inv["subtotal_idr"], inv["ppn_idr"], inv["total_idr"]) == (37, 4, 41)


def test_credit_note_reverses_one_line_and_leaves_the_rest_issued(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 1, 1), None, bore=0)  # full March: 110,411
    net.lease(op, AB, date(2026, 3, 17), None, bore=1)  # 17..31 March: 53,425
    run_month(session, month=MARCH, actor=FINANCE)
    issue_month(session, month=MARCH, actor=FINANCE, issued_on=date(2026, 4, 1))
    inv = invoice_of(session, op, MARCH)
    # subtotal 110,411 + 53,425 = 163,836; PPN 163,836 x 11 % = 18,021.96 -> 18,022; total 181,858
    assert (inv["subtotal_idr"], inv["ppn_idr"], inv["total_idr"]) == (163836, 18022, 181858)
    second = next(ln for ln in lines_of(session, op, MARCH) if ln["days"] == 15)
    note = credit_invoice(
        session,
        invoice_id=inv["id"],
        line_ids=[second["id"]],
        reason="sengketa baris 2",
        rebill=False,
        issued_on=date(2026, 4, 5),
        actor=FINANCE,
    )
    # credit: -53,425; PPN -53,425 x 11 % = -5,876.75 -> -5,877; total -59,302
    assert (note.subtotal_idr, note.ppn_idr, note.total_idr) == (-53425, -5877, -59302)
    assert note.number == "BDL-KN/2026/000001" and note.status == "issued"
    assert invoice_of(session, op, MARCH)["status"] == "issued"
    # waived (rebill=False): April's run does not bill March's 15 days again
    run_month(session, month=date(2026, 4, 1), actor=FINANCE)
    assert [ln["kind"] for ln in lines_of(session, op, date(2026, 4, 1))] == ["rent", "rent"]


def test_lease_corrected_backwards_is_billed_as_an_adjustment_next_month(session, people, net):
    op = people.orgs["op_a"].id
    alloc = net.lease(op, AB, date(2025, 12, 1), None)
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    run_month(session, month=jan, actor=FINANCE)
    issue_month(session, month=jan, actor=FINANCE, issued_on=date(2026, 2, 1))
    session.execute(
        text(
            "UPDATE allocation SET status = 'terminated', period = daterange(lower(period), '2026-01-21') WHERE id = :i"
        ),
        {"i": alloc.id},
    )
    run_month(session, month=feb, actor=FINANCE)
    [adj] = lines_of(session, op, feb)
    # January billed 31 days: 110,411. Now 1..20 January: 100 x 13,000 x 20 / 365 = 71,232.88 -> 71,233
    # adjustment = 71,233 - 110,411 = -39,178 for -11 days; January's invoice is untouched
    assert (adj["kind"], adj["service_month"], adj["days"], adj["amount_idr"]) == ("adjustment", jan, -11, -39178)
    assert invoice_of(session, op, jan)["subtotal_idr"] == 110411
    # re-running February finds the same adjustment, once
    run_month(session, month=feb, actor=FINANCE)
    assert len(lines_of(session, op, feb)) == 1


def test_held_and_released_allocations_are_not_billed(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 1, 1), None, bore=0, status=AllocationStatus.RELEASED)
    run_month(session, month=MARCH, actor=FINANCE)
    assert lines_of(session, op, MARCH) == []


def test_minimum_monthly_charge_tops_up_a_small_invoice(session, people, net):
    op = people.orgs["op_a"].id
    session.execute(text("UPDATE billing_fee SET amount_idr = 250000 WHERE kind = 'minimum_monthly_charge'"))
    net.lease(op, AB, date(2026, 1, 1), None)
    run_month(session, month=MARCH, actor=FINANCE)
    # rent 110,411 < 250,000: a top-up line of 139,589
    assert [(ln["kind"], ln["amount_idr"]) for ln in lines_of(session, op, MARCH)] == [
        ("rent", 110411),
        ("minimum_charge", 139589),
    ]


def test_new_lease_pays_access_fee_per_manhole_entry_once(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 3, 17), None, legacy=False, pks="PKS-1")
    run_month(session, month=MARCH, actor=FINANCE)
    fees = [ln for ln in lines_of(session, op, MARCH) if ln["kind"] == "one_time_fee"]
    # one segment, two manholes: 2 x Rp 1,500,000
    assert [f["amount_idr"] for f in fees] == [3000000]
    issue_month(session, month=MARCH, actor=FINANCE, issued_on=date(2026, 4, 1))
    run_month(session, month=date(2026, 4, 1), actor=FINANCE)
    assert all(ln["kind"] != "one_time_fee" for ln in lines_of(session, op, date(2026, 4, 1)))


def test_five_year_term_gets_its_discount(session, people, net):
    op = people.orgs["op_a"].id
    net.lease(op, AB, date(2026, 1, 1), date(2030, 12, 31))  # 1,826 days >= 5 x 365: 5 % off
    run_month(session, month=MARCH, actor=FINANCE)
    [line] = lines_of(session, op, MARCH)
    # 100 x 13,000 x 95 x 31 / (100 x 365) = 3,828,500,000 / 36,500 = 104,890.41 -> 104,890
    assert (line["discount_pct"], line["amount_idr"]) == (Decimal("5.00"), 104890)
