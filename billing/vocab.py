"""Billing vocabulary: invoice states and kinds, line kinds, and who the seller is. Months, issue and due dates
are calendar days in the city's zone (`ducting.calendar`); invoice numbers come from `ducting.numbering`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PAYMENT_TERM_DAYS = 30


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class LineKind(StrEnum):
    RENT = "rent"
    ADJUSTMENT = "adjustment"  # a month already issued, billed again at the difference
    MINIMUM_CHARGE = "minimum_charge"
    ONE_TIME_FEE = "one_time_fee"


LEDGER_KINDS = (LineKind.RENT, LineKind.ADJUSTMENT)
"""Line kinds that count toward what an allocation's month has been billed (see invoicing.adjustments)."""


@dataclass(frozen=True)
class Seller:
    name: str
    npwp: str
    address: str
    bank: str
    account_no: str
    account_name: str
    idtku_suffix: str = "000000"


SELLER = Seller(
    name="PT Batam Ducting Bersama (Perseroda)",
    npwp="0999999999999999",  # placeholder until the BUMD's NPWP is configured
    address="Jl. Engku Putri No. 1, Batam Centre, Kota Batam, Kepulauan Riau 29461",
    bank="Bank Riau Kepri Syariah, Cabang Batam",
    account_no="1234567890",
    account_name="PT Batam Ducting Bersama",
)
