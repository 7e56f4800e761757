"""The tariff schedule: lookups by day, new versions, and the quote provider that leasing calls.

Prices are Rupiah per metre per year for one bore of a product (size class) in a zone class. Versions of one
key never overlap (the `ex_tariff_key_effective` constraint decides; `create_tariff` translates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from psycopg.errors import ExclusionViolation
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.models import Tariff
from billing.money import round_idr
from billing.proration import span_in_month
from billing.tax import TaxRateMissing, ppn_on
from ducting.calendar import Days, days_in_year, months_through, term_last_day
from ducting.errors import Conflict, DomainError
from ducting.leasing.quotes import QuoteLine
from ducting.network.vocab import SizeClass, ZoneClass


class TariffMissing(DomainError):
    status, code = 422, "tariff_missing"


class TariffOverlap(Conflict):
    code = "tariff_overlap"


@dataclass(frozen=True)
class Rate:
    product: SizeClass
    zone_class: ZoneClass
    first_day: date
    last_day: date | None
    price_idr_per_m_year: Decimal
    retribusi_idr_per_m_year: Decimal


def rates(
    session: Session, *, product: SizeClass, zone_class: ZoneClass, first_day: date, last_day: date | None
) -> list[Rate]:
    """Tariff versions covering `[first_day, last_day]`, clipped to it, in order. Raises TariffMissing on a gap."""
    days = Days(first_day, last_day)
    rows = session.execute(
        text("""
        SELECT lower(effective) AS lo, upper(effective) AS hi, price_idr_per_m_year, retribusi_idr_per_m_year
        FROM tariff WHERE product = CAST(:p AS size_class) AND zone_class = CAST(:z AS zone_class)
          AND effective && CAST(:r AS daterange) ORDER BY lower(effective)"""),
        {"p": product.value, "z": zone_class.value, "r": days.to_range()},
    ).all()
    out: list[Rate] = []
    cursor = first_day
    for lo, hi, price, levy in rows:
        start = max(lo, first_day)
        end = None if hi is None else hi - timedelta(days=1)
        end = last_day if end is None else (end if last_day is None else min(end, last_day))
        if start > cursor:
            break
        out.append(Rate(product, zone_class, start, end, price, levy))
        if end is None:
            return out
        cursor = end + timedelta(days=1)
        if last_day is not None and cursor > last_day:
            return out
    raise TariffMissing(
        product=product.value,
        zone_class=zone_class.value,
        day=cursor.isoformat(),
    )


def create_tariff(
    session: Session,
    *,
    product: SizeClass,
    zone_class: ZoneClass,
    first_day: date,
    last_day: date | None,
    price_idr_per_m_year: Decimal,
    retribusi_idr_per_m_year: Decimal,
    legal_basis: str | None,
) -> Tariff:
    """Add a version. Overlap with another version of the key raises TariffOverlap. Does not commit."""
    row = Tariff(
        product=product,
        zone_class=zone_class,
        effective=Days(first_day, last_day).to_range(),
        price_idr_per_m_year=price_idr_per_m_year,
        retribusi_idr_per_m_year=retribusi_idr_per_m_year,
        legal_basis=legal_basis,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if isinstance(exc.orig, ExclusionViolation):
            raise TariffOverlap(
                product=product.value, zone_class=zone_class.value, first_day=first_day, last_day=last_day
            ) from exc
        raise
    return row


def fee(session: Session, kind: str, day: date) -> Decimal:
    value = session.scalar(
        text("SELECT amount_idr FROM billing_fee WHERE kind = :k AND effective @> CAST(:d AS date)"),
        {"k": kind, "d": day},
    )
    return Decimal(0) if value is None else value


def term_discount_pct(session: Session, first_day: date, last_day: date | None) -> Decimal:
    """The discount for a contracted term: the largest `min_term_years` the term reaches (365 days a year)."""
    if last_day is None:
        return Decimal(0)
    term_days = (last_day - first_day).days + 1
    value = session.scalar(
        text("""
        SELECT discount_pct FROM term_discount
        WHERE effective @> CAST(:d AS date) AND :days >= min_term_years * 365
        ORDER BY min_term_years DESC LIMIT 1"""),
        {"d": first_day, "days": term_days},
    )
    return Decimal(0) if value is None else value


@dataclass(frozen=True)
class _Schedule:
    """What one (product, zone) costs over a quote's days, independent of metres: the tariff pieces, and for the
    first month and for every month of the term the pieces' factors `rate x (100 - discount %) x days` with their
    divisor `100 x days in the year`. A route has dozens of lines but only a few keys, so each key's months are
    walked once; a line then multiplies its metres in. Exact: the products stay far inside Decimal's precision
    (billing.money), so `metres x (rate x ... x days)` equals `prorated`'s `metres x rate x ... x days`."""

    pieces: list[Rate]
    first_month: list[tuple[Decimal, int]]
    term: list[tuple[Decimal, int]] | None

    @classmethod
    def build(cls, pieces: list[Rate], first_day: date, last_day: date | None, discount: Decimal) -> _Schedule:
        def factors(month: date) -> list[tuple[Decimal, int]]:
            return [
                (p.price_idr_per_m_year * (100 - discount) * s.days, 100 * days_in_year(month.year))
                for p in pieces
                for s in [span_in_month(month, p.first_day, p.last_day)]
                if s
            ]

        # the pieces start on or after first_day (rates() clips them), so the first month starts there too
        term = None if last_day is None else [f for m in months_through(first_day, last_day) for f in factors(m)]
        return cls(pieces, factors(first_day), term)


def _line_quote(
    session: Session,
    line: QuoteLine,
    first_day: date,
    last_day: date | None,
    discount: Decimal,
    seen: dict[tuple[SizeClass, ZoneClass], _Schedule],
) -> dict[str, Any]:
    metres = line.length_m * line.subducts
    horizon = last_day or term_last_day(first_day, 12)
    key = (line.size_class, line.zone_class)
    if key not in seen:  # a route has dozens of segments but only a few product/zone pairs
        seen[key] = _Schedule.build(
            rates(session, product=line.size_class, zone_class=line.zone_class, first_day=first_day, last_day=horizon),
            first_day,
            last_day,
            discount,
        )
    schedule = seen[key]
    first = schedule.pieces[0]
    annual = round_idr(metres * first.price_idr_per_m_year * (100 - discount) / 100)
    month_span = span_in_month(first_day, first_day, last_day)
    # the same lines the monthly runs will bill: per month and tariff piece, each rounded once
    first_month = sum((round_idr(metres * k / d) for k, d in schedule.first_month), Decimal(0))
    term_total = (
        None if schedule.term is None else sum((round_idr(metres * k / d) for k, d in schedule.term), Decimal(0))
    )
    return {
        "segment_id": line.segment_id,
        "segment_code": line.segment_code,
        "zone_class": line.zone_class.value,
        "size_class": line.size_class.value,
        "length_m": str(line.length_m),
        "subducts": line.subducts,
        "billed_m": str(metres),
        "rate_idr_per_m_year": str(first.price_idr_per_m_year),
        "retribusi_idr_per_m_year": str(first.retribusi_idr_per_m_year),
        "discount_pct": str(discount),
        "annual_idr": str(annual),
        "first_month_days": month_span.days if month_span else 0,
        "first_month_idr": str(first_month),
        "term_idr": None if term_total is None else str(term_total),
    }


def quote_provider(
    session: Session, *, operator_id: int, lines: list[QuoteLine], first_day: date, last_day: date | None
) -> dict[str, Any]:
    """A JSON-ready quote (amounts are Decimal strings). Registered with leasing by the app factory."""
    try:
        discount = term_discount_pct(session, first_day, last_day)
        seen: dict[tuple[SizeClass, ZoneClass], _Schedule] = {}
        out_lines = [_line_quote(session, line, first_day, last_day, discount, seen) for line in lines]
        tax = ppn_on(session, first_day)
    except (TariffMissing, TaxRateMissing) as exc:
        return {"available": False, "reason": exc.say("id"), "code": exc.code, "currency": "IDR"}
    entries = len({line.segment_id for line in lines}) + 1 if lines else 0  # a path's manholes: segments + 1
    one_time = fee(session, "access_per_manhole_entry", first_day) * entries
    annual = sum((Decimal(x["annual_idr"]) for x in out_lines), Decimal(0))
    first_month = sum((Decimal(x["first_month_idr"]) for x in out_lines), Decimal(0))
    term = None if last_day is None else sum((Decimal(x["term_idr"]) for x in out_lines), Decimal(0))
    return {
        "available": True,
        "currency": "IDR",
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat() if last_day else None,
        "day_count": f"actual/actual: a day costs 1/{days_in_year(first_day.year)} of the annual rate in {first_day.year}",
        "discount_pct": str(discount),
        "lines": out_lines,
        "annual_total_idr": str(annual),
        "annual_ppn_idr": str(tax.ppn(annual)),
        "first_month_idr": str(first_month),
        "first_month_ppn_idr": str(tax.ppn(first_month)),
        "one_time_fees_idr": str(one_time),
        "manhole_entries": entries,
        "term_total_idr": None if term is None else str(term),
        "term_ppn_idr": None if term is None else str(tax.ppn(term)),
        "term_total_with_ppn_idr": None if term is None else str(term + tax.ppn(term) + one_time + tax.ppn(one_time)),
        "ppn": {
            "rate_pct": str(tax.rate_pct),
            "dpp": f"{tax.dpp_numerator}/{tax.dpp_denominator}",
            "legal_basis": tax.legal_basis,
        },
    }
