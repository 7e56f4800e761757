"""Request references from a sequence: no row lock held until commit.

The REQ counter was a gapless `number_series` row, locked from the moment a submit took its number until the
transaction committed, so every submit in the city waited for the one before it to write its whole route
(seconds under load). A request reference only has to be unique and rising; gaps after a rolled-back submit are
harmless, unlike invoice numbers (which stay gapless, billing/numbering) and PKS contract numbers (taken last,
just before commit).

Revision ID: 0031
"""

from alembic import op

from ducting.localdb import APP_ROLE

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"""
    CREATE SEQUENCE capacity_request_reference_seq;
    SELECT setval('capacity_request_reference_seq',
                  greatest(1, coalesce((SELECT max(last_value) FROM number_series WHERE series = 'REQ'), 0)),
                  (SELECT count(*) > 0 FROM number_series WHERE series = 'REQ'));
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT USAGE ON SEQUENCE capacity_request_reference_seq TO {APP_ROLE};
      END IF;
    END $$;
    """)


def downgrade() -> None:
    op.execute("DROP SEQUENCE capacity_request_reference_seq")
