"""Issue 5 figures: a full compliance rule run over 200,000 aerial spans against the 100k-segment network; the
duct_available rule against the plain "spans within 10 m of a segment with free capacity" ST_DWithin join, in the
same run; and re-evaluation after one survey of 500 observations.

The database `ducting_bench_compliance` is a copy of the network benchmark's 100k database (`ducting_bench_100k`,
built by `python -m bench network` when missing) migrated to every head, plus a seeded overhead world: poles and
spans along and beside the generated streets (some within 15 m of and parallel to duct routes, some 18-35 m off),
cables of the sample operators, one survey round of observations, three no-overhead zones, and part of the
capacity taken (reserved or leased) so "free" is a real filter. Reused while its note matches.

    python -m bench compliance [--spans 200000] [--rebuild]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import psycopg
import shapely

from bench.common import BenchDatabase, Figure, console, local_cluster, report, stage_progress
from ducting.localdb import APP_ROLE, OWNER_ROLE
from gis.crs import UTM48N, WGS84

NAME = "ducting_bench_compliance"
SOURCE = "ducting_bench_100k"
SEED = 2026


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spans", type=int, default=200_000, help="aerial spans to generate")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the overhead world")
    parser.add_argument("--repeats", type=int, default=3, help="timings of the join and the rule (median)")


@dataclass
class World:
    spans: int = 0
    poles: int = 0
    attachments: int = 0
    observations: int = 0
    seconds: float = 0.0
    seed: int = SEED


def database(*, rebuild: bool, spans: int) -> tuple[BenchDatabase, World]:
    from ducting.migrate import upgrade

    cluster = local_cluster()
    db = BenchDatabase(NAME, cluster.url(role=APP_ROLE, dbname=NAME), cluster.url(role=OWNER_ROLE, dbname=NAME))
    exists = cluster.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{NAME}'", capture=True).strip()
    if exists == "1" and not rebuild:
        note = db.note() or {}
        if abs(note.get("spans", 0) - spans) <= spans * 0.01 and note.get("seed") == SEED:
            console.print(f"  reusing {NAME}: {spans:,} spans, built in {note.get('seconds')} s")
            upgrade("heads", url=db.owner_url)  # the schema measured is the schema of this checkout
            return db, World(**{k: v for k, v in note.items() if k in World.__dataclass_fields__})
    src = cluster.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{SOURCE}'", capture=True).strip()
    if src != "1":
        raise SystemExit(f"{SOURCE} is missing: run `python -m bench network` first (it builds the 100k network)")
    cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    cluster.psql("postgres", f'CREATE DATABASE "{NAME}" TEMPLATE "{SOURCE}" OWNER {OWNER_ROLE}')
    upgrade("heads", url=db.owner_url)
    world = build_world(db, spans)
    db.set_note(asdict(world))
    return db, world


# -- the overhead world ---------------------------------------------------------------------------------------------
def _chains(conn: psycopg.Connection, target: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pole positions (UTM) per chain: one chain along each street segment, offset to one side."""
    rows = conn.execute(
        "SELECT id, ST_AsBinary(geom_m) FROM route_segment WHERE removed_at IS NULL ORDER BY id"
    ).fetchall()
    lines = shapely.from_wkb([r[1] for r in rows])
    lengths = shapely.length(lines)
    spacing = 52.0 + rng.random(len(lines)) * 20  # 52-72 m: a span parallel to its street passes the 50 m test
    n = np.maximum(1, np.round(lengths / spacing)).astype(int)
    scale = target / n.sum()
    n = np.maximum(1, np.floor(n * scale + rng.random(len(n)))).astype(int)
    near = rng.random(len(lines)) < 0.6
    offset = np.where(near, 4 + rng.random(len(lines)) * 8, 18 + rng.random(len(lines)) * 17)
    offset *= np.where(rng.random(len(lines)) < 0.5, 1, -1)
    chains = []
    total = 0
    for line, k, off in zip(lines, n, offset):
        if total >= target:
            break
        side = shapely.offset_curve(line, float(off))
        if side.is_empty or side.geom_type != "LineString":
            continue
        k = min(int(k), target - total)
        pts = shapely.get_coordinates(shapely.line_interpolate_point(side, np.linspace(0, 1, k + 1), normalized=True))
        chains.append(pts)
        total += k
    return np.array([len(c) - 1 for c in chains]), chains


def _copy(conn: psycopg.Connection, sql: str, rows: Any) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def build_world(db: BenchDatabase, target: int) -> World:
    from gis.crs import transformer

    rng = np.random.default_rng(SEED)
    world = World()
    started = time.perf_counter()
    inv = transformer(UTM48N, WGS84)
    with psycopg.connect(db.libpq(owner=True)) as conn, stage_progress() as update:
        conn.execute("SET statement_timeout = 0")
        update("laying out poles", 0, 1)
        counts, chains = _chains(conn, target, rng)
        ops = [r[0] for r in conn.execute("SELECT id FROM organisation WHERE kind = 'operator' ORDER BY id")]
        base_node = conn.execute("SELECT coalesce(max(id), 0) FROM node").fetchone()[0] + 1
        base_span = conn.execute("SELECT coalesce(max(id), 0) FROM aerial_span").fetchone()[0] + 1
        pole_xy = np.concatenate(chains)
        lon, lat = inv.transform(pole_xy[:, 0], pole_xy[:, 1])
        pole_ids = base_node + np.arange(len(pole_xy))
        update("laying out poles", 1, 1)
        update("writing poles", 0, len(pole_ids))
        _copy(
            conn,
            "COPY node (id, code, kind, status, geom) FROM STDIN",
            (
                (int(i), f"PL-B-{int(i)}", "pole", "operational", f"SRID={WGS84};POINT({x:.8f} {y:.8f})")
                for i, x, y in zip(pole_ids, lon, lat)
            ),
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('node', 'id'), (SELECT max(id) FROM node))")
        update("writing poles", len(pole_ids), len(pole_ids))
        starts = np.concatenate([[0], np.cumsum([len(c) for c in chains])[:-1]])
        a = np.concatenate([s + np.arange(k) for s, k in zip(starts, counts)])
        span_ids = base_span + np.arange(len(a))
        classes = rng.choice(["arterial", "collector", "local", "none"], len(a), p=[0.15, 0.25, 0.4, 0.2])
        update("writing spans", 0, len(a))
        kec = _kecamatan(conn, pole_xy[a])
        _copy(
            conn,
            "COPY aerial_span (id, from_pole_id, to_pole_id, crosses_road, road_class, kecamatan_kode, geom)"
            " FROM STDIN",
            (
                (
                    int(i),
                    int(pole_ids[p]),
                    int(pole_ids[p + 1]),
                    bool(c != "none"),
                    str(c),
                    k,
                    f"SRID={WGS84};LINESTRING({lon[p]:.8f} {lat[p]:.8f},{lon[p + 1]:.8f} {lat[p + 1]:.8f})",
                )
                for i, p, c, k in zip(span_ids, a, classes, kec)
            ),
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('aerial_span', 'id'), (SELECT max(id) FROM aerial_span))")
        update("writing spans", len(a), len(a))
        world.poles, world.spans = len(pole_ids), len(a)
        world.attachments = _attachments(conn, rng, span_ids, pole_ids, ops, update)
        world.observations = _survey(conn, rng, span_ids, classes, pole_ids, update)
        _zones_agreements_capacity(conn, rng, ops)
        update("analyze", 0, 1)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE node, aerial_span, cable_attachment, observation, subduct, allocation")
        update("analyze", 1, 1)
    world.seconds = round(time.perf_counter() - started, 1)
    console.print(
        f"  built {world.spans:,} spans, {world.poles:,} poles, {world.attachments:,} cables, "
        f"{world.observations:,} observations in {world.seconds:.0f} s"
    )
    return world


def _kecamatan(conn: psycopg.Connection, xy: np.ndarray) -> list[str | None]:
    """Area codes for span starts, set-based (the per-row trigger would look each one up)."""
    import geopandas as gpd

    areas = conn.execute(
        f"SELECT kode, ST_AsBinary(ST_Transform(geom, {UTM48N})) FROM admin_area WHERE level = 'kecamatan'"
    ).fetchall()
    polys = gpd.GeoDataFrame(
        {"kode": [r[0] for r in areas]}, geometry=shapely.from_wkb([r[1] for r in areas]), crs=UTM48N
    )
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=UTM48N)
    hit = gpd.sjoin_nearest(pts, polys, how="left").groupby(level=0).first()
    return list(hit["kode"].reindex(range(len(xy))))


def _attachments(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    span_ids: np.ndarray,
    pole_ids: np.ndarray,
    ops: list[int],
    update: Any,
) -> int:
    per_span = rng.integers(1, 6, len(span_ids))  # 1-5 cables
    span_of = np.repeat(span_ids, per_span)
    n = len(span_of)
    op = rng.choice(ops, n)
    unknown = rng.random(n) < 0.05
    kinds = rng.choice(["fiber", "copper", "coax", "drop"], n, p=[0.55, 0.2, 0.1, 0.15])
    tag = rng.random(n) > 0.2
    dead = rng.random(n) < 0.03
    update("writing cables", 0, n)
    _copy(
        conn,
        "COPY cable_attachment (span_id, operator_id, cable_type, owner_tag, is_dead) FROM STDIN",
        (
            (int(s), None if u else int(o), str(k), bool(t), bool(d))
            for s, o, u, k, t, d in zip(span_of, op, unknown, kinds, tag, dead)
        ),
    )
    on_pole = pole_ids[rng.random(len(pole_ids)) < 0.05]
    _copy(
        conn,
        "COPY cable_attachment (pole_id, operator_id, cable_type, owner_tag) FROM STDIN",
        ((int(p), int(rng.choice(ops)), "drop", True) for p in on_pole),
    )
    update("writing cables", n, n)
    return n + len(on_pole)


def _survey(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    span_ids: np.ndarray,
    classes: np.ndarray,
    pole_ids: np.ndarray,
    update: Any,
) -> int:
    sid = conn.execute(
        """INSERT INTO survey_round (name, surveyed_on, team, observation_count)
        VALUES ('Survei awal (bench)', DATE '2026-01-15', 'Tim bench', %s) RETURNING id""",
        (len(span_ids),),
    ).fetchone()[0]
    n = len(span_ids)
    update("writing observations", 0, n)
    conn.execute("SELECT setseed(0.2026)")
    conn.execute(
        """INSERT INTO observation (survey_id, source, verified, span_id, min_clearance_m, crosses, coiled_slack,
                                             sagging, loose_cable, observed_at, geom)
        SELECT %s, 'survey', true, s.id, round(greatest(2.5, least(9, 5.0 + 0.7 * sqrt(-2 * ln(random()))
                                                                     * cos(2 * pi() * random())))::numeric, 2),
               CASE WHEN s.crosses_road THEN 'road' WHEN random() < 0.3 THEN 'sidewalk' ELSE 'none' END,
               random() < 0.05, random() < 0.05, random() < 0.02, TIMESTAMPTZ '2026-01-15 12:00+07', s.geom
        FROM aerial_span s""",
        (sid,),
    )
    update("writing observations", n, n)
    return n


def _zones_agreements_capacity(conn: psycopg.Connection, rng: np.random.Generator, ops: list[int]) -> None:
    conn.execute(f"""INSERT INTO no_overhead_zone (name, reason, geom)
        SELECT 'Zona ' || kode, 'bench', ST_Multi(ST_Transform(ST_Buffer(ST_Transform(ST_Centroid(geom), {UTM48N}), 600),
                                                                      {WGS84}))
        FROM admin_area WHERE level = 'kecamatan' ORDER BY kode LIMIT 3""")
    for o in ops[: int(len(ops) * 0.6)]:
        conn.execute(
            "INSERT INTO operator_agreement (operator_id, reference, valid_from) VALUES (%s, %s, '2024-01-01')",
            (o, f"PKS-BENCH-{o}"),
        )
    # a quarter of the segments full: the city's reserve on some, leases on others
    conn.execute("UPDATE subduct SET is_reserved = true WHERE segment_id % 8 = 0")
    conn.execute(
        """INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, contracted_length_m,
                                            is_legacy)
        SELECT %s, sd.id, sd.segment_id, daterange('2024-01-01', NULL), 'active', 1, true
        FROM subduct sd WHERE sd.segment_id %% 8 = 1""",
        (ops[0],),
    )


# -- figures --------------------------------------------------------------------------------------------------------
PLAIN_JOIN = """SELECT count(DISTINCT s.id) FROM aerial_span s JOIN route_segment r ON ST_DWithin(s.geom_m, r.geom_m, 10)
WHERE {free}"""


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from ducting.compliance import evaluation
    from ducting.compliance.evaluation import rule_sql
    from ducting.compliance.rules import DUCT_AVAILABLE, FREE_SEGMENT, parameters
    from ducting.compliance.settings import get_compliance_settings
    from ducting.db import Actor, SessionFactory, bind_actor, make_engine

    db, world = database(rebuild=args.rebuild, spans=args.spans)
    engine = make_engine(db.app_url, statement_timeout_ms=0)
    details: dict[str, Any] = {"world": asdict(world)}
    with SessionFactory(bind=engine) as session:
        bind_actor(session, Actor.system("bench"))
        # flags and their events cannot be deleted by the app; evaluation runs are never deleted (they stay)
        with psycopg.connect(db.libpq(owner=True), autocommit=True) as owner:
            owner.execute("TRUNCATE flag_event, migration_case, compliance_flag")
        # the two contenders, alternated, same run
        plain, rule = [], []
        params = parameters(get_compliance_settings())
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            spans_near = session.execute(text(PLAIN_JOIN.format(free=FREE_SEGMENT))).scalar()
            plain.append(time.perf_counter() - t0)
            session.rollback()
            t0 = time.perf_counter()
            evaluation._prepare(session, True, params)
            session.execute(text(rule_sql(DUCT_AVAILABLE.sql, full=True)), params)
            candidates = session.execute(text("SELECT count(*) FROM _cand")).scalar()
            rule.append(time.perf_counter() - t0)
            session.rollback()
        details |= {
            "plain_join_s": plain,
            "duct_available_s": rule,
            "spans_within_10m_free": spans_near,
            "duct_available_candidates": candidates,
        }
        # the full run, flags and events written and committed
        t0 = time.perf_counter()
        full = evaluation.evaluate(session)
        session.commit()
        full_s = time.perf_counter() - t0
        details["full_run"] = full.as_dict()
        flags_written = session.execute(text("SELECT count(*) FROM compliance_flag")).scalar()
        cases = session.execute(text("SELECT count(*) FROM migration_case")).scalar()
        session.commit()
        with psycopg.connect(db.libpq(owner=True), autocommit=True) as owner:  # what autovacuum does in a minute
            owner.execute("ANALYZE compliance_flag, migration_case")
        survey_s, reeval = _survey_500(session)
        details["survey_500"] = {"import_and_evaluate_s": survey_s, "evaluation": reeval}
        session.rollback()
    engine.dispose()
    p, r = statistics.median(plain), statistics.median(rule)
    figures = [
        Figure(
            "full_rule_run_s",
            f"full rule run, {world.spans:,} spans, every rule, flags written",
            round(full_s, 2),
            "s",
            ("<", 30),
            note=f"{flags_written:,} flags opened, {cases:,} migration cases",
        ),
        Figure(
            "plain_join_s",
            "plain ST_DWithin 10 m join, segments with free capacity (median)",
            round(p, 3),
            "s",
            None,
            note=f"{spans_near:,} spans",
        ),
        Figure(
            "duct_available_s",
            "duct_available rule alone (15 m, parallel >= 50 m, free; median)",
            round(r, 3),
            "s",
            None,
            note=f"{candidates:,} candidates",
        ),
        Figure("duct_available_ratio", "duct_available / plain join, same run", round(r / p, 2), "x", ("<=", 3)),
        Figure(
            "reevaluate_500_s",
            "re-evaluation after one survey of 500 observations",
            reeval["seconds"]["total"],
            "s",
            ("<", 2),
            note=f"opened {reeval['opened']}, resolved {reeval['resolved']}; import+eval {survey_s:.2f} s",
        ),
    ]
    report("compliance", "Overhead cabling compliance (issue 5)", figures, details)
    return 0 if all(f.passed is not False for f in figures) else 1


def _survey_500(session: Any) -> tuple[float, dict[str, Any]]:
    """A survey of 500 observations on existing poles in one area: some cables gone, some clearances fixed."""
    from sqlalchemy import text

    from ducting.compliance.survey import import_survey

    spans = session.execute(
        text("""SELECT s.id, a.code AS a, b.code AS b FROM aerial_span s
        JOIN node a ON a.id = s.from_pole_id JOIN node b ON b.id = s.to_pole_id
        WHERE s.id IN (SELECT span_id FROM compliance_flag WHERE rule = 'low_clearance_road' LIMIT 150)
           OR s.id IN (SELECT id FROM aerial_span ORDER BY id LIMIT 350) LIMIT 500""")
    ).all()
    cables = session.execute(
        text("""SELECT a.span_id, o.code, a.cable_type FROM cable_attachment a
        LEFT JOIN organisation o ON o.id = a.operator_id WHERE a.span_id = ANY(:ids) AND a.removed_at IS NULL"""),
        {"ids": [s.id for s in spans]},
    ).all()
    by_span: dict[int, list[Any]] = {}
    for c in cables:
        by_span.setdefault(c.span_id, []).append(c)
    rng = np.random.default_rng(7)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "kind",
            "lon",
            "lat",
            "from_pole",
            "to_pole",
            "min_clearance_m",
            "crosses",
            "operator",
            "cable_type",
            "owner_tag",
        ]
    )
    for s in spans:
        w.writerow(["span", "", "", s.a, s.b, f"{rng.uniform(4.2, 6):.2f}", "road", "", "", ""])
        keep = by_span.get(s.id, [])[: 0 if rng.random() < 0.3 else None]
        for c in keep:
            w.writerow(["cable", "", "", s.a, s.b, "", "", c.code or "unknown", c.cable_type, "yes"])
    t0 = time.perf_counter()
    result = import_survey(
        session,
        data=out.getvalue().encode(),
        filename="survey-500.csv",
        name="Survei ulang",
        surveyed_on=date(2026, 6, 1),
        team="Tim bench",
    )
    return round(time.perf_counter() - t0, 2), result.evaluation.as_dict()
