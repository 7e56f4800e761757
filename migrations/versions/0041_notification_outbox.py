"""The notification outbox: one row per event, written in the transaction of the change that causes it.

* `notification_event_type`: the vocabulary (`ducting.notify.vocab.EventType`) with each type's audience: the
  `operator` the event concerns and the BUMD staff roles it is for. A reference table shared by every city (like
  `admin_area`), so it carries no `city_id`.
* `notification_event`: the outbox. An event is inserted by the same transaction as its change (triggers on the
  domain tables, migration 0043, or `notify_emit()` below), so it exists if and only if the change committed. Its
  `audience` is copied from the type when it is written, so a policy reads it without a join. `dedupe_key` makes a
  time-driven event (a hold about to lapse, an invoice overdue) happen once per subject and occurrence: a second
  insert with the same key does nothing. The key leads with the city (issue 20).
* `notification_read`: what each account has read of its in-app list (the bell counts what is not here).

Organisations and accounts are switched off, not deleted; where one is deleted all the same (a mistaken row, a
test's own), its notifications go with it (ON DELETE CASCADE) rather than keep it from going.

Row-level security (like migration 0030): an operator reads the events of its own organisation whose audience
holds `operator`; planners, finance and admins read the events whose audience holds their role; admins, auditors
and the system read all. Nobody writes events but `notify_emit()` and the triggers (SECURITY DEFINER): the
application role may only read them. A read mark is the account's own, and only for an event it can see.

Revision ID: 0041
"""

from alembic import op

from ducting.localdb import APP_ROLE

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

OPERATOR = "operator"
# the vocabulary: ducting.notify.vocab.AUDIENCE says the same (tests/notify/test_vocabulary.py)
TYPES = {
    "request.submitted": (OPERATOR, "planner", "admin"),
    "request.offered": (OPERATOR,),
    "request.accepted": (OPERATOR,),
    "request.rejected": (OPERATOR,),
    "request.cancelled": (OPERATOR,),
    "request.hold_expiring": (OPERATOR,),
    "request.expired": (OPERATOR,),
    "lease.started": (OPERATOR,),
    "lease.termination_notice": (OPERATOR,),
    "lease.ended": (OPERATOR,),
    "invoice.issued": (OPERATOR,),
    "invoice.payment_received": (OPERATOR,),
    "invoice.overdue": (OPERATOR, "finance"),
    "invoice.dispute_opened": (OPERATOR, "finance", "admin"),
    "invoice.dispute_resolved": (OPERATOR,),
    "compliance.flag_opened": (OPERATOR,),
    "compliance.letter_issued": (OPERATOR,),
    "compliance.migration_case_due": (OPERATOR, "planner"),
    "citizen_report.received": ("planner", "admin"),
}
READ_ALL = "(SELECT rls_role()) = ANY ('{admin,auditor,system}'::text[])"


def upgrade() -> None:
    values = ",\n        ".join(f"('{code}', '{{{','.join(roles)}}}')" for code, roles in TYPES.items())
    op.execute(f"""
    CREATE TABLE notification_event_type (
        code text PRIMARY KEY CHECK (code ~ '^[a-z_]+\\.[a-z_]+$'),
        audience text[] NOT NULL CHECK (cardinality(audience) > 0)
    );
    COMMENT ON TABLE notification_event_type IS
      'The notification vocabulary: each event type and who reads it (the operator concerned, BUMD staff roles)';
    INSERT INTO notification_event_type (code, audience) VALUES
        {values};

    CREATE TABLE notification_event (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        city_id bigint NOT NULL DEFAULT current_city_id() REFERENCES city(id),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        type text NOT NULL REFERENCES notification_event_type(code),
        occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        operator_id bigint REFERENCES organisation(id) ON DELETE CASCADE,
        audience text[] NOT NULL,
        subject text NOT NULL,
        dedupe_key text,
        payload jsonb NOT NULL DEFAULT '{{}}',
        account_id bigint REFERENCES account(id) ON DELETE SET NULL,
        PRIMARY KEY (city_id, id),
        CONSTRAINT uq_notification_event_dedupe UNIQUE (city_id, dedupe_key),
        CONSTRAINT ck_notification_event_operator CHECK (operator_id IS NOT NULL OR NOT audience @> '{{operator}}')
    );
    COMMENT ON TABLE notification_event IS
      'The outbox: one row per event, written in the transaction of the change that causes it';
    COMMENT ON COLUMN notification_event.dedupe_key IS
      'Subject and occurrence of a time-driven event: the same key is never written twice in a city';
    CREATE INDEX ix_notification_event_operator ON notification_event (city_id, operator_id, seq);
    CREATE INDEX ix_notification_event_seq ON notification_event (city_id, seq);
    CREATE INDEX ix_notification_event_audience ON notification_event USING gin (audience);

    CREATE TABLE notification_read (
        city_id bigint NOT NULL DEFAULT current_city_id() REFERENCES city(id),
        account_id bigint NOT NULL REFERENCES account(id) ON DELETE CASCADE,
        event_id uuid NOT NULL,
        read_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (city_id, account_id, event_id),
        FOREIGN KEY (city_id, event_id) REFERENCES notification_event (city_id, id) ON DELETE CASCADE
    );
    COMMENT ON TABLE notification_read IS 'In-app read marks: an event an account has read';

    CREATE FUNCTION notify_emit(p_type text, p_operator_id bigint, p_subject text, p_payload jsonb,
                                p_dedupe_key text DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      audience_ text[];
      new_id uuid;
    BEGIN
      SELECT t.audience INTO audience_ FROM notification_event_type t WHERE t.code = p_type;
      IF audience_ IS NULL THEN
        RAISE EXCEPTION 'unknown notification event type %', p_type USING ERRCODE = 'foreign_key_violation';
      END IF;
      IF rls_role() = 'operator' AND p_operator_id IS DISTINCT FROM rls_org() THEN
        RAISE EXCEPTION 'an operator may only raise events about its own organisation'
          USING ERRCODE = 'insufficient_privilege';
      END IF;
      INSERT INTO notification_event (type, operator_id, audience, subject, payload, dedupe_key, account_id)
      VALUES (p_type, p_operator_id, audience_, p_subject, coalesce(p_payload, '{{}}'), p_dedupe_key,
              current_actor_id())
      ON CONFLICT (city_id, dedupe_key) DO NOTHING
      RETURNING id INTO new_id;
      RETURN new_id;
    END $$;
    COMMENT ON FUNCTION notify_emit(text, bigint, text, jsonb, text) IS
      'Write one event in the caller''s transaction; NULL when its dedupe key was already written (ducting.notify.events.emit)';
    """)
    op.execute(f"""
    ALTER TABLE notification_event ENABLE ROW LEVEL SECURITY;
    CREATE POLICY notification_event_read_all ON notification_event FOR SELECT USING ({READ_ALL});
    CREATE POLICY notification_event_staff_read ON notification_event FOR SELECT
      USING ((SELECT rls_role()) <> '{OPERATOR}' AND audience @> ARRAY[(SELECT rls_role())]);
    CREATE POLICY notification_event_operator_read ON notification_event FOR SELECT
      USING ((SELECT rls_org()) IS NOT NULL AND operator_id = (SELECT rls_org()) AND audience @> '{{{OPERATOR}}}');

    ALTER TABLE notification_read ENABLE ROW LEVEL SECURITY;
    CREATE POLICY notification_read_system ON notification_read FOR ALL
      USING ((SELECT rls_role()) = 'system') WITH CHECK ((SELECT rls_role()) = 'system');
    CREATE POLICY notification_read_own ON notification_read FOR ALL
      USING (account_id = (SELECT current_actor_id()))
      WITH CHECK (account_id = (SELECT current_actor_id()) AND EXISTS (
        SELECT 1 FROM notification_event e WHERE e.city_id = notification_read.city_id AND e.id = notification_read.event_id));

    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        REVOKE ALL ON notification_event_type, notification_event, notification_read FROM {APP_ROLE};
        GRANT SELECT ON notification_event_type, notification_event TO {APP_ROLE};
        GRANT SELECT, INSERT, DELETE ON notification_read TO {APP_ROLE};
      END IF;
    END $$""")


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION notify_emit(text, bigint, text, jsonb, text);
    DROP TABLE notification_read; DROP TABLE notification_event; DROP TABLE notification_event_type;
    """)
