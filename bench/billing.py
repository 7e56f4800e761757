"""`python -m bench billing`: an invoice run for 10,000 active allocations across 30 operators, against one
`INSERT ... SELECT` that computes and writes the same line amounts (measured in the same run), and PDFs for 500
invoices (time, and the peak RSS of a process that does only that).

Database `ducting_bench_billing`, re-created on every run: 2,500 segments of 4 subducts 32/26 each, one lease
per subduct.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from statistics import median
from typing import Any

from sqlalchemy import create_engine, text

import ducting.models  # noqa: F401  - every table on the metadata, for the ORM flush
from bench.common import Figure, bench_database, report
from gis.crs import WGS84

OPERATORS = 30
ROWS, COLS = 50, 51  # 50 rows of 50 segments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pdfs", type=int, default=500, help="invoices to render as PDF (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="months run, and baseline repetitions (median)")


def _populate(url: str) -> None:
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(
            text("""INSERT INTO organisation (code, name, kind, npwp)
            SELECT 'OP' || lpad(i::text, 2, '0'), 'PT Operator Bench ' || i, 'operator', '0123456789' || lpad(i::text, 5, '0')
            FROM generate_series(1, :n) i"""),
            {"n": OPERATORS},
        )
        c.execute(
            text(f"""INSERT INTO node (code, kind, status, geom)
            SELECT 'MH-BB-' || i, 'manhole', 'operational',
                   ST_SetSRID(ST_MakePoint(104.02 + (i % {COLS}) * 0.0009, 1.10 + (i / {COLS}) * 0.0009), {WGS84})
            FROM generate_series(0, {ROWS * COLS - 1}) i""")
        )
        c.execute(
            text(f"""INSERT INTO route_segment (code, start_node_id, end_node_id, status, trench_type, zone_class, geom)
            SELECT 'RS-BB-' || a.id, a.id, b.id, 'operational', 'open_cut',
                   (ARRAY['cbd', 'commercial', 'residential', 'industrial'])[1 + a.id % 4]::zone_class,
                   ST_MakeLine(a.geom, b.geom)
            FROM node a JOIN node b ON b.code = 'MH-BB-' || (substring(a.code FROM 7)::int + 1)
            WHERE a.code LIKE 'MH-BB-%' AND substring(a.code FROM 7)::int % {COLS} <> {COLS - 1}""")
        )
        c.execute(
            text("""INSERT INTO duct (segment_id, position, spec_id)
            SELECT s.id, 1, (SELECT id FROM duct_spec WHERE code = 'PVC-110-4x32' ORDER BY version DESC LIMIT 1)
            FROM route_segment s""")
        )
        c.execute(
            text("""INSERT INTO subduct (duct_id, segment_id, position, spec_id)
            SELECT d.id, d.segment_id, p, (SELECT id FROM duct_spec WHERE code = 'HDPE-32/26' ORDER BY version DESC LIMIT 1)
            FROM duct d CROSS JOIN generate_series(1, 4) p""")
        )
        c.execute(
            text("""INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, contracted_length_m,
                                                  is_legacy)
            SELECT o.id, sd.id, sd.segment_id, daterange('2025-01-01', NULL), 'active', s.length_m, true
            FROM subduct sd JOIN route_segment s ON s.id = sd.segment_id
            JOIN organisation o ON o.code = 'OP' || lpad((1 + sd.id % :n)::text, 2, '0')"""),
            {"n": OPERATORS},
        )
        c.execute(text("ANALYZE"))
    eng.dispose()


BASELINE = """
INSERT INTO bench_lines (allocation_id, service_month, period_from, period_to, days, length_m, rate, amount_idr)
SELECT a.id, :m0, lower(r), upper(r) - 1, upper(r) - lower(r), a.contracted_length_m, t.price_idr_per_m_year,
       round(a.contracted_length_m * t.price_idr_per_m_year * (upper(r) - lower(r)) / :diy)
FROM allocation a
JOIN route_segment s ON s.id = a.segment_id
JOIN subduct sd ON sd.id = a.subduct_id
JOIN duct_spec sp ON sp.id = sd.spec_id
JOIN tariff t ON t.product = sp.size_class AND t.zone_class = s.zone_class AND t.effective && a.period
CROSS JOIN LATERAL (SELECT a.period * t.effective * daterange(:m0, :m1) AS r) x
WHERE a.status IN ('active', 'terminated') AND a.period && daterange(:m0, :m1) AND NOT isempty(r)"""


def _baseline(url: str, month: date, nxt: date) -> tuple[float, int]:
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_lines (allocation_id bigint, service_month date, period_from date,"
                " period_to date, days int, length_m numeric(12, 3), rate numeric(14, 2), amount_idr numeric(18, 0))"
            )
        )
        c.execute(text("TRUNCATE bench_lines"))
    with eng.begin() as c:
        t0 = time.perf_counter()
        c.execute(text(BASELINE), {"m0": month, "m1": nxt, "diy": 365})
    seconds = time.perf_counter() - t0
    with eng.connect() as c:
        total = c.scalar(text("SELECT sum(amount_idr) FROM bench_lines"))
    eng.dispose()
    return seconds, total


def _run(url: str, month: date) -> tuple[float, dict[str, Any], int]:
    from billing.invoicing import issue_month, run_month
    from ducting.db import Actor, open_session

    eng = create_engine(url)
    actor = Actor(account_id=None, role="finance")  # the run's identity: row-level security lets finance bill
    t0 = time.perf_counter()
    with open_session(actor, bind=eng) as s:
        run_month(s, month=month, actor=actor)
        summary = issue_month(s, month=month, actor=actor, issued_on=month.replace(day=28))
        s.commit()
    seconds = time.perf_counter() - t0
    with open_session(actor, bind=eng) as c:
        rent = c.scalar(
            text(
                "SELECT sum(amount_idr) FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id "
                "WHERE i.month = :m AND l.kind = 'rent'"
            ),
            {"m": month},
        )
    eng.dispose()
    return seconds, summary.as_dict(), rent


def pdf_child(url: str, n: int, out_path: str) -> None:
    """Runs in its own process: render `n` invoices (cycling through the issued ones) into one zip."""
    import resource
    import zipfile

    from sqlalchemy import select

    from billing.documents import invoice_pdf
    from billing.models import Invoice
    from ducting.db import Actor, open_session

    eng = create_engine(url)
    with open_session(Actor(account_id=None, role="finance"), bind=eng) as s:
        invoices = list(s.scalars(select(Invoice).where(Invoice.status == "issued").order_by(Invoice.id)))
        t0 = time.perf_counter()
        with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for i in range(n):
                inv = invoices[i % len(invoices)]
                with zf.open(f"{i:04d}-{inv.number.replace('/', '-')}.pdf", "w") as member:
                    invoice_pdf(s, inv, member)
        seconds = time.perf_counter() - t0
        lines = len(invoices[0].lines) if invoices else 0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "lines_per_invoice": lines,
            }
        )
    )


def run(args: argparse.Namespace) -> int:
    db = bench_database("ducting_bench_billing", fresh=True)
    t0 = time.perf_counter()
    _populate(db.owner_url)
    populate_s = time.perf_counter() - t0
    allocations = db.scalar("SELECT count(*) FROM allocation WHERE status = 'active'")
    months = [date(2026, m, 1) for m in range(1, args.repeat + 1)]
    runs, baselines, details = [], [], {"allocations": allocations, "operators": OPERATORS, "populate_s": populate_s}
    for m in months:
        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        base_s, base_total = _baseline(db.owner_url, m, nxt)
        run_s, summary, rent = _run(db.app_url, m)
        if base_total != rent:
            print(f"line amounts differ for {m}: baseline {base_total}, run {rent}", file=sys.stderr)
            return 1
        baselines.append(base_s)
        runs.append(run_s)
        details.setdefault("runs", []).append({"month": m.isoformat(), "run_s": run_s, "baseline_s": base_s, **summary})
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from bench.billing import pdf_child; "
                "pdf_child(sys.argv[1], int(sys.argv[2]), sys.argv[3])",
                db.app_url,
                str(args.pdfs),
                tmp.name,
            ],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        pdf = json.loads(child.stdout.strip().splitlines()[-1])
        pdf["zip_mb"] = round(__import__("os").path.getsize(tmp.name) / 2**20, 1)
    details["pdf"] = pdf
    run_med, base_med = median(runs), median(baselines)
    figures = [
        Figure(
            "run_s",
            f"invoice run + issue, {allocations:,} allocations / {OPERATORS} operators (median)",
            run_med,
            "s",
            ("<", 5.0),
        ),
        Figure("baseline_s", "one INSERT ... SELECT of the same line amounts (median)", base_med, "s"),
        Figure("ratio", "run / INSERT ... SELECT", run_med / base_med, "x", ("<=", 5.0)),
        Figure(
            "pdf_s",
            f"{args.pdfs} invoice PDFs into a zip ({pdf['lines_per_invoice']} lines each)",
            pdf["seconds"],
            "s",
            note=f"{pdf['seconds'] / args.pdfs * 1000:.0f} ms per PDF; zip {pdf['zip_mb']} MB",
        ),
        Figure("pdf_rss", "peak RSS of the PDF process", pdf["maxrss_mb"], "MiB", note="one PDF in memory at a time"),
    ]
    report("billing", "bench billing", figures, details)
    return 0 if all(f.passed is not False for f in figures) else 1
