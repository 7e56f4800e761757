"""Request and response bodies of the billing API. Amounts travel as strings of whole Rupiah (or integers in)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from billing.models import Invoice, InvoiceLine
from billing.vocab import InvoiceKind, InvoiceStatus, LineKind
from ducting.network.vocab import SizeClass, ZoneClass
from ducting.schemas_base import DecimalText, MonthText, Out

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunIn(_In):
    month: str = Field(pattern=MONTH_PATTERN, description="Calendar month in the city's zone (WIB), YYYY-MM")


class IssueIn(_In):
    issued_on: date | None = Field(default=None, description="Default: today in the city's zone (WIB)")


class CreditNoteIn(_In):
    line_ids: list[int] | None = Field(default=None, min_length=1, description="None: every line (voids the invoice)")
    reason: str = Field(min_length=3, max_length=500)
    rebill: bool = Field(
        default=True, description="False waives the amounts; True lets later runs bill what leases say"
    )
    issued_on: date | None = None


class PaymentIn(_In):
    amount_idr: Decimal = Field(gt=0, max_digits=18, decimal_places=0)
    paid_on: date
    reference: str = Field(min_length=1, max_length=120)


class TariffIn(_In):
    product: SizeClass
    zone_class: ZoneClass
    first_day: date
    last_day: date | None = None
    price_idr_per_m_year: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    retribusi_idr_per_m_year: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, decimal_places=2)
    legal_basis: str | None = Field(default=None, max_length=500)


AMOUNT_FIELDS = ("subtotal_idr", "retribusi_idr", "dpp_nilai_lain_idr", "ppn_idr", "total_idr", "paid_idr")


def invoice_out(inv: Invoice, *, lines: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": inv.id,
        "number": inv.number,
        "kind": inv.kind.value,
        "status": inv.status.value,
        "month": inv.month.strftime("%Y-%m"),
        "operator_id": inv.operator_id,
        "issued_on": inv.issued_on.isoformat() if inv.issued_on else None,
        "due_on": inv.due_on.isoformat() if inv.due_on else None,
        "credited_invoice_id": inv.credited_invoice_id,
        "ppn_rate_pct": str(inv.ppn_rate_pct),
        "dpp": f"{inv.dpp_numerator}/{inv.dpp_denominator}",
        **{f: str(getattr(inv, f)) for f in AMOUNT_FIELDS},
    }
    if lines:
        out["lines"] = [line_out(line) for line in inv.lines]
    return out


def line_out(line: InvoiceLine) -> dict[str, Any]:
    def s(v: Any) -> Any:
        return None if v is None else (v.isoformat() if isinstance(v, date) else str(v))

    return {
        "id": line.id,
        "line_no": line.line_no,
        "kind": line.kind.value,
        "allocation_id": line.allocation_id,
        "segment_code": line.segment_code,
        "subduct": line.subduct_label,
        "product": line.product.value if line.product else None,
        "zone_class": line.zone_class.value if line.zone_class else None,
        "service_month": line.service_month.strftime("%Y-%m"),
        "period_from": s(line.period_from),
        "period_to": s(line.period_to),
        "days": line.days,
        "days_in_year": line.days_in_year,
        "length_m": s(line.length_m),
        "rate_idr_per_m_year": s(line.rate_idr_per_m_year),
        "discount_pct": s(line.discount_pct),
        "amount_idr": str(line.amount_idr),
        "retribusi_idr": str(line.retribusi_idr),
        "credited_line_id": line.credited_line_id,
        "description": line.description,
    }


# -- responses ---------------------------------------------------------------------------------------------------------
class TariffOut(Out):
    id: int
    product: SizeClass
    zone_class: ZoneClass
    first_day: date
    last_day: date | None
    price_idr_per_m_year: DecimalText
    retribusi_idr_per_m_year: DecimalText
    legal_basis: str | None


class CreatedOut(Out):
    id: int


class RunSummaryOut(Out):
    """A month's invoice run: counts and totals of its invoices (drafts until issued)."""

    month: MonthText
    invoices: int
    lines: int
    subtotal_idr: DecimalText
    ppn_idr: DecimalText
    total_idr: DecimalText
    drafts: int
    issued: int


class InvoiceOut(Out):
    id: int
    number: str | None = Field(description="Given when issued; None for a draft")
    kind: InvoiceKind
    status: InvoiceStatus
    month: MonthText
    operator_id: int
    issued_on: date | None
    due_on: date | None
    credited_invoice_id: int | None = Field(description="The invoice a credit note corrects")
    ppn_rate_pct: DecimalText
    dpp: str = Field(pattern=r"^[0-9]+/[0-9]+$", description="The PPN base as a fraction of the subtotal, e.g. 11/12")
    subtotal_idr: DecimalText
    retribusi_idr: DecimalText
    dpp_nilai_lain_idr: DecimalText
    ppn_idr: DecimalText
    total_idr: DecimalText
    paid_idr: DecimalText


class InvoiceLineOut(Out):
    id: int
    line_no: int
    kind: LineKind
    allocation_id: int | None
    segment_code: str | None
    subduct: str | None
    product: SizeClass | None
    zone_class: ZoneClass | None
    service_month: MonthText
    period_from: date | None
    period_to: date | None
    days: int | None
    days_in_year: int | None
    length_m: DecimalText | None
    rate_idr_per_m_year: DecimalText | None
    discount_pct: DecimalText | None
    amount_idr: DecimalText
    retribusi_idr: DecimalText
    credited_line_id: int | None
    description: str


class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]


class RunOut(RunSummaryOut):
    invoices_list: list[InvoiceOut] = Field(description="The month's invoices the caller may see")


class PaymentOut(Out):
    id: int
    invoice: InvoiceOut = Field(description="The invoice after the payment")


class AgingOut(Out):
    """Outstanding Rupiah of one operator by days past due."""

    operator: str
    name: str
    current: DecimalText
    d1_30: DecimalText
    d31_60: DecimalText
    d61_90: DecimalText
    d90_plus: DecimalText
    total: DecimalText


class StatementLineOut(Out):
    segment_code: str | None
    subduct_label: str | None
    product: SizeClass | None
    zone_class: ZoneClass | None
    length_m: DecimalText | None
    period_from: date | None
    period_to: date | None
    days: int | None
    rate_idr_per_m_year: DecimalText | None
    amount_idr: DecimalText
    kind: LineKind
    number: str | None
    segment_id: int
    service_month: MonthText


class StatementOut(Out):
    month: MonthText
    operator_id: int
    lines: list[StatementLineOut]


class RevenueRowOut(Out):
    """Billed revenue of one month and one key of the dimension asked for (`by`): only that key is present."""

    month: MonthText
    operator: str | None = None
    kecamatan: str | None = None
    product: str | None = None
    revenue_idr: DecimalText
    retribusi_idr: DecimalText


class OccupancyOut(Out):
    kecamatan: str
    nama: str
    capacity_m: DecimalText
    leased_m: DecimalText
    occupancy_pct: DecimalText


class ProjectionOut(Out):
    month: MonthText
    leases_idr: DecimalText
    pending_requests_idr: DecimalText
    total_idr: DecimalText


class RevenueOut(Out):
    from_: MonthText = Field(alias="from")
    to: MonthText
    by: str
    revenue: list[RevenueRowOut]
    occupancy: list[OccupancyOut] = Field(description="Leased share of leasable subduct-metres per kecamatan, today")
    projection: list[ProjectionOut] = Field(description="The next 12 months: leases in force and pending requests")
