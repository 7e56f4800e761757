"""Printed documents: the invoice PDF ("Tagihan"), the operator statement with its map, and a zip of many PDFs.

ReportLab draws PDFs in pure Python (no system libraries). Amounts print as `Rp 1.234.567`, dates as
`17 Maret 2026`, metres with a decimal comma (`ducting.formats`). A zip of a run's PDFs is written one PDF at a time into a
temporary file, so memory holds one PDF, not the run.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import date
from decimal import Decimal
from typing import IO, Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.models import Invoice
from billing.vocab import SELLER, InvoiceKind
from ducting.formats import long_date, metres, month_year, number, rupiah, terbilang

LINE_KIND_ID = {"rent": "Sewa", "adjustment": "Koreksi", "minimum_charge": "Minimum", "one_time_fee": "Biaya akses"}

_styles = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=_styles["Normal"], fontSize=8, leading=10)
NORMAL = ParagraphStyle("normal", parent=_styles["Normal"], fontSize=9, leading=12)
RIGHT = ParagraphStyle("right", parent=NORMAL, alignment=TA_RIGHT)
TITLE = ParagraphStyle("title", parent=_styles["Title"], fontSize=16, leading=20, spaceAfter=2)


def format_npwp(npwp: str | None) -> str:
    """15-digit NPWP as 01.234.567.8-901.234; 16-digit (NIK-based) as it is."""
    if not npwp:
        return "-"
    if len(npwp) == 15:
        return f"{npwp[:2]}.{npwp[2:5]}.{npwp[5:8]}.{npwp[8]}-{npwp[9:12]}.{npwp[12:]}"
    return npwp


def _party(title: str, name: str, npwp: str | None, address: str | None) -> list[Paragraph]:
    return [
        Paragraph(f"<b>{title}</b>", SMALL),
        Paragraph(f"<b>{name}</b>", NORMAL),
        Paragraph(f"NPWP: {format_npwp(npwp)}", NORMAL),
        Paragraph(address or "-", SMALL),
    ]


def _grid(data: list[list[Any]], widths: list[float], *, header: bool = True, right_from: int = 99) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ]
    table.setStyle(TableStyle(style))
    return table


def _line_rows(session: Session, invoice_id: int) -> list[list[str]]:
    rows = [
        ["No", "Jenis", "Segmen", "Duct/Sub", "Produk", "Bulan", "Periode", "Meter", "Hari", "Tarif/m/th", "Jumlah"]
    ]
    for r in session.execute(
        text("SELECT * FROM invoice_line WHERE invoice_id = :i ORDER BY line_no"), {"i": invoice_id}
    ).mappings():
        period = f"{r['period_from']:%d/%m}-{r['period_to']:%d/%m}" if r["period_from"] and r["period_to"] else ""
        rate = rupiah(r["rate_idr_per_m_year"], sen=None) if r["rate_idr_per_m_year"] is not None else ""
        if r["discount_pct"]:
            rate += f" -{number(r['discount_pct'], 2, trim=True)}%"
        rows.append(
            [
                str(r["line_no"]),
                LINE_KIND_ID[r["kind"]] if r["kind"] != "one_time_fee" else "Biaya akses",
                r["segment_code"] or r["description"][:28],
                r["subduct_label"] or "",
                (r["product"] or "").replace("subduct_", "sd ").replace("_", "/"),
                f"{r['service_month']:%m/%Y}",
                period,
                metres(r["length_m"], unit=False) if r["length_m"] is not None else "",
                str(r["days"]) if r["days"] is not None else "",
                rate,
                rupiah(r["amount_idr"]),
            ]
        )
    return rows


def invoice_pdf(session: Session, invoice: Invoice, out: IO[bytes]) -> None:
    """Write one invoice (or credit note) as PDF to `out`."""
    org = session.execute(
        text("SELECT name, npwp, address FROM organisation WHERE id = :i"), {"i": invoice.operator_id}
    ).one()
    credited = None
    if invoice.credited_invoice_id:
        credited = session.scalar(text("SELECT number FROM invoice WHERE id = :i"), {"i": invoice.credited_invoice_id})
    is_note = invoice.kind == InvoiceKind.CREDIT_NOTE
    title = "NOTA KREDIT" if is_note else "TAGIHAN / FAKTUR SEWA DUCTING"
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"{title} {invoice.number or 'DRAFT'}",
        author=SELLER.name,
    )
    story: list[Any] = [
        Paragraph(title, TITLE),
        Paragraph(
            f"Nomor: <b>{invoice.number or 'DRAF - belum diterbitkan'}</b> &nbsp;&nbsp; "
            f"Periode: {month_year(invoice.month)}",
            NORMAL,
        ),
    ]
    if credited:
        story.append(Paragraph(f"Membatalkan/mengoreksi tagihan {credited}. Alasan: {invoice.reason or '-'}", NORMAL))
    story.append(Spacer(1, 4 * mm))
    parties = Table(
        [
            [
                _party("Penjual", SELLER.name, SELLER.npwp, SELLER.address),
                _party("Pembeli", org.name, org.npwp, org.address),
            ]
        ],
        colWidths=[91 * mm, 91 * mm],
    )
    parties.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (0, 0), 0.25, colors.grey),
                ("BOX", (1, 0), (1, 0), 0.25, colors.grey),
            ]
        )
    )
    story += [parties, Spacer(1, 3 * mm)]
    story.append(
        _grid(
            [
                ["Tanggal terbit", "Jatuh tempo", "Status"],
                [long_date(invoice.issued_on), long_date(invoice.due_on), invoice.status.value],
            ],
            [60 * mm, 60 * mm, 62 * mm],
        )
    )
    story += [
        Spacer(1, 3 * mm),
        _grid(
            _line_rows(session, invoice.id),
            [8 * mm, 14 * mm, 27 * mm, 13 * mm, 15 * mm, 13 * mm, 19 * mm, 16 * mm, 9 * mm, 22 * mm, 26 * mm],
            right_from=7,
        ),
        Spacer(1, 3 * mm),
    ]
    dpp_label = (
        f"DPP nilai lain ({invoice.dpp_numerator}/{invoice.dpp_denominator})"
        if invoice.dpp_numerator != invoice.dpp_denominator
        else "DPP"
    )
    totals = [
        ["Jumlah (DPP)", rupiah(invoice.subtotal_idr)],
        ["  termasuk retribusi daerah", rupiah(invoice.retribusi_idr)],
        [dpp_label, rupiah(invoice.dpp_nilai_lain_idr, sen=True)],
        [f"PPN {number(invoice.ppn_rate_pct, 2, trim=True)}%", rupiah(invoice.ppn_idr)],
        ["TOTAL", rupiah(invoice.total_idr)],
    ]
    t = _grid(totals, [50 * mm, 40 * mm], header=False, right_from=1)
    t.setStyle(TableStyle([("FONT", (0, 4), (-1, 4), "Helvetica-Bold", 9)]))
    t.hAlign = "RIGHT"
    story += [
        t,
        Spacer(1, 2 * mm),
        Paragraph(f"<b>Terbilang:</b> <i>{terbilang(invoice.total_idr)}</i>", NORMAL),
        Spacer(1, 4 * mm),
    ]
    if not is_note:
        story.append(
            Paragraph(
                f"<b>Pembayaran</b> paling lambat {long_date(invoice.due_on)} ke {SELLER.bank}, rekening "
                f"<b>{SELLER.account_no}</b> a.n. {SELLER.account_name}. Cantumkan nomor tagihan pada berita transfer.",
                NORMAL,
            )
        )
    story.append(Spacer(1, 2 * mm))
    story.append(
        Paragraph(
            "Setiap baris dapat dicocokkan dengan jaringan: kode segmen, posisi duct/subduct, meter kontrak dan hari. "
            "Tarif per meter per tahun; hari dihitung aktual/aktual (1/365 atau 1/366 per hari). Pembulatan satu kali "
            "per baris ke rupiah penuh.",
            SMALL,
        )
    )
    doc.build(story)


def invoice_pdf_bytes(session: Session, invoice: Invoice) -> bytes:
    out = io.BytesIO()
    invoice_pdf(session, invoice, out)
    return out.getvalue()


def pdf_zip(session: Session, invoices: list[Invoice]) -> IO[bytes]:
    """A zip of one PDF per invoice, written one at a time into a temporary file; returned rewound."""
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller open, rewound
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for inv in invoices:
            name = (inv.number or f"DRAFT-{inv.id}").replace("/", "-") + ".pdf"
            with zf.open(name, "w") as member:
                invoice_pdf(session, inv, member)
    tmp.seek(0)
    return tmp


# -- operator statement -----------------------------------------------------------------------------------------------
def statement_rows(session: Session, *, operator_id: int, month: date) -> list[dict[str, Any]]:
    """Every leased segment billed to the operator for the month: code, subduct, metres, days, amount."""
    rows = session.execute(
        text("""
        SELECT l.segment_code, l.subduct_label, l.product::text AS product, l.zone_class::text AS zone_class,
               l.length_m, l.period_from, l.period_to, l.days, l.rate_idr_per_m_year, l.amount_idr, l.kind::text AS kind,
               i.number, l.segment_id, to_char(l.service_month, 'YYYY-MM') AS service_month
        FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
        WHERE i.operator_id = :o AND i.month = :m AND i.status <> 'draft' AND l.segment_id IS NOT NULL
        ORDER BY l.segment_code, l.subduct_label, l.period_from"""),
        {"o": operator_id, "m": month},
    ).mappings()
    return [dict(r) for r in rows]


def statement_map_png(session: Session, *, operator_id: int, month: date) -> bytes:
    """A static map of the operator's billed segments for the month (UTM 48N metres), labelled by code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from shapely import wkb

    segs = session.execute(
        text("""
        SELECT DISTINCT s.code, ST_AsBinary(s.geom_m) AS geom FROM route_segment s
        JOIN invoice_line l ON l.segment_id = s.id JOIN invoice i ON i.id = l.invoice_id
        WHERE i.operator_id = :o AND i.month = :m AND i.status <> 'draft' ORDER BY s.code"""),
        {"o": operator_id, "m": month},
    ).all()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for code, geom in segs:
        line = wkb.loads(bytes(geom))
        xs, ys = line.xy
        ax.plot(xs, ys, color="#c0392b", linewidth=2.2)
        mid = line.interpolate(0.5, normalized=True)
        ax.annotate(code, (mid.x, mid.y), fontsize=7, ha="center", va="bottom")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"Segmen yang disewa - {month_year(month)}", fontsize=10)
    ax.set_xlabel("UTM 48N Easting (m)", fontsize=7)
    ax.set_ylabel("Northing (m)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.ticklabel_format(useOffset=False, style="plain")
    if not segs:
        ax.text(0.5, 0.5, "Tidak ada segmen", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def statement_pdf(session: Session, *, operator_id: int, month: date, out: IO[bytes]) -> None:
    org = session.execute(text("SELECT name, npwp FROM organisation WHERE id = :i"), {"i": operator_id}).one()
    rows = statement_rows(session, operator_id=operator_id, month=month)
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Rekening koran {org.name} {month:%Y-%m}",
    )
    data = [["Segmen", "Duct/Sub", "Produk", "Zona", "Bulan", "Periode", "Meter", "Hari", "Jumlah", "Tagihan"]]
    total = Decimal(0)
    for r in rows:
        total += r["amount_idr"]
        data.append(
            [
                r["segment_code"],
                r["subduct_label"],
                r["product"],
                r["zone_class"],
                r["service_month"],
                f"{r['period_from']:%d/%m}-{r['period_to']:%d/%m}",
                metres(r["length_m"], unit=False),
                str(r["days"]),
                rupiah(r["amount_idr"]),
                r["number"],
            ]
        )
    data.append(["Jumlah", "", "", "", "", "", "", "", rupiah(total), ""])
    story = [
        Paragraph("REKENING KORAN SEWA DUCTING", TITLE),
        Paragraph(f"{org.name} (NPWP {format_npwp(org.npwp)}) - {month_year(month)}", NORMAL),
        Spacer(1, 3 * mm),
        _grid(
            data,
            [26 * mm, 13 * mm, 22 * mm, 18 * mm, 14 * mm, 19 * mm, 15 * mm, 9 * mm, 22 * mm, 24 * mm],
            right_from=6,
        ),
        Spacer(1, 4 * mm),
        Image(
            io.BytesIO(statement_map_png(session, operator_id=operator_id, month=month)),
            width=170 * mm,
            height=109 * mm,
        ),
    ]
    doc.build(story)
