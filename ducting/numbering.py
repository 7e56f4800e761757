"""Gapless numbers: PKS contracts, invoices and credit notes, each counted per series and year.

Contract: `take` runs inside the transaction that uses the numbers. It adds to the series-year's counter row in
`number_series` with one `INSERT ... ON CONFLICT DO UPDATE`, which creates the row for the year's first number
and otherwise locks it as `UPDATE` does; the lock is held until the transaction ends. So a second issuer of the
same series waits for the first to commit or roll back, and a rollback gives the numbers back: no gaps, no
duplicates. Take numbers as late as possible in the transaction (every other issuer of the series waits), and
never for previews or drafts.

Request references (`REQ/2026/000123`) are not here: they come from a sequence, unique but not gapless
(migration 0031), so a submit never waits on another.

Every series of the table is listed here, so no two domains can pick the same key. A later, multi-city issue
makes the key a city's own (the series is enough for now; the table has no city column).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Series:
    """A counter (`key`, the `number_series.series` value) and how its numbers are written: `prefix/year/000123`."""

    key: str
    prefix: str
    digits: int = 6

    def format(self, year: int, value: int) -> str:
        return f"{self.prefix}/{year}/{value:0{self.digits}d}"


PKS = Series("PKS", "PKS/BDL")
"""Lease contracts (perjanjian kerja sama): `PKS/BDL/2026/000042`, taken when an operator accepts an offer."""
INVOICE = Series("BDL", "BDL")
"""Invoices: `BDL/2026/000123`, taken when a run is issued."""
CREDIT_NOTE = Series("BDL-KN", "BDL-KN")
"""Credit notes (nota kredit): `BDL-KN/2026/000007`."""

SERIES = {s.key: s for s in (PKS, INVOICE, CREDIT_NOTE)}

_TAKE = text("""
    INSERT INTO number_series AS n (series, year, last_value) VALUES (:series, :year, :count)
    ON CONFLICT (series, year) DO UPDATE SET last_value = n.last_value + EXCLUDED.last_value
    RETURNING last_value""")


def take(session: Session, series: Series, year: int, count: int = 1) -> list[int]:
    """The next `count` values of a series-year, in order; the counter row stays locked until the transaction
    ends (see the module docstring). Does not commit."""
    if count < 0:
        raise ValueError(f"cannot take {count} numbers")
    if count == 0:
        return []
    last = session.execute(_TAKE, {"series": series.key, "year": year, "count": count}).scalar_one()
    return list(range(last - count + 1, last + 1))


def take_numbers(session: Session, series: Series, year: int, count: int) -> list[str]:
    """The next `count` numbers of a series-year, written out (`BDL/2026/000123`), in order. Does not commit."""
    return [series.format(year, value) for value in take(session, series, year, count)]


def take_one(session: Session, series: Series, year: int) -> str:
    return take_numbers(session, series, year, 1)[0]
