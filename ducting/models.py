"""Imports every domain's models so that `Base.metadata` knows all tables (Alembic, tests)."""

from billing import models as billing  # noqa: F401
from ducting.accounts import models as accounts  # noqa: F401
from ducting.cities import models as cities  # noqa: F401
from ducting.compliance import models as compliance  # noqa: F401
from ducting.leasing import models as leasing  # noqa: F401
from ducting.network import models as network  # noqa: F401
from ducting.notify import models as notify  # noqa: F401
