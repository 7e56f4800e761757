"""Background jobs: work that runs on a clock, not on a request (the leasing sweeper today; a notification worker
next). Each job is a blocking function that returns how much it did; a runner calls it every `interval_s` seconds
in a worker thread, and every run is counted in `/metrics` (`ducting_background_runs_total{job, outcome}`, its
duration, the time of the last success), whatever the job.

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

    return [sweeper_job(settings)]


def service_jobs(settings: Settings) -> list[Job]:
    return all_jobs(settings) if settings.ops.jobs_in_service else []


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
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = [j for j in jobs if j.interval_s > 0]
        self.tasks: list[asyncio.Task] = []

    async def _loop(self, job: Job) -> None:
        while True:
            await asyncio.sleep(job.interval_s)
            await asyncio.to_thread(run_once, job)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._loop(j), name=j.name) for j in self.jobs]

    async def stop(self) -> None:
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
