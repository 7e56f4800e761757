"""The database refuses to decommission or delete a segment, duct or subduct under a lease, not only the hooks.

Removing network that a lease still needs was refused by the delete blockers the app factory registers
(`ducting.leasing.hooks`), so a path that bypasses them (a bulk import, a script, SQL run as the application
role) could strand a lease. A row trigger on `route_segment`, `duct` and `subduct` now refuses the same thing
whatever the path: turning the row `decommissioned`, or deleting it, while an allocation on it holds space today
or on a later day (`allocation_holds_space_from`, migration 0034, the rule the hooks ask too).

The refusal is `restrict_violation` (SQLSTATE 23001) naming the constraint `lease_blocks_removal`, with
the removed object and its blocking allocations as JSON in its DETAIL (`{"ref", "blockers": [{"type", "id", "label"}]}`); `ducting.errors`
translates it to the hooks' 409 `delete_blocked` with that list. Holdings are read through
`allocation_occupancy`, so every operator's lease counts whoever removes the row.

Revision ID: 0035
"""

from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

# table -> how its allocations are found (OLD is the row being removed)
TABLES = {
    "route_segment": "a.segment_id = OLD.id",
    "duct": "a.subduct_id IN (SELECT x.id FROM subduct x WHERE x.duct_id = OLD.id)",
    "subduct": "a.subduct_id = OLD.id",
}
WHAT = {"route_segment": "segment", "duct": "duct", "subduct": "subduct"}
REF = {"route_segment": "OLD.code", "duct": "OLD.id::text", "subduct": "OLD.id::text"}  # how a person names it


def upgrade() -> None:
    for table, where in TABLES.items():
        op.execute(f"""
        CREATE FUNCTION {table}_refuse_removal_under_lease() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE blockers jsonb;
        BEGIN
          SELECT jsonb_agg(jsonb_build_object(
                   'type', 'allocation', 'id', a.id,
                   'label', 'lease of ' || coalesce(o.code, 'another operator') || ' since ' || lower(a.period))
                 ORDER BY a.id)
            INTO blockers
          FROM allocation_occupancy a LEFT JOIN organisation o ON o.id = a.operator_id
          WHERE {where}
            AND allocation_holds_space_from(a.status, a.hold_expires_at, a.period, CURRENT_DATE, now());
          IF blockers IS NOT NULL THEN
            RAISE EXCEPTION '{WHAT[table]} % still carries % lease(s) that hold space today or later', OLD.id,
                  jsonb_array_length(blockers)
              USING ERRCODE = 'restrict_violation', CONSTRAINT = 'lease_blocks_removal', TABLE = '{table}',
                    DETAIL = jsonb_build_object('ref', {REF[table]}, 'blockers', blockers)::text,
                    HINT = 'end or move the leases first';
          END IF;
          RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$;
        CREATE TRIGGER {table}_lease_blocks_removal BEFORE UPDATE OF status ON {table} FOR EACH ROW
          WHEN (NEW.status = 'decommissioned' AND OLD.status <> 'decommissioned')
          EXECUTE FUNCTION {table}_refuse_removal_under_lease();
        CREATE TRIGGER {table}_lease_blocks_delete BEFORE DELETE ON {table} FOR EACH ROW
          EXECUTE FUNCTION {table}_refuse_removal_under_lease();
        """)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"""
        DROP TRIGGER {table}_lease_blocks_delete ON {table};
        DROP TRIGGER {table}_lease_blocks_removal ON {table};
        DROP FUNCTION {table}_refuse_removal_under_lease();
        """)
