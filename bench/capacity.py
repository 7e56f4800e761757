"""Issue 18's capacity figures: how much CPU one request of each kind costs, in the service and in PostgreSQL, so
that requests/s per core can be written down and a deployment sized on paper (README, "On paper, past this
machine").

Why CPU time and not a saturating load: on a shared 2-core machine a saturating run measures the neighbours as
much as the service. Here one client sends each kind serially to one service process on a copy of the load
benchmark's database (the Batam sample, its demo accounts, legacy leases, three issued months: bench/load.py),
and the CPU the service process and its PostgreSQL backends used is read from /proc before and after. Requests/s
per core is 1 / (CPU seconds per request); the split says which side a replica would take off the primary.
A short mixed run (`./dev bench load --duration 20`) is the check that the figures add up under concurrency.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchDatabase,
    Figure,
    console,
    free_port,
    load_average,
    local_cluster,
    percentile,
    report,
    service,
    uvicorn_commands,
)

KINDS = {  # kind: (persona, requests measured)
    "map_items": ("planner", 200),
    "map_tile": ("planner", 300),
    "availability": ("operator", 100),
    "capacity_request": ("operator", 60),
    "invoices": ("finance", 150),
    "sign_in": ("planner", 40),
}
RUN_DB = "ducting_bench_capacity"
TICK = os.sysconf("SC_CLK_TCK")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default=RUN_DB, help=f"the copy to run on (default {RUN_DB})")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the requests measured per kind")
    parser.add_argument("--seed", type=int, default=2026)


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def backends(db: BenchDatabase) -> list[int]:
    out = local_cluster().psql(
        "postgres",
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{db.name}' AND pid <> pg_backend_pid()",
        capture=True,
    )
    return [int(p) for p in out.split()]


def copy_of_base(name: str) -> BenchDatabase:
    from bench.load import base_database
    from ducting.localdb import APP_ROLE, OWNER_ROLE

    base = base_database(rebuild=False)
    cluster = local_cluster()
    cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cluster.psql("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{base.name}" OWNER {OWNER_ROLE}')
    return BenchDatabase(name, cluster.url(role=APP_ROLE, dbname=name), cluster.url(role=OWNER_ROLE, dbname=name))


def one(client: httpx.Client, kind: str, persona: str, world: Any, rng: random.Random) -> tuple[float, int]:
    from bench.load import _request

    started = time.perf_counter()
    if kind == "sign_in":
        r = client.post("/api/v1/auth/token", json={"username": "perencana", "password": "perencana-2026"})
    else:
        method, path, kw = _request(kind, persona, world, rng)
        headers = {"Authorization": f"Bearer {rng.choice(world.tokens[persona])}"}
        r = client.request(method, path, params=kw.get("params"), json=kw.get("json"), headers=headers)
    return time.perf_counter() - started, r.status_code


def measure(base_url: str, app_pid: int, db: BenchDatabase, world: Any, scale: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for kind, (persona, n) in KINDS.items():
            n = max(10, int(n * scale))
            for _ in range(10):  # warm: pools, the capacity graph, prepared statements
                one(client, kind, persona, world, rng)
            pids = backends(db)
            before = cpu_s(app_pid), {p: cpu_s(p) for p in pids}
            times, statuses = [], {}
            wall = time.perf_counter()
            for _ in range(n):
                took, status = one(client, kind, persona, world, rng)
                times.append(took)
                statuses[status] = statuses.get(status, 0) + 1
            wall = time.perf_counter() - wall
            app = cpu_s(app_pid) - before[0]
            db_cpu = sum(cpu_s(p) - before[1].get(p, 0.0) for p in set(pids) | set(backends(db)))
            per = (app + db_cpu) / n
            out[kind] = {
                "requests": n,
                "statuses": statuses,
                "app_cpu_ms": round(app / n * 1000, 2),
                "db_cpu_ms": round(db_cpu / n * 1000, 2),
                "per_core_per_s": round(1 / per, 1) if per else None,
                "serial_p50_ms": round(percentile(times, 50) * 1000, 1),
                "serial_wall_s": round(wall, 2),
            }
            console.print(f"  {kind:<17} {out[kind]}")
    return out


def run(args: argparse.Namespace) -> int:
    from bench.load import prepare

    console.print(f"load average before: {load_average():.2f}")
    db = copy_of_base(args.database)
    world = prepare(db, seed=args.seed)
    port = free_port()
    cmds = uvicorn_commands("ducting.app:create_app", port=port, factory=True)
    env = {"DATABASE_URL": db.app_url, "DUCTING_ENV": "test", "DUCTING_LOG_LEVEL": "WARNING"}
    with service("ducting-capacity", cmds, port=port, env=env, ready_path="/openapi.json") as svc:
        kinds = measure(svc.base_url, svc.pids[0], db, world, args.scale, args.seed)
    local_cluster().psql("postgres", f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
    figures = [Figure(kind, f"{kind} per core", v["per_core_per_s"], "req/s") for kind, v in kinds.items()]
    report(
        "capacity",
        "bench capacity  (CPU per request, serial, one process)",
        figures,
        {"kinds": kinds, "load_average_after": load_average()},
    )
    return 0
