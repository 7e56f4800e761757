"""Extensions and the application role's default privileges.

Creating postgis/pgrouting needs a superuser; `ducting db up` creates them as one, so here they are usually
already present and `IF NOT EXISTS` makes this a no-op. Tables created later by the owner are readable and
writable by the application role, unless a later migration takes a privilege back (audit log: append-only).

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

from ducting.localdb import APP_ROLE  # noqa: E402


def upgrade() -> None:
    for ext in ("postgis", "pgrouting", "btree_gist", "pgcrypto"):
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    op.execute(f"""
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        GRANT USAGE ON SCHEMA public TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
      END IF;
    END $$""")


def downgrade() -> None:
    op.execute(f"""
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE};
      END IF;
    END $$""")
