"""The clock that runs without anyone booking: every `DUCTING_LEASING_SWEEP_INTERVAL_S` seconds each service
process files lapsed holds as expired and starts accepted leases whose first day has come (`expire_stale`).

Bookings already do the same at their start, and readers already show a lapsed hold as expired, so the sweep
only keeps the stored state true on a quiet day. Several processes may sweep at once: the UPDATEs re-check their
conditions after waiting on each other's row locks, so a request is expired (and its event written) once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import DBAPIError

from ducting.db import Actor, open_session
from ducting.settings import get_settings

log = logging.getLogger("ducting.sweeper")


def sweep_once() -> int:
    from ducting.leasing.service import expire_stale

    with open_session(Actor.system("sweeper")) as session:
        changed = expire_stale(session)
        session.commit()
    return changed


async def _run(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            changed = await asyncio.to_thread(sweep_once)
            if changed:
                log.info("sweeper: %d request(s) expired or started", changed)
        except DBAPIError as exc:  # the database is away: try again next round
            log.warning("sweeper: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)


class Sweeper:
    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        from ducting.calendar import closed_days, today

        year = today().year  # working out a year's holidays takes a moment: not in the first request's time
        await asyncio.to_thread(lambda: [closed_days(y) for y in (year, year + 1)])
        interval = get_settings().leasing.sweep_interval_s
        if interval > 0:
            self.task = asyncio.create_task(_run(interval), name="leasing-sweeper")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
