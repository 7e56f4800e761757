"""Gapless invoice numbers: `BDL/2026/000123`, per series and year, from a counter row locked for update.

Contract: call inside the transaction that issues the invoices. The counter row (`number_series`) stays locked
until that transaction ends, so a second issuer waits; a rollback gives the numbers back. Numbers are only
ever taken when an invoice leaves draft, never for previews.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.vocab import Series


def format_number(series: Series | str, year: int, value: int) -> str:
    return f"{series}/{year}/{value:06d}"


def take_numbers(session: Session, series: Series | str, year: int, count: int) -> list[str]:
    """Reserve the next `count` numbers of a series-year, in order. Does not commit."""
    if count <= 0:
        return []
    session.execute(
        text(
            "INSERT INTO number_series (series, year, last_value) VALUES (:s, :y, 0) "
            "ON CONFLICT (series, year) DO NOTHING"
        ),
        {"s": str(series), "y": year},
    )
    last = session.scalar(
        text("SELECT last_value FROM number_series WHERE series = :s AND year = :y FOR UPDATE"),
        {"s": str(series), "y": year},
    )
    session.execute(
        text("UPDATE number_series SET last_value = :v WHERE series = :s AND year = :y"),
        {"v": last + count, "s": str(series), "y": year},
    )
    return [format_number(str(series), year, last + i) for i in range(1, count + 1)]
