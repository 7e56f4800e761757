"""Throwaway PostgreSQL clusters (initdb on a free port under the temporary space, as tests/trust/test_faults.py
does), their replicas, and the seeded accounts and network the live-service tests drive. Every cluster made here
is stopped and deleted afterwards; the suite's own cluster is never touched."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, Role
from ducting.auth import hash_password, issue_token
from ducting.db import Actor, SessionFactory, bind_actor
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.localrepl import LocalReplica
from ducting.migrate import upgrade
from tests.factories import at, line, point
from tests.leasing.conftest import build_ladder
from tests.live import free_port


@dataclass
class Seeded:
    tokens: dict[str, str]
    nodes: dict[str, int]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def seed(engine: Engine, prefix: str = "OPS") -> Seeded:
    """A planner, an operator and a finance account with tokens, and a small ladder network; committed."""
    with SessionFactory(bind=engine) as s:
        bind_actor(s, Actor.system("ops seed"))
        op = Organisation(code=f"{prefix}OP", name="PT Operator Ops", kind=OrganisationKind.OPERATOR, npwp="0" * 15)
        s.add(op)
        s.flush()
        tokens = {}
        for who, role in (("planner", Role.PLANNER), ("operator", Role.OPERATOR), ("finance", Role.FINANCE)):
            account = Account(
                username=f"{prefix.lower()}_{who}",
                full_name=who,
                role=role,
                password_hash=hash_password("rahasia-ops-123"),
                organisation_id=op.id if role == Role.OPERATOR else None,
            )
            s.add(account)
            s.flush()
            tokens[who], _ = issue_token(s, account=account, name="ops", ttl=timedelta(hours=2))
        grid = build_ladder(s, prefix=prefix)
        s.commit()
    return Seeded(tokens, grid.nodes)


class Clusters:
    """Makes clusters and replicas for one test module and removes them all at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.made: list[LocalCluster] = []

    def primary(self, name: str, dbname: str = "ducting_ops") -> LocalCluster:
        cluster = LocalCluster(root=self.base / name, port=free_port(), dbname=dbname)
        self.made.append(cluster)
        cluster.up()
        upgrade("heads", url=cluster.url(role=OWNER_ROLE))
        return cluster

    def replica(self, primary: LocalCluster, *, synchronous: bool = False) -> LocalReplica:
        replica = LocalReplica.of(primary, free_port())
        self.made.insert(0, replica)  # stopped before its primary
        replica.up(synchronous=synchronous)
        return replica

    def adopt(self, cluster: LocalCluster) -> LocalCluster:
        self.made.insert(0, cluster)
        return cluster

    def cleanup(self) -> None:
        for cluster in self.made:
            try:
                if cluster.running():
                    cluster._pg_ctl("stop", "-m", "immediate", "-w", check=False)
            finally:
                shutil.rmtree(cluster.storage, ignore_errors=True)
                shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory) -> Iterator[Clusters]:
    made = Clusters(tmp_path_factory.mktemp("opspg"))
    try:
        yield made
    finally:
        made.cleanup()


def app_engine(cluster: LocalCluster, **kw) -> Engine:
    return create_engine(cluster.url(role=APP_ROLE), pool_pre_ping=True, **kw)


# -- traffic --------------------------------------------------------------------------------------------------------
BBOX = ",".join(f"{v:.6f}" for v in (*at(-100, -100), *at(500, 200)))
_ROWS = iter(range(10**6))


def bulk_body(tag: str) -> dict:
    """Two manholes and the segment between them, in one transaction (north of the ladder, 5 m apart)."""
    y = 300 + 5 * next(_ROWS)
    return {
        "operations": [
            {
                "op": "create",
                "type": "node",
                "data": {"code": f"MH-O-{tag}-A", "kind": "manhole", "geometry": point(0, y)},
            },
            {
                "op": "create",
                "type": "node",
                "data": {"code": f"MH-O-{tag}-B", "kind": "manhole", "geometry": point(40, y)},
            },
            {"op": "create", "type": "segment", "data": {"code": f"RS-O-{tag}", "geometry": line((0, y), (40, y))}},
        ]
    }


@dataclass
class Outcome:
    kind: str
    status: int | None
    code: str | None = None
    tag: str | None = None
    error: str | None = None


def request(client: httpx.Client, kind: str) -> Outcome:
    tag = uuid.uuid4().hex[:10].upper() if kind == "bulk" else None
    try:
        if kind == "items":
            r = client.get("/api/v1/collections/segments/items", params={"bbox": BBOX, "limit": 50})
        elif kind == "tile":
            r = client.get("/tiles/segments/16/52709/32562.pbf")
        elif kind == "summary":
            r = client.get("/api/v1/network/summary")
        elif kind == "node":
            r = client.get("/api/v1/network/specs")
        else:
            r = client.post("/api/v1/network/bulk", json=bulk_body(tag))
    except httpx.HTTPError as exc:
        return Outcome(kind, None, tag=tag, error=repr(exc))
    body = r.json() if "json" in r.headers.get("content-type", "") else {}
    return Outcome(kind, r.status_code, body.get("code"), tag, None if r.is_success else r.text[:300])


@dataclass
class Traffic:
    """Closed-loop clients, one thread each, until stopped."""

    base: str
    headers: Callable[[str], dict[str, str]]
    kinds: list[tuple[str, str]]  # (kind, who)
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def _loop(self, kind: str, who: str) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers(who), timeout=40) as client:
            while not self.stop.is_set():
                self.outcomes.append(request(client, kind))
                time.sleep(0.01)

    def __enter__(self) -> Traffic:
        self.threads = [threading.Thread(target=self._loop, args=k, daemon=True) for k in self.kinds]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def counts(self) -> Counter:
        return Counter((o.kind, o.status) for o in self.outcomes)


def scrape(base: str) -> dict[str, float]:
    """`/metrics` as {series: value} (the test's client is on loopback, which may read it)."""
    out = {}
    for row in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if row and not row.startswith("#"):
            series, _, value = row.rpartition(" ")
            out[series] = float(value)
    return out


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def scalar(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
