"""Rupiah amounts: the one rounding rule. How an amount is written for a person (`Rp 1.234.567`, terbilang) is
`ducting.formats`; its display rounding follows the rule below.

The rounding rule (applied in Python and, identically, in the invoice run's SQL):

1. Keep every intermediate value exact (`Decimal`, never `float`): metres x rate x (100 - discount %) x days,
   divided by (100 x days in the year) as the last operation.
2. Round each **line** amount once, to whole Rupiah, half away from zero (`ROUND_HALF_UP`; PostgreSQL's
   `round(numeric)` does the same). The retribusi portion of a line is rounded the same way, once.
3. Sums are sums of rounded lines (exact integers): the subtotal is the DPP.
4. PPN = DPP x rate x numerator / denominator (12 % x 11/12 since 2025), rounded once, half up.
   `dpp_nilai_lain` (DPP x 11/12) is recorded to the sen for the e-Faktur and is never rounded again into PPN.
5. Total = subtotal + PPN.

So each amount is rounded exactly once; a line's error is at most Rp 0.50, and n lines drift from the exact
sum by at most n x Rp 0.50.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Decimal's default 28 significant digits suffice: products (metres x rate x 100 x days) stay below 10^20 and
# are exact; a quotient by 100 x 366 that is not exactly a tie is at least 1e-10 away from one, far above the
# ~1e-16 resolution left at that size, so rounding cannot flip.

RUPIAH = Decimal(1)
SEN = Decimal("0.01")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Decimal from Decimal, int or str. Floats are refused: money never passes through float."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return value if isinstance(value, Decimal) else Decimal(value)


def round_idr(value: Decimal) -> Decimal:
    """The one rounding step: to whole Rupiah, half away from zero."""
    return to_decimal(value).quantize(RUPIAH, rounding=ROUND_HALF_UP)


def round_sen(value: Decimal) -> Decimal:
    return to_decimal(value).quantize(SEN, rounding=ROUND_HALF_UP)
