"""A planned migration case closes itself when a later survey shows the operator's cable gone from the span.

A case is opened `planned` for each operator whose cable a duct could take (the duct_available rule). When the
cable comes down without being pulled into the duct (the operator moved it elsewhere, or gave the route up), no
SJUT step will ever follow; the case used to stay planned for good. It now records its closing: the survey that
showed the cable gone (`closed_survey_id`), that survey's day (`closed_on`) and why (`closed_reason`). Only a
planned case closes this way: one under way follows SJUT to the end (cut-over cases complete at
`aerial_removed`). A closed case opens again, as planned, if the rule finds the operator's cable there once more.

Revision ID: 0036
"""

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE migration_case
      ADD COLUMN closed_on date,
      ADD COLUMN closed_survey_id bigint REFERENCES survey_round(id),
      ADD COLUMN closed_reason text,
      ADD CONSTRAINT ck_migration_closed_planned CHECK (closed_on IS NULL OR stage = 'planned'),
      ADD CONSTRAINT ck_migration_closed_reason CHECK ((closed_on IS NULL) = (closed_reason IS NULL));
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE migration_case DROP CONSTRAINT ck_migration_closed_reason, DROP CONSTRAINT ck_migration_closed_planned,
      DROP COLUMN closed_reason, DROP COLUMN closed_survey_id, DROP COLUMN closed_on;
    """)
