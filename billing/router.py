"""HTTP endpoints of billing, under /api/v1/billing. Routes commit; services never do.

Who may do what: finance and admin run, issue, credit, record payments and export; auditors read everything;
operators read only their own issued invoices, PDFs, statements and aging (another operator's answers 404, as if
it did not exist); planners read tariffs.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select, text
from starlette.responses import Response

from billing import documents, exports, revenue
from billing.invoicing import (
    get_invoice,
    issue_month,
    parse_month,
    run_month,
    summarise,
    visible_invoices,
)
from billing.models import Tariff
from billing.schemas import (
    MONTH_PATTERN,
    AgingOut,
    CreatedOut,
    CreditNoteIn,
    InvoiceDetailOut,
    InvoiceOut,
    IssueIn,
    PaymentIn,
    PaymentOut,
    RevenueOut,
    RunIn,
    RunOut,
    RunSummaryOut,
    StatementOut,
    TariffIn,
    TariffOut,
    invoice_out,
)
from billing.settlement import aging, credit_invoice, record_payment
from billing.tariffs import create_tariff
from ducting.accounts.models import Organisation
from ducting.accounts.vocab import Role
from ducting.auth import CurrentActor, require_roles
from ducting.calendar import Days, month_of, today
from ducting.db import Actor, SessionDep
from ducting.errors import FieldError, InvalidInput, NotFound
from ducting.replica import ReadSessionDep
from ducting.schemas_base import file_responses

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

FinanceDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.FINANCE))]
BooksDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.FINANCE, Role.AUDITOR))]
CustomerDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.FINANCE, Role.AUDITOR, Role.OPERATOR))]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(value: str) -> date:
    return parse_month(value)


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _operator_scope(session: SessionDep, actor: Actor, code: str | None) -> int:
    """The operator a customer-facing read is about: operators always themselves; staff name one by code."""
    if actor.role == Role.OPERATOR:
        if code is not None:
            own = session.scalar(select(Organisation.code).where(Organisation.id == actor.organisation_id))
            if code != own:
                raise NotFound(what="operator", ref=code[:40])
        return actor.operator_id
    if code is None:
        raise InvalidInput(errors=[FieldError("operator", "value_missing", column="operator")])
    org_id = session.scalar(select(Organisation.id).where(Organisation.code == code))
    if org_id is None:
        raise NotFound(what="operator", ref=code[:40])
    return org_id


# -- tariffs -------------------------------------------------------------------------------------------------------
@router.get("/tariffs", response_model=list[TariffOut])
def list_tariffs(session: SessionDep, actor: CurrentActor, day: date | None = None) -> list[dict[str, Any]]:
    stmt = select(Tariff).order_by(Tariff.product, Tariff.zone_class, Tariff.id)
    if day is not None:
        stmt = stmt.where(text("effective @> CAST(:d AS date)")).params(d=day)
    out = []
    for t in session.scalars(stmt):
        days = Days.from_range(t.effective)
        out.append(
            {
                "id": t.id,
                "product": t.product.value,
                "zone_class": t.zone_class.value,
                "first_day": days.first_day.isoformat(),
                "last_day": days.last_day.isoformat() if days.last_day else None,
                "price_idr_per_m_year": str(t.price_idr_per_m_year),
                "retribusi_idr_per_m_year": str(t.retribusi_idr_per_m_year),
                "legal_basis": t.legal_basis,
            }
        )
    return out


@router.post("/tariffs", status_code=201, response_model=CreatedOut)
def add_tariff(body: TariffIn, session: SessionDep, actor: FinanceDep) -> dict[str, Any]:
    if body.last_day is not None and body.last_day < body.first_day:
        days: dict[str, Any] = {"first_day": body.first_day, "last_day": body.last_day}
        raise InvalidInput(code="end_before_start", errors=[FieldError("last_day", "end_before_start", **days)], **days)
    row = create_tariff(session, **body.model_dump())
    session.commit()
    return {"id": row.id}


# -- runs ------------------------------------------------------------------------------------------------------------
@router.post("/runs", response_model=RunSummaryOut)
def preview_run(body: RunIn, session: SessionDep, actor: FinanceDep) -> dict[str, Any]:
    summary = run_month(session, month=_month(body.month), actor=actor)
    session.commit()
    return summary.as_dict()


@router.get("/runs/{month}", response_model=RunOut)
def get_run(month: str, session: SessionDep, actor: BooksDep) -> dict[str, Any]:
    m = _month(month)
    return summarise(session, m).as_dict() | {
        "invoices_list": [invoice_out(i) for i in visible_invoices(session, actor=actor, month=m)]
    }


@router.post("/runs/{month}/issue", response_model=RunSummaryOut)
def issue_run(month: str, body: IssueIn, session: SessionDep, actor: FinanceDep) -> dict[str, Any]:
    summary = issue_month(session, month=_month(month), actor=actor, issued_on=body.issued_on)
    session.commit()
    return summary.as_dict()


@router.get(
    "/runs/{month}/invoices.csv", response_class=Response, responses=file_responses("The month's invoices", "text/csv")
)
def run_invoices_csv(month: str, session: ReadSessionDep, actor: BooksDep) -> StreamingResponse:
    return StreamingResponse(
        exports.csv_stream(session, _month(month), "invoices"),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="tagihan-{month}.csv"'},
    )


@router.get(
    "/runs/{month}/lines.csv",
    response_class=Response,
    responses=file_responses("The month's invoice lines", "text/csv"),
)
def run_lines_csv(month: str, session: ReadSessionDep, actor: BooksDep) -> StreamingResponse:
    return StreamingResponse(
        exports.csv_stream(session, _month(month), "lines"),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="baris-tagihan-{month}.csv"'},
    )


@router.get(
    "/runs/{month}/run.xlsx", response_class=Response, responses=file_responses("The month's invoices and lines", XLSX)
)
def run_xlsx(month: str, session: ReadSessionDep, actor: BooksDep) -> Response:
    return _download(exports.xlsx_bytes(session, _month(month)), XLSX, f"tagihan-{month}.xlsx")


@router.get(
    "/runs/{month}/efaktur.xml",
    response_class=Response,
    responses=file_responses("e-Faktur import file", "application/xml"),
)
def run_efaktur(month: str, session: ReadSessionDep, actor: BooksDep) -> Response:
    return _download(exports.efaktur_xml(session, _month(month)), "application/xml", f"efaktur-{month}.xml")


@router.get(
    "/runs/{month}/invoices.zip",
    response_class=Response,
    responses=file_responses("The month's invoices as PDFs", "application/zip"),
)
def run_pdfs(month: str, session: ReadSessionDep, actor: BooksDep) -> StreamingResponse:
    tmp = documents.pdf_zip(session, visible_invoices(session, actor=actor, month=_month(month)))

    def chunks():
        with tmp:
            while block := tmp.read(1 << 16):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="tagihan-{month}.zip"'},
    )


# -- invoices --------------------------------------------------------------------------------------------------------
@router.get("/invoices", response_model=list[InvoiceOut])
def list_invoices(
    session: SessionDep, actor: CustomerDep, month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None
) -> list[dict[str, Any]]:
    return [invoice_out(i) for i in visible_invoices(session, actor=actor, month=_month(month) if month else None)]


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetailOut)
def read_invoice(invoice_id: int, session: SessionDep, actor: CustomerDep) -> dict[str, Any]:
    return invoice_out(get_invoice(session, actor=actor, invoice_id=invoice_id), lines=True)


@router.get(
    "/invoices/{invoice_id}/pdf", response_class=Response, responses=file_responses("The invoice", "application/pdf")
)
def invoice_pdf(invoice_id: int, session: SessionDep, actor: CustomerDep) -> Response:
    inv = get_invoice(session, actor=actor, invoice_id=invoice_id)
    name = (inv.number or f"DRAFT-{inv.id}").replace("/", "-")
    return _download(documents.invoice_pdf_bytes(session, inv), "application/pdf", f"{name}.pdf")


@router.post("/invoices/{invoice_id}/credit-notes", status_code=201, response_model=InvoiceDetailOut)
def add_credit_note(invoice_id: int, body: CreditNoteIn, session: SessionDep, actor: FinanceDep) -> dict[str, Any]:
    note = credit_invoice(
        session,
        invoice_id=invoice_id,
        line_ids=body.line_ids,
        reason=body.reason,
        rebill=body.rebill,
        issued_on=body.issued_on or today(),
        actor=actor,
    )
    session.commit()
    return invoice_out(note, lines=True)


@router.post("/invoices/{invoice_id}/payments", status_code=201, response_model=PaymentOut)
def add_payment(invoice_id: int, body: PaymentIn, session: SessionDep, actor: FinanceDep) -> dict[str, Any]:
    payment = record_payment(
        session,
        invoice_id=invoice_id,
        amount_idr=body.amount_idr,
        paid_on=body.paid_on,
        reference=body.reference,
        actor=actor,
    )
    session.commit()
    inv = get_invoice(session, actor=actor, invoice_id=invoice_id)
    return {"id": payment.id, "invoice": invoice_out(inv)}


@router.get("/aging", response_model=list[AgingOut])
def read_aging(session: SessionDep, actor: CustomerDep, as_of: date | None = None) -> list[dict[str, Any]]:
    scope = actor.organisation_id if actor.role == Role.OPERATOR else None
    return [row.as_dict() for row in aging(session, as_of=as_of or today(), operator_id=scope)]


# -- statements ------------------------------------------------------------------------------------------------------
@router.get("/statements/{month}", response_model=StatementOut)
def statement(month: str, session: SessionDep, actor: CustomerDep, operator: str | None = None) -> dict[str, Any]:
    org_id = _operator_scope(session, actor, operator)
    rows = documents.statement_rows(session, operator_id=org_id, month=_month(month))
    return {
        "month": month,
        "operator_id": org_id,
        "lines": [
            {k: (str(v) if v is not None and not isinstance(v, (int, str)) else v) for k, v in r.items()} for r in rows
        ],
    }


@router.get(
    "/statements/{month}/pdf", response_class=Response, responses=file_responses("The statement", "application/pdf")
)
def statement_pdf(month: str, session: SessionDep, actor: CustomerDep, operator: str | None = None) -> Response:
    org_id = _operator_scope(session, actor, operator)
    out = io.BytesIO()
    documents.statement_pdf(session, operator_id=org_id, month=_month(month), out=out)
    return _download(out.getvalue(), "application/pdf", f"rekening-{month}.pdf")


@router.get(
    "/statements/{month}/map.png",
    response_class=Response,
    responses=file_responses("The billed segments on a map", "image/png"),
)
def statement_map(month: str, session: SessionDep, actor: CustomerDep, operator: str | None = None) -> Response:
    org_id = _operator_scope(session, actor, operator)
    return Response(
        documents.statement_map_png(session, operator_id=org_id, month=_month(month)), media_type="image/png"
    )


# -- revenue (PAD) -----------------------------------------------------------------------------------------------------
def _revenue(session: SessionDep, first: str, last: str, by: str) -> dict[str, Any]:
    if by not in revenue.DIMENSIONS:
        raise InvalidInput(
            errors=[FieldError("by", "value_invalid", column="by", value=by[:40], allowed=sorted(revenue.DIMENSIONS))]
        )
    a, b = _month(first), _month(last)
    day = today()
    return {
        "from": first,
        "to": last,
        "by": by,
        "revenue": revenue.billed(session, first=a, last=b, by=by),
        "occupancy": revenue.occupancy(session, day=day),
        "projection": revenue.projection(session, start=month_of(day)),
    }


RangeFrom = Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)]
RangeTo = Annotated[str, Query(alias="to", pattern=MONTH_PATTERN)]


@router.get("/revenue", response_model=RevenueOut, response_model_exclude_unset=True)
def read_revenue(
    session: ReadSessionDep, actor: BooksDep, first: RangeFrom, last: RangeTo, by: str = "operator"
) -> dict[str, Any]:
    return _revenue(session, first, last, by)


@router.get("/revenue.csv", response_class=Response, responses=file_responses("Billed revenue per month", "text/csv"))
def revenue_csv(
    session: ReadSessionDep, actor: BooksDep, first: RangeFrom, last: RangeTo, by: str = "operator"
) -> Response:
    data = _revenue(session, first, last, by)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["month", by, "revenue_idr", "retribusi_idr"])
    writer.writerows([r["month"], r[by], r["revenue_idr"], r["retribusi_idr"]] for r in data["revenue"])
    return _download(("\ufeff" + buf.getvalue()).encode(), "text/csv", f"pad-{first}-{last}.csv")


@router.get(
    "/revenue/chart.{fmt}",
    response_class=Response,
    responses=file_responses("Revenue and projection", "image/png", "image/svg+xml"),
)
def revenue_chart(fmt: str, session: ReadSessionDep, actor: BooksDep, first: RangeFrom, last: RangeTo) -> Response:
    if fmt not in ("png", "svg"):
        raise NotFound(what="format", ref=fmt[:20], allowed=["png", "svg"])
    data = _revenue(session, first, last, "operator")
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(revenue.chart(data["revenue"], data["projection"], fmt=fmt), media_type=media)
