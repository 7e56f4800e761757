"""Races with real parallel connections against a running service: the database never double-books."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, Role
from ducting.auth import issue_token
from ducting.calendar import today
from ducting.db import Actor, bind_actor
from ducting.leasing.vocab import TRANSITIONS
from tests.leasing.conftest import build_ladder
from tests.live import running_service


def _setup(url: str, *, ducts: list[dict], operators: int = 2) -> dict[str, str]:
    engine = create_engine(url)
    tokens = {}
    with Session(engine) as s:
        bind_actor(s, Actor.system("test setup"))
        build_ladder(s, prefix="C", ducts=ducts)
        planner = Account(username="c_planner", full_name="Planner", role=Role.PLANNER)
        s.add(planner)
        s.flush()
        tokens["planner"], _ = issue_token(s, account=planner, name="t", ttl=timedelta(hours=1))
        for i in range(operators):
            org = Organisation(
                code=f"COP{i}", name=f"PT Operator {i}", kind=OrganisationKind.OPERATOR, npwp=f"{i:016d}"
            )
            s.add(org)
            s.flush()
            acc = Account(username=f"c_op{i}", full_name=f"Op {i}", role=Role.OPERATOR, organisation_id=org.id)
            s.add(acc)
            s.flush()
            tokens[f"op{i}"], _ = issue_token(s, account=acc, name="t", ttl=timedelta(hours=1))
        s.commit()
    engine.dispose()
    return tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_two_operators_racing_for_the_last_free_subduct_exactly_one_wins(scratch_database):
    # every segment has one plain 32/26 duct: one leasable subduct each
    tokens = _setup(scratch_database.app_url, ducts=[{"spec": "HDPE-32/26"}])
    body = {
        "segments": ["RS-C-A1"],
        "subduct_count": 1,
        "size_class": "subduct_32_26",
        "first_day": (today() + timedelta(days=10)).isoformat(),
        "term_months": 6,
    }
    with running_service(scratch_database.app_url) as base:
        barrier = threading.Barrier(2)
        results: dict[str, httpx.Response] = {}

        def race(who: str) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                barrier.wait()
                results[who] = c.post("/api/v1/leasing/requests", json=body, headers=_auth(tokens[who]))

        threads = [threading.Thread(target=race, args=(w,)) for w in ("op0", "op1")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [201, 409], {k: v.text for k, v in results.items()}
    loser = next(r for r in results.values() if r.status_code == 409)
    assert loser.json()["code"] in ("no_route", "lease_overlap")
    assert loser.headers["content-type"].startswith("application/problem+json")
    engine = create_engine(scratch_database.owner_url)  # the owner reads every operator's rows (no RLS)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM allocation WHERE status <> 'released'")).scalar() == 1
    engine.dispose()


def test_race_loser_is_offered_an_alternative_route(scratch_database):
    tokens = _setup(scratch_database.app_url, ducts=[{"spec": "HDPE-32/26"}])
    body = {
        "from_node": "MH-C-A0",
        "to_node": "MH-C-A2",
        "subduct_count": 1,
        "size_class": "subduct_32_26",
        "first_day": (today() + timedelta(days=10)).isoformat(),
        "term_months": 6,
    }
    with running_service(scratch_database.app_url) as base, httpx.Client(base_url=base, timeout=30) as c:
        first = c.post("/api/v1/leasing/requests", json=body, headers=_auth(tokens["op0"]))
        assert first.status_code == 201
        # the direct top route is now taken; with a segment list insisting on it, op1 gets 409 plus the detour
        insist = body | {"from_node": None, "to_node": None, "segments": ["RS-C-A0", "RS-C-A1"]}
        insist = {k: v for k, v in insist.items() if v is not None}
        lost = c.post("/api/v1/leasing/requests", json=insist, headers=_auth(tokens["op1"]))
    assert lost.status_code == 409
    assert lost.json()["bottleneck"][0]["code"] == "RS-C-A0"
    alternative = lost.json()["alternative"]
    assert alternative is None  # the insisted segments have no free subduct; no other way along that list


@pytest.mark.slow
def test_a_thousand_random_operations_from_eight_clients_never_double_book(scratch_database):
    tokens = _setup(scratch_database.app_url, ducts=[{"spec": "HDPE-32/26"}, {"spec": "HDPE-32/26"}], operators=3)
    nodes = [f"MH-C-{r}{i}" for r in "AB" for i in range(5)]
    start = today() + timedelta(days=5)
    ops_per_client, clients = 125, 8
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client_loop(k: int, base: str) -> None:
        rng = random.Random(k)
        who = f"op{k % 3}"
        mine: list[int] = []
        with httpx.Client(base_url=base, timeout=60) as c:
            for _ in range(ops_per_client):
                action = rng.choice(["request", "request", "approve", "accept", "cancel"])
                inbox = (
                    c.get("/api/v1/leasing/inbox", headers=_auth(tokens["planner"])).json()
                    if action == "approve"
                    else []
                )
                if (action == "approve" and not inbox) or (action in ("accept", "cancel") and not mine):
                    action = "request"  # nothing to act on yet: every turn still issues one operation
                if action == "request":
                    a, b = rng.sample(nodes, 2)
                    first = start + timedelta(days=rng.randint(0, 60))
                    r = c.post(
                        "/api/v1/leasing/requests",
                        headers=_auth(tokens[who]),
                        json={
                            "from_node": a,
                            "to_node": b,
                            "subduct_count": rng.randint(1, 2),
                            "size_class": "subduct_32_26",
                            "first_day": first.isoformat(),
                            "last_day": (first + timedelta(days=rng.randint(0, 90))).isoformat(),
                        },
                    )
                    if r.status_code == 201:
                        mine.append(r.json()["id"])
                elif action == "approve":
                    r = c.post(
                        f"/api/v1/leasing/requests/{rng.choice(inbox)['id']}/approve", headers=_auth(tokens["planner"])
                    )
                else:
                    r = c.post(f"/api/v1/leasing/requests/{rng.choice(mine)}/{action}", headers=_auth(tokens[who]))
                with lock:
                    outcomes[f"{action}:{r.status_code}"] += 1

    with running_service(scratch_database.app_url) as base:
        threads = [threading.Thread(target=client_loop, args=(k, base)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(outcomes.values()) == clients * ops_per_client, outcomes
    assert not any(key.split(":")[1].startswith("5") for key in outcomes), outcomes
    assert outcomes["request:201"] > 20 and outcomes["accept:200"] > 5, outcomes
    engine = create_engine(scratch_database.owner_url)  # the owner reads every operator's rows (no RLS)
    with engine.connect() as conn:
        doubles = conn.execute(
            text("""
            SELECT count(*) FROM allocation a JOIN allocation b
              ON a.subduct_id = b.subduct_id AND a.id < b.id AND a.period && b.period
            WHERE allocation_holds_space(a.status) AND allocation_holds_space(b.status)""")
        ).scalar()
        assert doubles == 0
        inconsistent = conn.execute(
            text("""
            SELECT r.reference, r.status::text, string_agg(DISTINCT a.status::text, ',') FROM capacity_request r
            JOIN allocation a ON a.request_id = r.id GROUP BY r.id
            HAVING NOT (
              (r.status IN ('submitted', 'offered') AND bool_and(a.status = 'held'))
              OR (r.status IN ('accepted', 'active') AND bool_and(a.status = 'active'))
              OR (r.status IN ('cancelled', 'rejected', 'expired') AND bool_and(a.status = 'released')))""")
        ).all()
        assert inconsistent == []
        legal = {(f.value, t.value) for f, t in TRANSITIONS}
        steps = conn.execute(
            text("""
            SELECT from_status::text, to_status::text FROM request_event WHERE from_status IS NOT NULL""")
        ).all()
        assert {tuple(s) for s in steps} <= legal
    engine.dispose()
