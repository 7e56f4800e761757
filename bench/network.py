"""`python -m bench network`: serving and importing a generated Batam network.

1. `items?bbox=...&limit=1000` on 100k segments: the HTTP endpoint against the very SQL statement it runs
   (captured from `queries.feature_page`), one request of each in turn. Target: p50 ratio <= 1.5.
2. Requests/s under 16 connections (wrk) for our service (one process, two SO_REUSEPORT processes,
   `uvicorn --workers 2`) and for tipg serving the same table, plus the raw-SQL ceiling (pgbench, 16 clients).
3. Import of a 10k-segment GeoPackage with full topology checks into a fresh database. Target < 30 s.
4. The service's resident memory after the load phase. Target < 500 MB.

Databases `ducting_bench_10k` (re-created on every run: the import is the thing timed) and `ducting_bench_100k`
(built once, reused while its note and row count still match; `--rebuild` forces).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_VENV,
    BenchDatabase,
    Figure,
    HttpProbe,
    Service,
    bench_database,
    console,
    free_port,
    interleaved,
    load,
    pgbench,
    report,
    service,
    stage_progress,
    stopwatch,
    uvicorn_commands,
    warn_if_busy,
)
from ducting.db import connection_options

SEED = 2026
IMPORT_DB, IMPORT_SEGMENTS = "ducting_bench_10k", 10_000
SERVING_DB, SERVING_SEGMENTS = "ducting_bench_100k", 100_000
BBOX_SEGMENTS = (1000, 1400)  # the box holds this many live segments: more than one page of LIMIT
LIMIT = 1000
DB_OPTIONS = connection_options(statement_timeout_ms=30000)  # what ducting.db.make_engine sets
TIPG_PROPERTIES = (
    "code,start_node_id,end_node_id,status,trench_type,depth_m,zone_class,length_m,"
    "kecamatan_kode,kelurahan_kode,version"
)  # the properties our collection returns
BUMD_CODE = "BUMD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rebuild", action="store_true", help=f"re-create {SERVING_DB} even if it holds the network")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per contender (latency)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--serving-segments", type=int, default=SERVING_SEGMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--no-tipg", action="store_true", help="skip tipg (no bench venv)")


def run(args: argparse.Namespace) -> int:
    figures: list[Figure] = []
    details: dict[str, Any] = {"seed": args.seed, "load_average_at_start": warn_if_busy()}

    console.rule(f"import {IMPORT_SEGMENTS:,} segments into a fresh {IMPORT_DB}")
    small = build_network(IMPORT_DB, IMPORT_SEGMENTS, args.seed)
    details["import_10k"] = asdict(small)

    console.rule(f"serving network: {args.serving_segments:,} segments")
    db, big = serving_network(args.serving_segments, args.seed, rebuild=args.rebuild)
    details["import_100k"] = asdict(big)

    serving = measure_serving(db, args)
    details["serving"] = serving

    figures += import_figures(small, big)
    figures += serving_figures(serving)
    report(
        "network",
        f"bench network  (seed {args.seed}; {serving['segments']:,} segments served; same-run comparisons)",
        figures,
        details,
    )
    return 0 if all(f.passed is not False for f in figures) else 1


# -- building the networks ------------------------------------------------------------------------------------------
@dataclass
class ImportRun:
    """One end-to-end import: read the GeoPackage, check every rule, write, commit."""

    target_segments: int
    seed: int
    segments: int = 0
    nodes: int = 0
    ducts: int = 0
    subducts: int = 0
    seconds: float = 0.0
    stages_s: dict[str, float] = field(default_factory=dict)  # seconds spent in each importer stage
    owner_fix: str | None = None
    generator: str = ""  # generator_digest() of the code that made the network
    generate_s: float = 0.0
    built_at: str = ""
    reused: bool = False


def build_network(name: str, target: int, seed: int) -> ImportRun:
    """A fresh, migrated database with the organisations, then the generated network imported and timed."""
    from ducting.db import Actor, SessionFactory, bind_actor, make_engine
    from ducting.sample import load_organisations
    from ducting.settings import get_settings
    from sample_data.generate import generate_network, write_gpkg

    run = ImportRun(target_segments=target, seed=seed, generator=generator_digest())
    api = get_settings().api  # the per-import feature limit guards uploads; a benchmark may exceed it
    api.max_import_features = max(api.max_import_features, 4 * target)
    with stage_progress() as update, stopwatch() as elapsed:
        network = generate_network(
            target_segments=target, seed=seed, progress=lambda done, total: update("generating", done, total)
        )
        run.generate_s = round(elapsed(), 2)
    db = bench_database(name, fresh=True)
    engine = make_engine(db.app_url, statement_timeout_ms=0)  # as the service connects; no limit for a bulk load
    try:
        with SessionFactory(bind=engine) as session:
            bind_actor(session, Actor.system("bench"))
            load_organisations(session)
            session.commit()
            run.owner_fix = _fix_owners(session, network)
        with tempfile.TemporaryDirectory(prefix="bench-gpkg-") as tmp:
            write_gpkg(network, Path(tmp) / "network.gpkg")
            data = (Path(tmp) / "network.gpkg").read_bytes()
        _timed_import(engine, data, run)
    finally:
        engine.dispose()
    run.built_at = datetime.now().astimezone().isoformat(timespec="seconds")
    console.print(
        f"  imported {run.segments:,} segments, {run.nodes:,} nodes, {run.ducts:,} ducts, "
        f"{run.subducts:,} subducts in [bold]{run.seconds:.1f} s[/] "
        f"({', '.join(f'{k} {v:.1f}' for k, v in run.stages_s.items())})"
    )
    if run.owner_fix:
        console.print(f"  [yellow]note:[/] {run.owner_fix}")
    return run


def _timed_import(engine: Any, data: bytes, run: ImportRun) -> None:
    """Read the GeoPackage, import it with every check, commit: the clock runs over all of it."""
    from ducting.db import Actor, SessionFactory, bind_actor
    from ducting.network.importer import import_layers
    from gis.io import read_layers

    with SessionFactory(bind=engine) as session, stage_progress() as update:
        bind_actor(session, Actor.system("bench"))
        with stopwatch() as elapsed:
            starts = {"reading the file": 0.0}

            def progress(stage: str, done: int, total: int) -> None:
                starts.setdefault(stage, elapsed())
                update(stage, done, total)

            result = import_layers(session, read_layers(data, "x.gpkg"), dry_run=False, progress=progress)
            starts["commit"] = elapsed()
            session.commit()
            run.seconds = round(elapsed(), 2)
    starts.pop("done", None)
    marks = sorted(starts.items(), key=lambda kv: kv[1]) + [("end", run.seconds)]
    run.stages_s = {a[0]: round(b[1] - a[1], 2) for a, b in itertools.pairwise(marks)}
    run.nodes, run.segments = result.nodes.create, result.segments.create
    run.ducts, run.subducts = result.ducts, result.subducts


def generator_digest() -> str:
    """A fingerprint of the generator's code: a network built by other code is not the right network."""
    import hashlib

    import sample_data

    digest = hashlib.sha256()
    for path in sorted(Path(sample_data.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _fix_owners(session: Any, network: Any) -> str | None:
    """Owner names the importer would not resolve are set to the BUMD's code; says what it changed."""
    from sqlalchemy import text

    rows = session.execute(text("SELECT code, name FROM organisation")).all()
    known = {r.code for r in rows} | {r.code.lower() for r in rows} | {r.name.lower() for r in rows}
    owners = network.nodes["owner"]
    unknown = owners.notna() & ~owners.map(lambda v: v in known or str(v).lower() in known)
    if not unknown.any():
        return None
    names = sorted(set(owners[unknown]))
    network.nodes.loc[unknown, "owner"] = BUMD_CODE
    return (
        f"the generator's node owner {', '.join(map(repr, names))} matches no organisation code or name; "
        f"set to {BUMD_CODE!r} on {int(unknown.sum()):,} nodes before writing the GeoPackage"
    )


def serving_network(target: int, seed: int, *, rebuild: bool) -> tuple[BenchDatabase, ImportRun]:
    """The serving database, reused when its note (target, seed, count) matches what it holds."""
    name = SERVING_DB if target == SERVING_SEGMENTS else f"ducting_bench_{target // 1000}k"
    if not rebuild:
        db = bench_database(name)
        note = db.note()
        wanted = {"target_segments": target, "seed": seed, "generator": generator_digest()}
        if note and all(note.get(k) == v for k, v in wanted.items()):
            count = db.scalar("SELECT count(*) FROM route_segment WHERE removed_at IS NULL")
            if count == note.get("segments"):
                run = ImportRun(**{k: v for k, v in note.items() if k in ImportRun.__dataclass_fields__})
                run.reused = True
                console.print(
                    f"  reusing {name}: {count:,} segments, built {run.built_at} (import took {run.seconds:.1f} s then)"
                )
                return db, run
        why = "no note on it" if not note else "built from another generator, seed or size"
        console.print(f"  {name} does not hold this network ({why}); building it")
    run = build_network(name, target, seed)
    db = bench_database(name)
    with stage_progress() as update:
        update("vacuum analyze", 0, 1)
        _vacuum_analyze(db)
        update("vacuum analyze", 1, 1)
    db.set_note(asdict(run))
    return db, run


def _vacuum_analyze(db: BenchDatabase) -> None:
    """A freshly loaded table has no statistics and no visibility map: serve it as a settled database would."""
    import psycopg

    with psycopg.connect(db.libpq(owner=True), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) route_segment, node, duct, subduct")


# -- serving --------------------------------------------------------------------------------------------------------
def bench_token(db: BenchDatabase) -> str:
    """A fresh bearer token of an auditor account (created once) in the benchmark database."""
    from sqlalchemy import select

    from ducting.accounts.models import Account
    from ducting.accounts.vocab import Role
    from ducting.auth import issue_token
    from ducting.db import Actor, SessionFactory, bind_actor, make_engine

    engine = make_engine(db.app_url)
    try:
        with SessionFactory(bind=engine) as session:
            bind_actor(session, Actor.system("bench"))
            account = session.scalar(select(Account).where(Account.username == "bench-auditor"))
            if account is None:
                account = Account(username="bench-auditor", full_name="Benchmark reader", role=Role.AUDITOR)
                session.add(account)
                session.flush()
            token, _ = issue_token(session, account=account, name="bench network", ttl=timedelta(hours=2))
            session.commit()
    finally:
        engine.dispose()
    return token


def dense_bbox(db: BenchDatabase) -> tuple[tuple[float, float, float, float], int]:
    """A square around the densest 0.01° cell holding BBOX_SEGMENTS live segments (by a search on its size)."""
    import psycopg

    from gis.crs import WGS84

    low, high = BBOX_SEGMENTS
    with psycopg.connect(db.libpq()) as conn:
        cx, cy = conn.execute("""
            SELECT (gx + 0.5) * 0.01, (gy + 0.5) * 0.01 FROM (
                SELECT floor(ST_X(c) / 0.01) gx, floor(ST_Y(c) / 0.01) gy, count(*) n
                FROM (SELECT ST_Centroid(geom) c FROM route_segment WHERE removed_at IS NULL) s
                GROUP BY 1, 2 ORDER BY n DESC LIMIT 1) d""").fetchone()

        def box(half: float) -> tuple[tuple[float, float, float, float], int]:
            b = (round(cx - half, 5), round(cy - half, 5), round(cx + half, 5), round(cy + half, 5))
            n = conn.execute(
                "SELECT count(*) FROM route_segment WHERE removed_at IS NULL"
                " AND geom && ST_MakeEnvelope(%s, %s, %s, %s, %s)",
                (*b, WGS84),
            ).fetchone()[0]
            return b, n

        lo, hi = 0.0005, 0.2
        for _ in range(40):
            half = (lo + hi) / 2
            b, n = box(half)
            if low <= n <= high:
                return b, n
            lo, hi = (half, hi) if n < low else (lo, half)
    raise RuntimeError(f"no box around ({cx}, {cy}) holds {low}-{high} segments")


def captured_statement(db: BenchDatabase, bbox: tuple[float, float, float, float]) -> tuple[str, dict[str, Any], int]:
    """The SQL text and parameters that `queries.feature_page` sends for this request, and its feature count."""
    from sqlalchemy import event

    from ducting.db import SessionFactory, make_engine
    from ducting.network import queries

    engine = make_engine(db.app_url)
    seen: list[tuple[str, Any]] = []
    event.listen(
        engine, "before_cursor_execute", lambda conn, cur, stmt, params, ctx, many: seen.append((stmt, params))
    )
    try:
        with SessionFactory(bind=engine) as session:
            _, returned, _ = queries.feature_page(
                session, queries.COLLECTIONS["segments"], bbox=bbox, limit=LIMIT, offset=0, as_of=None, equals={}
            )
    finally:
        engine.dispose()
    statement, params = seen[-1]
    return statement, dict(params), returned


def our_service(db: BenchDatabase, *, processes: int = 1, mode: str = "single"):
    port = free_port()
    env = {"DATABASE_URL": db.app_url, "DUCTING_ENV": "test"}
    cmds = uvicorn_commands("ducting.app:create_app", port=port, factory=True, processes=processes, mode=mode)
    return service(
        f"ducting-{mode}-{processes}",
        cmds,
        port=port,
        env=env,
        ready_path="/openapi.json",
        cwd=Path(__file__).resolve().parent.parent,
    )


def tipg_service(db: BenchDatabase):
    """tipg from its own venv, configured for route_segment's `geom` (it also has `geom_m`)."""
    port = free_port()
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"no {python}: create it with `python -m venv {BENCH_VENV}` and "
            f"`{BENCH_VENV}/bin/pip install tipg 'uvicorn[standard]'`"
        )
    env = {
        "DATABASE_URL": db.libpq(),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.route_segment"]',
        "TIPG_TABLE_CONFIG__public_route_segment__geomcol": "geom",
        "TIPG_TABLE_CONFIG__public_route_segment__pk": "id",
    }
    cmds = uvicorn_commands("tipg.main:app", port=port, python=str(python))
    return service("tipg", cmds, port=port, env=env, ready_path="/healthz")


def tipg_version() -> str | None:
    import subprocess

    python = BENCH_VENV / "bin" / "python"
    done = subprocess.run([str(python), "-c", "import tipg; print(tipg.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() or None


OURS, SQL, TIPG = "ours", "same SQL", "tipg"
OURS_REUSEPORT, OURS_WORKERS = "ours x2 (SO_REUSEPORT)", "ours x2 (uvicorn --workers 2)"


@dataclass
class Contender:
    """A server answering the benchmark request."""

    service: Service
    path: str
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.service.base_url + self.path


def measure_serving(db: BenchDatabase, args: argparse.Namespace) -> dict[str, Any]:
    """Every server runs at once (idle ones cost nothing), so the one-client timings interleave them all."""
    import psycopg

    bbox, in_box = dense_bbox(db)
    bbox_text = ",".join(f"{v:.5f}" for v in bbox)
    statement, params, returned = captured_statement(db, bbox)
    console.print(f"  bbox {bbox_text} holds {in_box:,} segments; a page returns {returned:,}")
    out: dict[str, Any] = {
        "segments": db.scalar("SELECT count(*) FROM route_segment"),
        "bbox": bbox,
        "segments_in_bbox": in_box,
        "limit": LIMIT,
        "sql": " ".join(statement.split()),
        "sql_params": params,
        "postgres": db.scalar("SELECT version()"),
        "postgis": db.scalar("SELECT postgis_lib_version()"),
        "tipg_version": None if args.no_tipg else tipg_version(),
    }
    with ExitStack() as stack:
        servers = _start_servers(stack, db, bbox_text, tipg=not args.no_tipg)
        out["paths"] = {name: c.path for name, c in servers.items()}
        out["response_bytes"] = {
            name: len(HttpProbe(c.service.base_url, c.headers).get_ok(c.path)) for name, c in servers.items()
        }
        sql_conn = stack.enter_context(psycopg.connect(db.libpq(), autocommit=True, options=DB_OPTIONS))
        literal_sql = psycopg.ClientCursor(sql_conn).mogrify(statement, params)
        contenders: dict[str, Callable[[], object]] = {SQL: lambda: sql_conn.execute(statement, params).fetchone()}
        for name, c in servers.items():
            probe = HttpProbe(c.service.base_url, c.headers)
            stack.callback(probe.close)
            contenders[name] = lambda probe=probe, path=c.path: probe.get_ok(path)
        console.print(f"  one client: {', '.join(contenders)}, in turn, {args.requests} requests each")
        timings = interleaved(contenders, n=args.requests, label="one client")
        out["latency"] = {k: t.summary() for k, t in timings.items()}
        out["latency_ratio_p50"] = round(timings[OURS].p50_ms / timings[SQL].p50_ms, 2)
        out["latency_ratio_p95"] = round(timings[OURS].p95_ms / timings[SQL].p95_ms, 2)
        out["load"], out["memory"] = {}, {}
        for name, c in servers.items():
            out["load"][name] = _load(name, c.url, c.headers, args)
            out["memory"][name] = _memory(c.service)  # after its own load phase
    console.print(f"  load: {SQL} (pgbench, {args.connections} clients, {args.duration} s)")
    out["load"][SQL] = asdict(pgbench(db.libpq(), literal_sql, clients=args.connections, duration_s=args.duration))
    return out


def _start_servers(stack: ExitStack, db: BenchDatabase, bbox_text: str, *, tipg: bool) -> dict[str, Contender]:
    auth = {"Authorization": f"Bearer {bench_token(db)}"}
    ours_path = f"/api/v1/collections/segments/items?bbox={bbox_text}&limit={LIMIT}"
    servers = {OURS: Contender(stack.enter_context(our_service(db)), ours_path, auth)}
    if tipg:  # the same properties, order and geometry column as ours
        tipg_path = (
            f"/collections/public.route_segment/items?bbox={bbox_text}&limit={LIMIT}&geom-column=geom"
            f"&sortby=id&properties={TIPG_PROPERTIES}"
        )
        servers[TIPG] = Contender(stack.enter_context(tipg_service(db)), tipg_path, {})
    servers[OURS_REUSEPORT] = Contender(
        stack.enter_context(our_service(db, processes=2, mode="reuseport")), ours_path, auth
    )
    servers[OURS_WORKERS] = Contender(
        stack.enter_context(our_service(db, processes=2, mode="workers")), ours_path, auth
    )
    return servers


def _load(name: str, url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    console.print(f"  load: {name} ({args.connections} connections, {args.duration} s)")
    result = load(url, headers=headers, connections=args.connections, duration_s=args.duration)
    if not result.ok:
        console.print(f"  [red]{name}: {result.bad_responses} bad responses of {result.requests}[/]")
    return asdict(result)


def _memory(svc: Service) -> dict[str, Any]:
    per = {pid: asdict(m) for pid, m in svc.memory().items()}
    return {
        "per_process": per,
        "rss_mb": round(sum(m["rss_mb"] for m in per.values()), 1),
        "hwm_mb": round(max(m["hwm_mb"] for m in per.values()), 1),
    }


# -- figures --------------------------------------------------------------------------------------------------------
def import_figures(small: ImportRun, big: ImportRun) -> list[Figure]:
    big_note = f"{big.nodes:,} nodes" + (f"; measured when built, {big.built_at[:16]}" if big.reused else "")
    return [
        Figure(
            "import_10k_s",
            f"import {small.segments:,} segments (GeoPackage, all checks, commit)",
            small.seconds,
            "s",
            ("<", 30),
            note=f"{small.nodes:,} nodes" + ("; node owners renamed, see JSON" if small.owner_fix else ""),
        ),
        Figure(
            "import_100k_s", f"import {big.segments:,} segments (information)", big.seconds, "s", None, note=big_note
        ),
    ]


def serving_figures(s: dict[str, Any]) -> list[Figure]:
    lat, loads, mem, size = s["latency"], s["load"], s["memory"], s["response_bytes"]
    figs = [
        Figure(
            "items_http_p50_ms",
            "items?bbox&limit=1000: HTTP, p50",
            lat[OURS]["p50_ms"],
            "ms",
            note=f"p95 {lat[OURS]['p95_ms']:.1f} ms; {size[OURS] / 1024:.0f} KiB",
        ),
        Figure(
            "items_sql_p50_ms",
            "the same SQL statement, p50",
            lat[SQL]["p50_ms"],
            "ms",
            note=f"p95 {lat[SQL]['p95_ms']:.1f} ms",
        ),
        Figure(
            "items_ratio_p50",
            "HTTP / SQL, p50",
            s["latency_ratio_p50"],
            "x",
            ("<=", 1.5),
            note=f"p95 ratio {s['latency_ratio_p95']:.2f}",
        ),
    ]
    for name in (TIPG, OURS_REUSEPORT, OURS_WORKERS):
        if name in lat:
            figs.append(
                Figure(
                    f"one_client_p50_ms:{name}",
                    f"one client p50: {name}",
                    lat[name]["p50_ms"],
                    "ms",
                    note=f"p95 {lat[name]['p95_ms']:.1f} ms; {size[name] / 1024:.0f} KiB",
                )
            )
    for name, r in loads.items():
        lat_ms = r["latency_ms"]
        shown = f"p50 {lat_ms['p50']:.0f} ms" if "p50" in lat_ms else f"mean {lat_ms.get('mean', 0):.0f} ms"
        bad = f"; [red]{r['bad_responses']} bad[/]" if r["bad_responses"] else ""
        figs.append(
            Figure(
                f"rps:{name}",
                f"req/s, {r['connections']} connections: {name}",
                r["requests_per_s"] if r["requests"] else None,
                "req/s",
                note=f"{r['tool']}, {shown}{bad}",
            )
        )
    if loads.get(TIPG, {}).get("requests_per_s"):
        figs.append(
            Figure(
                "rps_ours_over_tipg",
                "req/s: ours / tipg",
                round(loads[OURS]["requests_per_s"] / loads[TIPG]["requests_per_s"], 2),
                "x",
            )
        )
    figs += [
        Figure("rss_mb", "service VmRSS after load", mem[OURS]["rss_mb"], "MB", ("<", 500), note="one process"),
        Figure("hwm_mb", "service VmHWM (peak)", mem[OURS]["hwm_mb"], "MB", ("<", 500)),
    ]
    for name in (TIPG, OURS_REUSEPORT, OURS_WORKERS):
        if name in mem:
            figs.append(
                Figure(
                    f"rss_mb:{name}",
                    f"VmRSS after load: {name}",
                    mem[name]["rss_mb"],
                    "MB",
                    note="sum of processes" if len(mem[name]["per_process"]) > 1 else "",
                )
            )
    return figs


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - `python -m bench network` is the way in
    parser = argparse.ArgumentParser(prog="python -m bench network")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
