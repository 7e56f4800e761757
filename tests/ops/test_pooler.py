"""PgBouncer (Debian's) in transaction mode between the service and PostgreSQL, with two server connections for
everyone: the per-transaction identity and row-level security hold when many callers' transactions take turns on
the same server connections, the isolation matrix answers the same through it, and prepared statements break
there unless the service prepares none (DUCTING_DB_POOLER=transaction), which is what proves the setting matters.

The configuration is the one kept in deploy/pgbouncer/pgbouncer.ini, filled in for this run."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from sqlalchemy import text

from ducting.db import Actor, SessionFactory, bind_actor, make_engine
from ducting.localdb import APP_ROLE, OWNER_ROLE
from ducting.settings import get_settings
from tests.conftest import make_people
from tests.live import free_port, running_service
from tests.ops.conftest import app_engine
from tests.trust.test_matrix import MATRIX, ROLES, Ctx, _markers, build_ctx
from tests.trust.test_row_level_security import HIDDEN_FROM_OWNER, OWNER_OF

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SERVER_CONNECTIONS = 2


def pgbouncer_version() -> tuple[int, ...]:
    out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout
    return tuple(int(p) for p in re.search(r"PgBouncer (\d+)\.(\d+)", out).groups())


@dataclass
class Pooler:
    port: int
    dbname: str
    password: str

    def url(self) -> str:
        return f"postgresql+psycopg://{APP_ROLE}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{self.dbname}"

    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={self.dbname} user={APP_ROLE} password={self.password}"


@dataclass
class Rig:
    pooler: Pooler
    direct: object  # an engine straight to PostgreSQL, as the system
    owner_url: str
    ctx: Ctx


@pytest.fixture(scope="module")
def rig(clusters) -> Iterator[Rig]:
    cluster = clusters.primary("pooler-pg")
    cluster.psql(
        cluster.dbname,
        f"ALTER ROLE {APP_ROLE} IN DATABASE {cluster.dbname} SET statement_timeout = '30s'; "
        f"ALTER ROLE {APP_ROLE} IN DATABASE {cluster.dbname} SET max_parallel_workers_per_gather = 0",
    )
    direct = app_engine(cluster)
    with SessionFactory(bind=direct) as s:
        bind_actor(s, Actor.system("pooler world"))
        people = make_people(s)
        ctx = build_ctx(s, people)
        s.commit()
    password = cluster.credentials()[APP_ROLE]
    work = Path(tempfile.mkdtemp(prefix="ducting-pgbouncer-"))
    work.chmod(0o755)
    port = free_port()
    conf = (ROOT / "deploy/pgbouncer/pgbouncer.ini").read_text()
    for key, value in {
        "DBNAME": cluster.dbname,
        "PG_HOST": "127.0.0.1",
        "PG_PORT": str(cluster.port),
        "LISTEN_ADDR": "127.0.0.1",
        "LISTEN_PORT": str(port),
        "AUTH_FILE": str(work / "userlist.txt"),
        "POOL_SIZE": str(SERVER_CONNECTIONS),
        "LOG_FILE": str(work / "pgbouncer.log"),
        "PID_FILE": str(work / "pgbouncer.pid"),
    }.items():
        conf = conf.replace(f"@{key}@", value)
    conf = conf.replace("reserve_pool_size = 2", "reserve_pool_size = 0")  # exactly two server connections here
    assert "@" not in re.sub(r"^;.*$", "", conf, flags=re.M), "a placeholder was left in the template"
    (work / "pgbouncer.ini").write_text(conf)
    (work / "userlist.txt").write_text(f'"{APP_ROLE}" "{password}"\n')
    cmd = ["pgbouncer", str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        user = pwd.getpwnam("postgres")
        for p in work.iterdir():
            os.chown(p, user.pw_uid, user.pw_gid)
        os.chown(work, user.pw_uid, user.pw_gid)
        cmd = ["pgbouncer", "-u", "postgres", str(work / "pgbouncer.ini")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    pooler = Pooler(port, cluster.dbname, password)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(pooler.conninfo(), connect_timeout=2).close()
                break
            except psycopg.OperationalError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (work / "pgbouncer.log").read_text()[-2000:]
                    raise RuntimeError(f"pgbouncer did not start: {log}") from exc
                time.sleep(0.2)
        yield Rig(pooler, direct, cluster.url(role=OWNER_ROLE), ctx)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        direct.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _server_connections(rig: Rig) -> int:
    with rig.direct.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :u AND datname = :d AND pid <> pg_backend_pid()"
            ),
            {"u": APP_ROLE, "d": rig.pooler.dbname},
        ).scalar()


def _ids(session, table: str, where: str = "TRUE", **params) -> set[int]:
    return set(session.execute(text(f"SELECT id FROM {table} WHERE {where}"), params).scalars())


def test_identity_and_row_level_security_hold_when_transactions_share_server_connections(rig, monkeypatch):
    world = rig.ctx.world
    people = rig.ctx.people
    expected: dict[str, dict[str, set[int]]] = {}
    with SessionFactory(bind=rig.direct) as s:
        bind_actor(s, Actor.system("expected"))
        hidden = {t: _ids(s, t, w) for t, w in HIDDEN_FROM_OWNER.items()}
        for who, side in (("op_a", world.a), ("op_b", world.b)):
            expected[who] = {t: _ids(s, t, w, o=side.org_id) - hidden.get(t, set()) for t, w in OWNER_OF.items()}
    assert all(expected["op_a"][t] and expected["op_b"][t] for t in OWNER_OF)

    monkeypatch.setattr(get_settings().db, "pooler", "transaction")
    engine = make_engine(rig.pooler.url(), pool_size=8)
    wrong: list[str] = []

    def act(who: str) -> None:
        acc = people.accounts[who] if who != "nobody" else None
        actor = (
            Actor(account_id=acc.id, role=acc.role, organisation_id=acc.organisation_id)
            if acc
            else Actor(account_id=None, role="")
        )
        for _round in range(12):
            with SessionFactory(bind=engine) as s:
                bind_actor(s, actor)
                for table in OWNER_OF:  # each its own transaction: identity must come with every one of them
                    seen = _ids(s, table)
                    want = expected[who][table] if who in expected else set()
                    if seen != want:
                        wrong.append(f"{who} saw {len(seen)} rows of {table}, not {len(want)}")
                    s.commit()

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(act, ["op_a", "op_b", "nobody", "op_a", "op_b", "nobody", "op_a", "op_b"]))
        assert 0 < _server_connections(rig) <= SERVER_CONNECTIONS  # 8 clients, 2 server connections: they took turns
    finally:
        engine.dispose()
    assert not wrong, wrong[:10]


def _hammer(conninfo: str, prepare_threshold: int | None, clients: int = 6, rounds: int = 30) -> list[str]:
    errors: list[str] = []

    def client(i: int) -> None:
        with psycopg.connect(conninfo, autocommit=True, prepare_threshold=prepare_threshold) as conn:
            for n in range(rounds):
                try:
                    conn.execute("SELECT %s::int + count(*) FROM node WHERE id > %s", (i, n)).fetchone()
                except psycopg.Error as exc:
                    errors.append(type(exc).__name__)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_prepared_statements_break_through_the_pooler_unless_the_service_prepares_none(rig):
    assert _hammer(rig.pooler.conninfo(), None) == []  # DUCTING_DB_POOLER=transaction: nothing is prepared
    if pgbouncer_version() >= (1, 21):
        pytest.skip("this PgBouncer keeps prepared statements in transaction mode (max_prepared_statements)")
    broken = _hammer(rig.pooler.conninfo(), 0)  # psycopg's default prepares after 5 uses; 0 prepares at once
    assert broken and set(broken) <= {"DuplicatePreparedStatement", "InvalidSqlStatementName"}, broken[:5]


MATRIX_GETS = sorted((p, c, e) for (m, p), (c, e) in MATRIX.items() if m == "GET" and e != "tiles")
REPEAT = {  # the map's and the lists' reads, sent often enough that a preparing client would have prepared them
    "/api/v1/collections/{collection_id}/items",
    "/api/v1/network/nodes/{node_id}",
    "/api/v1/leasing/requests",
    "/api/v1/billing/invoices",
    "/api/v1/compliance/flags",
}


def test_the_matrix_answers_the_same_through_the_pooler_with_many_callers_at_once(rig):
    ctx = rig.ctx
    with SessionFactory(bind=rig.direct) as s:
        bind_actor(s, Actor.system("markers"))
        markers = {"op_a": _markers(s, ctx.world.b), "op_b": _markers(s, ctx.world.a)}
    env = {"DUCTING_DB_POOLER": "transaction", "DUCTING_POOL_SIZE": "8"}
    wrong, leaks, calls = [], [], []
    for path, call, expected in MATRIX_GETS:
        for who, want in zip(ROLES, map(int, expected.split()), strict=True):
            for _ in range(6 if path in REPEAT else 1):
                calls.append((path, call, who, want))
    with running_service(rig.pooler.url(), env=env) as base:

        def one(item) -> None:
            path, call, who, want = item
            headers = {} if who == "anonymous" else ctx.people.headers(who)
            r = httpx.get(base + path.format(**call.path(ctx)), params=call.params(ctx), headers=headers, timeout=60)
            if r.status_code != want:
                wrong.append(f"GET {path} as {who}: {r.status_code} (want {want}) {r.text[:160]}")
            if who in markers and r.status_code < 300:
                found = sorted(m for m in markers[who] if m in r.content.decode("utf-8", "replace"))
                if found:
                    leaks.append(f"GET {path} as {who} shows the other operator's {found}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, calls))
        tile = httpx.get(f"{base}/tiles/segments/16/52709/32562.pbf", headers=ctx.people.headers("op_a"))
        tiles = [
            httpx.get(f"{base}/tiles/nodes/16/52709/32562.pbf", headers=ctx.people.headers(w)).status_code
            for w in ROLES[1:] * 2
        ]
    print(f"{len(calls)} matrix calls through the pooler")
    assert not leaks, "\n".join(leaks)
    assert not wrong, f"{len(wrong)} call(s) off the matrix:\n" + "\n".join(wrong[:20])
    assert tile.status_code == 200 and set(tiles) == {200}
