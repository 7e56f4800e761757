"""Row-level security on every table holding operator data, keyed on the identity each transaction carries.

`ducting.db.bind_actor` writes `ducting.role` and `ducting.organisation_id` with `set_config(..., true)` at the
start of every transaction; the policies read them through `rls_role()` and `rls_org()` (the organisation only
for operators). Without an identity (`rls_role()` = 'anonymous') a policy table shows and accepts nothing.

Who sees what (mirrors the application's checks; the database is the second wall, not the only one):

| domain     | tables                                                        | read all                           | write all             | operator                    |
|------------|---------------------------------------------------------------|------------------------------------|-----------------------|-----------------------------|
| leasing    | capacity_request, request_event, allocation, cable            | admin planner finance auditor system | admin planner system | own rows (requests, holds)  |
| billing    | invoice, invoice_line, payment                                | admin finance auditor system       | admin finance system  | own issued invoices, read   |
| compliance | compliance_flag, flag_event, migration_case,                  | admin planner auditor system       | admin planner system  | own flags/cases, read;      |
|            | operator_agreement, cable_attachment                          |                                    |                       | advance own cases           |
| audit      | audit_log                                                     | admin auditor system               | (triggers only)       | network tables' rows only   |

Operators must still see the network's occupancy (availability, the routing graph, occupancy tiles and the
"occupied" entries of another's holding). Two views owned by the schema owner expose that without identity:
`allocation_occupancy` (who/which request/PKS only when the caller may see that allocation) and `cable_fill`
(diameters and method, no operator). The owner is not subject to RLS (it is not FORCEd), so a view or a
SECURITY DEFINER function is the one sanctioned way past a policy; the application role gets SELECT on the views
only. `leasing_expire_stale()` (SECURITY DEFINER) files every operator's lapsed holds: a booking by one operator
must free another's expired hold, or the EXCLUDE constraint would still count it.

`ducting_app` does not own these tables and has neither SUPERUSER nor BYPASSRLS, so the policies bind it
(checked by tests/trust/test_row_level_security.py). The identity is a setting the application writes: this
guards against a query that forgets its WHERE clause, not against arbitrary SQL run as the application role.

Revision ID: 0030
"""

from alembic import op

from ducting.localdb import APP_ROLE

revision = "0030"
down_revision = ("0009", "0011", "0022")  # every head at the time: one head again
branch_labels = None
depends_on = None

READ = {
    "leasing": ("admin", "planner", "finance", "auditor", "system"),
    "billing": ("admin", "finance", "auditor", "system"),
    "compliance": ("admin", "planner", "auditor", "system"),
}
WRITE = {
    "leasing": ("admin", "planner", "system"),
    "billing": ("admin", "finance", "system"),
    "compliance": ("admin", "planner", "system"),
}
OWN = "operator_id = (SELECT rls_org())"
# table -> (domain, the operator's rows, what an operator may do with them)
TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "capacity_request": ("leasing", OWN, ("SELECT", "INSERT", "UPDATE")),
    "request_event": ("leasing", OWN, ("SELECT", "INSERT")),
    "allocation": ("leasing", OWN, ("SELECT", "INSERT", "UPDATE")),
    "cable": ("leasing", OWN, ("SELECT",)),
    "invoice": ("billing", f"{OWN} AND status <> 'draft'", ("SELECT",)),
    # lines and payments follow their invoice: visible exactly when the invoice is (its own policy decides)
    "invoice_line": ("billing", "EXISTS (SELECT 1 FROM invoice i WHERE i.id = invoice_line.invoice_id)", ("SELECT",)),
    "payment": ("billing", "EXISTS (SELECT 1 FROM invoice i WHERE i.id = payment.invoice_id)", ("SELECT",)),
    "compliance_flag": ("compliance", "operator_ids @> ARRAY[(SELECT rls_org())]", ("SELECT",)),
    "flag_event": (
        "compliance",
        "EXISTS (SELECT 1 FROM compliance_flag f WHERE f.id = flag_event.flag_id)",
        ("SELECT",),
    ),
    "migration_case": ("compliance", OWN, ("SELECT", "UPDATE")),
    "operator_agreement": ("compliance", OWN, ("SELECT",)),
    "cable_attachment": ("compliance", OWN, ("SELECT",)),
}
AUDIT_READ_ALL = ("admin", "auditor", "system")
# the network is public to every signed-in role (its history endpoint reads these audit rows)
AUDIT_PUBLIC_TABLES = ("node", "route_segment", "duct", "subduct", "duct_spec", "duct_spec_child")


def _roles(roles: tuple[str, ...]) -> str:
    """A role test evaluated once per statement (an InitPlan), not once per row."""
    return f"(SELECT rls_role()) = ANY ('{{{','.join(roles)}}}'::text[])"


def _operator(predicate: str) -> str:
    return f"(SELECT rls_org()) IS NOT NULL AND {predicate}"


_VISIBLE = f"({_roles(READ['leasing'])} OR a.operator_id = (SELECT rls_org()))"


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION rls_role() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
      $$ SELECT coalesce(nullif(current_setting('ducting.role', true), ''), 'anonymous') $$;
    COMMENT ON FUNCTION rls_role() IS 'The acting role of this transaction (ducting.db.bind_actor), or anonymous';
    CREATE FUNCTION rls_org() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN current_setting('ducting.role', true) = 'operator'
                     THEN nullif(current_setting('ducting.organisation_id', true), '')::bigint END $$;
    COMMENT ON FUNCTION rls_org() IS 'The acting operator''s organisation; NULL for every other role';
    """)
    for table, (domain, own, commands) in TABLES.items():
        op.execute(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY {table}_staff_read ON {table} FOR SELECT USING ({_roles(READ[domain])});
        CREATE POLICY {table}_staff_write ON {table} FOR ALL
          USING ({_roles(WRITE[domain])}) WITH CHECK ({_roles(WRITE[domain])});
        """)
        for command in commands:
            using = "" if command == "INSERT" else f" USING ({_operator(own)})"
            check = "" if command in ("SELECT",) else f" WITH CHECK ({_operator(own)})"
            op.execute(f"CREATE POLICY {table}_operator_{command.lower()} ON {table} FOR {command}{using}{check}")
    op.execute(f"""
    ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
    CREATE POLICY audit_log_read_all ON audit_log FOR SELECT USING ({_roles(AUDIT_READ_ALL)});
    CREATE POLICY audit_log_read_network ON audit_log FOR SELECT
      USING ((SELECT rls_role()) <> 'anonymous' AND table_name = ANY ('{{{",".join(AUDIT_PUBLIC_TABLES)}}}'::text[]));

    -- Occupancy without identity: what availability, routing, occupancy tiles and "occupied" entries need.
    CREATE VIEW allocation_occupancy AS
    SELECT a.id, a.subduct_id, a.segment_id, a.period, a.status, a.hold_expires_at, a.changed_at, a.change_xid,
           CASE WHEN {_VISIBLE} THEN a.operator_id END AS operator_id,
           CASE WHEN {_VISIBLE} THEN a.request_id END AS request_id,
           CASE WHEN {_VISIBLE} THEN a.pks_number END AS pks_number
    FROM allocation a;
    COMMENT ON VIEW allocation_occupancy IS
      'Every allocation''s space (subduct, period, status); operator, request and PKS only where the caller may see them';

    CREATE VIEW cable_fill AS
    SELECT c.id, c.subduct_id, c.outer_diameter_mm, c.method, c.installed_on, c.removed_on FROM cable c;
    COMMENT ON VIEW cable_fill IS 'Cables in subducts for area fill, without their operator';

    CREATE FUNCTION leasing_expire_stale() RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    DECLARE expired integer; started integer;
    BEGIN
      WITH gone AS (
          UPDATE allocation SET status = 'released'
          WHERE status = 'held' AND hold_expires_at <= now() RETURNING request_id),
      reqs AS (
          UPDATE capacity_request r SET status = 'expired', status_since = clock_timestamp(), due_at = NULL,
                                       version = version + 1
          WHERE r.id IN (SELECT request_id FROM gone) AND r.status IN ('submitted', 'offered')
          RETURNING r.id, r.operator_id, (SELECT status FROM capacity_request o WHERE o.id = r.id) AS old),
      ev AS (
          INSERT INTO request_event (request_id, operator_id, from_status, to_status, note)
          SELECT id, operator_id, old, 'expired', 'hold expired' FROM reqs RETURNING 1)
      SELECT count(*) INTO expired FROM ev;
      WITH s AS (
          UPDATE capacity_request SET status = 'active', status_since = clock_timestamp(), version = version + 1
          WHERE status = 'accepted' AND first_day <= (now() AT TIME ZONE 'Asia/Jakarta')::date
          RETURNING id, operator_id),
      ev AS (
          INSERT INTO request_event (request_id, operator_id, from_status, to_status, note)
          SELECT id, operator_id, 'accepted', 'active', 'lease period started' FROM s RETURNING 1)
      SELECT count(*) INTO started FROM ev;
      RETURN expired + started;
    END $$;
    COMMENT ON FUNCTION leasing_expire_stale() IS
      'Release every operator''s lapsed holds and start accepted leases whose day has come; returns the requests moved';
    REVOKE ALL ON FUNCTION leasing_expire_stale() FROM PUBLIC;

    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        -- default privileges granted writes on new relations; a simple view is auto-updatable as its owner
        REVOKE ALL ON allocation_occupancy, cable_fill FROM {APP_ROLE};
        GRANT SELECT ON allocation_occupancy, cable_fill TO {APP_ROLE};
        GRANT EXECUTE ON FUNCTION leasing_expire_stale() TO {APP_ROLE};
      END IF;
    END $$""")


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION leasing_expire_stale(); DROP VIEW cable_fill; DROP VIEW allocation_occupancy;
    DROP POLICY audit_log_read_network ON audit_log; DROP POLICY audit_log_read_all ON audit_log;
    ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;
    """)
    for table, (_, _, commands) in TABLES.items():
        names = ["staff_read", "staff_write", *(f"operator_{c.lower()}" for c in commands)]
        op.execute(
            "; ".join(f"DROP POLICY {table}_{n} ON {table}" for n in names)
            + f"; ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
        )
    op.execute("DROP FUNCTION rls_org(); DROP FUNCTION rls_role()")
