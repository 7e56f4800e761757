"""The day-count rule: actual/actual by calendar year.

A day of rent costs `annual rate / days in that day's calendar year` (365, or 366 in a leap year such as
2028). A billing month lies inside one year, so a line's amount is

    metres x rate x (100 - discount %) x days / (100 x days_in_year)

with `days` counted inclusively from the first to the last day billed. A lease that covers a whole calendar
year therefore costs exactly the annual rate, leap or not; February 2028 has 29 days of 1/366 each. Years, months
and their bounds are counted by `ducting.calendar`.
The invoice run applies the same rule in SQL (`invoicing_sql.PIECES`); tests hold the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.money import to_decimal
from ducting.calendar import days_in_year, month_bounds


@dataclass(frozen=True)
class Span:
    """Inclusive days billed within one month."""

    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def span_in_month(month: date, first_day: date, last_day: date | None) -> Span | None:
    """The part of a lease `[first_day, last_day]` (None = open-ended) that falls in `month`, or None."""
    m_first, m_last = month_bounds(month)
    lo = max(first_day, m_first)
    hi = m_last if last_day is None else min(last_day, m_last)
    return Span(lo, hi) if lo <= hi else None


def prorated(
    length_m: Decimal, rate_idr_per_m_year: Decimal, days: int, year: int, discount_pct: Decimal = Decimal(0)
) -> Decimal:
    """The exact (unrounded) rent for `days` days in `year`. Division is the last operation."""
    numerator = to_decimal(length_m) * to_decimal(rate_idr_per_m_year) * (100 - to_decimal(discount_pct)) * days
    return numerator / (100 * days_in_year(year))
