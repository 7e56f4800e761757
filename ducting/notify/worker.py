"""The delivery worker: in each service process (like the leasing sweeper) or alone as `ducting worker`.

It keeps up to `concurrency` sends in flight (at most `per_endpoint_concurrency` per webhook, so one slow or dead
receiver holds only its own share while the others keep flowing), claims more as sends finish, and writes the
outcomes in batches. It wakes on `pg_notify('notification_delivery')`, sent by the transaction that queued the
deliveries when it commits, and polls every `poll_interval_s` besides (retries and digests come due by the clock,
and a notification can be missed while the listening connection is down). Every `clock_interval_s` it also runs
the clock (`ducting.notify.clock`). Any number of workers may run at once; see `ducting.notify.delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ducting.db import Actor, get_engine, open_session
from ducting.notify import delivery
from ducting.notify.clock import run_clock
from ducting.notify.settings import NotifySettings, SmtpSettings, get_notify_settings, get_smtp_settings
from ducting.notify.ssrf import Guard

log = logging.getLogger("ducting.notify")
CHANNEL = "notification_delivery"


def system_sessions(engine: Engine) -> delivery.Sessions:
    @contextmanager
    def scope() -> Iterator[Session]:
        with open_session(Actor.system("notify worker"), bind=engine) as session:
            yield session

    return scope


class Worker:
    def __init__(
        self,
        sessions: delivery.Sessions,
        *,
        settings: NotifySettings | None = None,
        smtp: SmtpSettings | None = None,
        guard: Guard | None = None,
        listen_url: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings or get_notify_settings()
        self.smtp = smtp or get_smtp_settings()
        self.guard = guard or Guard(self.settings)
        self.listen_url = listen_url
        self._wake = asyncio.Event()
        self._in_flight: dict[int, int] = {}  # endpoint id -> sends in flight (e-mail under 0)
        self._outcomes: list[delivery.Outcome] = []
        self.delivered = 0

    # -- one round, for tests and `ducting worker --once` ----------------------------------------------------------
    async def run_once(self) -> int:
        """Claim one batch, send it, record it. Returns how many deliveries were attempted."""
        claimed = await asyncio.to_thread(delivery.claim, self.sessions, self.settings, limit=self.settings.batch_size)
        if not claimed.rows:
            return 0
        async with delivery.WebhookSender(self.settings, self.guard) as sender:
            outcomes = await delivery.deliver(
                claimed.token, claimed.rows, sender=sender, smtp=self.smtp, public_url=self.settings.public_url
            )
        await asyncio.to_thread(delivery.record, self.sessions, self.settings, outcomes)
        return len(outcomes)

    def drain(self, *, rounds: int = 50) -> int:
        """Run rounds until nothing is due (blocking). Returns how many deliveries were attempted."""
        total = 0
        for _ in range(rounds):
            n = asyncio.run(self.run_once())
            if not n:
                break
            total += n
        return total

    # -- running -----------------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._record_loop(stop), name="notify-record")]
        if self.listen_url:
            tasks.append(asyncio.create_task(self._listen(stop), name="notify-listen"))
        sends: set[asyncio.Task] = set()
        try:
            async with delivery.WebhookSender(self.settings, self.guard) as sender:
                while not stop.is_set():
                    self._wake.clear()  # before claiming: a send that ends meanwhile wakes the wait below at once
                    started = await self._claim_and_start(sender, sends)
                    if started:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)
                if sends:
                    await asyncio.wait(sends, timeout=self.settings.webhook_timeout_s)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush()

    async def _claim_and_start(self, sender: delivery.WebhookSender, sends: set[asyncio.Task]) -> int:
        room = self.settings.concurrency - sum(self._in_flight.values())
        if room <= 0:
            return 0
        # an endpoint half way to its cap waits for its sends to end before more are claimed: claims stay a batch
        # each rather than one row per finished send (each claim is a transaction)
        half = max(self.settings.per_endpoint_concurrency // 2, 1)
        busy = [e for e, n in self._in_flight.items() if e > 0 and n >= half]
        try:
            claimed = await asyncio.to_thread(
                delivery.claim, self.sessions, self.settings, limit=min(room, self.settings.batch_size), busy=busy
            )
        except DBAPIError as exc:  # the database is away: try again shortly
            log.warning("notify worker: claim failed: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
            await asyncio.sleep(2)
            return 0
        except Exception:  # a bug must not end the worker for good
            log.exception("notify worker: claim failed")
            await asyncio.sleep(2)
            return 0
        mails = [r for r in claimed.rows if r.channel == "email"]
        # one task per webhook delivery; one for the claim's e-mails, which share an SMTP connection
        batches = [([r], r.endpoint_id) for r in claimed.rows if r.channel == "webhook"]
        batches += [(mails, -1)] if mails else []
        for rows, key in batches:
            self._in_flight[key] = self._in_flight.get(key, 0) + len(rows)
            task = asyncio.create_task(self._send(sender, claimed.token, rows, key))
            sends.add(task)
            task.add_done_callback(sends.discard)
        return len(claimed.rows)

    async def _send(self, sender: delivery.WebhookSender, token: Any, rows: list[Any], key: int) -> None:
        try:
            outcomes = await delivery.deliver(
                token, rows, sender=sender, smtp=self.smtp, public_url=self.settings.public_url
            )
            self._outcomes.extend(outcomes)
        except Exception:  # a bug must not stop the worker; the claim times out and the rows are tried again
            log.exception("notify worker: sending %d deliveries failed", len(rows))
        finally:
            self._in_flight[key] -= len(rows)
            self._wake.set()

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []  # on the event loop: no send is adding meanwhile
        if outcomes:
            await asyncio.to_thread(delivery.record, self.sessions, self.settings, outcomes)
            self.delivered += sum(o.ok for o in outcomes)

    async def _record_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.05)
            try:
                await self._flush()
            except DBAPIError as exc:  # the outcomes are lost; the claims time out and the rows are sent again
                log.warning("notify worker: recording failed: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)

    def clock_once(self) -> dict[str, int]:
        with self.sessions() as session:
            written = run_clock(session, settings=self.settings)
            session.commit()
        return {k: v for k, v in written.items() if v}

    async def _listen(self, stop: asyncio.Event) -> None:
        import psycopg

        assert self.listen_url is not None

        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # whatever was queued while we were not listening
                    while not stop.is_set():
                        async for _ in conn.notifies(timeout=1.0):
                            self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("notify worker: listening failed (%s); polling meanwhile", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2)


def libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def clock_job(settings: NotifySettings | None = None) -> int:
    """The time-driven events (holds expiring, leases ended, invoices overdue, cases due), once: a job of
    `ducting.ops.jobs`, run on its clock beside the sweeper. Returns how many events it wrote."""
    written = Worker(system_sessions(get_engine()), settings=settings).clock_once()
    if written:
        log.info("notify clock: %s", written)
    return sum(written.values())


class DeliveryLoop:
    """The delivery worker as a task beside the jobs (in a service process, or in `ducting worker`): woken by
    LISTEN, several of them never send one delivery twice at once (`SKIP LOCKED` claims)."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None
        self.stop_event: asyncio.Event | None = None

    async def start(self) -> None:
        engine = get_engine()
        worker = Worker(system_sessions(engine), listen_url=libpq_url(engine))
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(worker.run(self.stop_event), name="notify-worker")

    async def stop(self) -> None:
        if self.task is not None and self.stop_event is not None:
            self.stop_event.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, timeout=5)
            self.task = None


def deliver_until_idle() -> int:
    """`ducting worker --once`: deliveries until nothing is due. Returns how many were attempted."""
    return Worker(system_sessions(get_engine())).drain()
