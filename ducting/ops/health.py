"""`/healthz`: the process answers. `/readyz`: the database answers and its migrations are the code's heads (a
process that is up but would fail every request, or run on a schema it does not know, is not ready). A load
balancer sends traffic on readyz; a supervisor restarts on healthz."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ducting.db import get_engine


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The Alembic heads this code expects (read once from migrations/versions)."""
    from alembic.script import ScriptDirectory

    from ducting.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def readiness(engine=None) -> tuple[bool, dict[str, Any]]:
    """(ready, details). Blocking: call it from a worker thread."""
    from ducting.replica import READS

    details: dict[str, Any] = {"database": "ok"}
    try:
        with (engine or get_engine()).connect() as conn:
            have = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            conn.rollback()
    except DBAPIError as exc:
        orig = exc.orig or exc
        details["database"] = (str(orig).splitlines() or [type(orig).__name__])[0]
        return False, details
    want = code_heads()
    details["migrations"] = {"database": sorted(have), "code": sorted(want)}
    ready = have == set(want)
    if not ready:
        details["migrations"]["problem"] = "the database is not at the code's migration heads: run `ducting db migrate`"
    if READS.url() is not None:
        details["replica"] = {"in_use": READS.usable, "lag_s": READS.lag_s, "state": READS.reason}
    return ready, details
