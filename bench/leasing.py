"""Issue 3's figures: route search over free capacity, and accepted allocations per second.

1. Route search between far-apart nodes of the 100k-segment network at 0-90 % occupancy, free for the whole
   requested period: our in-memory capacity graph against `pgr_dijkstra` with the live period filter and
   `pgr_dijkstra` on a precomputed free-count table, interleaved in one run, and the path costs must agree.
2. Accepted allocations per second through the API with 8 concurrent clients (submit, approve, accept),
   against the raw insert rate under the same exclusion constraint (pgbench, 8 clients, same run), with a
   py-spy profile of the service saying where the time goes.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    BenchDatabase,
    Figure,
    bench_database,
    console,
    free_port,
    interleaved,
    pgbench,
    report,
    service,
    stage_progress,
    uvicorn_commands,
)
from bench.network import build_network
from ducting.calendar import Days

DB_NAME = "ducting_bench_leasing_100k"
SEGMENTS = 100_000
NEED = 2  # microducts per request in the route search
OCCUPANCY = "floor-share-v2"  # the occupancy model the database was leased with (see `occupy`)
PENALTY, NEAR_FULL = 0.5, 0.2  # the service's defaults (DUCTING_LEASING_NEAR_FULL_*)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the network and its leases")
    parser.add_argument("--queries", type=int, default=15, help="timed route searches per contender")
    parser.add_argument("--load-seconds", type=float, default=20)
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="service processes sharing the port (SO_REUSEPORT), as `ducting serve --workers` would run",
    )
    parser.add_argument(
        "--part",
        choices=("all", "routes", "throughput"),
        default="all",
        help="measure only the route search or only the allocation throughput",
    )


def run(args: argparse.Namespace) -> int:
    console.rule("[bold]leasing benchmark[/]: route search and allocations per second")
    db = leasing_network(args.seed, rebuild=args.rebuild)
    figures: list[Figure] = []
    details: dict[str, Any] = {"database": db.name}
    if args.part in ("all", "routes"):
        route = measure_routes(db, args)
        figures += route.pop("figures")
        details["routes"] = route
    if args.part in ("all", "throughput"):
        rate = measure_allocations(db, args)
        figures += rate.pop("figures")
        details["allocations"] = rate
    report("leasing", "Leasing: route search and allocation throughput", figures, details)
    return 0 if all(f.passed is not False for f in figures) else 1


# -- data -----------------------------------------------------------------------------------------------------------
def leasing_network(seed: int, *, rebuild: bool) -> BenchDatabase:
    db = bench_database(DB_NAME)
    note = db.note() or {}
    if not rebuild and note.get("seed") == seed and note.get("leases") and note.get("occupancy") == OCCUPANCY:
        console.print(f"  reusing {DB_NAME}: {note['segments']:,} segments, {note['leases']:,} leases")
        return db
    if rebuild or note.get("seed") != seed or not note.get("segments"):
        segments = build_network(DB_NAME, SEGMENTS, seed).segments
        db = bench_database(DB_NAME)
    else:  # the same network, leased by an older occupancy model
        segments = note["segments"]
    leases = occupy(db, seed)
    db.set_note({"seed": seed, "segments": segments, "leases": leases, "occupancy": OCCUPANCY})
    return db


def occupy(db: BenchDatabase, seed: int) -> int:
    """Each segment gets an occupancy drawn from 0-90 % and exactly that share of its leasable subducts
    (rounded down, chosen at random) is leased by one of the sample operators over a random period (half
    open-ended). Rounding down keeps every segment at or under 90 %, as the peers' setting has it; leasing each
    subduct with probability `share` (the first model) filled a third of the segments completely. One
    statement, so it is quick and repeatable."""
    import psycopg

    with stage_progress() as update, psycopg.connect(db.libpq(owner=True), autocommit=True) as conn:
        update("leasing 0-90 %", 0, 1)
        conn.execute("DELETE FROM allocation")
        conn.execute("SELECT setseed(%s)", (seed % 1000 / 1000,))
        conn.execute("""
            WITH ops AS (SELECT array_agg(id ORDER BY id) AS ids FROM organisation WHERE kind = 'operator'),
            occ AS (SELECT id, length_m, random() * 0.9 AS share FROM route_segment),
            leasable AS (
                SELECT sd.id, sd.segment_id, row_number() OVER (PARTITION BY sd.segment_id ORDER BY random()) AS rn,
                       count(*) OVER (PARTITION BY sd.segment_id) AS usable
                FROM subduct_capacity sd WHERE sd.usable)
            INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, contracted_length_m, is_legacy)
            SELECT ops.ids[1 + (l.id % array_length(ops.ids, 1))], l.id, l.segment_id,
                   daterange(start, CASE WHEN random() < 0.5 THEN NULL ELSE start + 180 + (random() * 900)::int END),
                   'active', occ.length_m, true
            FROM ops, leasable l JOIN occ ON occ.id = l.segment_id
            CROSS JOIN LATERAL (SELECT CURRENT_DATE - (random() * 365)::int AS start) s
            WHERE l.rn <= floor(occ.share * l.usable)""")
        conn.execute("VACUUM (ANALYZE) allocation, subduct, route_segment")
        update("leasing 0-90 %", 1, 1)
        return conn.execute("SELECT count(*) FROM allocation").fetchone()[0]


# -- route search ---------------------------------------------------------------------------------------------------
def _period() -> tuple[date, date]:
    first = date.today() + timedelta(days=30)
    return first, first + timedelta(days=364)


def _edges_sql(first: date, last: date) -> str:
    """The edge query pgRouting needs, with free capacity for the whole period computed live. Same cost
    function as the service: length, x1.5 when taking NEED leaves under 20 % free, excluded when short; the free
    count is the database's own (`segment_space`, migration 0034), the rule the graph loads."""
    period = f"[{first},{last + timedelta(days=1)})"
    return f"""
        SELECT s.id, s.start_node_id AS source, s.end_node_id AS target, c.cost, c.cost AS reverse_cost
        FROM route_segment s CROSS JOIN LATERAL (
            SELECT CASE WHEN f.free >= {NEED}
                        THEN s.length_m::float8 * CASE WHEN (f.free - {NEED})::float8 / f.usable < {NEAR_FULL}
                                                       THEN {1 + PENALTY} ELSE 1 END
                        ELSE -1 END AS cost
            FROM segment_space(s.id, '{period}'::daterange, now()) f) c
        WHERE segment_usable(s.status, s.removed_at)"""


def far_apart_nodes(graph: Any, cost: np.ndarray) -> list[tuple[int, int]]:
    """Far-apart node pairs that a request can connect: segments too full for the request may still cut a few
    corners off the network, so both ends are taken from the largest piece that has room. Two sweeps on plain
    lengths inside it give one end; the nodes farthest from it are the others."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, dijkstra

    net = graph.network
    n = len(net.node_ids)
    ok = np.isfinite(cost)
    u, v, w = net.seg_u[ok], net.seg_v[ok], net.seg_len[ok]
    m = csr_matrix((np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    _, label = connected_components(m, directed=False)
    biggest = np.bincount(label).argmax()
    start = int(np.flatnonzero(label == biggest)[0])
    dist = dijkstra(m, indices=start)
    a = int(np.nanargmax(np.where(np.isfinite(dist), dist, -1)))
    dist = dijkstra(m, indices=a)
    order = np.argsort(np.where(np.isfinite(dist), -dist, 0))[:50:5]
    return [(int(net.node_ids[a]), int(net.node_ids[b])) for b in order]


def measure_routes(db: BenchDatabase, args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from ducting.calendar import Days
    from ducting.leasing.routing import CapacityGraph
    from ducting.network.vocab import SizeClass

    first, last = _period()
    days = Days(first, last)
    engine = create_engine(db.app_url)
    graph = CapacityGraph()
    session = Session(engine)
    started = time.perf_counter()
    graph.refresh(session)
    load_s = time.perf_counter() - started
    edges = _edges_sql(first, last)
    pg = psycopg.connect(db.libpq(owner=True), autocommit=True)
    pg.execute("SET max_parallel_workers_per_gather = 0")
    pg.execute(f"DROP TABLE IF EXISTS bench_free_edges; CREATE TABLE bench_free_edges AS {edges}")
    pg.execute("ANALYZE bench_free_edges")

    def ours() -> Any:
        graph.refresh(session)  # the incremental allocation sync every search pays
        cap = graph.capacity(days, SizeClass.MICRODUCT)
        return graph.shortest_path(a, b, graph.costs(cap, NEED, near_full_share=NEAR_FULL, penalty=PENALTY))

    def pgr(sql: str) -> float | None:
        row = pg.execute(
            "SELECT max(agg_cost) FROM pgr_dijkstra(%s, %s::bigint, %s::bigint, directed => true)", (sql, a, b)
        ).fetchone()
        return row[0]

    cap0 = graph.capacity(days, SizeClass.MICRODUCT)
    feasible = graph.costs(cap0, NEED, near_full_share=NEAR_FULL, penalty=PENALTY)
    for a, b in far_apart_nodes(graph, feasible):  # noqa: B007 - ours() reads a and b
        path = ours()
        if path is not None:
            break
    else:
        raise SystemExit("no route between far-apart nodes at this occupancy; try another --seed")
    live_cost = pgr(edges)
    pre_cost = pgr("SELECT id, source, target, cost, reverse_cost FROM bench_free_edges")
    timings = interleaved(
        {
            "ours": ours,
            "pgr_live": lambda: pgr(edges),
            "pgr_precomputed": lambda: pgr("SELECT id, source, target, cost, reverse_cost FROM bench_free_edges"),
        },
        n=args.queries,
        warmup=2,
        label="route searches",
    )
    pg.close()
    session.close()
    engine.dispose()
    same = abs(path.cost - live_cost) <= 1e-6 * live_cost and abs(path.cost - pre_cost) <= 1e-6 * pre_cost
    ours_t, live_t, pre_t = timings["ours"], timings["pgr_live"], timings["pgr_precomputed"]
    figures = [
        Figure(
            "route_ours_p50_ms",
            "route search, ours (in-memory graph), p50",
            round(ours_t.p50_ms, 1),
            "ms",
            note=f"p95 {ours_t.p95_ms:.1f} ms; {len(path.segment_ids)} segments, {path.length_m / 1000:.1f} km",
        ),
        Figure(
            "route_pgr_live_p50_ms",
            "pgr_dijkstra, live period filter, p50",
            round(live_t.p50_ms, 1),
            "ms",
            note=f"p95 {live_t.p95_ms:.1f} ms",
        ),
        Figure(
            "route_pgr_pre_p50_ms",
            "pgr_dijkstra, precomputed free counts, p50",
            round(pre_t.p50_ms, 1),
            "ms",
            note=f"p95 {pre_t.p95_ms:.1f} ms",
        ),
        Figure(
            "route_speedup_vs_live", "pgr live / ours (p50)", round(live_t.p50_ms / ours_t.p50_ms, 1), "x", (">=", 10)
        ),
        Figure(
            "route_vs_precomputed",
            "ours / pgr precomputed (p50)",
            round(ours_t.p50_ms / pre_t.p50_ms, 2),
            "x",
            ("<=", 1),
        ),
        Figure(
            "route_ours_p95_vs_pre",
            "ours p95 / pgr precomputed p95",
            round(ours_t.p95_ms / pre_t.p95_ms, 2),
            "x",
            ("<=", 1),
        ),
        Figure(
            "route_same_cost",
            "same path cost as pgRouting (1 = yes)",
            1.0 if same else 0.0,
            "",
            (">=", 1),
            note=f"ours {path.cost:.3f}, pgr live {live_cost:.3f}, precomputed {pre_cost:.3f}",
        ),
        Figure("graph_load_s", "graph load from the database (once per network change)", round(load_s, 2), "s"),
    ]
    return {
        "figures": figures,
        "from_node": a,
        "to_node": b,
        "path_segments": len(path.segment_ids),
        "path_km": round(path.length_m / 1000, 2),
        "timings": {k: v.summary() for k, v in timings.items()},
    }


# -- throughput -----------------------------------------------------------------------------------------------------
def _accounts(db: BenchDatabase, operators: int = 8) -> dict[str, str]:
    from datetime import timedelta as td

    from sqlalchemy import create_engine, select, text
    from sqlalchemy.orm import Session

    from ducting.accounts.models import Account, Organisation
    from ducting.accounts.vocab import Role
    from ducting.auth import issue_token
    from ducting.db import Actor, bind_actor

    engine = create_engine(db.app_url)
    tokens: dict[str, str] = {}
    with Session(engine) as s:
        bind_actor(s, Actor.system("bench setup"))  # row-level security: releasing every operator's holds
        orgs = s.scalars(
            select(Organisation)
            .where(Organisation.kind == "operator", Organisation.status == "active")
            .order_by(Organisation.id)
        ).all()[:operators]
        wanted = [("bench_planner", Role.PLANNER, None)] + [
            (f"bench_op{i}", Role.OPERATOR, o.id) for i, o in enumerate(orgs)
        ]
        for username, role, org in wanted:
            acc = s.scalars(select(Account).where(Account.username == username)).first()
            if acc is None:
                acc = Account(username=username, full_name=username, role=role, organisation_id=org)
                s.add(acc)
                s.flush()
            tokens[username], _ = issue_token(s, account=acc, name="bench", ttl=td(hours=2))
        s.execute(text("UPDATE allocation SET status = 'released' WHERE status = 'held'"))
        s.commit()
    engine.dispose()
    return tokens


def _short_trips(db: BenchDatabase, count: int, seed: int, window: Days) -> list[tuple[str, str]]:
    """Node pairs 30-80 segments apart (fewest hops) along segments that still have room for 2 microducts over
    the whole `window` (every request's period lies inside it): backbone leases of roughly 3-7 km that an
    operator would request after looking at the availability map, so the figure measures bookings, not
    refusals."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from ducting.leasing.routing import CapacityGraph
    from ducting.network.vocab import SizeClass

    graph = CapacityGraph()
    engine = create_engine(db.owner_url)
    with Session(engine) as session:
        graph.refresh(session)
        codes = dict(session.execute(text("SELECT id, code FROM node")).all())
    engine.dispose()
    net = graph.network
    room = graph.capacity(window, SizeClass.MICRODUCT).free >= 2
    n = len(net.node_ids)
    u, v = net.seg_u[room], net.seg_v[room]
    hops = csr_matrix((np.ones(2 * len(u)), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    rng = np.random.default_rng(seed)
    starts = np.unique(np.concatenate([u, v]))
    trips: list[tuple[str, str]] = []
    for _ in range(50 * count):
        if len(trips) >= count:
            break
        start = int(rng.choice(starts))
        dist = dijkstra(hops, indices=start, unweighted=True, limit=80)
        ends = np.flatnonzero((dist >= 30) & (dist <= 80))
        if len(ends):
            trips.append((codes[int(net.node_ids[start])], codes[int(net.node_ids[int(rng.choice(ends))])]))
    return trips


def _raw_insert_rate(db: BenchDatabase, seconds: float) -> tuple[float, int]:
    """Single-allocation INSERTs from 8 pgbench clients, durable commits, under the same EXCLUDE constraint and
    row-level security.
    Far-future random periods rarely collide; collisions are skipped (ON CONFLICT DO NOTHING) and counted out."""
    before = db.scalar("SELECT count(*) FROM allocation")
    max_sub = db.scalar("SELECT max(id) FROM subduct")
    operator = db.scalar("SELECT min(id) FROM organisation WHERE kind = 'operator'")
    statement = f"""\\set sub random(1, {max_sub})
\\set d random(0, 300000)
        INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, contracted_length_m, is_legacy)
        SELECT {operator}, sd.id, sd.segment_id, daterange(DATE '2100-01-01' + :d, DATE '2100-01-01' + :d + 1),
               'active', 1, true
        FROM subduct sd WHERE sd.id = :sub
        ON CONFLICT DO NOTHING"""
    # as that operator, so the inserts pass the same row-level security check the API's do
    result = pgbench(
        db.app_url,
        statement,
        clients=8,
        threads=2,
        duration_s=seconds,
        settings={"ducting.role": "operator", "ducting.organisation_id": str(operator)},
    )
    inserted = db.scalar("SELECT count(*) FROM allocation") - before
    import psycopg

    with psycopg.connect(db.libpq(owner=True), autocommit=True) as conn:
        conn.execute("DELETE FROM allocation WHERE lower(period) >= DATE '2100-01-01'")
    return inserted / result.duration_s, result.requests


def measure_allocations(db: BenchDatabase, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    tokens = _accounts(db)
    operators = [k for k in tokens if k.startswith("bench_op")]
    window = Days(date.today() + timedelta(days=30), date.today() + timedelta(days=400 + 366))
    trips = _short_trips(db, 600, args.seed, window)
    port = free_port()
    env = {"DATABASE_URL": db.app_url, "DUCTING_ENV": "test"}
    counts: Counter[str] = Counter()
    accepted_allocations = 0
    lock = threading.Lock()
    stop_at = [0.0]

    def client(k: int, base: str) -> None:
        nonlocal accepted_allocations
        rng = random.Random(k)
        op = operators[k % len(operators)]
        with httpx.Client(base_url=base, timeout=60) as c:
            while time.monotonic() < stop_at[0]:
                a, b = rng.choice(trips)
                first = date.today() + timedelta(days=rng.randint(30, 400))
                r = c.post(
                    "/api/v1/leasing/requests",
                    headers={"Authorization": f"Bearer {tokens[op]}"},
                    json={
                        "from_node": a,
                        "to_node": b,
                        "subduct_count": 2,
                        "size_class": "microduct",
                        "first_day": first.isoformat(),
                        "term_months": 12,
                    },
                )
                with lock:
                    counts[f"submit:{r.status_code}"] += 1
                if r.status_code != 201:
                    continue
                rid = r.json()["id"]
                r2 = c.post(
                    f"/api/v1/leasing/requests/{rid}/approve",
                    headers={"Authorization": f"Bearer {tokens['bench_planner']}"},
                )
                r3 = c.post(f"/api/v1/leasing/requests/{rid}/accept", headers={"Authorization": f"Bearer {tokens[op]}"})
                with lock:
                    counts[f"approve:{r2.status_code}"] += 1
                    counts[f"accept:{r3.status_code}"] += 1
                    if r3.status_code == 200:
                        accepted_allocations += sum(len(s["subducts"]) for s in r3.json()["quote"]["route"]["segments"])

    profile = Path(tempfile.gettempdir()) / "bench-leasing-profile.txt"
    commands = uvicorn_commands(
        "ducting.app:create_app",
        port=port,
        factory=True,
        processes=args.processes,
        mode="reuseport" if args.processes > 1 else "single",
    )
    with service(
        "ours", commands, port=port, env=env, ready_path="/openapi.json", cwd=Path(__file__).resolve().parent.parent
    ) as svc:
        base = f"http://127.0.0.1:{port}"
        _warm(base, tokens[operators[0]], trips[0])
        stop_at[0] = time.monotonic() + args.load_seconds
        spy = _start_profile(svc.pids[0], args.load_seconds, profile)
        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k, base)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if spy is not None:
            spy.wait(timeout=60)
    doubles = db.scalar("""SELECT count(*) FROM allocation a JOIN allocation b
        ON a.subduct_id = b.subduct_id AND a.id < b.id AND a.period && b.period
        WHERE allocation_holds_space(a.status) AND allocation_holds_space(b.status)""")
    raw_rate, raw_n = _raw_insert_rate(db, 10)
    api_rate = accepted_allocations / elapsed
    figures = [
        Figure(
            "api_accepted_allocations_per_s",
            "accepted allocations/s through the API, 8 clients",
            round(api_rate, 1),
            "/s",
            note=f"{accepted_allocations:,} in {elapsed:.1f} s, {args.processes} service process(es); {dict(counts)}",
        ),
        Figure(
            "raw_insert_per_s",
            "raw allocation INSERTs/s, 8 pgbench clients, same constraint",
            round(raw_rate, 1),
            "/s",
            note=f"{raw_n:,} transactions",
        ),
        Figure("api_share_of_raw", "API rate / raw rate", round(api_rate / raw_rate, 3), "", (">=", 0.1)),
        Figure("double_bookings", "subducts booked twice on a day (after the load)", doubles, "", ("<=", 0)),
    ]
    return {"figures": figures, "outcomes": dict(counts), "profile": _summarise_profile(profile)}


def _warm(base: str, token: str, trip: tuple[str, str]) -> None:
    """Every process loads its graph once (seconds at 100k segments) before the clock starts: quote on fresh
    connections, which the kernel spreads over the processes, until a whole round answers quickly."""
    import httpx

    body = {
        "from_node": trip[0],
        "to_node": trip[1],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (date.today() + timedelta(days=30)).isoformat(),
    }

    def one(_: int) -> float:
        started = time.perf_counter()
        httpx.post(
            f"{base}/api/v1/leasing/quotes", headers={"Authorization": f"Bearer {token}"}, json=body, timeout=180
        )
        return time.perf_counter() - started

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        for _ in range(10):
            if max(pool.map(one, range(8))) < 1.0:
                return


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    import shutil

    spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).parent / "py-spy")
    if not Path(spy).exists():
        console.print("[yellow]py-spy not installed: no profile (pip install py-spy)[/]")
        return None
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-f", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _summarise_profile(path: Path) -> dict[str, Any]:
    """Share of samples by where the request was: waiting on PostgreSQL, JSON/pydantic, routing, and so on."""
    if not path.exists():
        return {}
    buckets: Counter[str] = Counter()
    total = 0
    rules = [
        ("waiting on PostgreSQL (psycopg)", ("psycopg/",)),
        ("route search (numpy/scipy)", ("routing.py",)),
        ("SQLAlchemy ORM and core", ("sqlalchemy/",)),
        ("pydantic / FastAPI", ("pydantic", "fastapi/")),
        ("argon2 / auth", ("auth.py",)),
        ("uvicorn / asyncio", ("uvicorn/", "asyncio/")),
    ]
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        leafward = stack.split(";")[::-1]
        for label, needles in rules:
            if any(any(needle in frame for needle in needles) for frame in leafward[:12]):
                buckets[label] += int(n)
                break
        else:
            buckets["other Python"] += int(n)
    return {k: round(100 * v / total, 1) for k, v in buckets.most_common()} if total else {}
