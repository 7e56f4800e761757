"""The money, day-count and tax rules, by example and by property (Hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing.invoicing import run_month
from billing.money import round_idr, to_decimal
from billing.proration import prorated, span_in_month
from billing.tax import ppn_on
from ducting.calendar import days_in_year, month_bounds, next_month
from tests.billing.conftest import FINANCE

metres = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3)
rates = st.decimals(min_value=Decimal("1000"), max_value=Decimal("60000"), places=2)
years = st.integers(min_value=2025, max_value=2040)


def test_rounding_is_half_away_from_zero_to_whole_rupiah():
    assert [round_idr(Decimal(x)) for x in ("36.5", "36.49", "-36.5", "0.5")] == [37, 36, -37, 1]


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        to_decimal(0.1)  # type: ignore[arg-type]


def test_ppn_is_12_percent_of_eleven_twelfths_since_2025_and_11_percent_before(session):
    now, before = ppn_on(session, date(2026, 3, 1)), ppn_on(session, date(2024, 12, 31))
    assert (now.rate_pct, now.dpp_numerator, now.dpp_denominator) == (12, 11, 12)
    assert (before.rate_pct, before.dpp_numerator, before.dpp_denominator) == (11, 1, 1)
    # one rounding: 50 x 12 x 11 / 1200 = 5.5 -> 6; 110,411 -> 12,145.21 -> 12,145; same as 11 % flat
    assert [now.ppn(Decimal(x)) for x in (50, 110411)] == [6, 12145]
    assert before.ppn(Decimal(110411)) == 12145


def test_leap_year_day_count():
    # February 2028: 29 days at 1/366 each (ducting.calendar.days_in_year: tests/test_calendar.py)
    assert span_in_month(date(2028, 2, 1), date(2027, 1, 1), None).days == 29
    assert prorated(Decimal(366), Decimal(1000), 29, 2028) == Decimal(29000)


@given(m=metres, rate=rates, year=years)
def test_twelve_months_of_a_whole_year_lease_equal_the_annual_rent_within_rounding(m, rate, year):
    months = [date(year, k, 1) for k in range(1, 13)]
    billed = sum(round_idr(prorated(m, rate, month_bounds(x)[1].day, year)) for x in months)
    # exact: sum(days)/days_in_year = 1; each of the 12 lines is off by at most Rp 0.50
    assert abs(billed - m * rate) <= Decimal("6")


@given(first=st.dates(date(2025, 1, 1), date(2030, 12, 31)), length=st.integers(0, 900), open_ended=st.booleans())
def test_proration_never_bills_a_day_twice_across_consecutive_months(first, length, open_ended):
    last = None if open_ended else first + timedelta(days=length)
    horizon = first + timedelta(days=length)
    seen: set[date] = set()
    month = first.replace(day=1)
    while month <= horizon:
        span = span_in_month(month, first, last)
        if span:
            days = {span.first_day + timedelta(days=i) for i in range(span.days)}
            assert not days & seen and all(d.month == month.month for d in days)
            seen |= days
        month = next_month(month)
    end = horizon if last is None else last
    expected = (end - first).days + 1 if open_ended is False else (month_bounds(horizon)[1] - first).days + 1
    assert len(seen) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=metres, rate=rates, days=st.integers(1, 31), year=years)
def test_sql_and_python_apply_the_same_rounding(session, m, rate, days, year):
    diy = days_in_year(year)
    sql = session.scalar(
        text("SELECT round(CAST(:m AS numeric) * CAST(:r AS numeric) * 100 * :d / (100 * :y))"),
        {"m": m, "r": rate, "d": days, "y": diy},
    )
    assert sql == round_idr(prorated(m, rate, days, year))


leases = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 60),
        st.one_of(st.none(), st.integers(0, 80)),
        st.decimals(min_value=Decimal("1"), max_value=Decimal("999.999"), places=3),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda t: t[0],
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=leases)
def test_invoice_lines_sum_to_its_subtotal_and_total_adds_ppn(session, people, net, specs):
    op = people.orgs["op_b"].id
    march = date(2026, 3, 1)
    with session.begin_nested() as sp:
        for bore, start, length, m in specs:
            first = date(2026, 2, 1) + timedelta(days=start)
            net.lease(
                op,
                "RS-T-BC",
                first,
                None if length is None else first + timedelta(days=length),
                bore=bore,
                metres=str(m),
            )
        run_month(session, month=march, actor=FINANCE)
        rows = session.execute(
            text("""
            SELECT i.subtotal_idr, i.ppn_idr, i.total_idr, i.retribusi_idr, sum(l.amount_idr) AS lines,
                   sum(l.retribusi_idr) AS levy
            FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id WHERE i.month = :m
            GROUP BY i.id"""),
            {"m": march},
        ).all()
        for r in rows:
            assert r.subtotal_idr == r.lines and r.retribusi_idr == r.levy
            assert r.total_idr == r.subtotal_idr + r.ppn_idr
            assert r.ppn_idr == round_idr(r.subtotal_idr * Decimal("0.11"))
        sp.rollback()
