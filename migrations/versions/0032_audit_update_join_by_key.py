"""The audit trigger pairs an UPDATE's old and new rows by their id as text, computed once per row.

It compared `o.j->'id' = n.j->'id'` on jsonb built inside the join, which the planner ran as a nested loop that
rebuilt the rows' JSON for every pair: an update of 156 held allocations (approving one route) spent 475 ms in
the trigger, against 10 ms for the update itself. Materialised once and joined on a text key, it is a hash join.

Revision ID: 0032
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_HEAD = """
    CREATE OR REPLACE FUNCTION audit_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
"""
_UPDATE_NEW = """
        WITH n AS MATERIALIZED (SELECT j->>'id' AS k, j FROM (SELECT to_jsonb(r) - dropped AS j FROM new_rows r) x),
             o AS MATERIALIZED (SELECT j->>'id' AS k, j FROM (SELECT to_jsonb(r) - dropped AS j FROM old_rows r) y)
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, old, new)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, n.k, 'update', o.j, n.j
        FROM n JOIN o ON o.k = n.k;
"""
_UPDATE_OLD = """
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, old, new)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, n.j->>'id', 'update', o.j, n.j
        FROM (SELECT to_jsonb(r) - dropped AS j FROM new_rows r) n
        JOIN (SELECT to_jsonb(r) - dropped AS j FROM old_rows r) o ON o.j->'id' = n.j->'id';
"""
_TAIL = """
      ELSE
        INSERT INTO audit_log (account_id, role, organisation_id, request_id, client_addr, table_name, row_id, action, old)
        SELECT aid, arole, aorg, rid, addr, TG_TABLE_NAME, o.j->>'id', 'delete', o.j
        FROM (SELECT to_jsonb(r) - dropped AS j FROM old_rows r) o;
      END IF;
      RETURN NULL;
    END $$;
"""


def upgrade() -> None:
    op.execute(_HEAD + _UPDATE_NEW + _TAIL)


def downgrade() -> None:
    op.execute(_HEAD + _UPDATE_OLD + _TAIL)
