"""The per-operator compliance letter (PDF, Bahasa Indonesia): its violations, a map, and for each migration
candidate the proposed route through the ducts with a quote and a link to request it.

The route comes from leasing's `plan_route`, run on the duct segments alongside the span (the connected run the
rule found for this operator, in order along the span) for the size class the operator's cable needs (what the
rule recorded: `cable_size_class` of its widest cable there), inside a savepoint that is rolled back, so composing a
letter never holds capacity. The "request it" link carries the same route, size class, first day and term, so the
operator page quotes what the letter offers. The price is the quote billing returns through `ducting.leasing.quotes` (see `QUOTE_KEYS`): the yearly
rent, its PPN, the one-time access fee and the first year's total, all exact Rupiah. When leasing cannot offer a
route (no free subduct any more) or billing has no tariff, the letter says so in one sentence instead.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from ducting import calendar
from ducting.calendar import Days, term_last_day
from ducting.compliance.routes import operator_need, route_along
from ducting.compliance.rules import BY_CODE, explanation
from ducting.compliance.settings import get_compliance_settings
from ducting.compliance.vocab import RuleCode, Severity
from ducting.errors import DomainError, NotFound
from ducting.formats import long_date, metres, number, rupiah, short_date
from ducting.network.vocab import SizeClass
from gis.crs import UTM48N, WGS84, transformer

log = logging.getLogger("ducting.compliance")
MAX_TABLE_ROWS = 150
MAX_ROUTES = 10
TERM_MONTHS = 12  # the letter offers a year's lease, starting on the letter's deadline
SEVERITY_COLOUR = {
    Severity.CRITICAL: "#b2182b",
    Severity.HIGH: "#ef8a62",
    Severity.MEDIUM: "#e6c229",
    Severity.LOW: "#2166ac",
}
SEVERITY_ID = {Severity.CRITICAL: "Kritis", Severity.HIGH: "Tinggi", Severity.MEDIUM: "Sedang", Severity.LOW: "Rendah"}
# The quote shape billing's provider returns through ducting.leasing.quotes (amounts are Decimal strings).
QUOTE_KEYS = ("annual_total_idr", "annual_ppn_idr", "one_time_fees_idr", "term_total_with_ppn_idr")


def quote_text(quote: dict[str, Any] | None) -> str:
    """One sentence in Bahasa Indonesia: the yearly rent with PPN, the one-time access fee, and the total for the
    first year, or why there is no price yet."""
    q = quote or {}
    if not q.get("available"):
        return f"penawaran belum tersedia ({_esc(str(q.get('reason') or 'tarif belum ditetapkan'))})"
    missing = [k for k in QUOTE_KEYS if q.get(k) is None]
    if missing:
        log.warning("quote without %s: %s", missing, sorted(q))
        return "penawaran belum tersedia (format penawaran tidak dikenali; hubungi BUMD)"
    # billing has rounded these to whole Rupiah; a fraction would be a bug upstream, so it is shown, not hidden
    amount = {k: rupiah(q[k], sen=None) for k in QUOTE_KEYS}
    return (
        f"sewa {amount['annual_total_idr']} per tahun + PPN {amount['annual_ppn_idr']}; biaya akses satu "
        f"kali {amount['one_time_fees_idr']} + PPN; jumlah tahun pertama termasuk PPN "
        f"<b>{amount['term_total_with_ppn_idr']}</b>"
    )


@dataclass
class Candidate:
    flag_id: int
    span_id: int
    parallel_m: float
    segment_ids: list[int]
    segment_codes: list[str]
    route: dict[str, Any] | None
    why_not: str | None
    size_class: SizeClass
    cable_mm: float | None
    first_day: date
    route_days: str = ""

    @property
    def request_url(self) -> str:
        """The operator's request page with this offer: segment codes in order (as a leasing request names them),
        the size class the cable needs, the first day and the term, so the page quotes what the letter did."""
        base = get_compliance_settings().request_url_base
        query = {
            "segments": ",".join(self.segment_codes),
            "size": self.size_class.value,
            "first_day": self.first_day.isoformat(),
            "term": TERM_MONTHS,
            "flag": self.flag_id,
        }
        return f"{base}?{urlencode(query)}"


def offer_days(first: date) -> tuple[date, date]:
    """The letter's lease: `TERM_MONTHS` from `first`, counted as a request's `term_months` is."""
    return first, term_last_day(first, TERM_MONTHS)


def _flags(session: Session, operator_id: int) -> list[Row[Any]]:
    return list(
        session.execute(
            text("""
        SELECT f.id, f.rule, f.severity, f.measured, f.threshold, f.unit, f.span_id, f.pole_id, f.subject_kind,
               f.subject_id, f.opened_at, f.evidence, coalesce(a.nama, '-') AS kecamatan,
               ST_AsGeoJSON(f.geom, 7)::json AS geometry
        FROM compliance_flag f LEFT JOIN admin_area a ON a.kode = f.kecamatan_kode
        WHERE f.operator_ids @> ARRAY[CAST(:op AS bigint)] AND f.status IN ('open', 'acknowledged')
        ORDER BY f.severity, f.road_class, f.opened_at, f.id"""),
            {"op": operator_id},
        ).all()
    )


def _plan(
    session: Session, *, operator_id: int, segment_ids: list[int], size_class: SizeClass, days: Days
) -> tuple[dict[str, Any] | None, str | None]:
    """A route and quote from leasing over `segment_ids` (in order) for `days`, or why there is none.
    Runs in a savepoint that is rolled back: composing a letter holds no capacity."""
    from ducting.leasing.booking import plan_route

    savepoint = session.begin_nested()
    try:
        plan = plan_route(
            session,
            from_node_id=0,
            to_node_id=0,
            subduct_count=1,
            size_class=size_class,
            days=days,
            operator_id=operator_id,
            via_segment_ids=segment_ids,
        )
        return plan.as_dict(), None
    except DomainError as exc:  # a letter must still go out when leasing cannot offer this one
        log.info("no route for segments %s: %s", segment_ids, exc)
        return None, f"Rute tidak dapat direncanakan saat ini ({exc.code}): {exc.say('id')}"
    finally:
        savepoint.rollback()


def migration_candidates(
    session: Session, *, operator_id: int, flags: list[Any], today: date | None = None
) -> list[Candidate]:
    """The letter's offers: for each migration candidate, the duct route alongside and leasing's quote for one
    subduct of the size class the operator's cable needs, for a year (twelve months, as a lease's term counts
    them) starting 30 days after `today` (the letter's deadline)."""
    first = (today or calendar.today()) + timedelta(days=30)
    term = Days(*offer_days(first))
    out = []
    for f in [f for f in flags if f.rule == RuleCode.DUCT_AVAILABLE.value][:MAX_ROUTES]:
        segment_ids, size_class, cable_mm = operator_need(session, flag=f, operator_id=operator_id)
        chain = route_along(session, span_id=f.span_id, segment_ids=segment_ids)
        ids, codes = [c[0] for c in chain], [c[1] for c in chain]
        route, why = (
            _plan(session, operator_id=operator_id, segment_ids=ids, size_class=size_class, days=term)
            if ids
            else (None, "Segmen ducting di samping bentang ini tidak lagi tersedia.")
        )
        out.append(
            Candidate(
                f.id,
                f.span_id,
                float(f.measured or 0),
                ids,
                codes,
                route,
                why,
                size_class=size_class,
                cable_mm=cable_mm,
                first_day=first,
                route_days=f"{long_date(term.first_day)} s.d. {long_date(term.last_day)}",
            )
        )
    return out


# -- map ------------------------------------------------------------------------------------------------------------
def _coords(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    c = geometry["coordinates"]
    return [tuple(c)] if geometry["type"] == "Point" else [tuple(p) for p in c]


def flag_map(
    session: Session, flags: list[Any], routes: list[Candidate], width: float = 170 * mm, height: float = 105 * mm
) -> Drawing:
    """A schematic map in UTM metres: ducts grey, proposed routes blue, flags coloured by severity."""
    fwd = transformer(WGS84, UTM48N)
    shapes = [(f.severity, [fwd.transform(x, y) for x, y in _coords(f.geometry)]) for f in flags]
    d = Drawing(width, height)
    d.add(Rect(0, 0, width, height, strokeColor=colors.grey, fillColor=colors.HexColor("#f7f7f2")))
    pts = [p for _, ps in shapes for p in ps]
    if not pts:
        d.add(String(10, height / 2, "Tidak ada pelanggaran terbuka.", fontSize=9))
        return d
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    pad = 60.0
    x0, x1, y0, y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    scale = min((width - 20) / (x1 - x0), (height - 30) / (y1 - y0))

    def to_page(x: float, y: float) -> tuple[float, float]:
        return 10 + (x - x0) * scale, 20 + (y - y0) * scale

    ducts = session.execute(
        text(f"""SELECT ST_AsGeoJSON(geom_m, 2)::json AS g FROM route_segment
        WHERE removed_at IS NULL AND geom_m && ST_MakeEnvelope(:x0, :y0, :x1, :y1, {UTM48N}) LIMIT 5000"""),
        {"x0": x0, "y0": y0, "x1": x1, "y1": y1},
    ).all()
    for r in ducts:
        d.add(
            PolyLine(
                [v for p in r.g["coordinates"] for v in to_page(*p)],
                strokeColor=colors.HexColor("#9a9a9a"),
                strokeWidth=1.2,
            )
        )
    for c in routes:
        if c.route and c.route.get("geometry"):
            g = c.route["geometry"]
            lines = g["coordinates"] if g["type"] == "MultiLineString" else [g["coordinates"]]
            for line in lines:
                d.add(
                    PolyLine(
                        [v for p in line for v in to_page(*fwd.transform(*p))],
                        strokeColor=colors.HexColor("#1f78b4"),
                        strokeWidth=3,
                    )
                )
    for severity, ps in sorted(shapes, key=lambda s: -list(Severity).index(Severity(s[0]))):
        colour = colors.HexColor(SEVERITY_COLOUR[Severity(severity)])
        if len(ps) == 1:
            x, y = to_page(*ps[0])
            d.add(Circle(x, y, 2.6, fillColor=colour, strokeColor=colors.black, strokeWidth=0.3))
        else:
            d.add(PolyLine([v for p in ps for v in to_page(*p)], strokeColor=colour, strokeWidth=1.8))
    bar_m = _nice_bar((x1 - x0) / 4)
    d.add(Line(12, 8, 12 + bar_m * scale, 8, strokeWidth=1.5))
    d.add(String(14 + bar_m * scale, 5, f"{bar_m:g} m", fontSize=7))
    d.add(String(width - 22, height - 14, "U ↑", fontSize=9))
    legend_x = width - 150
    for i, sev in enumerate(Severity):
        d.add(Rect(legend_x + i * 36, 5, 6, 6, fillColor=colors.HexColor(SEVERITY_COLOUR[sev]), strokeWidth=0))
        d.add(String(legend_x + i * 36 + 8, 5, SEVERITY_ID[sev], fontSize=6))
    return d


def _nice_bar(metres: float) -> float:
    for step in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if step >= metres / 2:
            return float(step)
    return 20000.0


# -- the letter -----------------------------------------------------------------------------------------------------
def render_letter(session: Session, *, operator_id: int, today: date | None = None) -> bytes:
    """The letter for one operator as PDF bytes. Raises NotFound for an unknown operator."""
    org = session.execute(
        text("SELECT id, code, name, address FROM organisation WHERE id = :id"), {"id": operator_id}
    ).first()
    if org is None:
        raise NotFound(what="operator", ref=operator_id)
    today = today or calendar.today()
    settings = get_compliance_settings()
    flags = _flags(session, operator_id)
    candidates = migration_candidates(session, operator_id=operator_id, flags=flags, today=today)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h = ParagraphStyle("h", parent=styles["Heading3"], fontSize=11, spaceBefore=8, spaceAfter=4)
    story: list[Any] = [
        Paragraph(
            "<b>PEMERINTAH KOTA BATAM</b><br/>BUMD Pengelola Jaringan Ducting Bersama (BEDELAU)",
            ParagraphStyle("head", parent=body, fontSize=11, leading=14, alignment=1),
        ),
        Spacer(1, 4 * mm),
        Paragraph(f"Nomor: BDL/KBL/{today.year}/{org.code}/{today:%m%d}<br/>Batam, {long_date(today)}", body),
        Spacer(1, 3 * mm),
        Paragraph(f"Kepada Yth.<br/><b>{_esc(org.name)}</b><br/>{_esc(org.address or '')}", body),
        Spacer(1, 3 * mm),
        Paragraph(
            "<b>Perihal: Pemberitahuan Pelanggaran Penataan Kabel Udara dan Penawaran Pemindahan ke "
            "Ducting Bawah Tanah</b>",
            body,
        ),
        Spacer(1, 2 * mm),
        Paragraph(
            f"Berdasarkan hasil survei lapangan, kami mencatat <b>{len(flags)}</b> temuan terbuka atas kabel "
            f"udara milik Saudara di Kota Batam. Setiap temuan disertai bukti pengukuran dan dapat dilihat "
            f"rinciannya melalui portal BEDELAU. Mohon tindak lanjut dalam 30 hari sejak tanggal surat ini "
            f"(paling lambat {long_date(today + timedelta(days=30))}).",
            body,
        ),
    ]
    story += _summary(flags, body, h)
    story += [
        Paragraph("Peta temuan", h),
        flag_map(session, flags, candidates),
        Paragraph(
            "Garis abu-abu: jalur ducting; biru: rute bawah tanah yang diusulkan; warna lain: temuan "
            "menurut tingkat keparahan.",
            small,
        ),
    ]
    story += _violations_table(flags, small, h)
    story += _candidates_section(candidates, body, small, h)
    story += _rules_section(flags, settings, small, h)
    story += [Spacer(1, 6 * mm), Paragraph("Hormat kami,<br/><br/><br/>Direksi BUMD Pengelola Ducting Bersama", body)]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Surat kepatuhan kabel udara - {org.name}",
        author="BEDELAU Ducting",
    )
    doc.build(story)
    return out.getvalue()


def _esc(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(flags: list[Any], body: ParagraphStyle, h: ParagraphStyle) -> list[Any]:
    counts: dict[str, int] = {}
    for f in flags:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    rows = [["Aturan", "Jumlah"]] + [[BY_CODE[r].title_id, str(n)] for r, n in counts.items()]
    t = Table(rows, colWidths=[130 * mm, 25 * mm])
    t.setStyle(_table_style())
    return [Paragraph("Ringkasan", h), t]


def _table_style() -> TableStyle:
    return TableStyle(
        [
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde3ea")),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )


def _measure(f: Any) -> str:
    if f.measured is None:
        return "-"
    m = number(f.measured, 2, trim=True)
    t = "" if f.threshold is None else f" / {number(f.threshold, 2, trim=True)}"
    return f"{m}{t} {f.unit or ''}".strip()


def _violations_table(flags: list[Any], small: ParagraphStyle, h: ParagraphStyle) -> list[Any]:
    rows: list[list[Any]] = [["No", "Temuan", "Lokasi", "Terukur / ambang", "Tingkat", "Sejak"]]
    for i, f in enumerate(flags[:MAX_TABLE_ROWS], 1):
        where = f"{f.kecamatan}, {'bentang' if f.span_id else 'tiang'} #{f.span_id or f.pole_id}"
        rows.append(
            [
                str(i),
                Paragraph(BY_CODE[f.rule].title_id, small),
                Paragraph(where, small),
                _measure(f),
                SEVERITY_ID[Severity(f.severity)],
                short_date(f.opened_at),
            ]
        )
    t = Table(rows, colWidths=[9 * mm, 55 * mm, 40 * mm, 28 * mm, 16 * mm, 20 * mm], repeatRows=1)
    t.setStyle(_table_style())
    out: list[Any] = [Paragraph("Daftar temuan", h), t]
    if len(flags) > MAX_TABLE_ROWS:
        out.append(
            Paragraph(
                f"... dan {len(flags) - MAX_TABLE_ROWS} temuan lain; daftar lengkap tersedia di portal "
                "BEDELAU (GET /api/v1/compliance/flags).",
                small,
            )
        )
    return out


def _candidates_section(
    candidates: list[Candidate], body: ParagraphStyle, small: ParagraphStyle, h: ParagraphStyle
) -> list[Any]:
    if not candidates:
        return []
    out: list[Any] = [
        Paragraph("Penawaran pemindahan ke ducting bawah tanah", h),
        Paragraph(
            "Bentang berikut sejajar dengan jalur ducting yang memiliki subduct kosong. Kami "
            "menawarkan rute bawah tanah berikut; tautan permohonan membuka formulir sewa "
            "dengan rute ini.",
            body,
        ),
    ]
    for c in candidates:
        lines = [
            f"<b>Bentang #{c.span_id}</b> (temuan #{c.flag_id}): sejajar ducting sepanjang "
            f"{metres(c.parallel_m, 0)}, segmen {', '.join(c.segment_codes[:6])}."
        ]
        if c.route:
            lines.append(
                f"Rute: {metres(c.route['length_m'], 0)} melalui {len(c.route.get('segments', []))} "
                f"segmen ({c.route_days}), satu subduct {_size(c)}; {quote_text(c.route.get('quote'))}."
            )
        else:
            lines.append(_esc(c.why_not or "Rute belum tersedia."))
        lines.append(f"Ajukan permohonan: <link href='{_esc(c.request_url)}' color='blue'>{_esc(c.request_url)}</link>")
        out.append(KeepTogether([Paragraph("<br/>".join(lines), small), Spacer(1, 2 * mm)]))
    return out


def _size(c: Candidate) -> str:
    """The offered size in words: the size class code the request link carries, and the cable it is for."""
    cable = "" if c.cable_mm is None else f", untuk kabel {number(c.cable_mm, 1, trim=True)} mm"
    return f"kelas <b>{_esc(c.size_class.value)}</b>{cable}"


def _rules_section(flags: list[Any], settings: Any, small: ParagraphStyle, h: ParagraphStyle) -> list[Any]:
    out: list[Any] = [Paragraph("Dasar penilaian", h)]
    for code in dict.fromkeys(f.rule for f in flags):
        rule = BY_CODE[code]
        out.append(Paragraph(f"<b>{rule.title_id}</b> ({code}): {_esc(explanation(rule, settings, lang='id'))}", small))
    return out
