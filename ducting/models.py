"""Imports every domain's models so that `Base.metadata` knows all tables (Alembic, tests)."""

from ducting.accounts import models as accounts  # noqa: F401
from ducting.network import models as network  # noqa: F401
