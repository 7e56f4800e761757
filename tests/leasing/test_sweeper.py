"""Expired holds free themselves with nothing run by hand: a live service's sweeper files a lapsed hold as
expired (with its event) and starts an accepted lease whose first day has come, while nobody books."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from sqlalchemy import create_engine, text

from ducting.calendar import today
from tests.leasing.test_concurrency import _auth, _setup
from tests.live import running_service


def test_the_sweeper_expires_lapsed_holds_and_starts_leases_without_a_booking(scratch_database):
    tokens = _setup(scratch_database.app_url, ducts=[{"spec": "HDPE-40/33-7xMD10"}])
    body = {
        "segments": ["RS-C-A1", "RS-C-A2"],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (today() + timedelta(days=5)).isoformat(),
        "term_months": 12,
    }
    owner = create_engine(scratch_database.owner_url)
    with (
        running_service(scratch_database.app_url, env={"DUCTING_LEASING_SWEEP_INTERVAL_S": "1"}) as base,
        httpx.Client(base_url=base, timeout=30) as c,
    ):
        lapsing = c.post("/api/v1/leasing/requests", json=body, headers=_auth(tokens["op0"])).json()
        starting = c.post("/api/v1/leasing/requests", json=body, headers=_auth(tokens["op1"])).json()
        assert (
            c.post(f"/api/v1/leasing/requests/{starting['id']}/approve", headers=_auth(tokens["planner"])).status_code
            == 200
        )
        assert (
            c.post(f"/api/v1/leasing/requests/{starting['id']}/accept", headers=_auth(tokens["op1"])).status_code == 200
        )
        with owner.begin() as conn:  # the hold lapses; the lease's first day arrives
            conn.execute(
                text("UPDATE allocation SET hold_expires_at = now() - interval '1 minute' WHERE request_id = :r"),
                {"r": lapsing["id"]},
            )
            conn.execute(
                text("UPDATE capacity_request SET hold_expires_at = now() - interval '1 minute' WHERE id = :r"),
                {"r": lapsing["id"]},
            )
            conn.execute(
                text("UPDATE capacity_request SET first_day = CURRENT_DATE - 1 WHERE id = :r"),
                {"r": starting["id"]},
            )
        deadline = time.monotonic() + 15
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            with owner.connect() as conn:
                states = dict(conn.execute(text("SELECT reference, status::text FROM capacity_request")).all())
            if states.get(lapsing["reference"]) == "expired" and states.get(starting["reference"]) == "active":
                break
            time.sleep(0.5)
    with owner.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM allocation WHERE request_id = :r AND status = 'held'"), {"r": lapsing["id"]}
        ).scalar()
        events = conn.execute(text("SELECT to_status::text, count(*) FROM request_event GROUP BY 1")).all()
    owner.dispose()
    assert states[lapsing["reference"]] == "expired", states
    assert states[starting["reference"]] == "active", states
    assert held == 0
    counts = dict(events)
    assert counts["expired"] == 1 and counts["active"] == 1, counts  # filed once each, by the sweeper
