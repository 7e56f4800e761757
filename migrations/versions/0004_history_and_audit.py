"""History (system-versioned rows, for `as_of` maps) and the append-only audit log (who, when, old, new).

* `versioning()` (BEFORE row trigger) bumps `version`, stamps `updated_by/at` from the transaction's identity,
  and files the previous row in `<table>_history` with the period it was valid for. Times are
  `clock_timestamp()`, so every statement is a version, also inside one transaction.
* `audit_rows()` (AFTER statement triggers with transition tables, so bulk imports cost one INSERT ... SELECT)
  writes one audit record per changed row with its old and new values.
* The application role may read but not change history or audit rows; triggers write them as the owner
  (SECURITY DEFINER). Audit rows also refuse UPDATE/DELETE/TRUNCATE for everyone, owner included.

Revision ID: 0004
"""

from alembic import op

from ducting.localdb import APP_ROLE

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSIONED_TABLES = ("node", "route_segment", "duct", "subduct")
# Derived columns kept out of audit records: they repeat `geom` in another form.
AUDIT_DROP = {"route_segment": ("geom_m",)}
AUDITED_TABLES = ("organisation", "account", "api_token", "duct_spec", "duct_spec_child", *VERSIONED_TABLES)


def upgrade() -> None:
    op.execute("""
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        account_id bigint,
        role text,
        organisation_id bigint,
        request_id text,
        client_addr text,
        table_name text NOT NULL,
        row_id text,
        action text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
        old jsonb,
        new jsonb
    );
    CREATE INDEX ix_audit_log_object ON audit_log (table_name, row_id, id);
    CREATE INDEX ix_audit_log_actor ON audit_log (account_id, at);
    CREATE INDEX ix_audit_log_at ON audit_log (at);

    CREATE FUNCTION current_actor_id() RETURNS bigint LANGUAGE sql STABLE AS
      $$ SELECT nullif(current_setting('ducting.account_id', true), '')::bigint $$;

    CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

    CREATE FUNCTION audit_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    DECLARE
      dropped text[] := coalesce(TG_ARGV::text[], '{}');
      aid bigint := current_actor_id();
      arole text := nullif(current_setting('ducting.role', true), '');
      aorg bigint := nullif(current_setting('ducting.organisation_id', true), '')::bigint;
      rid text := nullif(current_setting('ducting.request_id', true), '');
      addr text := nullif(current_setting('ducting.client_addr', true), '');
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, new)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, n.j->>'id', 'insert', n.j
        FROM (SELECT to_jsonb(r) - dropped AS j FROM new_rows r) n;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, old, new)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, n.j->>'id', 'update', o.j, n.j
        FROM (SELECT to_jsonb(r) - dropped AS j FROM new_rows r) n
        JOIN (SELECT to_jsonb(r) - dropped AS j FROM old_rows r) o ON o.j->'id' = n.j->'id';
      ELSE
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, old)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, o.j->>'id', 'delete', o.j
        FROM (SELECT to_jsonb(r) - dropped AS j FROM old_rows r) o;
      END IF;
      RETURN NULL;
    END $$;

    CREATE FUNCTION versioning() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    DECLARE
      at timestamptz := clock_timestamp();  -- each statement is a version, even inside one transaction
    BEGIN
      IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
        NEW.sys_period := tstzrange(at, NULL);
        NEW.updated_by := current_actor_id();
        NEW.updated_at := at;
        RETURN NEW;
      END IF;
      OLD.sys_period := tstzrange(lower(OLD.sys_period), at, '[)');
      EXECUTE format('INSERT INTO %I.%I SELECT ($1).*', TG_TABLE_SCHEMA, TG_TABLE_NAME || '_history') USING OLD;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      NEW.version := OLD.version + 1;
      NEW.sys_period := tstzrange(at, NULL);
      NEW.updated_by := current_actor_id();
      NEW.updated_at := at;
      RETURN NEW;
    END $$;
    """)
    for table in VERSIONED_TABLES:
        op.execute(f"""
        CREATE TABLE {table}_history (LIKE {table});
        ALTER TABLE {table}_history ADD COLUMN history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
        CREATE INDEX ix_{table}_history_id ON {table}_history (id);
        CREATE INDEX ix_{table}_history_period ON {table}_history USING gist (sys_period);
        CREATE TRIGGER {table}_versioning BEFORE INSERT OR UPDATE OR DELETE ON {table}
          FOR EACH ROW EXECUTE FUNCTION versioning();
        """)
    for table in ("node", "route_segment"):
        op.execute(f"CREATE INDEX ix_{table}_history_geom ON {table}_history USING gist (geom)")
    for table in AUDITED_TABLES:
        args = ", ".join(f"'{c}'" for c in AUDIT_DROP.get(table, ()))
        for event, ref in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            op.execute(f"""CREATE TRIGGER {table}_audit_{event.lower()} AFTER {event} ON {table}
                REFERENCING {ref} FOR EACH STATEMENT EXECUTE FUNCTION audit_rows({args})""")
    op.execute(f"""
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE};
        GRANT SELECT ON audit_log TO {APP_ROLE};
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {", ".join(t + "_history" for t in VERSIONED_TABLES)} FROM {APP_ROLE};
      END IF;
    END $$""")


def downgrade() -> None:
    for table in AUDITED_TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_audit_{event} ON {table}")
    for table in VERSIONED_TABLES:
        op.execute(f"DROP TRIGGER {table}_versioning ON {table}; DROP TABLE {table}_history")
    op.execute("""
    DROP FUNCTION versioning(); DROP FUNCTION audit_rows();
    DROP TABLE audit_log; DROP FUNCTION audit_log_is_append_only(); DROP FUNCTION current_actor_id();
    """)
