"""Events from the changes themselves: triggers on the domain tables write the outbox in the same transaction.

Whoever makes the change (a route, the sweeper, `leasing_expire_stale()` in SQL, a set-based rule run, a test) and
however many rows one statement changes, the events are written by the statement that made them, so an event
exists if and only if its change committed, and no code path can forget one. Each trigger is one INSERT ... SELECT
over the statement's transition table, with a dedupe key per subject, so a repeat writes nothing.

| table            | when                                              | event                                    |
|------------------|---------------------------------------------------|------------------------------------------|
| request_event    | a request moves (submitted, offered, rejected, cancelled, expired; active; terminated) | request.*, lease.started, lease.termination_notice |
| capacity_request | its PKS number is given: the acceptance's last write | request.accepted (with the PKS number) |
| invoice          | draft -> issued (an invoice, not a credit note)    | invoice.issued                           |
| payment          | a payment is recorded                             | invoice.payment_received                 |
| compliance_flag  | a flag is opened: one event per operator whose cable it is on | compliance.flag_opened       |
| citizen_report   | a report arrives (for planners)                    | citizen_report.received                  |

Accepting a request whose first day has come activates it in the same transaction, before the PKS number is
taken: its `lease.started` is then written with `request.accepted`, after it, so the two read in order.
Letters, disputes and the time-driven events (a hold lapsing in 3 working days, a lease that ended, an invoice
overdue, a migration case due) are written by `notify_emit()` from Python (`ducting.notify`).

Revision ID: 0043
"""

from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

_REQUEST_LINKS = """jsonb_build_object('api', '/api/v1/leasing/requests/' || r.id, 'page', '/operator/sewa',
                                  'staff_page', '/kotak-masuk')"""
_REQUEST_PAYLOAD = f"""jsonb_build_object('request_id', r.id, 'reference', r.reference, 'status', {{status}},
        'first_day', r.first_day, 'last_day', r.last_day, 'hold_expires_at', r.hold_expires_at,
        'pks_number', r.pks_number, 'note', {{note}}, 'links', {_REQUEST_LINKS})"""
_INVOICE_LINKS = """jsonb_build_object('api', '/api/v1/billing/invoices/' || i.id,
        'pdf', '/api/v1/billing/invoices/' || i.id || '/pdf', 'page', '/operator/tagihan', 'staff_page', '/keuangan')"""

FUNCTIONS = {
    "request_event": (
        "INSERT",
        f"""
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, e.operator_id, t.audience, 'capacity_request:' || r.id,
             {_REQUEST_PAYLOAD.format(status="e.to_status", note="e.note")},
             t.code || ':' || r.id, e.account_id
      FROM new_rows e
      JOIN capacity_request r ON r.id = e.request_id
      JOIN notification_event_type t ON t.code = CASE e.to_status::text
          WHEN 'submitted' THEN 'request.submitted' WHEN 'offered' THEN 'request.offered'
          WHEN 'rejected' THEN 'request.rejected' WHEN 'cancelled' THEN 'request.cancelled'
          WHEN 'expired' THEN 'request.expired' WHEN 'terminated' THEN 'lease.termination_notice'
          WHEN 'active' THEN 'lease.started' END
      -- an activation inside the acceptance waits for the PKS number (capacity_request below)
      WHERE NOT (e.to_status = 'active' AND r.pks_number IS NULL)
      ORDER BY e.id
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
    "capacity_request": (
        "UPDATE",
        f"""
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, r.operator_id, t.audience, 'capacity_request:' || r.id,
             {_REQUEST_PAYLOAD.format(status="k.status", note="NULL::text")},
             t.code || ':' || r.id, current_actor_id()
      FROM new_rows r
      JOIN old_rows o ON o.id = r.id AND o.pks_number IS NULL
      CROSS JOIN LATERAL (VALUES (1, 'request.accepted', 'accepted'), (2, 'lease.started', 'active')) k(n, code, status)
      JOIN notification_event_type t ON t.code = k.code
      WHERE r.pks_number IS NOT NULL AND (k.n = 1 OR r.status = 'active')
      ORDER BY r.id, k.n
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
    "invoice": (
        "UPDATE",
        f"""
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, i.operator_id, t.audience, 'invoice:' || i.id,
             jsonb_build_object('invoice_id', i.id, 'number', i.number, 'month', i.month,
                                'total_idr', i.total_idr::text, 'issued_on', i.issued_on, 'due_on', i.due_on,
                                'links', {_INVOICE_LINKS}),
             t.code || ':' || i.id, current_actor_id()
      FROM new_rows i
      JOIN old_rows o ON o.id = i.id AND o.status = 'draft'
      JOIN notification_event_type t ON t.code = 'invoice.issued'
      WHERE i.status = 'issued' AND i.kind = 'invoice'
      ORDER BY i.number
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
    "payment": (
        "INSERT",
        f"""
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, i.operator_id, t.audience, 'payment:' || p.id,
             jsonb_build_object('payment_id', p.id, 'invoice_id', i.id, 'number', i.number,
                                'amount_idr', p.amount_idr::text, 'paid_on', p.paid_on, 'reference', p.reference,
                                'links', {_INVOICE_LINKS}),
             t.code || ':' || p.id, current_actor_id()
      FROM new_rows p
      JOIN invoice i ON i.id = p.invoice_id
      JOIN notification_event_type t ON t.code = 'invoice.payment_received'
      ORDER BY p.id
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
    "compliance_flag": (
        "INSERT",
        """
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, op.id, t.audience, 'compliance_flag:' || f.id,
             jsonb_build_object('flag_id', f.id, 'rule', f.rule, 'severity', f.severity,
                                'subject_kind', f.subject_kind, 'kecamatan_kode', f.kecamatan_kode,
                                'measured', f.measured, 'threshold', f.threshold, 'unit', f.unit,
                                'links', jsonb_build_object('api', '/api/v1/compliance/flags/' || f.id,
                                                            'page', '/operator/tagihan', 'staff_page', '/kepatuhan')),
             t.code || ':' || f.id || ':' || op.id, current_actor_id()
      FROM new_rows f
      CROSS JOIN LATERAL unnest(f.operator_ids) AS op(id)
      JOIN organisation o ON o.id = op.id
      JOIN notification_event_type t ON t.code = 'compliance.flag_opened'
      ORDER BY f.id, op.id
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
    "citizen_report": (
        "INSERT",
        """
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      SELECT t.code, NULL, t.audience, 'citizen_report:' || c.id,
             jsonb_build_object('report_id', c.id, 'reference', c.reference, 'category', c.category,
                                'links', jsonb_build_object('api', '/api/v1/compliance/reports',
                                                            'page', '/kepatuhan', 'staff_page', '/kepatuhan')),
             t.code || ':' || c.id, current_actor_id()
      FROM new_rows c
      JOIN notification_event_type t ON t.code = 'citizen_report.received'
      ORDER BY c.id
      ON CONFLICT (city_id, dedupe_key) DO NOTHING""",
    ),
}


def upgrade() -> None:
    for table, (event, body) in FUNCTIONS.items():
        ref = "NEW TABLE AS new_rows" if event == "INSERT" else "OLD TABLE AS old_rows NEW TABLE AS new_rows"
        op.execute(f"""
        CREATE FUNCTION notify_from_{table}() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          {body};
          RETURN NULL;
        END $$;
        CREATE TRIGGER {table}_notify AFTER {event} ON {table}
          REFERENCING {ref} FOR EACH STATEMENT EXECUTE FUNCTION notify_from_{table}();
        """)


def downgrade() -> None:
    for table in FUNCTIONS:
        op.execute(f"DROP TRIGGER {table}_notify ON {table}; DROP FUNCTION notify_from_{table}()")
