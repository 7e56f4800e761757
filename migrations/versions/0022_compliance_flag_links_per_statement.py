"""Compliance: a flag's evidence links are checked once per statement, not once per row.

A full rule run writes ~500k flags in one INSERT. Each declared foreign key fires a row trigger that runs its own
query (about 5 µs each); three of them (observation, survey, run) cost more than writing the rows. They are
replaced by one statement-level trigger that checks every new or changed row of the statement with one
anti-join over its transition table, and raises `foreign_key_violation` naming the first dangling link.

A foreign key also protects the other side: a referenced row cannot be deleted. Here the referenced rows are
records that are never deleted at all: an observation is evidence, a survey round and an evaluation run are
history. Triggers refuse DELETE, TRUNCATE and a change of `id` on those three tables, for every role, so no link
can dangle later and no concurrent delete can race the check. (The account links of a flag stay declared
foreign keys: they are written one flag at a time.)

The live-flag unique index leads with `subject_id`: most comparisons end on the integer instead of comparing
two strings under the database collation. Same columns, same uniqueness.

Revision ID: 0022
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# column -> the table it points at
LINKS = {"observation_id": "observation", "raised_survey_id": "survey_round", "opened_run_id": "evaluation_run"}
FKEYS = {
    "observation_id": "compliance_flag_observation_id_fkey",
    "raised_survey_id": "compliance_flag_raised_survey_id_fkey",
    "opened_run_id": "compliance_flag_opened_run_id_fkey",
}
RECORDS = ("observation", "survey_round", "evaluation_run")


def upgrade() -> None:
    for fkey in FKEYS.values():
        op.execute(f"ALTER TABLE compliance_flag DROP CONSTRAINT {fkey}")
    # one anti-join per link (UNION ALL), not an OR of correlated subqueries: each is a single hash join
    dangling = "\n      UNION ALL ".join(
        f"SELECT n.id, '{col}', n.{col}, '{table}' FROM new_rows n WHERE n.{col} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = n.{col})"
        for col, table in LINKS.items()
    )
    op.execute(f"""
    -- SECURITY DEFINER: like a foreign key, the check sees every referenced row, whatever row-level security hides
    CREATE FUNCTION compliance_flag_check_links() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    DECLARE bad record;
    BEGIN
      SELECT * INTO bad FROM (
      {dangling}) AS q(flag_id, col, value, target)
      LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'compliance_flag %: % % is not in %', bad.flag_id, bad.col, bad.value, bad.target
          USING ERRCODE = 'foreign_key_violation', TABLE = 'compliance_flag', COLUMN = bad.col;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER compliance_flag_links_insert AFTER INSERT ON compliance_flag
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION compliance_flag_check_links();
    CREATE TRIGGER compliance_flag_links_update AFTER UPDATE ON compliance_flag
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION compliance_flag_check_links();

    CREATE FUNCTION refuse_record_removal() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% rows are records that flags point at: they are never deleted or renumbered', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME;
    END $$;
    """)
    for table in RECORDS:
        op.execute(f"""
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
          FOR EACH ROW EXECUTE FUNCTION refuse_record_removal();
        CREATE TRIGGER {table}_no_renumber BEFORE UPDATE OF id ON {table}
          FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION refuse_record_removal();
        CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_removal();
        """)
    op.execute("""
    DROP INDEX uq_flag_live;
    CREATE UNIQUE INDEX uq_flag_live ON compliance_flag (subject_id, rule, subject_kind)
        WHERE status IN ('open', 'acknowledged', 'waived');
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX uq_flag_live;
    CREATE UNIQUE INDEX uq_flag_live ON compliance_flag (rule, subject_kind, subject_id)
        WHERE status IN ('open', 'acknowledged', 'waived');
    """)
    for table in RECORDS:
        op.execute(f"""DROP TRIGGER {table}_no_delete ON {table}; DROP TRIGGER {table}_no_renumber ON {table};
                       DROP TRIGGER {table}_no_truncate ON {table}""")
    op.execute("""
    DROP FUNCTION refuse_record_removal();
    DROP TRIGGER compliance_flag_links_insert ON compliance_flag;
    DROP TRIGGER compliance_flag_links_update ON compliance_flag;
    DROP FUNCTION compliance_flag_check_links();
    """)
    for col, fkey in FKEYS.items():
        op.execute(f"ALTER TABLE compliance_flag ADD CONSTRAINT {fkey} FOREIGN KEY ({col}) REFERENCES {LINKS[col]}(id)")
