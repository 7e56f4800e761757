"""Bind an account to one single sign-on identity (issuer + `sub`) at its first sign-on.

Accounts were found by the provider's `preferred_username` (or verified e-mail) on every sign-on. A username is
a label the provider may reassign; `sub` is the identity it promises never to reuse. The first sign-on now
records (issuer, sub) on the account; later sign-ons find the account by that pair, and a different `sub`
presenting the same username is refused until an admin unlinks the account.

Revision ID: 0033
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE account ADD COLUMN oidc_issuer text, ADD COLUMN oidc_subject text,
      ADD CONSTRAINT ck_account_oidc_pair CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL)),
      ADD CONSTRAINT ck_account_oidc_subject CHECK (oidc_subject IS NULL OR length(oidc_subject) BETWEEN 1 AND 255),
      ADD CONSTRAINT uq_account_oidc UNIQUE (oidc_issuer, oidc_subject);
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE account DROP CONSTRAINT uq_account_oidc, DROP CONSTRAINT ck_account_oidc_subject,
      DROP CONSTRAINT ck_account_oidc_pair, DROP COLUMN oidc_subject, DROP COLUMN oidc_issuer;
    """)
