"""Reads that may come from a read replica, and the one rule for when they do.

What reads from the replica: the routes that take `ReadSessionDep` instead of `SessionDep` (map items and the other
OGC collection reads, the network summary and export, the SLA report, revenue reports and the books' exports, the
audit CSV) and the vector tiles (their own pool, `ducting.network.tiles`). Everything else reads the primary:
every write, the editor's own feature reads, a request after its submit, the capacity graph's look (which must see
exactly what the bookings lock). A browser that has just written (a 2xx answer to a POST/PUT/PATCH/DELETE) carries
the `bedelau_rw` cookie for `DUCTING_REPLICA_MAX_LAG_S` seconds, and its replica reads go to the primary meanwhile,
so the editor after a save and the operator after a submit see their own writes.

When: the monitor (one task per process, every `DUCTING_REPLICA_CHECK_INTERVAL_S`) reads the primary's WAL position
and then the replica's replay position. A replica that has replayed what the primary had is caught up (lag 0);
otherwise its lag is the time since it last was. A replica lagging more than `DUCTING_REPLICA_MAX_LAG_S`, or not
answering, is skipped until a later check finds it well again; a read that fails on the replica marks it down at
once and, for a GET, is run again on the primary before anything is answered (`ducting.ops.context`), so losing
the replica costs no request. The lag goes to `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ducting.db import SessionDep, get_engine, make_engine
from ducting.ops import metrics
from ducting.settings import Settings, get_settings

log = logging.getLogger("ducting.replica")
RW_COOKIE = "bedelau_rw"
REPLICA_TARGET = "ducting.read_target"  # scope key: where this request's read session went


def replica_url(settings: Settings) -> str | None:
    """`DATABASE_REPLICA_URL`; with the local cluster (no `DATABASE_URL`), the local replica when there is one."""
    if settings.db.replica_url:
        return settings.db.replica_url
    if settings.db.url:
        return None
    from ducting.localrepl import LocalReplica

    replica = LocalReplica.from_settings(settings)
    return replica.url() if replica.initialised() else None


def _lsn(value: str | None) -> int | None:
    if not value:
        return None
    hi, lo = value.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).splitlines() or [type(orig).__name__])[0]


class ReadRouter:
    """One per process: the replica's engine and its measured health."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._url: str | None = None
        self.usable = False  # until a check has measured it
        self.lag_s: float | None = None
        self.lag_bytes: int | None = None
        self.reason = "not checked yet"
        self._caught_up_at: float | None = None
        self._task: asyncio.Task | None = None
        self._url_known: tuple[str | None] | None = None

    def url(self) -> str | None:
        """The replica's URL, worked out once per process (finding the local replica looks at the disk)."""
        if self._url_known is None:
            self._url_known = (replica_url(get_settings()),)
        return self._url_known[0]

    def forget(self) -> None:
        """Work the URL and the replica's health out again (tests; a changed setting)."""
        self._url_known = None
        self.usable, self.reason = False, "not checked yet"

    def engine(self) -> Engine | None:
        url = self.url()
        if url is None:
            return None
        if self._engine is None or url != self._url:
            settings = get_settings()
            self._engine = make_engine(
                url, pool_size=settings.db.pool_size, statement_timeout_ms=settings.db.statement_timeout_ms
            )
            self._url = url
        return self._engine

    def wants_replica(self, rw_cookie: str | None) -> bool:
        """Whether a read should go to the replica now, for a caller whose `bedelau_rw` cookie is `rw_cookie`."""
        if not self.usable:
            return False
        if rw_cookie:
            try:
                return float(rw_cookie) < time.time()
            except ValueError:
                return True
        return True

    def mark_down(self, why: str) -> None:
        if self.usable:
            log.warning("read replica skipped: %s", why)
        self.usable, self.reason = False, why
        metrics.REPLICA_USABLE.set(0)

    # -- measuring ------------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Measure the replica's lag once and decide whether reads may go there (blocking: run it in a thread)."""
        engine = self.engine()
        if engine is None:
            return
        max_lag = get_settings().db.replica_max_lag_s
        primary_lsn = None
        with contextlib.suppress(DBAPIError), get_engine().connect() as conn:
            primary_lsn = _lsn(
                conn.execute(
                    text("SELECT CAST(CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END AS text)")
                ).scalar()
            )
        try:
            with engine.connect() as conn:
                in_recovery, replay, replay_age = conn.execute(
                    text(
                        "SELECT pg_is_in_recovery(), CAST(pg_last_wal_replay_lsn() AS text),"
                        " extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                    )
                ).one()
        except DBAPIError as exc:
            self.mark_down(f"not reachable: {_first_line(exc)}")
            return
        now = time.monotonic()
        replayed = _lsn(replay) or 0
        if not in_recovery or (primary_lsn is not None and replayed >= primary_lsn):
            # caught up (or promoted, and so a primary itself: as current as anything can be)
            self._caught_up_at, self.lag_bytes, lag = now, 0, 0.0
        else:
            if primary_lsn is not None:
                self.lag_bytes = primary_lsn - replayed
            if self._caught_up_at is not None:
                lag = now - self._caught_up_at
            else:  # never seen caught up: the age of its last replayed commit is the best bound there is
                lag = float(replay_age) if replay_age is not None else math.inf
        self.lag_s = lag
        metrics.REPLICA_LAG_SECONDS.set(lag if math.isfinite(lag) else 1e9)
        metrics.REPLICA_LAG_BYTES.set(self.lag_bytes or 0)
        if lag > max_lag:
            self.mark_down(f"lagging {lag:.1f} s (more than {max_lag:g} s)")
            return
        if not self.usable:
            log.info("read replica in use (lag %.3f s)", lag)
        self.usable, self.reason = True, "ok"
        metrics.REPLICA_USABLE.set(1)

    def sample_pools(self) -> None:
        metrics.sample_pool("primary", get_engine().pool)
        if self._engine is not None:
            metrics.sample_pool("replica", self._engine.pool)

    async def _run(self, interval_s: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.check)
                self.sample_pools()
            except Exception:  # the monitor must outlive anything one check meets
                log.exception("replica check failed")
            await asyncio.sleep(interval_s)

    async def start(self) -> None:
        if self.url() is not None and self._task is None:
            self._task = asyncio.create_task(self._run(get_settings().db.replica_check_interval_s), name="replica")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


READS = ReadRouter()


def _primary(request: Request) -> Engine:
    return getattr(request.app.state, "engine", None) or get_engine()


async def get_read_session(request: Request, session: SessionDep) -> Session:
    """The request's session, bound to the replica when reads may go there. Declare it before the caller check
    (`session: ReadSessionDep, actor: ReaderDep`): the caller's identity is then written into the replica's
    transaction, as row-level security needs. A session that has begun already (or a test's) stays where it is."""
    if (
        session.bind is _primary(request)
        and not session.in_transaction()
        and not request.scope.get("ducting.force_primary")
        and READS.wants_replica(request.cookies.get(RW_COOKIE))
    ):
        replica = READS.engine()
        if replica is not None:
            session.bind = replica
            session.info["read_replica"] = True
            request.scope[REPLICA_TARGET] = "replica"
            metrics.READ_SESSIONS.labels("replica").inc()
            return session
    metrics.READ_SESSIONS.labels("primary").inc()
    return session


def back_to_primary(request: Request, session: Session) -> bool:
    """Move a read session that is on the replica back to the primary (ending its transaction there). For a
    token the replica does not know yet: one issued a moment ago on the primary. Returns whether it moved."""
    if not session.info.pop("read_replica", False):
        return False
    session.rollback()
    session.bind = _primary(request)
    request.scope[REPLICA_TARGET] = "primary"
    return True


ReadSessionDep = Annotated[Session, Depends(get_read_session)]
