"""The database itself refuses to decommission or delete network that carries a lease holding space today or later
(migration 0035), whatever the path: raw SQL as the application role, or a route whose hooks are not registered."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from psycopg.errors import RestrictViolation
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ducting.calendar import today
from ducting.db import Actor, bind_actor
from ducting.network import hooks

SEGMENT = "RS-L-A1"


def _lease(
    session, people, *, first_offset: int = -10, days: int | None = None, status: str = "active", hold: str = "1 day"
) -> int:
    """One allocation of TOPA on a free usable subduct of RS-L-A1 (a hold runs for `hold` from now, which may be
    negative: lapsed); returns its id."""
    first = today() + timedelta(days=first_offset)
    upper = None if days is None else first + timedelta(days=days)
    return session.execute(
        text("""
        INSERT INTO allocation (operator_id, subduct_id, segment_id, period, status, hold_expires_at,
                                contracted_length_m, is_legacy)
        SELECT :op, sd.id, sd.segment_id, daterange(:first, :upper), CAST(:status AS allocation_status),
               CASE WHEN :status = 'held' THEN now() + CAST(:hold AS interval) END, 100, true
        FROM subduct sd JOIN route_segment s ON s.id = sd.segment_id
        WHERE s.code = :code AND NOT sd.is_reserved AND NOT EXISTS (SELECT 1 FROM allocation a WHERE a.subduct_id = sd.id)
        ORDER BY sd.id LIMIT 1 RETURNING id"""),
        {"op": people.orgs["op_a"].id, "first": first, "upper": upper, "status": status, "code": SEGMENT, "hold": hold},
    ).scalar_one()


def _as_planner(session, people) -> None:
    acc = people.accounts["planner"]
    bind_actor(session, Actor(account_id=acc.id, role=acc.role, organisation_id=None))


def _refused(session, sql: str) -> list[dict]:
    """Run `sql` as the application role (the test session's connection) and return the trigger's blockers (its
    DETAIL also names the removed object: `ref`)."""
    with pytest.raises(IntegrityError) as caught, session.begin_nested():
        session.execute(text(sql), {"code": SEGMENT})
    assert isinstance(caught.value.orig, RestrictViolation)
    diag = caught.value.orig.diag
    assert diag.constraint_name == "lease_blocks_removal"
    detail = json.loads(diag.message_detail)
    assert detail["ref"]
    return detail["blockers"]


def test_raw_sql_cannot_decommission_or_delete_network_under_a_lease(session, people, ladder):
    lease = _lease(session, people)
    assert session.execute(text("SELECT current_user")).scalar() == "ducting_app"
    _as_planner(session, people)
    segment = _refused(
        session,
        "UPDATE route_segment SET status = 'decommissioned', removed_at = now() WHERE code = :code",
    )
    assert segment == [{"type": "allocation", "id": lease, "label": segment[0]["label"]}]
    assert segment[0]["label"].startswith("lease of TOPA since ")
    duct = _refused(
        session,
        "UPDATE duct SET status = 'decommissioned' WHERE segment_id = (SELECT id FROM route_segment WHERE code = :code)",
    )
    assert [b["id"] for b in duct] == [lease]
    sub = "(SELECT subduct_id FROM allocation WHERE segment_id = (SELECT id FROM route_segment WHERE code = :code))"
    assert [b["id"] for b in _refused(session, f"UPDATE subduct SET status = 'decommissioned' WHERE id IN {sub}")] == [
        lease
    ]
    assert [b["id"] for b in _refused(session, f"DELETE FROM subduct WHERE id IN {sub}")] == [lease]


def test_a_lease_that_has_ended_or_a_lapsed_hold_does_not_block_removal(session, people, ladder):
    _lease(session, people, first_offset=-40, days=30)  # ended ten days ago
    _lease(session, people, first_offset=0, status="held", hold="-1 minute")  # the sweeper has not filed it yet
    _lease(session, people, first_offset=0, status="released")
    _as_planner(session, people)
    with session.begin_nested():
        session.execute(
            text("""UPDATE duct SET status = 'decommissioned'
            WHERE segment_id = (SELECT id FROM route_segment WHERE code = :code)"""),
            {"code": SEGMENT},
        )
        session.execute(
            text(
                "UPDATE subduct SET status = 'decommissioned' WHERE segment_id = (SELECT id FROM route_segment WHERE code = :code)"
            ),
            {"code": SEGMENT},
        )
        session.execute(
            text("UPDATE route_segment SET status = 'decommissioned', removed_at = now() WHERE code = :code"),
            {"code": SEGMENT},
        )
    assert session.execute(text("SELECT status::text FROM route_segment WHERE code = :c"), {"c": SEGMENT}).scalar() == (
        "decommissioned"
    )


def test_a_lease_starting_later_blocks_removal_too(session, people, ladder):
    lease = _lease(session, people, first_offset=30, days=365)
    _as_planner(session, people)
    blockers = _refused(
        session,
        "UPDATE duct SET status = 'decommissioned' WHERE segment_id = (SELECT id FROM route_segment WHERE code = :code)",
    )
    assert [b["id"] for b in blockers] == [lease]


def test_without_the_hooks_the_databases_refusal_is_the_same_409(client, session, people, ladder, monkeypatch):
    lease = _lease(session, people)
    session.commit()
    monkeypatch.setattr(hooks, "delete_blockers", [])  # as if the app factory had registered no delete hook
    duct = session.execute(
        text("SELECT d.id FROM duct d JOIN route_segment s ON s.id = d.segment_id WHERE s.code = :c ORDER BY d.id"),
        {"c": SEGMENT},
    ).scalar()
    r = client.delete(f"/api/v1/network/ducts/{duct}", headers=people.headers("planner"))
    assert r.status_code == 409, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["code"] == "delete_blocked" and [b["id"] for b in body["blockers"]] == [lease]
    assert body["blockers"][0]["type"] == "allocation"
    assert body["what"] == "duct" and body["ref"] == str(duct) and body["count"] == 1
