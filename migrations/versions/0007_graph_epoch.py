"""A network epoch for the in-memory routing graph: bumped when a change to segments, ducts or subducts
commits (deferred constraint triggers fire at commit), so a cached graph knows to reload.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("route_segment", "duct", "subduct")


def upgrade() -> None:
    op.execute("""
    CREATE SEQUENCE network_epoch;
    CREATE FUNCTION bump_network_epoch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    BEGIN
      PERFORM nextval('network_epoch');
      RETURN NULL;
    END $$;
    """)
    for table in TABLES:
        op.execute(f"""CREATE CONSTRAINT TRIGGER {table}_network_epoch AFTER INSERT OR UPDATE OR DELETE ON {table}
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_network_epoch()""")
    op.execute("""
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ducting_app') AND current_user <> 'ducting_app' THEN
        GRANT USAGE, SELECT ON SEQUENCE network_epoch TO ducting_app;
      END IF;
    END $$""")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_network_epoch ON {table}")
    op.execute("DROP FUNCTION bump_network_epoch(); DROP SEQUENCE network_epoch")
