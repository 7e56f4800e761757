"""Background jobs: work that runs on a clock, not on a request: the leasing sweeper and the notifications' clock
(holds expiring, leases ended, invoices overdue). Each job is a blocking function that returns how much it did; a
runner calls it every `interval_s` seconds in a worker thread, and every run is counted in `/metrics`
(`ducting_background_runs_total{job, outcome}`, its duration, the time of the last success), whatever the job.
Beside the jobs the runner keeps long-running loops: the notification delivery worker (`ducting.notify.worker`),
which LISTENs for new deliveries instead of waking on a clock.

Where they run: in each service process (the default, `DUCTING_JOBS_IN_SERVICE=true`), or in one `ducting worker`
process (production: deploy/systemd/bedelau-ducting-worker.service), with the service's turned off. Every job
must be safe with several runners at once (the sweeper's UPDATEs re-check their conditions under row locks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from ducting.ops import metrics
from ducting.settings import Settings

log = logging.getLogger("ducting.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float  # 0: never on a clock
    run: Callable[[], int]


def all_jobs(settings: Settings) -> list[Job]:
    from ducting.leasing.sweeper import sweeper_job
    from ducting.notify.settings import get_notify_settings
    from ducting.notify.worker import clock_job

    return [sweeper_job(settings), Job("notify_clock", get_notify_settings().clock_interval_s, clock_job)]


def service_jobs(settings: Settings) -> list[Job]:
    return all_jobs(settings) if settings.ops.jobs_in_service else []


def all_loops(settings: Settings) -> list[Loop]:
    """What `ducting worker` runs beside the jobs: the notification delivery worker, always."""
    from ducting.notify.worker import DeliveryLoop

    return [DeliveryLoop()]


def service_loops(settings: Settings) -> list[Loop]:
    """What a service process runs beside its requests: the delivery worker unless turned off for this process
    (`DUCTING_NOTIFY_WORKER_IN_PROCESS=false`) or with every background job (`jobs_in_service`)."""
    from ducting.notify.settings import get_notify_settings

    if not (settings.ops.jobs_in_service and get_notify_settings().worker_in_process):
        return []
    return all_loops(settings)


class Loop(Protocol):
    """A long-running background task: started and stopped with the runner."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def run_once(job: Job) -> int | None:
    """Run `job` once, counted and timed. A database that is away is logged, not raised: the next run tries again."""
    started = time.perf_counter()
    outcome, done = "ok", None
    try:
        done = job.run()
    except DBAPIError as exc:
        outcome = "db_unavailable"
        log.warning("%s: %s", job.name, str(exc.orig).splitlines()[0] if exc.orig else exc)
    except Exception:
        outcome = "error"
        log.exception("%s failed", job.name)
    finally:
        metrics.BACKGROUND_RUNS.labels(job.name, outcome).inc()
        metrics.BACKGROUND_SECONDS.labels(job.name).observe(time.perf_counter() - started)
    if outcome == "ok":
        metrics.BACKGROUND_LAST_SUCCESS.labels(job.name).set(time.time())
        if done:
            log.info("%s: %d done", job.name, done)
    return done


class JobRunner:
    def __init__(self, jobs: list[Job], loops: list[Loop] | None = None) -> None:
        self.jobs = [j for j in jobs if j.interval_s > 0]
        self.loops = loops or []
        self.tasks: list[asyncio.Task] = []

    async def _loop(self, job: Job) -> None:
        while True:
            await asyncio.sleep(job.interval_s)
            await asyncio.to_thread(run_once, job)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._loop(j), name=j.name) for j in self.jobs]
        for loop in self.loops:
            await loop.start()

    async def stop(self) -> None:
        for loop in self.loops:
            await loop.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
