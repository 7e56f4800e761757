"""Issue 6's figures: the planner map's first meaningful paint in Chromium, and vector tiles over the dense centre
of the 100k network against the raw `ST_AsMVT` statement and tipg, in the same run.

* First meaningful paint: Debian's Chromium (Playwright) signs in, opens /peta with the whole Batam sample on a
  loopback service, and reads `performance.mark("bedelau:map-ready")` (set when the first view's segment and
  boundary tiles are drawn), relative to navigation start. A new browser context per load: no warm cache.
* Tiles: the z14/15/16 tile holding the densest cell of `ducting_bench_100k` (built by `python -m bench network`).
  "Raw" is the very statement the endpoint sends (the token check and the tile in one), on a psycopg connection
  with the pool's settings and the tile read in binary as the endpoint reads it, timed by the client as the HTTP
  request is: one round trip each. Contenders alternate request by request (`interleaved`). tipg serves
  `public.route_segment` from its own venv.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from bench.common import Figure, HttpProbe, bench_database, console, interleaved, load, report, stopwatch, warn_if_busy
from ducting.db import connection_options

SAMPLE_DB = "ducting_bench_sample"
ZOOMS = (14, 15, 16)
FMP_TARGET_MS = 1500
RATIO_TARGET = 1.3
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=300, help="timed tiles per contender and zoom")
    parser.add_argument("--loads", type=int, default=7, help="page loads for the first meaningful paint")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each 16-client load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-tipg", action="store_true", help="skip tipg (no bench venv)")
    parser.add_argument("--skip-paint", action="store_true")
    parser.add_argument("--skip-tiles", action="store_true")


def run(args: argparse.Namespace) -> int:
    figures: list[Figure] = []
    details: dict[str, Any] = {"load_average_at_start": warn_if_busy()}
    if not args.skip_paint:
        console.rule("first meaningful paint of the planner map (the Batam sample)")
        paint = first_paint(args.loads)
        details["paint"] = paint
        figures.append(
            Figure(
                "fmp_ms",
                f"planner map first meaningful paint, median of {len(paint['ms'])} loads",
                paint["median_ms"],
                "ms",
                ("<", FMP_TARGET_MS),
                f"min {min(paint['ms']):.0f}, max {max(paint['ms']):.0f}; {paint['tiles']} tile requests",
            )
        )
    if not args.skip_tiles:
        console.rule("vector tiles over the dense centre of the 100k network")
        tiles = measure_tiles(args)
        details["tiles"] = tiles
        figures += tile_figures(tiles)
    report("tiles", "bench tiles  (same-run comparisons)", figures, details)
    return 0 if all(f.passed is not False for f in figures) else 1


# -- first meaningful paint -----------------------------------------------------------------------------------------
def sample_database() -> Any:
    """A benchmark database holding the Batam sample and its demo accounts, built once and reused."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from ducting import sample
    from ducting.db import Actor, bind_actor

    db = bench_database(SAMPLE_DB)
    note = db.note() or {}
    if note.get("sample") == "batam":
        return db
    engine = create_engine(db.app_url)
    with Session(engine) as s, stopwatch() as elapsed:
        bind_actor(s, Actor.system("bench tiles"))
        sample.load_organisations(s)
        sample.load_demo_accounts(s)
        if sample.network_is_empty(s):
            sample.load_network(s)
        s.commit()
        console.print(f"  loaded the sample in {elapsed():.1f} s")
    engine.dispose()
    db.set_note({"sample": "batam"})
    return db


def first_paint(loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from bench.network import our_service

    db = sample_database()
    ms: list[float] = []
    requests = 0
    with our_service(db) as svc, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        for i in range(loads + 1):  # the first load warms the service (imports, pools), and is not counted
            ctx = browser.new_context(base_url=svc.base_url, viewport={"width": 1366, "height": 860})
            ctx.route("https://**/*", lambda route: route.abort())  # loopback only: no OpenStreetMap
            page = ctx.new_page()
            seen: list[str] = []
            page.on("request", lambda r: seen.append(r.url) if "/tiles/" in r.url else None)
            page.goto("/masuk")
            page.fill("#username", "perencana")
            page.fill("#password", "perencana-2026")
            page.press("#password", "Enter")
            page.wait_for_url("**/peta")
            page.goto("/peta")  # a fresh navigation of the map page, signed in
            page.wait_for_selector("#map[data-ready]", timeout=30_000)
            value = page.evaluate("performance.getEntriesByName('bedelau:map-ready')[0].startTime")
            if i:
                ms.append(float(value))
                requests = len(seen)
            ctx.close()
        browser.close()
    return {"ms": [round(v, 1) for v in ms], "median_ms": round(statistics.median(ms), 1), "tiles": requests}


# -- tiles ----------------------------------------------------------------------------------------------------------
def built_serving_database() -> Any:
    """`ducting_bench_100k` as `python -m bench network` left it. Never built here: that benchmark owns it (and
    re-creating it under a running build would cut that build's connections)."""
    from bench.common import BenchDatabase, local_cluster
    from bench.network import SERVING_DB
    from ducting.localdb import APP_ROLE, OWNER_ROLE

    cluster = local_cluster()
    db = BenchDatabase(
        SERVING_DB, cluster.url(role=APP_ROLE, dbname=SERVING_DB), cluster.url(role=OWNER_ROLE, dbname=SERVING_DB)
    )
    try:
        note = db.note() or {}
    except Exception as exc:
        raise SystemExit(f"{SERVING_DB} is not there ({exc}); build it with `python -m bench network`") from exc
    if not note.get("segments"):
        raise SystemExit(
            f"{SERVING_DB} holds no finished network yet (a build may be running); "
            f"run `python -m bench network` first, then this"
        )
    return db


def dense_tiles(db: Any) -> dict[int, Any]:
    from bench.network import dense_bbox
    from gis.tiles import tile_at

    bbox, _ = dense_bbox(db)
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return {z: tile_at(cx, cy, z) for z in ZOOMS}


def measure_tiles(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from bench.network import bench_token, our_service, tipg_service
    from ducting.network.tiles import LAYERS, TOKEN_CHECK, tile_params

    db = built_serving_database()
    token = bench_token(db)
    tiles = dense_tiles(db)
    sql = LAYERS["segments"].sql()
    auth_sql = f"SELECT {TOKEN_CHECK}"
    floor_path = f"/tiles/segments/{LAYERS['segments'].min_zoom - 1}/0/0.pbf"
    out: dict[str, Any] = {
        "segments": db.scalar("SELECT count(*) FROM route_segment WHERE removed_at IS NULL"),
        "tiles": {z: f"{t.z}/{t.x}/{t.y}" for z, t in tiles.items()},
        "zooms": {},
    }
    options = connection_options(statement_timeout_ms=30000) + " -c max_parallel_workers_per_gather=0"
    tipg_ctx = None if args.no_tipg else tipg_service(db)
    with our_service(db) as ours, psycopg.connect(db.libpq(), autocommit=True, options=options) as conn:
        probe = HttpProbe(ours.base_url, {"Authorization": f"Bearer {token}"})
        tipg = tipg_ctx.__enter__() if tipg_ctx else None
        try:
            tprobe = HttpProbe(tipg.base_url) if tipg else None
            for z, t in tiles.items():
                params = tile_params(t, token)
                path = f"/tiles/segments/{t.z}/{t.x}/{t.y}.pbf"
                raw_size = len(conn.execute(sql, params, prepare=True, binary=True).fetchone()[1] or b"")
                contenders = {
                    "raw": lambda: conn.execute(sql, params, prepare=True, binary=True).fetchone(),
                    "ours": lambda: probe.get_ok(path),
                    # the endpoint's cheapest answer (a tile below the layer's minimum zoom: the token
                    # check alone) and that statement alone: their difference is the fixed HTTP cost
                    "floor": lambda: probe.get(floor_path),
                    "floor_raw": lambda: conn.execute(auth_sql, {"token": params["token"]}, prepare=True).fetchone(),
                }
                tpath = f"/collections/public.route_segment/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
                if tprobe:
                    contenders["tipg"] = lambda: tprobe.get_ok(tpath)
                timings = interleaved(contenders, n=args.requests, warmup=20, label=f"z{z}")
                out["zooms"][z] = {name: tm.summary() for name, tm in timings.items()} | {
                    "bytes": {
                        "ours": len(probe.get_ok(path)),
                        "raw": raw_size,
                        "tipg": len(tprobe.get_ok(tpath)) if tprobe else None,
                    }
                }
            t14 = tiles[14]
            url = f"{ours.base_url}/tiles/segments/{t14.z}/{t14.x}/{t14.y}.pbf"
            out["load"] = {
                "ours": vars(
                    load(
                        url,
                        headers={"Authorization": f"Bearer {token}"},
                        connections=args.connections,
                        duration_s=args.duration,
                    )
                )
            }
            if tipg:
                turl = f"{tipg.base_url}/collections/public.route_segment/tiles/WebMercatorQuad/{t14.z}/{t14.x}/{t14.y}"
                out["load"]["tipg"] = vars(load(turl, connections=args.connections, duration_s=args.duration))
            probe.close()
        finally:
            if tipg_ctx:
                tipg_ctx.__exit__(None, None, None)
    return out


def tile_figures(s: dict[str, Any]) -> list[Figure]:
    """The issue's targets: z14 within 1.3x of raw; at every zoom, a smaller ratio (and time) than tipg's. z15/16
    ratios are printed against 1.3x too, with the fixed HTTP cost beside them (the endpoint's token-check-only
    answer less that statement alone): against a raw tile of ~1.5 ms, a few tenths of a millisecond is the margin."""
    figures = []
    for z, row in s["zooms"].items():
        z = int(z)
        raw, ours, floor = row["raw"]["p50_ms"], row["ours"]["p50_ms"], row["floor"]["p50_ms"]
        fixed = floor - row["floor_raw"]["p50_ms"] if "floor_raw" in row else None
        figures.append(
            Figure(
                f"z{z}_raw_ms",
                f"z{z} tile {s['tiles'][z]}: raw ST_AsMVT p50",
                raw,
                "ms",
                note=f"{row['bytes']['raw'] / 1024:.0f} KiB",
            )
        )
        figures.append(
            Figure(
                f"z{z}_ours_ms",
                f"z{z}: /tiles p50 over HTTP",
                ours,
                "ms",
                note=f"token-check-only tile {floor:.2f} ms"
                + (f"; fixed HTTP cost {fixed:.2f} ms" if fixed is not None else ""),
            )
        )
        figures.append(Figure(f"z{z}_ratio", f"z{z}: ours / raw, p50", round(ours / raw, 2), "x", ("<=", RATIO_TARGET)))
        if "tipg" in row:
            tipg = row["tipg"]["p50_ms"]
            figures.append(
                Figure(
                    f"z{z}_tipg_ratio",
                    f"z{z}: tipg / raw, p50 (information)",
                    round(tipg / raw, 2),
                    "x",
                    note=f"tipg p50 {tipg:.2f} ms",
                )
            )
            figures.append(
                Figure(
                    f"z{z}_ours_over_tipg",
                    f"z{z}: ours / tipg, p50 (beat tipg)",
                    round(ours / tipg, 2),
                    "x",
                    ("<", 1.0),
                )
            )
    load_runs = s.get("load", {})
    for name, res in load_runs.items():
        figures.append(
            Figure(
                f"tiles_per_s_{name}",
                f"z14 tiles/s, {res['connections']} clients: {name}",
                res["requests_per_s"],
                "tiles/s",
                note=f"{res['tool']}; bad {res['bad_responses']}",
            )
        )
    if "tipg" in load_runs:
        figures.append(
            Figure(
                "tiles_per_s_ratio",
                "z14 tiles/s ours / tipg (beat tipg)",
                round(load_runs["ours"]["requests_per_s"] / load_runs["tipg"]["requests_per_s"], 2),
                "x",
                (">", 1.0),
            )
        )
    return figures
