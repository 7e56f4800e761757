"""`/healthz`: the process answers. `/readyz`: the database answers and its migrations are the code's heads (a
process that is up but would fail every request, or run on a schema it does not know, is not ready). A load
balancer sends traffic on readyz; a supervisor restarts on healthz."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ducting.calendar import DEFAULT_ZONE_NAME
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


def session_setting_problems(engine=None) -> list[str]:
    """Behind a transaction pooler the service sends no per-connection settings, so the role must carry them
    (deploy/pgbouncer/pgbouncer.ini): what is missing, if anything. Blocking."""
    with (engine or get_engine()).connect() as conn:
        tz, timeout = conn.execute(
            text("SELECT current_setting('TimeZone'), current_setting('statement_timeout')")
        ).one()
        conn.rollback()
    problems = []
    if tz != DEFAULT_ZONE_NAME:
        problems.append(f"TimeZone is {tz!r}, not {DEFAULT_ZONE_NAME!r} (dates in WIB would be wrong)")
    if timeout in ("0", "0ms"):
        problems.append("statement_timeout is off (a runaway query would hold a pooled connection)")
    return problems
