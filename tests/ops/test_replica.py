"""A read replica under traffic: map reads, tiles and reports go to a streaming replica of a throwaway cluster;
stopping it costs no request (reads move to the primary), starting it again brings them back; a replica whose
replay is paused falls behind past the limit and is skipped, with its lag in /metrics; the editor's reads after a
save stay on the primary."""

from __future__ import annotations

import time

import httpx
import pytest

from ducting.localdb import APP_ROLE
from tests.live import running_service
from tests.ops.conftest import Traffic, app_engine, bulk_body, request, scrape, seed, wait_for

pytestmark = pytest.mark.slow

ENV = {"DUCTING_REPLICA_CHECK_INTERVAL_S": "0.5", "DUCTING_REPLICA_MAX_LAG_S": "2", "DUCTING_POOL_SIZE": "6"}


@pytest.fixture(scope="module")
def rig(clusters):
    primary = clusters.primary("replica-primary")
    engine = app_engine(primary)
    seeded = seed(engine)
    replica = clusters.replica(primary)
    env = ENV | {"DATABASE_REPLICA_URL": replica.url(role=APP_ROLE)}
    with running_service(primary.url(role=APP_ROLE), env=env) as base:
        yield primary, replica, engine, seeded, base
    engine.dispose()


def _reads(base: str) -> dict[str, float]:
    m = scrape(base)
    return {t: m.get(f'ducting_db_reads_total{{target="{t}"}}', 0.0) for t in ("replica", "primary")}


def _usable(base: str) -> bool:
    return scrape(base).get("ducting_replica_usable", 0.0) == 1.0


def test_reads_go_to_the_replica_and_survive_it_stopping_and_coming_back(rig):
    _primary, replica, engine, seeded, base = rig
    wait_for(lambda: _usable(base), 30, "the service to take the replica into use")
    before = _reads(base)
    with httpx.Client(base_url=base, headers=seeded.headers("planner"), timeout=30) as c:
        for kind in ("items", "summary", "items"):
            assert request(c, kind).status == 200
    after = _reads(base)
    assert after["replica"] >= before["replica"] + 3, (before, after)

    kinds = [
        ("items", "planner"),
        ("items", "operator"),
        ("tile", "planner"),
        ("summary", "finance"),
        ("bulk", "planner"),
    ]
    with Traffic(base, seeded.headers, kinds) as traffic:
        time.sleep(1.5)
        replica.down()  # a fast shutdown: its sessions are cut off mid-query
        time.sleep(3.0)
        mid = _reads(base)
        wait_for(lambda: not _usable(base), 10, "the replica to be skipped")
        time.sleep(1.0)
        moved = _reads(base)
        replica._start()
        wait_for(lambda: _usable(base), 30, "the replica to be taken back")
        time.sleep(1.5)
    back = _reads(base)

    counts = traffic.counts()
    print("outcomes:", counts)
    failed = [o for o in traffic.outcomes if o.status not in (200, 201)]
    assert not failed, failed[:5]
    assert sum(counts.values()) > 50
    assert moved["primary"] > mid["primary"] and moved["replica"] == mid["replica"]  # all on the primary meanwhile
    assert back["replica"] > moved["replica"]  # and back on the replica

    # every write answered 201 is on both: the primary and, streamed, the replica
    done = [o.tag for o in traffic.outcomes if o.kind == "bulk" and o.status in (200, 201)]
    assert done
    rep = app_engine(replica)
    try:
        wait_for(
            lambda: _count(rep, done) == len(done),
            20,
            "the replica to replay every committed bulk edit",
        )
        assert _count(engine, done) == len(done)
    finally:
        rep.dispose()


def _count(engine, tags: list[str]) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM route_segment WHERE code = ANY(:c)"), {"c": [f"RS-O-{t}" for t in tags]}
        ).scalar()


def test_a_replica_behind_the_limit_is_skipped_and_its_lag_is_measured(rig):
    _primary, replica, _engine, seeded, base = rig
    wait_for(lambda: _usable(base), 30, "the replica in use")
    replica.psql("postgres", "SELECT pg_wal_replay_pause()")
    try:
        with httpx.Client(base_url=base, headers=seeded.headers("planner"), timeout=30) as c:
            deadline = time.monotonic() + 30
            while _usable(base) and time.monotonic() < deadline:
                assert request(c, "bulk").status == 200  # the primary moves on; the paused replica does not
                time.sleep(0.3)
            metrics = scrape(base)
            assert metrics["ducting_replica_usable"] == 0.0
            assert metrics["ducting_replica_lag_seconds"] > 2 and metrics["ducting_replica_lag_bytes"] > 0
            before = _reads(base)
            assert request(c, "items").status == 200
            assert _reads(base)["primary"] == before["primary"] + 1
    finally:
        replica.psql("postgres", "SELECT pg_wal_replay_resume()")
    wait_for(lambda: _usable(base), 30, "the caught-up replica to be taken back")
    assert scrape(base)["ducting_replica_lag_seconds"] <= 2


def test_a_browser_that_just_saved_reads_its_own_writes_from_the_primary(rig):
    _primary, _replica, _engine, seeded, base = rig
    wait_for(lambda: _usable(base), 30, "the replica in use")
    with httpx.Client(base_url=base, headers=seeded.headers("planner"), timeout=30) as c:
        saved = c.post("/api/v1/network/bulk", json=bulk_body("RYW1"))
        assert saved.status_code in (200, 201), saved.text
        assert "bedelau_rw" in c.cookies  # the client keeps it, as a browser does
        before = _reads(base)
        assert request(c, "items").status == 200
        assert _reads(base)["primary"] == before["primary"] + 1
        c.cookies.clear()
        before = _reads(base)
        assert request(c, "items").status == 200
        assert _reads(base)["replica"] == before["replica"] + 1
