"""Faults with real worker processes (`python -m ducting.cli worker`) on a database whose rows are committed:
a worker SIGKILLed in the middle of a send, receivers that answer 500 or never in time, and two workers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.notify.conftest import Receiver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture()
def db(scratch_database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(_libpq(scratch_database.owner_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organisation (code, name, kind, npwp) VALUES ('PROC', 'PT Proses', 'operator', '0123456789012345')"
        )
        yield conn


def _endpoint(db: psycopg.Connection, url: str) -> int:
    return db.execute(
        """INSERT INTO webhook_endpoint (operator_id, url, event_types, secret)
           SELECT id, %s, '{request.offered}', 'whsec_' || md5(random()::text) FROM organisation WHERE code = 'PROC'
           RETURNING id""",
        (url,),
    ).fetchone()[0]


def _emit(db: psycopg.Connection, n: int) -> list[str]:
    with db.transaction():
        return [
            str(
                db.execute(
                    """SELECT notify_emit('request.offered', (SELECT id FROM organisation WHERE code = 'PROC'),
                           'capacity_request:' || %s, jsonb_build_object('reference', 'REQ/2026/' || %s), NULL)""",
                    (i, i),
                ).fetchone()[0]
            )
            for i in range(n)
        ]


def _states(db: psycopg.Connection, endpoint_id: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT state, count(*) FROM notification_delivery WHERE endpoint_id = %s GROUP BY state", (endpoint_id,)
    ).fetchall()
    return dict(rows)


def _wait(what: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


@contextmanager
def workers(database_url: str, count: int = 1, **env: str) -> Iterator[list[subprocess.Popen]]:
    environ = (
        os.environ
        | {
            "DATABASE_URL": database_url,
            "DUCTING_ENV": "test",
            "DUCTING_NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true",
            "DUCTING_NOTIFY_PUBLIC_URL": "https://bedelau.test",
            "DUCTING_NOTIFY_CLOCK_INTERVAL_S": "0",
            "DUCTING_NOTIFY_MAX_ATTEMPTS": "3",
            "DUCTING_NOTIFY_BACKOFF_BASE_S": "0.2",
            "DUCTING_NOTIFY_BACKOFF_MAX_S": "1",
        }
        | env
    )
    procs, logs = [], []
    for _ in range(count):
        log = tempfile.NamedTemporaryFile(prefix="ducting-worker-", suffix=".log", delete=False)
        logs.append(log.name)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ducting.cli", "worker"],
                cwd=ROOT,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, name in zip(procs, logs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
            text_ = Path(name).read_text()
            if "Traceback" in text_:
                print(f"--- worker log {name} ---\n{text_[-4000:]}")


def test_a_worker_killed_mid_send_leaves_its_claim_and_another_worker_resends_the_same_event(
    scratch_database, db, receiver: Receiver
):
    hang = _endpoint(db, receiver.url("/hang"))
    receiver.behave["/hang"] = [(200, 30.0)]  # the first request is held open until long after the kill
    timing = {"DUCTING_NOTIFY_WEBHOOK_TIMEOUT_S": "5", "DUCTING_NOTIFY_CLAIM_TIMEOUT_S": "6"}
    (first_id,) = _emit(db, 1)
    with workers(scratch_database.app_url, **timing) as (worker,):
        _wait(lambda: len(receiver.at("/hang")) == 1, 30, "the first worker never sent")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    state, attempts = db.execute(
        "SELECT state, attempts FROM notification_delivery WHERE endpoint_id = %s", (hang,)
    ).fetchone()
    assert (state, attempts) == ("sending", 1)  # the claim was committed before the send; it is still there
    more = _emit(db, 40)  # and more arrive while no worker runs
    with workers(scratch_database.app_url, count=2, **timing):
        _wait(lambda: _states(db, hang).get("delivered") == 41, 120, f"not all delivered: {_states(db, hang)}")
    posts = receiver.at("/hang")
    keys = [p.headers["idempotency-key"] for p in posts]
    assert keys.count(first_id) == 2 and posts[0].body == next(
        p.body for p in posts[1:] if p.headers["idempotency-key"] == first_id
    )
    assert sorted(set(keys)) == sorted([first_id, *more])
    assert (
        len(keys) == 42
    )  # two workers at once never sent one delivery twice (SKIP LOCKED); only the killed one repeats
    assert db.execute("SELECT attempts FROM notification_delivery d JOIN notification_event e ON e.id = d.event_id "
                      "WHERE e.id = %s", (first_id,)).fetchone()[0] == 2  # fmt: skip


def test_receivers_that_fail_or_hang_are_dead_lettered_while_the_others_keep_flowing(
    scratch_database, db, receiver: Receiver
):
    good, bad, slow = (_endpoint(db, receiver.url(p)) for p in ("/good", "/bad", "/slow"))
    receiver.behave["/bad"] = [(500, 0.0)] * 1000
    receiver.behave["/slow"] = [(200, 3.0)] * 1000
    env = {"DUCTING_NOTIFY_WEBHOOK_TIMEOUT_S": "1", "DUCTING_NOTIFY_CLAIM_TIMEOUT_S": "3",
           "DUCTING_NOTIFY_PER_ENDPOINT_CONCURRENCY": "4"}  # fmt: skip
    started = time.monotonic()
    _emit(db, 24)
    with workers(scratch_database.app_url, **env):
        _wait(lambda: _states(db, good).get("delivered") == 24, 45, f"good ones stuck: {_states(db, good)}")
        flowed = time.monotonic() - started
        slow_meanwhile = _states(db, slow)
        _wait(lambda: _states(db, bad).get("dead") == 24, 60, f"bad: {_states(db, bad)}")
        _wait(lambda: _states(db, slow).get("dead") == 24, 120, f"slow: {_states(db, slow)}")
    # the slow ones need 72 attempts of 1 s, 4 at a time: 18 s at least; the good ones did not wait for them
    assert slow_meanwhile.get("dead", 0) < 24, (flowed, slow_meanwhile)
    errors = db.execute(
        "SELECT DISTINCT last_error FROM notification_delivery WHERE endpoint_id IN (%s, %s)", (bad, slow)
    ).fetchall()
    assert {e[0] for e in errors} == {"HTTP 500", "no answer within 1 s"}
    attempts = db.execute(
        "SELECT DISTINCT attempts FROM notification_delivery WHERE endpoint_id = %s", (bad,)
    ).fetchall()
    assert attempts == [(3,)]  # three attempts each (a reused connection the receiver closed may not reach it)
    assert 24 * 2 < len(receiver.at("/bad")) <= 24 * 3
