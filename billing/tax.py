"""PPN from the dated `tax_rate` table, computed in one rounding step (see billing.money).

Since 2025-01-01 (PMK 131/2024) PPN is 12 % of a tax base "DPP nilai lain" of 11/12 of the price, an
effective 11 %. PPN = round_half_up(DPP x 12 x 11 / (100 x 12)); the 11/12 base is kept to the sen for the
e-Faktur only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.money import round_idr, round_sen, to_decimal
from ducting.errors import DomainError


class TaxRateMissing(DomainError):
    status, code = 422, "tax_rate_missing"


@dataclass(frozen=True)
class TaxRate:
    rate_pct: Decimal
    dpp_numerator: int
    dpp_denominator: int
    efaktur_trx_code: str
    legal_basis: str

    def dpp_nilai_lain(self, dpp: Decimal) -> Decimal:
        """The tax base shown on the e-Faktur, to the sen (display only; PPN does not reuse it)."""
        return round_sen(to_decimal(dpp) * self.dpp_numerator / self.dpp_denominator)

    def ppn(self, dpp: Decimal) -> Decimal:
        """PPN on a whole-Rupiah DPP: one rounding, division last."""
        return round_idr(to_decimal(dpp) * self.rate_pct * self.dpp_numerator / (100 * self.dpp_denominator))


PPN_SQL = "round({dpp} * {t}.rate_pct * {t}.dpp_numerator / (100 * {t}.dpp_denominator))"
"""The same PPN rule for the invoice run's SQL."""


def ppn_on(session: Session, day: date) -> TaxRate:
    row = session.execute(
        text("""
        SELECT rate_pct, dpp_numerator, dpp_denominator, efaktur_trx_code, legal_basis
        FROM tax_rate WHERE tax = 'PPN' AND effective @> CAST(:d AS date)"""),
        {"d": day},
    ).first()
    if row is None:
        raise TaxRateMissing(day=day)
    return TaxRate(*row)
