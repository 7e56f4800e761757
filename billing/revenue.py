"""Revenue (PAD) reporting: billed revenue by month, operator, kecamatan and product; occupancy next to it; and a
12-month projection from the leases in force plus pending capacity requests.

Billed revenue is the sum of lines on issued, paid and void invoices and on credit notes (so a voided invoice and
its credit note cancel out), by the month the service was for. Projection uses the invoice run's own pricing SQL
for the leases; pending requests (submitted, offered, accepted) add their quoted annual total / 12 per month
from their first day, or, without a quote, metres x subducts x the highest current rate of their size class.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing import invoicing_sql as q
from ducting.calendar import months_from
from ducting.formats import number

DIMENSIONS = {
    "operator": "o.code",
    "kecamatan": "coalesce(l.kecamatan_kode, '-')",
    "product": "coalesce(l.product::text, l.kind::text)",
}


def billed(session: Session, *, first: date, last: date, by: str) -> list[dict[str, Any]]:
    key = DIMENSIONS[by]
    rows = session.execute(
        text(f"""
        SELECT to_char(l.service_month, 'YYYY-MM') AS month, {key} AS key, sum(l.amount_idr) AS revenue_idr,
               sum(l.retribusi_idr) AS retribusi_idr
        FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id JOIN organisation o ON o.id = i.operator_id
        WHERE i.status <> 'draft' AND l.service_month BETWEEN :a AND :b
        GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"a": first, "b": last},
    ).mappings()
    return [
        {
            "month": r["month"],
            by: r["key"],
            "revenue_idr": str(r["revenue_idr"]),
            "retribusi_idr": str(r["retribusi_idr"]),
        }
        for r in rows
    ]


def occupancy(session: Session, *, day: date) -> list[dict[str, Any]]:
    """Per kecamatan: usable subduct-metres, metres leased on `day` on them, and the share. Both come from the
    database's `segment_occupancy_m` (migration 0034), so "usable" and "leased" mean what they mean to leasing."""
    rows = session.execute(
        text("""
        SELECT coalesce(s.kecamatan_kode, '-') AS k, coalesce(ar.nama, s.kecamatan_kode, '-') AS nama,
               sum(m.usable_m) AS capacity_m, sum(m.leased_m) AS leased_m
        FROM segment_occupancy_m(CAST(:d AS date)) m JOIN route_segment s ON s.id = m.segment_id
        LEFT JOIN admin_area ar ON ar.kode = s.kecamatan_kode
        GROUP BY 1, 2 ORDER BY 1"""),
        {"d": day},
    ).all()
    return [
        {
            "kecamatan": r.k,
            "nama": r.nama,
            "capacity_m": str(r.capacity_m),
            "leased_m": str(r.leased_m),
            "occupancy_pct": str((100 * r.leased_m / r.capacity_m).quantize(Decimal("0.1")) if r.capacity_m else 0),
        }
        for r in rows
    ]


def projection(session: Session, *, start: date, months: int = 12) -> list[dict[str, Any]]:
    """Per month from `start`: rent from leases in force (priced like a run) and from pending requests."""
    month_list = months_from(start, months)
    leases: dict[str, Decimal] = dict(
        session.execute(
            text(f"WITH {q.PIECES} SELECT to_char(service_month, 'YYYY-MM'), sum(amount_idr) FROM priced GROUP BY 1"),
            {"months": month_list},
        ).all()
    )
    pending: dict[str, Decimal] = dict(
        session.execute(
            text("""
        WITH m AS (SELECT unnest(CAST(:months AS date[])) AS m0),
        r AS (
            SELECT c.first_day, c.last_day,
                   coalesce((c.quote->>'annual_total_idr')::numeric,
                            c.route_length_m * c.subduct_count *
                            (SELECT max(price_idr_per_m_year) FROM tariff t
                             WHERE t.product = c.size_class AND t.effective @> c.first_day)) AS annual
            FROM capacity_request c WHERE c.status IN ('submitted', 'offered', 'accepted'))
        SELECT to_char(m.m0, 'YYYY-MM'), round(sum(r.annual / 12))
        FROM m JOIN r ON r.first_day < (m.m0 + interval '1 month') AND (r.last_day IS NULL OR r.last_day >= m.m0)
        GROUP BY 1"""),
            {"months": month_list},
        ).all()
    )
    out = []
    for m in month_list:
        key = m.strftime("%Y-%m")
        lease_idr, pending_idr = leases.get(key) or Decimal(0), pending.get(key) or Decimal(0)
        out.append(
            {
                "month": key,
                "leases_idr": str(lease_idr),
                "pending_requests_idr": str(pending_idr),
                "total_idr": str(lease_idr + pending_idr),
            }
        )
    return out


def chart(history: list[dict[str, Any]], forecast: list[dict[str, Any]], *, fmt: str = "png") -> bytes:
    """Monthly billed revenue (bars) and the projection (stacked: leases, pending requests), in millions Rp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    per_month: dict[str, Decimal] = {}
    for row in history:
        per_month[row["month"]] = per_month.get(row["month"], Decimal(0)) + Decimal(row["revenue_idr"])
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    hx = sorted(per_month)
    # Matplotlib draws in floats; the figures it is given are for the picture only, never for money.
    ax.bar(hx, [float(per_month[m] / 1_000_000) for m in hx], color="#2c7fb8", label="Ditagih")
    fx = [r["month"] for r in forecast]
    leases = [float(Decimal(r["leases_idr"]) / 1_000_000) for r in forecast]
    pend = [float(Decimal(r["pending_requests_idr"]) / 1_000_000) for r in forecast]
    ax.bar(fx, leases, color="#7fcdbb", label="Proyeksi: sewa berjalan")
    ax.bar(fx, pend, bottom=leases, color="#edf8b1", edgecolor="#999", label="Proyeksi: permohonan")
    ax.set_ylabel("Juta Rupiah")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: number(v, 1, trim=True)))  # 1,5 not 1.5
    ax.set_title("Pendapatan sewa ducting (PAD)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return out.getvalue()
