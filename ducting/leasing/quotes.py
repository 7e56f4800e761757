"""The seam between leasing and billing: leasing asks for a price, billing answers.

Leasing never imports billing. The app factory registers billing's provider; until then (or where no tariff
applies) a quote says plainly that it is unavailable, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ducting.network.vocab import SizeClass, ZoneClass


@dataclass(frozen=True)
class QuoteLine:
    """What would be leased on one segment: `subducts` bores of `size_class`, each `length_m` long."""

    segment_id: int
    segment_code: str
    zone_class: ZoneClass
    size_class: SizeClass
    length_m: Decimal
    subducts: int


class QuoteProvider(Protocol):
    def __call__(
        self, session: Session, *, operator_id: int, lines: list[QuoteLine], first_day: date, last_day: date | None
    ) -> dict[str, Any]: ...


def _unavailable(
    session: Session, *, operator_id: int, lines: list[QuoteLine], first_day: date, last_day: date | None
) -> dict[str, Any]:
    return {"available": False, "reason": "no tariff provider is registered", "currency": "IDR"}


_provider: QuoteProvider = _unavailable


def register_quote_provider(provider: QuoteProvider) -> None:
    global _provider
    _provider = provider


def quote(
    session: Session, *, operator_id: int, lines: list[QuoteLine], first_day: date, last_day: date | None
) -> dict[str, Any]:
    """A JSON-ready quote: `available`, `currency`, totals in Rupiah as strings, and one entry per line."""
    return _provider(session, operator_id=operator_id, lines=lines, first_day=first_day, last_day=last_day)
