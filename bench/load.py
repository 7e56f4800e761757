"""Issue 7's load test: a mixed workload as planners, operators and finance, 32 concurrent clients for 60 s, on
loopback only. Reports throughput, p50 and p99 per kind, and the error and 5xx counts.

* Data: the Batam sample (2,195 segments) with its demo accounts, plus legacy leases on every seventh free
  subduct and three issued billing months, built once into `ducting_bench_load_base` and copied fresh
  (`CREATE DATABASE ... TEMPLATE`) for every run, so the capacity requests of one run never fill the next's.
* Service: `--processes` uvicorn processes (default 2, `SO_REUSEPORT`, as `bench network` measures), access log off.
* Clients: a bounded asyncio + aiohttp loop (`--clients` tasks, each a closed loop with `--think-ms` between
  requests, all stopping at `--duration`). Not httpx: measured here, its client took 74 % of a core at ~170 req/s
  on a machine whose two cores the servers also need, and aiohttp takes under 10 % at twice the rate. Personas by client number: 12 planners, 12 operators, 8 finance
  (scaled to `--clients`). Each picks its next request by weight:

  | kind | what | who |
  |---|---|---|
  | `map_items` | OGC items by a random ~900 m bbox (limit 200) | planners, operators, finance |
  | `map_tile` | a vector tile of the segments layer, z14-16, around a random segment | planners, operators, finance |
  | `availability` | free subducts by bbox for a year from next month | operators, planners |
  | `capacity_request` | a request for 1 microduct between two nodes 30-80 segments apart (201, or 409 when no route is left) | operators |
  | `invoices` | the invoice list: finance by month, an operator its own | finance, operators |

An error is a transport failure, a timeout or any status the kind does not expect (a 409 `no_route` for a
capacity request is a refusal, counted apart). The client shares the two cores with the server and PostgreSQL,
so its own cost is inside every latency: the figures are a floor on what the service can do. `--trace FILE` keeps
every request's start, kind, duration and status, to see when the slow ones happened.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BenchDatabase,
    Figure,
    bench_database,
    console,
    free_port,
    local_cluster,
    percentile,
    report,
    service,
    stopwatch,
    uvicorn_commands,
    warn_if_busy,
)
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster

BASE_DB = "ducting_bench_load_base"
RUN_DB = "ducting_bench_load"
BASE_VERSION = 1  # bump when the base's contents change
MAP_KINDS = ("map_items", "map_tile")
MAP_P99_TARGET_MS = 300
WEIGHTS: dict[str, dict[str, int]] = {
    "planner": {"map_items": 45, "map_tile": 45, "availability": 10},
    "operator": {"availability": 30, "capacity_request": 20, "map_tile": 20, "map_items": 15, "invoices": 15},
    "finance": {"invoices": 70, "map_items": 15, "map_tile": 15},
}
EXPECTED = {
    "map_items": {200},
    "map_tile": {200},
    "availability": {200},
    "capacity_request": {201, 409},
    "invoices": {200},
}
BILLED_MONTHS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--think-ms", type=float, default=0, help="pause of each client between requests (default 0)")
    parser.add_argument("--processes", type=int, default=2, help="uvicorn processes sharing the port (default 2)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the base database")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--trace", type=Path, help="write every request's start, kind, seconds and status (JSON)")


def run(args: argparse.Namespace) -> int:
    details: dict[str, Any] = {
        "load_average_at_start": warn_if_busy(),
        "clients": args.clients,
        "duration_s": args.duration,
        "think_ms": args.think_ms,
        "processes": args.processes,
    }
    console.rule("data: the Batam sample, leases, three billed months")
    base = base_database(rebuild=args.rebuild)
    db = fresh_copy(base)
    world = prepare(db, seed=args.seed)
    details["data"] = world.describe()
    console.rule(f"{args.clients} clients for {args.duration:.0f} s against {args.processes} process(es)")
    port = free_port()
    cmds = uvicorn_commands(
        "ducting.app:create_app",
        port=port,
        factory=True,
        processes=args.processes,
        mode="reuseport" if args.processes > 1 else "single",
    )
    with service(
        "ducting-load",
        cmds,
        port=port,
        env={"DATABASE_URL": db.app_url, "DUCTING_ENV": "test", "DUCTING_LOG_LEVEL": "WARNING"},  # no access log
        ready_path="/openapi.json",
        cwd=Path(__file__).resolve().parent.parent,
    ) as svc:
        asyncio.run(warm(svc.base_url, world))
        result = asyncio.run(
            load(
                svc.base_url,
                world,
                clients=args.clients,
                duration_s=args.duration,
                think_s=args.think_ms / 1000,
                seed=args.seed,
                trace_path=args.trace,
            )
        )
        details["server_memory_mb"] = {pid: m.rss_mb for pid, m in svc.memory().items()}
    details["kinds"] = result.summary()
    details["wall_s"] = round(result.wall_s, 2)
    figures = load_figures(result)
    report(
        "load",
        f"bench load  ({args.clients} clients, {args.duration:.0f} s, think {args.think_ms:g} ms, "
        f"{args.processes} process(es))",
        figures,
        details,
    )
    return 0 if all(f.passed is not False for f in figures) else 1


# -- data -----------------------------------------------------------------------------------------------------------
def base_database(*, rebuild: bool) -> BenchDatabase:
    """The sample with accounts, leases and issued invoices; built once (a minute or two) and reused."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from billing.invoicing import issue_month, run_month
    from ducting import sample
    from ducting.db import Actor, bind_actor

    db = bench_database(BASE_DB, fresh=rebuild)
    if (db.note() or {}).get("load_base") == BASE_VERSION:
        console.print(f"  reusing {BASE_DB}")
        return db
    db = bench_database(BASE_DB, fresh=True)
    engine = create_engine(db.app_url)
    with Session(engine) as s, stopwatch() as elapsed:
        bind_actor(s, Actor.system("bench load"))
        sample.load_organisations(s)
        sample.load_demo_accounts(s)
        sample.load_network(s)
        s.commit()
        console.print(f"  loaded the sample in {elapsed():.1f} s")
    owner = create_engine(db.owner_url)
    with owner.begin() as c:  # legacy leases: every seventh free subduct, operators in turn
        leased = c.execute(
            text("""
            WITH free AS (SELECT sd.id, sd.segment_id, row_number() OVER (ORDER BY sd.id) AS rn
                          FROM subduct_capacity sd WHERE sd.usable),
                 ops AS (SELECT id, row_number() OVER (ORDER BY code) - 1 AS k, count(*) OVER () AS n
                         FROM organisation WHERE kind = 'operator' AND status = 'active')
            INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, contracted_length_m, is_legacy)
            SELECT ops.id, free.id, free.segment_id, daterange('2025-06-01', NULL), 'active', s.length_m, true
            FROM free JOIN route_segment s ON s.id = free.segment_id JOIN ops ON ops.k = (free.rn / 7) % ops.n
            WHERE free.rn % 7 = 0""")
        ).rowcount
    owner.dispose()
    with Session(engine) as s:
        bind_actor(s, Actor.system("bench load"))
        for month in BILLED_MONTHS:
            run_month(s, month=month, actor=Actor.system("bench load"))
            issue_month(s, month=month, actor=Actor.system("bench load"), issued_on=month + timedelta(days=31))
        s.commit()
    engine.dispose()
    console.print(f"  {leased} legacy leases, {len(BILLED_MONTHS)} months issued")
    db.set_note({"load_base": BASE_VERSION, "leases": leased})
    return db


def fresh_copy(base: BenchDatabase) -> BenchDatabase:
    """A copy of the base for this run (a file copy inside PostgreSQL: seconds)."""
    cluster: LocalCluster = local_cluster()
    cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    cluster.psql("postgres", f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{base.name}" OWNER {OWNER_ROLE}')
    return BenchDatabase(RUN_DB, cluster.url(role=APP_ROLE, dbname=RUN_DB), cluster.url(role=OWNER_ROLE, dbname=RUN_DB))


@dataclass
class World:
    tokens: dict[str, list[str]]  # persona -> bearer tokens
    points: list[tuple[float, float]]  # segment midpoints, lon/lat
    trips: list[tuple[str, str]]
    months: list[str]
    first_day: date
    last_day: date

    def describe(self) -> dict[str, Any]:
        return {
            "accounts": {k: len(v) for k, v in self.tokens.items()},
            "points": len(self.points),
            "trips": len(self.trips),
            "months": self.months,
        }


def prepare(db: BenchDatabase, *, seed: int) -> World:
    """Tokens for the demo planners, operators and finance; where to look; which trips to request."""
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.orm import Session

    from bench.leasing import _short_trips
    from ducting.accounts.models import Account
    from ducting.accounts.vocab import Role
    from ducting.auth import issue_token
    from ducting.calendar import Days
    from ducting.db import Actor, bind_actor

    engine = create_engine(db.app_url)
    tokens: dict[str, list[str]] = defaultdict(list)
    with Session(engine) as s:
        bind_actor(s, Actor.system("bench load"))
        for account in s.scalars(
            select(Account).where(Account.role.in_(["planner", "operator", "finance"])).order_by(Account.username)
        ):
            secret, _ = issue_token(s, account=account, name="bench load", ttl=timedelta(hours=2))
            tokens[Role(account.role).value].append(secret)
        points = [
            (r[0], r[1])
            for r in s.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, 0.5) AS p FROM route_segment "
                    "WHERE removed_at IS NULL) x"
                )
            )
        ]
        s.commit()
    engine.dispose()
    first = date.today().replace(day=1) + timedelta(days=40)
    first = first.replace(day=1)
    last = first + timedelta(days=364)
    trips = _short_trips(db, 400, seed, Days(first, last))
    return World(dict(tokens), points, trips, [m.strftime("%Y-%m") for m in BILLED_MONTHS], first, last)


# -- the load -------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        out = {}
        for kind, times in sorted(self.times.items()):
            out[kind] = {
                "requests": len(times),
                "per_s": round(len(times) / self.wall_s, 2),
                "p50_ms": round(percentile(times, 50) * 1000, 1),
                "p99_ms": round(percentile(times, 99) * 1000, 1),
                "errors": self.errors[kind],
                "5xx": self.server_errors[kind],
                "refused": self.refused[kind],
                "statuses": dict(self.statuses[kind]),
            }
        return out


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _request(kind: str, persona: str, world: World, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """(method, path, aiohttp keyword arguments) of one request of `kind`."""
    lon, lat = rng.choice(world.points)
    box = f"{lon - 0.004:.6f},{lat - 0.004:.6f},{lon + 0.004:.6f},{lat + 0.004:.6f}"
    if kind == "map_items":
        return "GET", "/api/v1/collections/segments/items", {"params": {"bbox": box, "limit": 200}}
    if kind == "map_tile":
        z = rng.choice((14, 15, 16))
        x, y = _tile(lon, lat, z)
        return "GET", f"/tiles/segments/{z}/{x}/{y}.pbf", {}
    if kind == "availability":
        return (
            "GET",
            "/api/v1/leasing/availability",
            {"params": {"bbox": box, "first_day": world.first_day.isoformat(), "last_day": world.last_day.isoformat()}},
        )
    if kind == "capacity_request":
        a, b = rng.choice(world.trips)
        return (
            "POST",
            "/api/v1/leasing/requests",
            {
                "json": {
                    "from_node": a,
                    "to_node": b,
                    "subduct_count": 1,
                    "size_class": "microduct",
                    "first_day": world.first_day.isoformat(),
                    "last_day": world.last_day.isoformat(),
                }
            },
        )
    params = {"month": rng.choice(world.months)} if persona == "finance" else {}
    return "GET", "/api/v1/billing/invoices", {"params": params}


def personas(clients: int) -> list[str]:
    """12 planners, 12 operators, 8 finance in 32, in that proportion for other counts."""
    planners = round(clients * 12 / 32)
    operators = round(clients * 12 / 32)
    return ["planner"] * planners + ["operator"] * operators + ["finance"] * (clients - planners - operators)


async def warm(base: str, world: World) -> None:
    """Each process loads its capacity graph on its first leasing call: do that before the clock starts."""
    import aiohttp

    token = world.tokens["operator"][0]
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as c:

        async def one(box: str) -> None:
            async with c.get("/api/v1/leasing/availability", params={"bbox": box}) as r:
                await r.read()

        for _ in range(8):
            lon, lat = world.points[0]
            await asyncio.gather(*(one(f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}") for _ in range(4)))


async def load(
    base: str,
    world: World,
    *,
    clients: int,
    duration_s: float,
    think_s: float,
    seed: int,
    trace_path: Path | None = None,
) -> Result:
    import aiohttp
    import orjson

    result = Result()
    trace: list[tuple[float, str, float, int, int]] | None = [] if trace_path is not None else None
    t0 = time.perf_counter()
    deadline = time.monotonic() + duration_s

    async def client(i: int, persona: str, http: aiohttp.ClientSession) -> None:
        rng = random.Random(seed * 1000 + i)
        tokens = world.tokens[persona]
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        kinds, weights = zip(*WEIGHTS[persona].items())
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            method, path, kwargs = _request(kind, persona, world, rng)
            started = time.perf_counter()
            try:
                async with http.request(method, path, headers=headers, **kwargs) as response:
                    body = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                result.errors[kind] += 1
                result.times[kind].append(time.perf_counter() - started)
                if len(result.samples) < 20:
                    result.samples.append(f"{kind}: {exc!r}")
                continue
            result.times[kind].append(time.perf_counter() - started)
            if trace is not None:
                trace.append((round(started - t0, 4), kind, round(time.perf_counter() - started, 4), i, status))
            result.statuses[kind][status] += 1
            if status >= 500:
                result.server_errors[kind] += 1
            if status not in EXPECTED[kind]:
                result.errors[kind] += 1
                if len(result.samples) < 20:
                    result.samples.append(f"{kind} {status}: {body[:200]!r}")
            elif status == 409:
                result.refused[kind] += 1
            if think_s:
                await asyncio.sleep(think_s)

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        await asyncio.gather(*(client(i, p, http) for i, p in enumerate(personas(clients))))
    result.wall_s = time.perf_counter() - started
    if trace_path is not None:  # one row per request: start (s), kind, seconds, client, status
        trace_path.write_text(orjson.dumps(trace).decode())
        console.print(f"  {len(trace):,} requests traced to {trace_path}")
    for line in result.samples:
        console.print(f"  [red]{line}[/]")
    return result


def load_figures(result: Result) -> list[Figure]:
    s = result.summary()
    total = sum(k["requests"] for k in s.values())
    maps = [t for kind in MAP_KINDS for t in result.times.get(kind, [])]
    figures = [
        Figure(
            "throughput",
            "throughput, all kinds",
            round(total / result.wall_s, 1),
            "req/s",
            note=f"{total:,} requests in {result.wall_s:.1f} s",
        ),
        Figure(
            "map_p99_ms",
            "map reads (items + tiles) p99",
            round(percentile(maps, 99) * 1000, 1) if maps else None,
            "ms",
            ("<", MAP_P99_TARGET_MS),
            f"p50 {percentile(maps, 50) * 1000:.1f} ms" if maps else "",
        ),
        Figure(
            "errors",
            "errors (transport, timeout, unexpected status)",
            sum(k["errors"] for k in s.values()),
            "",
            ("<=", 0),
        ),
        Figure("5xx", "5xx responses", sum(k["5xx"] for k in s.values()), "", ("<=", 0)),
    ]
    for kind, k in s.items():
        refused = f", {k['refused']} refused (no route)" if k["refused"] else ""
        figures.append(
            Figure(
                f"{kind}_p99_ms",
                f"{kind}: p50 {k['p50_ms']:.1f} ms, p99",
                k["p99_ms"],
                "ms",
                note=f"{k['per_s']:.1f} req/s, {k['requests']:,} requests, {k['errors']} errors, "
                f"{k['5xx']} 5xx{refused}",
            )
        )
    return figures
