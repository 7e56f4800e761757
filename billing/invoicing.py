"""Invoice runs: preview a month as drafts (re-run freely), then issue them with gapless numbers.

Contract: none of these functions commits; the route (or the caller) commits, so a run or an issue is one
transaction and a crash leaves nothing half-done. Both lock the month's `invoice_run` row first, so two runs of
one month queue rather than interleave.

What a run bills for month M (calendar days in the city's zone, `ducting.calendar`), per operator with no invoice
yet issued for M:
* `rent`: one line per allocation (active or terminated; held and released are not billed) and tariff
  version, for the days of M the lease covers (`billing.proration`), rounded once (`billing.money`);
* `adjustment`: for every month already issued before M, what the leases say now minus what was billed
  (issued lines, net of credit notes unless waived). A lease corrected backwards in time is billed here,
  never by editing an issued invoice;
* `one_time_fee`: the access fee per manhole entry of leases that start in M (legacy allocations excepted);
* `minimum_charge`: the top-up to the minimum monthly charge when the month's rent is below it.
An operator whose invoice for M is already issued gets nothing new: re-running an issued month is idempotent,
and the database's unique indexes (one invoice per operator and month; one rent line per allocation, month and
tariff piece) are the final guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from billing import invoicing_sql as q
from billing.models import Invoice, InvoiceRun
from billing.tariffs import TariffMissing
from billing.tax import ppn_on
from billing.vocab import PAYMENT_TERM_DAYS, InvoiceStatus
from ducting import calendar, numbering
from ducting.db import Actor
from ducting.errors import Conflict, FieldError, InvalidInput, NotFound


class MonthNotIssuable(Conflict):
    code = "nothing_to_issue"


def parse_month(value: str) -> date:
    """`2026-03` -> date(2026, 3, 1). Raises InvalidInput."""
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise InvalidInput(
            errors=[FieldError("month", "value_invalid", column="month", value=value[:20], expected="YYYY-MM")]
        ) from None


@dataclass(frozen=True)
class RunSummary:
    month: date
    invoices: int
    lines: int
    subtotal_idr: Decimal
    ppn_idr: Decimal
    total_idr: Decimal
    drafts: int
    issued: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month.strftime("%Y-%m"),
            "invoices": self.invoices,
            "lines": self.lines,
            "subtotal_idr": str(self.subtotal_idr),
            "ppn_idr": str(self.ppn_idr),
            "total_idr": str(self.total_idr),
            "drafts": self.drafts,
            "issued": self.issued,
        }


def _lock_run(session: Session, month: date) -> InvoiceRun:
    session.execute(text("INSERT INTO invoice_run (month) VALUES (:m) ON CONFLICT (month) DO NOTHING"), {"m": month})
    session.execute(text("SELECT 1 FROM invoice_run WHERE month = :m FOR UPDATE"), {"m": month})
    return session.get_one(InvoiceRun, month, populate_existing=True)


def _issued_months_before(session: Session, month: date) -> list[date]:
    return list(
        session.scalars(
            text("SELECT month FROM invoice_run WHERE issued_at IS NOT NULL AND month < :m ORDER BY month"),
            {"m": month},
        )
    )


def _refuse_uncovered(session: Session, month: date) -> None:
    rows = session.execute(text(q.UNCOVERED), {"m0": month, "m1": calendar.next_month(month)}).all()
    if rows:
        raise TariffMissing(
            errors=[
                FieldError(f"allocation/{r.id}", "tariff_missing", segment=r.code, days=r.missing_days) for r in rows
            ]
        )


def run_month(session: Session, *, month: date, actor: Actor) -> RunSummary:
    """Replace the month's drafts with freshly computed ones. Does not commit."""
    month = calendar.month_of(month)
    ppn_on(session, month)  # a month without a PPN rate is refused before anything is written
    run = _lock_run(session, month)
    session.execute(
        text("DELETE FROM invoice WHERE month = :m AND status = 'draft' AND kind = 'invoice'"), {"m": month}
    )
    session.execute(text("DROP TABLE IF EXISTS _bill"))
    session.execute(text(q.RENT_INTO_BILL), {"months": [month]})
    session.execute(text("ANALYZE _bill"))  # a fresh temp table has no statistics; without them the check below loops
    _refuse_uncovered(session, month)
    earlier = _issued_months_before(session, month)
    if earlier:
        since = session.scalar(text("SELECT min(issued_at) FROM invoice_run WHERE month = ANY(:ms)"), {"ms": earlier})
        session.execute(text(q.ADJUSTMENTS_INTO_BILL), {"months": earlier, "month": month, "since": since})
    session.execute(text(q.ONE_TIME_FEES_INTO_BILL), {"month": month})
    session.execute(text(q.MINIMUM_INTO_BILL), {"month": month})
    session.execute(text(q.INSERT_INVOICES), {"month": month})
    session.execute(text(q.INSERT_LINES), {"month": month})
    session.execute(text(q.TOTALS), {"month": month})
    session.execute(text("DROP TABLE _bill"))
    run.previewed_at = calendar.now()
    run.previewed_by = actor.account_id
    session.flush()
    session.expire_all()
    return summarise(session, month)


def summarise(session: Session, month: date) -> RunSummary:
    row = session.execute(
        text("""
        SELECT count(*) AS invoices, coalesce(sum(subtotal_idr), 0) AS subtotal, coalesce(sum(ppn_idr), 0) AS ppn,
               coalesce(sum(total_idr), 0) AS total, count(*) FILTER (WHERE status = 'draft') AS drafts,
               count(*) FILTER (WHERE status <> 'draft') AS issued,
               (SELECT count(*) FROM invoice_line l JOIN invoice j ON j.id = l.invoice_id
                WHERE j.month = :m AND j.kind = 'invoice') AS lines
        FROM invoice WHERE month = :m AND kind = 'invoice'"""),
        {"m": month},
    ).one()
    return RunSummary(month, row.invoices, row.lines, row.subtotal, row.ppn, row.total, row.drafts, row.issued)


def issue_month(session: Session, *, month: date, actor: Actor, issued_on: date | None = None) -> RunSummary:
    """Number and issue every draft of the month, in one transaction. Does not commit.

    Numbers follow operator code order, so a run's numbering is reproducible. An already issued month with no
    drafts left is not an error when it was issued before (idempotent); a month never run is.
    """
    month = calendar.month_of(month)
    issued_on = issued_on or calendar.today()
    run = _lock_run(session, month)
    drafts = (
        session.execute(
            text("""
        SELECT i.id FROM invoice i JOIN organisation o ON o.id = i.operator_id
        WHERE i.month = :m AND i.status = 'draft' AND i.kind = 'invoice'
        ORDER BY o.code, i.id FOR UPDATE OF i"""),
            {"m": month},
        )
        .scalars()
        .all()
    )
    if not drafts:
        if run.issued_at is None:
            raise MonthNotIssuable(month=f"{month:%Y-%m}")
        return summarise(session, month)
    numbers = numbering.take_numbers(session, numbering.INVOICE, issued_on.year, len(drafts))
    session.execute(
        text("""
        UPDATE invoice i SET status = 'issued', number = n.number, issued_on = :on, due_on = :due
        FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS text[])) AS n(id, number)
        WHERE i.id = n.id"""),
        {"ids": drafts, "numbers": numbers, "on": issued_on, "due": issued_on + timedelta(days=PAYMENT_TERM_DAYS)},
    )
    run.issued_at = calendar.now()
    run.issued_by = actor.account_id
    session.flush()
    session.expire_all()
    return summarise(session, month)


def visible_invoices(
    session: Session, *, actor: Actor, month: date | None = None, operator_id: int | None = None
) -> list[Invoice]:
    """Invoices an actor may see: operators only their own, and never drafts."""
    stmt = select(Invoice).order_by(Invoice.month.desc(), Invoice.number, Invoice.id)
    if actor.role == "operator":
        stmt = stmt.where(Invoice.operator_id == actor.organisation_id, Invoice.status != InvoiceStatus.DRAFT)
    elif operator_id is not None:
        stmt = stmt.where(Invoice.operator_id == operator_id)
    if month is not None:
        stmt = stmt.where(Invoice.month == month)
    return list(session.scalars(stmt))


def get_invoice(session: Session, *, actor: Actor, invoice_id: int) -> Invoice:
    """One invoice, or NotFound: also for another operator's invoice or a draft shown to an operator."""
    inv = session.get(Invoice, invoice_id)
    if inv is None or (
        actor.role == "operator" and (inv.operator_id != actor.organisation_id or inv.status == InvoiceStatus.DRAFT)
    ):
        raise NotFound(what="invoice", ref=invoice_id)
    return inv
