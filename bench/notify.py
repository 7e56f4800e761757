"""Issue 17: notifications delivered to a webhook receiver, and the time from commit to delivery under that load.

A fresh database (`ducting_bench_notify`) with one operator whose webhook points at a local receiver
(`bench/notify_receiver.py`, aiohttp, its own process). `--workers` delivery workers run as `ducting worker`
processes, as they would beside the service. `--producers` connections write events through `notify_emit()` (what
the domain triggers and services call), `--per-tx` to a transaction, at `--rate` events per second in all for
`--duration` seconds, and note each event's commit time; the receiver notes when each event id first arrived. Figures:

* delivered per second: events delivered / (last arrival - first commit). Target >= 500 /s.
* commit-to-delivery p50 and p99 under that load. Target p99 < 2 s.
* lost (committed, never delivered) and repeated (delivered twice with no fault) events: both should be 0.

Producer, workers, receiver and PostgreSQL share the machine's cores; the figures include all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from bench.common import Figure, bench_database, console, free_port, percentile, report, warn_if_busy
from ducting.settings import PROJECT_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=int, default=600, help="events offered per second (default 600)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of producing (default 20)")
    parser.add_argument("--per-tx", type=int, default=5, help="events per producer transaction (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="delivery worker processes (default 2)")
    parser.add_argument("--producers", type=int, default=2, help="producer connections, side by side (default 2)")


def _setup(db_url: str, port: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organisation (code, name, kind, npwp) VALUES ('BNCH', 'PT Bench', 'operator', '0123456789012345')"
        )
        conn.execute(
            """INSERT INTO webhook_endpoint (operator_id, url, event_types, secret)
               SELECT id, %s, '{request.offered}', 'whsec_' || md5(random()::text) FROM organisation WHERE code = 'BNCH'""",
            (f"http://127.0.0.1:{port}/hook",),
        )


def _produce(app_url: str, rate: float, duration: float, per_tx: int, offset: int = 0) -> dict[str, float]:
    """Events at `rate` per second in transactions of `per_tx` (one round trip each); returns event id -> commit
    time (wall clock)."""
    committed: dict[str, float] = {}
    with psycopg.connect(app_url) as conn:
        org = conn.execute("SELECT id FROM organisation WHERE code = 'BNCH'").fetchone()[0]
        conn.commit()
        start = time.monotonic()
        n = offset
        while time.monotonic() - start < duration:
            # one statement, one notify_emit() (an INSERT and its fan-out) per event, as one change per statement
            ids = [
                str(r[0])
                for r in conn.execute(
                    """SELECT notify_emit('request.offered', %s, 'capacity_request:' || i,
                                          jsonb_build_object('reference', 'REQ/2026/' || lpad(i::text, 6, '0')), NULL)
                       FROM generate_series(%s::int, %s::int) i""",
                    (org, n, n + per_tx - 1),
                ).fetchall()
            ]
            conn.commit()
            at = time.time()
            committed.update(dict.fromkeys(ids, at))
            n += per_tx
            pause = (
                start + (n - offset) / rate - time.monotonic()
            )  # open loop: keep the offered rate, whatever delivery does
            if pause > 0:
                time.sleep(pause)
    return committed


def run(args: argparse.Namespace) -> int:
    load_start = warn_if_busy()
    db = bench_database("ducting_bench_notify", fresh=True)
    port = free_port()
    _setup(db.libpq(owner=True), port)
    out = Path(tempfile.mkstemp(prefix="notify-receiver-", suffix=".json")[1])
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.notify_receiver", str(port), str(out)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    env = os.environ | {
        "DATABASE_URL": db.app_url,
        "DUCTING_NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true",  # the receiver is local (unsafe outside tests and benches)
        "DUCTING_NOTIFY_PUBLIC_URL": "https://bedelau.bench",
        "DUCTING_NOTIFY_CLOCK_INTERVAL_S": "0",
    }
    workers = [
        subprocess.Popen([sys.executable, "-m", "ducting.cli", "worker"], cwd=PROJECT_ROOT, env=env)
        for _ in range(args.workers)
    ]
    _produce(db.libpq(), 10, 0.1, 1)  # warm-up: the workers have started when this one arrives
    deadline = time.monotonic() + 60
    while (
        db.scalar("SELECT count(*) FROM notification_delivery WHERE state <> 'delivered'")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    time.sleep(1)  # every worker listening
    console.print(f"producing {args.rate} events/s for {args.duration:g} s, {args.workers} worker(s) delivering")
    with ThreadPoolExecutor(args.producers) as pool:  # service transactions commit side by side
        parts = pool.map(
            lambda i: _produce(db.libpq(), args.rate / args.producers, args.duration, args.per_tx, i * 10_000_000),
            range(args.producers),
        )
        committed = {k: v for part in parts for k, v in part.items()}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.scalar("SELECT count(*) FROM notification_delivery WHERE state <> 'delivered'") == 0:
            break
        time.sleep(0.2)
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=30)
    receiver.send_signal(signal.SIGTERM)
    receiver.wait(timeout=30)
    got = json.loads(out.read_text())
    out.unlink()
    arrived = got["first"]
    latencies = [(arrived[k] - committed[k]) * 1000 for k in committed if k in arrived]
    lost = sum(1 for k in committed if k not in arrived)
    span = max(arrived.values()) - min(committed.values()) if arrived else float("inf")
    throughput = len(latencies) / span if latencies else 0.0
    figures = [
        Figure("committed_per_s", "events committed per second (offered)", len(committed) / args.duration, "/s"),
        Figure(
            "delivered_per_s", "events delivered per second", throughput, "/s", (">=", 500), f"{len(latencies)} events"
        ),
        Figure("latency_p50_ms", "commit to delivery, p50", percentile(latencies, 50) if latencies else None, "ms"),
        Figure(
            "latency_p99_ms",
            "commit to delivery, p99",
            percentile(latencies, 99) if latencies else None,
            "ms",
            ("<", 2000),
        ),
        Figure("lost", "events committed, never delivered", lost, "events", ("<=", 0)),
        Figure("repeated", "events delivered twice (no fault injected)", got["repeats"], "events", ("<=", 0)),
    ]
    details = {
        "rate_offered": args.rate,
        "duration_s": args.duration,
        "per_tx": args.per_tx,
        "workers": args.workers,
        "producers": args.producers,
        "events": len(committed),
        "posts": got["posts"],
        "load_average_at_start": load_start,
        "latency_max_ms": max(latencies) if latencies else None,
    }
    report("notify", "Issue 17: notifications (webhooks from the outbox)", figures, details)
    return 0 if all(f.passed is not False for f in figures) else 1
