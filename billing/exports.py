"""Exports of a run for finance: CSV and XLSX (invoices and lines), and the e-Faktur XML for DJP Coretax.

Amounts stay `Decimal` end to end. CSV writes plain numbers (dot decimal, no grouping) so any spreadsheet reads
them as numbers; XLSX writes numeric cells with a Rupiah number format (`"Rp" #,##0`) and real dates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.vocab import SELLER

RUPIAH_FORMAT = '"Rp" #,##0;[Red]-"Rp" #,##0'
METRE_FORMAT = "#,##0.000"
RATE_FORMAT = '"Rp" #,##0.00'

INVOICE_COLUMNS = [
    "number",
    "kind",
    "status",
    "month",
    "operator_code",
    "operator_name",
    "operator_npwp",
    "issued_on",
    "due_on",
    "subtotal_idr",
    "retribusi_idr",
    "dpp_nilai_lain_idr",
    "ppn_rate_pct",
    "ppn_idr",
    "total_idr",
    "paid_idr",
    "credited_number",
]
LINE_COLUMNS = [
    "invoice_number",
    "operator_code",
    "line_no",
    "kind",
    "segment_code",
    "subduct",
    "product",
    "zone_class",
    "service_month",
    "period_from",
    "period_to",
    "days",
    "days_in_year",
    "length_m",
    "rate_idr_per_m_year",
    "discount_pct",
    "amount_idr",
    "retribusi_idr",
    "description",
]

_INVOICES = """
SELECT coalesce(i.number, 'DRAFT-' || i.id) AS number, i.kind::text, i.status::text, to_char(i.month, 'YYYY-MM') AS month,
       o.code AS operator_code, o.name AS operator_name, o.npwp AS operator_npwp, i.issued_on, i.due_on,
       i.subtotal_idr, i.retribusi_idr, i.dpp_nilai_lain_idr, i.ppn_rate_pct, i.ppn_idr, i.total_idr, i.paid_idr,
       c.number AS credited_number
FROM invoice i JOIN organisation o ON o.id = i.operator_id LEFT JOIN invoice c ON c.id = i.credited_invoice_id
WHERE i.month = :m ORDER BY i.kind, o.code, i.number"""

_LINES = """
SELECT coalesce(i.number, 'DRAFT-' || i.id) AS invoice_number, o.code AS operator_code, l.line_no, l.kind::text,
       l.segment_code, l.subduct_label AS subduct, l.product::text, l.zone_class::text,
       to_char(l.service_month, 'YYYY-MM') AS service_month, l.period_from, l.period_to, l.days, l.days_in_year,
       l.length_m, l.rate_idr_per_m_year, l.discount_pct, l.amount_idr, l.retribusi_idr, l.description
FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id JOIN organisation o ON o.id = i.operator_id
WHERE i.month = :m ORDER BY i.kind, o.code, i.number, l.line_no"""


def _rows(session: Session, sql: str, month: date) -> Iterator[Any]:
    return session.execute(text(sql).execution_options(yield_per=2000), {"m": month})


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return value


def csv_stream(session: Session, month: date, which: str) -> Iterator[str]:
    """`invoices` or `lines` of a month as CSV, yielded in chunks (UTF-8 with BOM so Excel detects it)."""
    columns, sql = (INVOICE_COLUMNS, _INVOICES) if which == "invoices" else (LINE_COLUMNS, _LINES)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(columns)
    for i, row in enumerate(_rows(session, sql, month), start=1):
        writer.writerow([_cell(v) for v in row])
        if i % 2000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


_MONEY_COLUMNS = {"subtotal_idr", "retribusi_idr", "ppn_idr", "total_idr", "paid_idr", "amount_idr"}
_FORMATS = {
    **dict.fromkeys(_MONEY_COLUMNS, RUPIAH_FORMAT),
    "dpp_nilai_lain_idr": RATE_FORMAT,
    "rate_idr_per_m_year": RATE_FORMAT,
    "length_m": METRE_FORMAT,
    "ppn_rate_pct": "0.00",
    "discount_pct": "0.00",
    "issued_on": "yyyy-mm-dd",
    "due_on": "yyyy-mm-dd",
    "period_from": "yyyy-mm-dd",
    "period_to": "yyyy-mm-dd",
}
_WIDTHS = {"operator_name": 34, "description": 40, "number": 20, "invoice_number": 20, "segment_code": 18}


def _sheet(wb: Workbook, title: str, columns: list[str], rows: Iterator[Any]) -> None:
    ws = wb.create_sheet(title)
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    formats = [_FORMATS.get(c) for c in columns]
    for row in rows:
        ws.append(list(row))  # Decimal and date become numeric and date cells
        for cell, fmt in zip(ws[ws.max_row], formats):
            if fmt:
                cell.number_format = fmt
    for idx, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(idx)].width = _WIDTHS.get(col, max(12, len(col) + 2))
    ws.auto_filter.ref = ws.dimensions


def xlsx_bytes(session: Session, month: date) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "Faktur", INVOICE_COLUMNS, _rows(session, _INVOICES, month))
    _sheet(wb, "Baris", LINE_COLUMNS, _rows(session, _LINES, month))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# -- e-Faktur (Coretax) ---------------------------------------------------------------------------------------------
def _sub(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if value is not None:
        el.text = str(value)
    return el


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def efaktur_xml(session: Session, month: date) -> bytes:
    """Issued invoices of a month as a Coretax `TaxInvoiceBulk` import file.

    Follows the public "Template XML Faktur Keluaran" (2025) as far as it is known here; the element set and
    codes (TrxCode 04 for DPP nilai lain, Opt B for services, unit UM.0033, goods/service code 000000) are not
    verified against DJP's XSD. One GoodService per invoice line, priced at the line amount with quantity 1.
    """
    root = ET.Element("TaxInvoiceBulk", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    _sub(root, "TIN", SELLER.npwp)
    invoices = _sub(root, "ListOfTaxInvoice")
    heads = session.execute(
        text("""
        SELECT i.id, i.number, i.issued_on, i.dpp_numerator, i.dpp_denominator, i.ppn_rate_pct,
               o.name, o.npwp, o.address, o.contact_email, t.efaktur_trx_code
        FROM invoice i JOIN organisation o ON o.id = i.operator_id
        JOIN tax_rate t ON t.tax = 'PPN' AND t.effective @> i.month
        WHERE i.month = :m AND i.kind = 'invoice' AND i.status IN ('issued', 'paid') ORDER BY i.number"""),
        {"m": month},
    ).all()
    for h in heads:
        inv = _sub(invoices, "TaxInvoice")
        for tag, value in (
            ("TaxInvoiceDate", h.issued_on.isoformat()),
            ("TaxInvoiceOpt", "Normal"),
            ("TrxCode", h.efaktur_trx_code),
            ("AddInfo", None),
            ("CustomDoc", None),
            ("CustomDocMonthYear", None),
            ("RefDesc", h.number),
            ("FacilityStamp", None),
            ("SellerIDTKU", SELLER.npwp + SELLER.idtku_suffix),
            ("BuyerTin", h.npwp),
            ("BuyerDocument", "TIN"),
            ("BuyerCountry", "IDN"),
            ("BuyerDocumentNumber", None),
            ("BuyerName", h.name),
            ("BuyerAdress", h.address or "-"),
            ("BuyerEmail", h.contact_email),
            ("BuyerIDTKU", (h.npwp or "").rjust(16, "0") + "000000"),
        ):
            _sub(inv, tag, value)
        goods = _sub(inv, "ListOfGoodService")
        for line in session.execute(
            text("SELECT description, amount_idr FROM invoice_line WHERE invoice_id = :i ORDER BY line_no"), {"i": h.id}
        ):
            g = _sub(goods, "GoodService")
            base = line.amount_idr
            other = base * h.dpp_numerator / h.dpp_denominator
            vat = other * h.ppn_rate_pct / 100
            for tag, value in (
                ("Opt", "B"),
                ("Code", "000000"),
                ("Name", line.description),
                ("Unit", "UM.0033"),
                ("Price", _money(base)),
                ("Qty", "1"),
                ("TotalDiscount", "0"),
                ("TaxBase", _money(base)),
                ("OtherTaxBase", _money(other)),
                ("VATRate", f"{h.ppn_rate_pct:g}"),
                ("VAT", _money(vat)),
                ("STLGRate", "0"),
                ("STLG", "0"),
            ):
                _sub(g, tag, value)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
