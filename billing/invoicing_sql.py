"""The invoice run's SQL: set-based, so that 10,000 allocations cost a few statements, not 10,000 round trips.

`PIECES` prices every (allocation, month, tariff version) piece with the rules of `billing.money` (one rounding
per line, half away from zero) and `billing.proration` (actual/actual by calendar year). Parameters:
`:months` (date[] of first days of months). The `priced` relation is what every other statement builds on.
"""

from __future__ import annotations

ALL = "true"
CHANGED_SINCE = """(a.changed_at > CAST(:since AS timestamptz) OR a.created_at > CAST(:since AS timestamptz)
    OR EXISTS (SELECT 1 FROM invoice_line c WHERE c.allocation_id = a.id AND c.credited_line_id IS NOT NULL
               AND NOT c.waived AND c.service_month = m.m0)
    OR EXISTS (SELECT 1 FROM tariff x WHERE x.created_at > CAST(:since AS timestamptz)))"""
"""Adjustments look only at allocations that changed, were created, or were credited (not waived) since the
earliest issue they could correct, unless a tariff version was added since (then at all). A tariff row edited in
place after an issue is not detected; tariffs change by adding versions."""

PIECES_TEMPLATE = """
months AS (
    SELECT m0, (m0 + interval '1 month')::date AS m1,
           (date_trunc('year', m0) + interval '1 year')::date - date_trunc('year', m0)::date AS diy
    FROM unnest(CAST(:months AS date[])) AS m0
),
pieces AS (
    SELECT a.id AS allocation_id, a.operator_id, a.segment_id, s.code AS segment_code, s.kecamatan_kode,
           d.position || '/' || sd.position AS subduct_label, sp.size_class AS product, s.zone_class,
           m.m0 AS service_month, lower(r.r) AS period_from, upper(r.r) - 1 AS period_to,
           upper(r.r) - lower(r.r) AS days, m.diy AS days_in_year, a.contracted_length_m AS length_m,
           t.price_idr_per_m_year AS rate, t.retribusi_idr_per_m_year AS levy_rate,
           coalesce(td.discount_pct, 0) AS discount_pct
    FROM months m
    JOIN allocation a ON a.period && daterange(m.m0, m.m1) AND a.status IN ('active', 'terminated') AND {only}
    JOIN route_segment s ON s.id = a.segment_id
    JOIN subduct sd ON sd.id = a.subduct_id
    JOIN duct d ON d.id = sd.duct_id
    JOIN duct_spec sp ON sp.id = sd.spec_id
    JOIN tariff t ON t.product = sp.size_class AND t.zone_class = s.zone_class
                 AND t.effective && (a.period * daterange(m.m0, m.m1))
    CROSS JOIN LATERAL (SELECT a.period * t.effective * daterange(m.m0, m.m1) AS r) r
    LEFT JOIN LATERAL (
        SELECT x.discount_pct FROM term_discount x
        WHERE NOT upper_inf(a.period) AND upper(a.period) - lower(a.period) >= x.min_term_years * 365
          AND x.effective @> lower(a.period)
        ORDER BY x.min_term_years DESC LIMIT 1) td ON true
),
priced AS (
    SELECT p.*,
           round(length_m * rate * (100 - discount_pct) * days / (100 * days_in_year)) AS amount_idr,
           round(length_m * levy_rate * days / days_in_year) AS retribusi_idr
    FROM pieces p
)"""
PIECES = PIECES_TEMPLATE.format(only=ALL)

BILL_COLUMNS = """operator_id, kind, allocation_id, segment_id, segment_code, subduct_label, product, zone_class,
    kecamatan_kode, service_month, period_from, period_to, days, days_in_year, length_m, rate_idr_per_m_year,
    discount_pct, retribusi_idr_per_m_year, amount_idr, retribusi_idr, description"""

RENT_INTO_BILL = f"""
CREATE TEMP TABLE _bill ON COMMIT DROP AS
WITH {PIECES}
SELECT operator_id, 'rent'::invoice_line_kind AS kind, allocation_id, segment_id, segment_code, subduct_label,
       product, zone_class, kecamatan_kode, service_month, period_from, period_to, days, days_in_year, length_m,
       rate AS rate_idr_per_m_year, discount_pct, levy_rate AS retribusi_idr_per_m_year, amount_idr, retribusi_idr,
       'Sewa ' || segment_code || ' ' || subduct_label AS description
FROM priced p
WHERE NOT EXISTS (SELECT 1 FROM invoice i WHERE i.operator_id = p.operator_id AND i.month = p.service_month
                  AND i.kind = 'invoice' AND i.status <> 'draft')"""

ADJUSTMENTS_INTO_BILL = f"""
INSERT INTO _bill ({BILL_COLUMNS})
WITH {PIECES_TEMPLATE.format(only=CHANGED_SINCE)},
billed AS (
    SELECT l.allocation_id, l.service_month, l.period_from, sum(l.amount_idr) AS amount_idr,
           sum(l.retribusi_idr) AS retribusi_idr, sum(l.days) AS days, max(i.operator_id) AS operator_id,
           max(l.segment_id) AS segment_id, max(l.segment_code) AS segment_code,
           max(l.subduct_label) AS subduct_label, max(l.product::text) AS product,
           max(l.zone_class::text) AS zone_class, max(l.kecamatan_kode) AS kecamatan_kode,
           max(l.period_to) AS period_to, max(l.days_in_year) AS days_in_year, max(l.length_m) AS length_m,
           max(l.rate_idr_per_m_year) AS rate, max(l.discount_pct) AS discount_pct,
           max(l.retribusi_idr_per_m_year) AS levy_rate
    FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
    WHERE i.status <> 'draft' AND l.kind IN ('rent', 'adjustment') AND NOT l.waived
      AND l.service_month = ANY(CAST(:months AS date[]))
      AND l.allocation_id IN (SELECT a.id FROM allocation a CROSS JOIN months m WHERE {CHANGED_SINCE})
    GROUP BY l.allocation_id, l.service_month, l.period_from
),
diff AS (
    SELECT coalesce(e.operator_id, b.operator_id) AS operator_id, coalesce(e.allocation_id, b.allocation_id) AS allocation_id,
           coalesce(e.segment_id, b.segment_id) AS segment_id, coalesce(e.segment_code, b.segment_code) AS segment_code,
           coalesce(e.subduct_label, b.subduct_label) AS subduct_label,
           coalesce(e.product, b.product::size_class) AS product, coalesce(e.zone_class, b.zone_class::zone_class) AS zone_class,
           coalesce(e.kecamatan_kode, b.kecamatan_kode) AS kecamatan_kode,
           coalesce(e.service_month, b.service_month) AS service_month, coalesce(e.period_from, b.period_from) AS period_from,
           coalesce(e.period_to, b.period_to) AS period_to, coalesce(e.days, 0) - coalesce(b.days, 0) AS days,
           coalesce(e.days_in_year, b.days_in_year) AS days_in_year, coalesce(e.length_m, b.length_m) AS length_m,
           coalesce(e.rate, b.rate) AS rate, coalesce(e.discount_pct, b.discount_pct) AS discount_pct,
           coalesce(e.levy_rate, b.levy_rate) AS levy_rate,
           coalesce(e.amount_idr, 0) - coalesce(b.amount_idr, 0) AS amount_idr,
           coalesce(e.retribusi_idr, 0) - coalesce(b.retribusi_idr, 0) AS retribusi_idr
    FROM priced e
    FULL JOIN billed b ON b.allocation_id = e.allocation_id AND b.service_month = e.service_month
                      AND b.period_from = e.period_from
)
SELECT operator_id, 'adjustment', allocation_id, segment_id, segment_code, subduct_label, product, zone_class,
       kecamatan_kode, service_month, period_from, period_to, days, days_in_year, length_m, rate, discount_pct,
       levy_rate, amount_idr, retribusi_idr,
       'Koreksi ' || to_char(service_month, 'MM/YYYY') || ' ' || segment_code || ' ' || subduct_label
FROM diff d
WHERE (amount_idr <> 0 OR days <> 0)
  AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.operator_id = d.operator_id AND i.month = :month
                  AND i.kind = 'invoice' AND i.status <> 'draft')"""

UNCOVERED = """
SELECT s.code, a.id, n.need - coalesce(c.days, 0) AS missing_days
FROM allocation a
JOIN route_segment s ON s.id = a.segment_id
CROSS JOIN LATERAL (SELECT upper(a.period * daterange(:m0, :m1)) - lower(a.period * daterange(:m0, :m1)) AS need) n
LEFT JOIN (SELECT allocation_id, sum(days) AS days FROM _bill WHERE kind = 'rent' GROUP BY 1) c ON c.allocation_id = a.id
WHERE a.period && daterange(:m0, :m1) AND a.status IN ('active', 'terminated') AND n.need > coalesce(c.days, 0)
  AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.operator_id = a.operator_id AND i.month = :m0
                  AND i.kind = 'invoice' AND i.status <> 'draft')
ORDER BY s.code LIMIT 50"""
"""Days of the month that no tariff priced (run after RENT_INTO_BILL): billing them at nothing would be wrong."""

ONE_TIME_FEES_INTO_BILL = f"""
INSERT INTO _bill ({BILL_COLUMNS})
SELECT g.operator_id, 'one_time_fee', g.allocation_id, NULL, NULL, NULL, NULL, NULL, NULL, :month, g.first_day,
       NULL, NULL, NULL, NULL, NULL, 0, 0, f.amount_idr * g.entries, 0,
       'Biaya akses ' || g.entries || ' entri manhole (' || coalesce(g.pks, 'alokasi ' || g.allocation_id) || ')'
FROM (
    SELECT a.operator_id, min(a.id) AS allocation_id, min(lower(a.period)) AS first_day, max(a.pks_number) AS pks,
           count(DISTINCT n.node_id) AS entries
    FROM allocation a
    JOIN route_segment s ON s.id = a.segment_id
    CROSS JOIN LATERAL (VALUES (s.start_node_id), (s.end_node_id)) AS n(node_id)
    WHERE a.status IN ('active', 'terminated') AND NOT a.is_legacy
      AND lower(a.period) >= :month AND lower(a.period) < (CAST(:month AS date) + interval '1 month')::date
    GROUP BY a.operator_id, coalesce(a.request_id, -a.id)
) g
JOIN billing_fee f ON f.kind = 'access_per_manhole_entry' AND f.effective @> g.first_day
WHERE f.amount_idr > 0
  AND NOT EXISTS (SELECT 1 FROM invoice_line l WHERE l.kind = 'one_time_fee' AND l.allocation_id = g.allocation_id)
  AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.operator_id = g.operator_id AND i.month = :month
                  AND i.kind = 'invoice' AND i.status <> 'draft')"""

MINIMUM_INTO_BILL = f"""
INSERT INTO _bill ({BILL_COLUMNS})
SELECT r.operator_id, 'minimum_charge', NULL, NULL, NULL, NULL, NULL, NULL, NULL, :month, NULL, NULL, NULL, NULL,
       NULL, NULL, 0, 0, f.amount_idr - r.rent, 0, 'Kekurangan biaya minimum bulanan'
FROM (SELECT operator_id, sum(amount_idr) AS rent FROM _bill WHERE kind = 'rent' GROUP BY operator_id) r
JOIN billing_fee f ON f.kind = 'minimum_monthly_charge' AND f.effective @> CAST(:month AS date)
WHERE r.rent > 0 AND r.rent < f.amount_idr"""

INSERT_INVOICES = """
INSERT INTO invoice (month, operator_id)
SELECT DISTINCT :month, operator_id FROM _bill"""

INSERT_LINES = """
INSERT INTO invoice_line (invoice_id, line_no, kind, allocation_id, segment_id, segment_code, subduct_label, product,
    zone_class, kecamatan_kode, service_month, period_from, period_to, days, days_in_year, length_m,
    rate_idr_per_m_year, discount_pct, retribusi_idr_per_m_year, amount_idr, retribusi_idr, description)
SELECT i.id, row_number() OVER (PARTITION BY i.id ORDER BY b.kind, b.service_month, b.segment_code,
                                b.subduct_label, b.period_from, b.allocation_id),
       b.kind, b.allocation_id, b.segment_id, b.segment_code, b.subduct_label, b.product, b.zone_class,
       b.kecamatan_kode, b.service_month, b.period_from, b.period_to, b.days, b.days_in_year, b.length_m,
       b.rate_idr_per_m_year, b.discount_pct, b.retribusi_idr_per_m_year, b.amount_idr, b.retribusi_idr,
       b.description
FROM _bill b JOIN invoice i ON i.operator_id = b.operator_id AND i.month = :month AND i.kind = 'invoice'
                           AND i.status = 'draft'"""

TOTALS = """
UPDATE invoice i
SET subtotal_idr = x.subtotal, retribusi_idr = x.levy, ppn_rate_pct = x.rate_pct, dpp_numerator = x.num,
    dpp_denominator = x.den, dpp_nilai_lain_idr = round(x.subtotal * x.num / x.den, 2), ppn_idr = x.ppn,
    total_idr = x.subtotal + x.ppn
FROM (
    SELECT l.invoice_id, sum(l.amount_idr) AS subtotal, sum(l.retribusi_idr) AS levy, t.rate_pct,
           t.dpp_numerator AS num, t.dpp_denominator AS den,
           round(sum(l.amount_idr) * t.rate_pct * t.dpp_numerator / (100 * t.dpp_denominator)) AS ppn
    FROM invoice_line l
    JOIN invoice inv ON inv.id = l.invoice_id AND inv.month = :month AND inv.status = 'draft'
    JOIN tax_rate t ON t.tax = 'PPN' AND t.effective @> CAST(:month AS date)
    GROUP BY l.invoice_id, t.rate_pct, t.dpp_numerator, t.dpp_denominator
) x
WHERE i.id = x.invoice_id"""
