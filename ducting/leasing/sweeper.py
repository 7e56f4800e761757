"""The clock that runs without anyone booking: every `DUCTING_LEASING_SWEEP_INTERVAL_S` seconds each service
process (or the one `ducting worker`, ducting.ops.jobs) files lapsed holds as expired and starts accepted leases
whose first day has come (`expire_stale`).

Bookings already do the same at their start, and readers already show a lapsed hold as expired, so the sweep
only keeps the stored state true on a quiet day. Several processes may sweep at once: the UPDATEs re-check their
conditions after waiting on each other's row locks, so a request is expired (and its event written) once.
"""

from __future__ import annotations

import asyncio

from ducting.db import Actor, open_session
from ducting.ops.jobs import Job
from ducting.settings import Settings


def sweep_once() -> int:
    from ducting.leasing.service import expire_stale

    with open_session(Actor.system("sweeper")) as session:
        changed = expire_stale(session)
        session.commit()
    return changed


def sweeper_job(settings: Settings) -> Job:
    return Job("leasing_sweeper", settings.leasing.sweep_interval_s, sweep_once)


async def warm_calendar() -> None:
    """Working out a year's holidays takes a moment: at start-up, not in the first request's time."""
    from ducting.calendar import closed_days, today

    year = today().year
    await asyncio.to_thread(lambda: [closed_days(y) for y in (year, year + 1)])
