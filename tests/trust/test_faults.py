"""Faults, caused on purpose: the database restarts under traffic, an invoice issue is killed at a random point,
two planners save the same feature at once.

The restart happens on a throwaway PostgreSQL cluster this module creates with initdb on a free port (under the
system's temporary space), so the suite's own cluster and the other tests' databases are never touched. The service
runs as a real uvicorn process against it, and the clients are real parallel HTTP connections.
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from billing.invoicing import issue_month
from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, Role
from ducting.auth import hash_password, issue_token
from ducting.db import Actor, SessionFactory, bind_actor
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.migrate import upgrade
from tests.billing.conftest import FINANCE
from tests.factories import at, line, point
from tests.leasing.conftest import build_ladder
from tests.live import free_port, running_service

pytestmark = pytest.mark.slow


# -- a throwaway cluster with the service on it --------------------------------------------------------------------
@dataclass
class FaultRig:
    cluster: LocalCluster
    engine: Engine
    base: str
    tokens: dict[str, str]
    node_ids: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def crash_and_restart(self, down_s: float) -> None:
        """Stop PostgreSQL the hard way (no shutdown checkpoint: crash recovery at start), wait, start it again."""
        self.cluster._pg_ctl("stop", "-m", "immediate", "-w")
        time.sleep(down_s)
        self.cluster._start()


def _seed(engine: Engine) -> tuple[dict[str, str], dict[str, int]]:
    with SessionFactory(bind=engine) as s:
        bind_actor(s, Actor.system("fault seed"))
        op = Organisation(
            code="FLTOP", name="PT Operator Gangguan", kind=OrganisationKind.OPERATOR, npwp="0123456789012345"
        )
        s.add(op)
        s.flush()
        tokens = {}
        for who, role in (
            ("planner", Role.PLANNER),
            ("planner2", Role.PLANNER),
            ("operator", Role.OPERATOR),
            ("finance", Role.FINANCE),
        ):
            account = Account(
                username=f"flt_{who}",
                full_name=who,
                role=role,
                password_hash=hash_password("x" * 12),
                organisation_id=op.id if role == Role.OPERATOR else None,
            )
            s.add(account)
            s.flush()
            tokens[who], _ = issue_token(s, account=account, name="faults", ttl=timedelta(hours=2))
        grid = build_ladder(s, prefix="FLT")
        s.commit()
    return tokens, grid.nodes


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[FaultRig]:
    root = tmp_path_factory.mktemp("faultpg") / "pg"
    cluster = LocalCluster(root=root, port=free_port(), dbname="ducting_faults")
    try:
        cluster.up()  # initdb, start, roles, database with the extensions
        upgrade("heads", url=cluster.url(role=OWNER_ROLE))
        engine = create_engine(cluster.url(role=APP_ROLE), pool_pre_ping=True)
        tokens, nodes = _seed(engine)
        with running_service(cluster.url(role=APP_ROLE), env={"DUCTING_POOL_SIZE": "8"}) as base:
            yield FaultRig(cluster, engine, base, tokens, nodes)
        engine.dispose()
    finally:
        cluster.down()
        shutil.rmtree(cluster.storage, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


# -- (a) the database restarts during traffic ------------------------------------------------------------------------
BBOX = ",".join(f"{v:.6f}" for v in (*at(-100, -100), *at(500, 200)))


@dataclass
class Outcome:
    kind: str
    status: int | None
    content_type: str = ""
    code: str | None = None
    retry_after: str | None = None
    tag: str | None = None
    error: str | None = None


_ROWS = itertools.count()


def _bulk(tag: str) -> dict:
    """Two manholes and the segment between them, with a duct: rows in node, route_segment, duct, subduct,
    their history and the audit log, all in one transaction."""
    y = 300 + 5 * next(_ROWS)  # north of the ladder, 5 m from the previous one: never snapped together
    return {
        "operations": [
            {
                "op": "create",
                "type": "node",
                "data": {"code": f"MH-F-{tag}-A", "kind": "manhole", "geometry": point(0, y)},
            },
            {
                "op": "create",
                "type": "node",
                "data": {"code": f"MH-F-{tag}-B", "kind": "manhole", "geometry": point(40, y)},
            },
            {
                "op": "create",
                "type": "segment",
                "data": {
                    "code": f"RS-F-{tag}",
                    "geometry": line((0, y), (40, y)),
                    "ducts": [{"spec": "HDPE-40/33-7xMD10", "reserve": 1}],
                },
            },
        ]
    }


WHO = {"items": "planner", "tile": "planner", "availability": "operator", "bulk": "planner2"}


def _request(client: httpx.Client, kind: str) -> Outcome:
    tag = uuid.uuid4().hex[:10].upper() if kind == "bulk" else None
    try:
        if kind == "items":
            r = client.get("/api/v1/collections/segments/items", params={"bbox": BBOX, "limit": 50})
        elif kind == "tile":
            r = client.get("/tiles/segments/16/52709/32562.pbf")
        elif kind == "availability":
            r = client.get("/api/v1/leasing/availability", params={"bbox": BBOX, "limit": 50})
        else:
            r = client.post("/api/v1/network/bulk", json=_bulk(tag))
    except httpx.HTTPError as exc:  # a dropped or hung connection is not a clean failure
        return Outcome(kind, None, tag=tag, error=repr(exc))
    body = r.json() if "json" in r.headers.get("content-type", "") else {}
    return Outcome(
        kind,
        r.status_code,
        r.headers.get("content-type", ""),
        body.get("code"),
        r.headers.get("retry-after"),
        tag,
        None if r.is_success else str(body.get("errors") or r.text)[:300],
    )


def _traffic_loop(rig: FaultRig, kind: str, stop: threading.Event, out: list[Outcome]) -> None:
    with httpx.Client(base_url=rig.base, headers=rig.headers(WHO[kind]), timeout=40) as client:
        while not stop.is_set():
            out.append(_request(client, kind))
            time.sleep(0.02)


def test_database_restart_mid_traffic_fails_in_flight_requests_with_503_and_the_service_recovers(rig):
    outcomes: list[Outcome] = []
    stop = threading.Event()
    kinds = ["items", "items", "tile", "availability", "bulk", "bulk"]
    threads = [threading.Thread(target=_traffic_loop, args=(rig, k, stop, outcomes)) for k in kinds]
    for t in threads:
        t.start()
    time.sleep(2.0)
    before = len(outcomes)
    rig.crash_and_restart(down_s=2.0)
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(60)

    print("outcomes:", Counter((o.kind, o.status) for o in outcomes))
    assert before > 0 and all(o.status is not None and o.status < 300 for o in outcomes[:before]), [
        o for o in outcomes[:before] if o.status is None or o.status >= 300
    ][:5]
    transport = [o for o in outcomes if o.status is None]
    assert not transport, transport[:5]
    unclean = [o for o in outcomes if o.status not in (200, 201, 503)]
    assert not unclean, unclean[:5]
    refused = [o for o in outcomes if o.status == 503]
    assert refused, "no request met the outage"
    assert all(
        o.content_type == "application/problem+json" and o.code == "database_unavailable" and o.retry_after
        for o in refused
    )

    # nothing half-written: each bulk edit is there whole (2 manholes, 1 segment, its duct) or not at all
    bulk = [o for o in outcomes if o.kind == "bulk"]
    with rig.engine.connect() as c:
        for o in bulk:
            counts = c.execute(
                text("""SELECT (SELECT count(*) FROM node WHERE code LIKE :n),
                (SELECT count(*) FROM route_segment WHERE code = :s),
                (SELECT count(*) FROM duct d JOIN route_segment r ON r.id = d.segment_id WHERE r.code = :s)"""),
                {"n": f"MH-F-{o.tag}-%", "s": f"RS-F-{o.tag}"},
            ).one()
            assert tuple(counts) in ((0, 0, 0), (2, 1, 1)), (o, tuple(counts))
            if o.status == 201 or o.status == 200:
                assert tuple(counts) == (2, 1, 1), o

    # the same service process, without a restart of its own, answers every kind again
    deadline = time.monotonic() + 20
    recovered: dict[str, int] = {}
    while time.monotonic() < deadline and len(recovered) < 4:
        after = []
        for kind in WHO:
            with httpx.Client(base_url=rig.base, headers=rig.headers(WHO[kind]), timeout=40) as client:
                after.append(_request(client, kind))
        recovered = {o.kind: o.status for o in after if o.status in (200, 201)}
        if len(recovered) < 4:
            time.sleep(0.5)
    assert set(recovered) == {"items", "tile", "availability", "bulk"}, after


# -- (c) two planners save one feature at once ----------------------------------------------------------------------
def test_concurrent_edits_of_one_node_one_wins_the_other_gets_412(rig):
    node = rig.node_ids["MH-FLT-A2"]
    url = f"/api/v1/network/nodes/{node}"
    clients = [httpx.Client(base_url=rig.base, headers=rig.headers(w), timeout=30) for w in ("planner", "planner2")]
    try:
        for round_no in range(15):
            etag = clients[0].get(url).headers["etag"]
            barrier = threading.Barrier(2)
            answers: list[httpx.Response] = [None, None]  # type: ignore[list-item]

            def save(i: int) -> None:
                barrier.wait()
                answers[i] = clients[i].patch(
                    url, json={"notes": f"ronde {round_no} oleh {i}"}, headers={"If-Match": etag}
                )

            threads = [threading.Thread(target=save, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 412], [a.text for a in answers]
            loser = next(a for a in answers if a.status_code == 412).json()
            winner = next(a for a in answers if a.status_code == 200)
            assert loser["code"] == "stale_edit" and loser["current_version"] == int(winner.headers["etag"].strip('"v'))
            assert loser["changed_by"] in ("flt_planner", "flt_planner2")
        final = clients[0].get(url)
        assert final.headers["etag"] == f'"v{1 + 15}"'  # exactly one write per round
    finally:
        for c in clients:
            c.close()


# -- (b) an invoice issue killed at a random point ------------------------------------------------------------------
YEAR = 2034  # a year no other test issues in
DRAFTS = 120


@pytest.fixture()
def many_drafts(engine, owner_engine) -> Iterator[list[int]]:
    """DRAFTS operators with a draft invoice each for January 2034, committed; removed afterwards."""
    tag = uuid.uuid4().hex[:5].upper()
    with owner_engine.begin() as c:
        orgs = list(
            c.scalars(
                text("""INSERT INTO organisation (code, name, kind, npwp)
            SELECT 'K' || :t || g, 'Op ' || :t || ' ' || g, 'operator', '012345678901234'
            FROM generate_series(1, :n) g RETURNING id"""),
                {"t": tag, "n": DRAFTS},
            )
        )
        c.execute(text("INSERT INTO invoice_run (month) VALUES (:m)"), {"m": date(YEAR, 1, 1)})
        c.execute(
            text(
                "INSERT INTO invoice (month, operator_id, subtotal_idr, total_idr) "
                "SELECT :m, o, 1000, 1000 FROM unnest(CAST(:o AS bigint[])) o"
            ),
            {"m": date(YEAR, 1, 1), "o": orgs},
        )
    yield orgs
    with owner_engine.begin() as c:
        c.execute(text("ALTER TABLE invoice DISABLE TRIGGER invoice_guard"))
        c.execute(text("DELETE FROM invoice WHERE operator_id = ANY(:o)"), {"o": orgs})
        c.execute(text("ALTER TABLE invoice ENABLE TRIGGER invoice_guard"))
        c.execute(text("DELETE FROM invoice_run WHERE extract(year FROM month) = :y"), {"y": YEAR})
        c.execute(text("DELETE FROM number_series WHERE year = :y"), {"y": YEAR})
        c.execute(text("DELETE FROM organisation WHERE id = ANY(:o)"), {"o": orgs})


_ISSUER = textwrap.dedent("""
    import sys, time
    from datetime import date
    from sqlalchemy import create_engine, text
    from ducting.db import SessionFactory, bind_actor
    from billing.invoicing import issue_month
    from tests.billing.conftest import FINANCE
    engine = create_engine(sys.argv[1])
    with SessionFactory(bind=engine) as s:
        bind_actor(s, FINANCE)  # row-level security lets finance see every invoice
        s.execute(text("SELECT 1"))  # connected: the clock starts when the parent reads "ready"
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        issue_month(s, month=date({year}, 1, 1), actor=FINANCE, issued_on=date({year}, 2, 1))
        if sys.argv[2] == "rollback":
            s.rollback()
        else:
            s.commit()
        print(f"done {{time.perf_counter() - started:.4f}}", flush=True)
""").format(year=YEAR)


def _issuer(url: str, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ISSUER, url, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _as_finance(engine: Engine) -> Session:
    session = SessionFactory(bind=engine)
    bind_actor(session, FINANCE)  # what row-level security needs to show finance every invoice
    return session


def _numbers(engine: Engine) -> list[str]:
    with _as_finance(engine) as s:
        return list(
            s.scalars(
                text(
                    "SELECT number FROM invoice WHERE extract(year FROM month) = :y "
                    "AND number IS NOT NULL ORDER BY number"
                ),
                {"y": YEAR},
            )
        )


def test_issue_killed_at_random_points_leaves_all_or_nothing_and_no_gap(engine, many_drafts):
    """Extends tests/billing/test_integrity.py's kill after numbering: here SIGKILL lands anywhere in the issue,
    timed at random fractions of how long a whole issue takes (measured first, then rolled back)."""
    url = engine.url.render_as_string(hide_password=False)
    calibrate = _issuer(url, "rollback")
    calibrate.stdin.write("go\n")
    calibrate.stdin.flush()
    full_s = float(calibrate.stdout.readline().split()[1])
    calibrate.wait(30)
    assert _numbers(engine) == []

    rng = random.Random(7)
    kills = 0
    for fraction in sorted(rng.uniform(0.05, 0.95) for _ in range(5)):
        proc = _issuer(url, "commit")
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            time.sleep(full_s * fraction)
            proc.kill()  # SIGKILL: no exception handler, no rollback from the client; the server must cope
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        numbers = _numbers(engine)
        if numbers:  # it committed before the kill landed: then everything, gapless
            assert numbers == [f"BDL/{YEAR}/{i:06d}" for i in range(1, DRAFTS + 1)]
            break
        kills += 1
        with _as_finance(engine) as s:
            assert (
                s.scalar(text("SELECT count(*) FROM invoice WHERE extract(year FROM month) = :y"), {"y": YEAR})
                == DRAFTS
            )  # the drafts are seen (not hidden by row-level security) ...
            assert (
                s.scalar(
                    text("SELECT count(*) FROM invoice WHERE extract(year FROM month) = :y AND status <> 'draft'"),
                    {"y": YEAR},
                )
                == 0
            )  # ... and none of them is issued
    assert kills >= 3, f"only {kills} kills landed before the commit (a whole issue took {full_s:.3f} s)"
    if not _numbers(engine):
        with _as_finance(engine) as s:  # the killed backends' locks went with their connections
            issue_month(s, month=date(YEAR, 1, 1), actor=FINANCE, issued_on=date(YEAR, 2, 1))
            s.commit()
    assert _numbers(engine) == [f"BDL/{YEAR}/{i:06d}" for i in range(1, DRAFTS + 1)]
