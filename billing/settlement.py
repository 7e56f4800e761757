"""After issue: credit notes (void or partial), payments, and aging. None of these functions commits.

A credit note is its own numbered document (`BDL-KN/2026/000001`) whose lines negate the lines it reverses,
with PPN computed on its own subtotal by the same one-step rule. Crediting every line voids the invoice.
`rebill=True` (the default) means the leases are the truth: the next run bills again whatever the leases still
say is owed for those months (after the lease has been corrected, typically nothing or less). `rebill=False`
waives the reversed amounts for good: later runs treat them as billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.models import Invoice, Payment
from billing.tax import TaxRate
from billing.vocab import InvoiceKind, InvoiceStatus
from ducting import numbering
from ducting.db import Actor
from ducting.errors import Conflict, FieldError, InvalidInput, NotFound


class InvoiceStateConflict(Conflict):
    code = "invoice_state"


class Overpayment(Conflict):
    code = "overpayment"


class DuplicatePayment(Conflict):
    code = "payment_duplicate"


def _lock_invoice(session: Session, invoice_id: int) -> Invoice:
    session.execute(select(Invoice.id).where(Invoice.id == invoice_id).with_for_update())
    inv = session.get(Invoice, invoice_id, populate_existing=True)
    if inv is None:
        raise NotFound(what="invoice", ref=invoice_id)
    return inv


def _credited_total(session: Session, invoice_id: int) -> Decimal:
    return -session.scalar(
        text("SELECT coalesce(sum(total_idr), 0) FROM invoice WHERE credited_invoice_id = :i"), {"i": invoice_id}
    )


def credit_invoice(
    session: Session,
    *,
    invoice_id: int,
    line_ids: list[int] | None,
    reason: str,
    rebill: bool,
    issued_on: date,
    actor: Actor,
) -> Invoice:
    """Issue a credit note reversing `line_ids` (None: every line not yet credited, which voids the invoice)."""
    inv = _lock_invoice(session, invoice_id)
    if inv.kind != InvoiceKind.INVOICE or inv.status != InvoiceStatus.ISSUED:
        raise InvoiceStateConflict(
            action="credit", invoice=inv.number or inv.id, kind=inv.kind.value, status_now=inv.status.value
        )
    open_lines = list(
        session.scalars(
            text("""
        SELECT l.id FROM invoice_line l WHERE l.invoice_id = :i
          AND NOT EXISTS (SELECT 1 FROM invoice_line c WHERE c.credited_line_id = l.id) ORDER BY l.line_no"""),
            {"i": invoice_id},
        )
    )
    wanted = open_lines if line_ids is None else line_ids
    bad = [lid for lid in wanted if lid not in open_lines]
    if bad or not wanted:
        raise InvalidInput(
            errors=[FieldError(f"line_ids/{i}", "line_not_creditable", line=lid) for i, lid in enumerate(bad)]
            or [FieldError("line_ids", "line_not_creditable")],
        )
    voids = set(wanted) == set(open_lines)
    if voids and inv.paid_idr > 0:
        raise InvoiceStateConflict(action="void", invoice=inv.number, paid_idr=inv.paid_idr)
    note = Invoice(
        kind=InvoiceKind.CREDIT_NOTE,
        month=inv.month,
        operator_id=inv.operator_id,
        credited_invoice_id=inv.id,
        reason=reason,
        ppn_rate_pct=inv.ppn_rate_pct,
        dpp_numerator=inv.dpp_numerator,
        dpp_denominator=inv.dpp_denominator,
    )
    session.add(note)
    session.flush()
    session.execute(
        text("""
        INSERT INTO invoice_line (invoice_id, line_no, kind, allocation_id, segment_id, segment_code, subduct_label,
            product, zone_class, kecamatan_kode, service_month, period_from, period_to, days, days_in_year, length_m,
            rate_idr_per_m_year, discount_pct, retribusi_idr_per_m_year, quantity, unit_price_idr, amount_idr,
            retribusi_idr, credited_line_id, waived, description)
        SELECT :note, row_number() OVER (ORDER BY l.line_no), l.kind, l.allocation_id, l.segment_id, l.segment_code,
            l.subduct_label, l.product, l.zone_class, l.kecamatan_kode, l.service_month, l.period_from, l.period_to,
            -l.days, l.days_in_year, l.length_m, l.rate_idr_per_m_year, l.discount_pct, l.retribusi_idr_per_m_year,
            l.quantity, l.unit_price_idr, -l.amount_idr, -l.retribusi_idr, l.id, :waived,
            'Pembatalan: ' || l.description
        FROM invoice_line l WHERE l.id = ANY(CAST(:ids AS bigint[]))"""),
        {"note": note.id, "ids": wanted, "waived": not rebill},
    )
    subtotal, levy = session.execute(
        text("SELECT sum(amount_idr), sum(retribusi_idr) FROM invoice_line WHERE invoice_id = :n"), {"n": note.id}
    ).one()
    tax = TaxRate(inv.ppn_rate_pct, inv.dpp_numerator, inv.dpp_denominator, "", "")
    note.subtotal_idr, note.retribusi_idr = subtotal, levy
    note.dpp_nilai_lain_idr = tax.dpp_nilai_lain(subtotal)
    note.ppn_idr = tax.ppn(subtotal)
    note.total_idr = subtotal + note.ppn_idr
    note.status, note.issued_on, note.due_on = InvoiceStatus.ISSUED, issued_on, issued_on
    note.number = numbering.take_one(session, numbering.CREDIT_NOTE, issued_on.year)
    session.flush()
    if voids:
        inv.status = InvoiceStatus.VOID
    elif inv.paid_idr + _credited_total(session, inv.id) >= inv.total_idr:
        inv.status = InvoiceStatus.PAID  # what is left after the credit note is already paid
    session.flush()
    return note


def record_payment(
    session: Session, *, invoice_id: int, amount_idr: Decimal, paid_on: date, reference: str, actor: Actor
) -> Payment:
    """Record money received against an issued invoice; it becomes `paid` when nothing is outstanding."""
    inv = _lock_invoice(session, invoice_id)
    if inv.kind != InvoiceKind.INVOICE or inv.status != InvoiceStatus.ISSUED:
        raise InvoiceStateConflict(
            action="payment", invoice=inv.number or inv.id, kind=inv.kind.value, status_now=inv.status.value
        )
    outstanding = inv.total_idr - _credited_total(session, inv.id) - inv.paid_idr
    if amount_idr > outstanding:
        raise Overpayment(invoice=inv.number, outstanding_idr=str(outstanding), amount_idr=str(amount_idr))
    payment = Payment(
        invoice_id=inv.id, amount_idr=amount_idr, paid_on=paid_on, reference=reference, recorded_by=actor.account_id
    )
    session.add(payment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if isinstance(exc.orig, UniqueViolation):
            raise DuplicatePayment(invoice=inv.number, reference=reference) from exc
        raise
    inv.paid_idr = inv.paid_idr + amount_idr
    inv.paid_on = max(paid_on, inv.paid_on or paid_on)
    if amount_idr == outstanding:
        inv.status = InvoiceStatus.PAID
    session.flush()
    return payment


@dataclass(frozen=True)
class AgingRow:
    operator_id: int
    operator_code: str
    operator_name: str
    buckets: dict[str, Decimal]

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator_code,
            "name": self.operator_name,
            **{k: str(v) for k, v in self.buckets.items()},
        }


AGING_BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "d90_plus", "total")


def aging(session: Session, *, as_of: date, operator_id: int | None = None) -> list[AgingRow]:
    """Outstanding per operator by days past due on `as_of`: not yet due, 1-30, 31-60, 61-90, over 90."""
    rows = session.execute(
        text("""
        WITH open AS (
            SELECT i.operator_id, :d - i.due_on AS late,
                   i.total_idr - i.paid_idr + coalesce((SELECT sum(c.total_idr) FROM invoice c
                                                        WHERE c.credited_invoice_id = i.id), 0) AS owed
            FROM invoice i
            WHERE i.kind = 'invoice' AND i.status = 'issued' AND i.issued_on <= :d
              AND (CAST(:op AS bigint) IS NULL OR i.operator_id = :op)
        )
        SELECT o.id, o.code, o.name,
               coalesce(sum(owed) FILTER (WHERE late <= 0), 0) AS current,
               coalesce(sum(owed) FILTER (WHERE late BETWEEN 1 AND 30), 0) AS d1_30,
               coalesce(sum(owed) FILTER (WHERE late BETWEEN 31 AND 60), 0) AS d31_60,
               coalesce(sum(owed) FILTER (WHERE late BETWEEN 61 AND 90), 0) AS d61_90,
               coalesce(sum(owed) FILTER (WHERE late > 90), 0) AS d90_plus,
               coalesce(sum(owed), 0) AS total
        FROM open JOIN organisation o ON o.id = open.operator_id
        GROUP BY o.id, o.code, o.name ORDER BY o.code"""),
        {"d": as_of, "op": operator_id},
    ).all()
    return [AgingRow(r.id, r.code, r.name, {k: getattr(r, k) for k in AGING_BUCKETS}) for r in rows]
