"""Failover: the primary replicates synchronously to a standby; the service connects with a multi-host URL
(`target_session_attrs=read-write`). With traffic running the primary is lost (stopped the hard way) and the
standby promoted: requests in flight get 503 problem+json, the same service process finds the new primary by
itself, and every write it answered as committed is on the new primary."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from tests.live import running_service
from tests.ops.conftest import Traffic, app_engine, request, seed

pytestmark = pytest.mark.slow
KINDS = ["items", "tile", "summary", "bulk"]


def test_promoting_the_standby_under_traffic_loses_nothing_answered_as_committed(clusters):
    primary = clusters.primary("failover-primary")
    engine = app_engine(primary)
    seeded = seed(engine, prefix="FOV")
    standby = clusters.replica(primary, synchronous=True)
    assert primary.psql("postgres", "SELECT sync_state FROM pg_stat_replication", capture=True).strip() == "sync"
    password = quote(primary.credentials()["ducting_app"], safe="")
    url = (
        f"postgresql+psycopg://ducting_app:{password}@/{primary.dbname}?host=127.0.0.1:{primary.port}"
        f"&host=127.0.0.1:{standby.port}&target_session_attrs=read-write"
    )
    who = {"items": "planner", "tile": "planner", "summary": "finance", "bulk": "planner"}
    kinds = [
        ("items", "planner"),
        ("tile", "planner"),
        ("summary", "finance"),
        ("bulk", "planner"),
        ("bulk", "planner"),
    ]
    with running_service(url, env={"DUCTING_POOL_SIZE": "6", "DUCTING_CONNECT_TIMEOUT_S": "2"}) as base:
        with Traffic(base, seeded.headers, kinds) as traffic:
            time.sleep(2.0)
            before = len(traffic.outcomes)
            primary._pg_ctl("stop", "-m", "immediate", "-w")  # the primary is lost: no shutdown, no goodbye
            time.sleep(1.0)
            standby.promote()
            time.sleep(4.0)
        outcomes = traffic.outcomes
        print("outcomes:", traffic.counts())
        assert before > 10 and all(o.status in (200, 201) for o in outcomes[:before])
        transport = [o for o in outcomes if o.status is None]
        assert not transport, transport[:5]
        unclean = [o for o in outcomes if o.status not in (200, 201, 503)]
        assert not unclean, unclean[:5]
        refused = [o for o in outcomes if o.status == 503]
        assert refused, "no request met the failover"
        assert all(o.code == "database_unavailable" for o in refused), refused[:3]

        # the same process, not restarted, answers every kind from the new primary
        deadline = time.monotonic() + 30
        recovered: set[str] = set()
        while recovered != set(KINDS) and time.monotonic() < deadline:
            for kind in KINDS:
                with httpx.Client(base_url=base, headers=seeded.headers(who[kind]), timeout=30) as c:
                    if request(c, kind).status in (200, 201):
                        recovered.add(kind)
            time.sleep(0.3)
        assert recovered == set(KINDS)

    committed = [o.tag for o in outcomes if o.kind == "bulk" and o.status == 200]
    assert committed
    promoted = app_engine(standby)
    try:
        with promoted.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
            found = conn.execute(
                text("SELECT count(*) FROM route_segment WHERE code = ANY(:c)"), {"c": [f"RS-O-{t}" for t in committed]}
            ).scalar()
        assert found == len(committed), f"{len(committed) - found} write(s) answered as committed were lost"
    finally:
        promoted.dispose()
        engine.dispose()
