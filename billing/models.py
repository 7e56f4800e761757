"""Tables of this domain (created by its Alembic migrations)."""
