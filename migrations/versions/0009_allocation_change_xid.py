"""Allocations carry the id of the transaction that last wrote them (`change_xid`), so the in-memory capacity
graph can pick up exactly the rows that changed since its last look.

The first version compared `changed_at` with a 60-second safety margin (a timestamp is taken before commit, so
a later-committing transaction can carry an earlier time). Under load that margin re-read every allocation
written in the last minute on every route search. Transaction ids give an exact rule instead: a row whose
writer's id is below the `xmin` of the previous look's snapshot was already visible to that look.

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE allocation ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX ix_allocation_change_xid ON allocation (change_xid);
    CREATE OR REPLACE FUNCTION allocation_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.changed_at := clock_timestamp();
      NEW.change_xid := pg_current_xact_id();
      NEW.version := OLD.version + 1;
      RETURN NEW;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    CREATE OR REPLACE FUNCTION allocation_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.changed_at := clock_timestamp();
      NEW.version := OLD.version + 1;
      RETURN NEW;
    END $$;
    ALTER TABLE allocation DROP COLUMN change_xid;
    """)
