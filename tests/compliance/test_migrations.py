"""Migration tracking in SJUT order, tied to the capacity request and closed by the survey that shows the cable gone;
and the dashboard's figures per kecamatan and across survey rounds."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from ducting.calendar import today
from ducting.compliance import service
from ducting.compliance.vocab import MigrationStage
from tests.compliance.conftest import cable, flags, lease, span, street
from tests.compliance.test_rules import _duct

API = "/api/v1/compliance"


def _candidate(client, session, people, survey):
    """A span beside a duct with room, carrying TOPA's and TOPB's cable: one planned case each."""
    _duct(client, people, dy=8)
    survey(street() + [span("P0", "P1"), cable("P0", "P1"), cable("P0", "P1", operator="TOPB", cable_type="copper")])
    return {r.operator_id: r.id for r in session.execute(text("SELECT id, operator_id FROM migration_case"))}


def _day(n: int) -> date:
    return today() + timedelta(days=n)


def _leased(client, session, people, case_id: int, who: str, first_day: date) -> int:
    """The operator's lease of the case's duct route from `first_day`, tied to the case."""
    request_id = lease(client, people, who, segments=["RS-C-AB"], first_day=first_day)
    service.link_request(session, case_id=case_id, capacity_request_id=request_id)
    return request_id


def _request(client, people, who: str) -> int:
    body = {
        "segments": ["RS-C-AB"],
        "subduct_count": 1,
        "size_class": "subduct_32_26",
        "first_day": (date.today() + timedelta(days=30)).isoformat(),
        "term_months": 12,
    }
    r = client.post("/api/v1/leasing/requests", json=body, headers=people.headers(who))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_operator_ties_its_capacity_request_to_its_case(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    mine = cases[people.orgs["op_a"].id]
    request_id = _request(client, people, "op_a")
    r = client.patch(
        f"{API}/migrations/{mine}", json={"capacity_request_id": request_id}, headers=people.headers("op_a")
    )
    assert r.status_code == 200, r.text
    assert r.json()["capacity_request_id"] == request_id and r.json()["stage"] == "planned"
    theirs = cases[people.orgs["op_b"].id]
    assert (
        client.patch(
            f"{API}/migrations/{theirs}", json={"capacity_request_id": request_id}, headers=people.headers("op_a")
        ).status_code
        == 404
    )


def test_another_operators_request_cannot_be_tied_to_a_case(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    request_id = _request(client, people, "op_b")
    r = client.patch(
        f"{API}/migrations/{cases[people.orgs['op_a'].id]}",
        json={"capacity_request_id": request_id},
        headers=people.headers("planner"),
    )
    assert r.status_code == 422 and r.json()["code"] == "request_operator_mismatch"
    r = client.patch(
        f"{API}/migrations/{cases[people.orgs['op_a'].id]}",
        json={"capacity_request_id": 987654},
        headers=people.headers("planner"),
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    (fault,) = r.json()["errors"]
    assert fault["code"] == "not_found" and fault["detail"] == {"what": "capacity_request", "ref": 987654}
    assert r.json()["detail"] == "permintaan kapasitas 987654 tidak ada (atau sudah dihapus)"


def test_survey_without_the_cable_completes_a_case_at_cut_over_and_not_an_earlier_one(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    a, b = cases[people.orgs["op_a"].id], cases[people.orgs["op_b"].id]
    _leased(client, session, people, a, "op_a", _day(0))
    _leased(client, session, people, b, "op_b", _day(0))
    for stage, on in ((MigrationStage.PULLED_INTO_DUCT, _day(1)), (MigrationStage.CUT_OVER, _day(8))):
        service.advance_migration(session, case_id=a, to=stage, on=on)
    service.advance_migration(session, case_id=b, to=MigrationStage.PULLED_INTO_DUCT, on=_day(1))
    gone = survey(street() + [span("P0", "P1")], day=_day(31))  # both cables are down
    assert gone.migrations_completed == 1
    assert gone.migrations_closed == 0  # neither case was still planned
    rows = {r.id: r for r in session.execute(text("SELECT id, stage, removed_on, note FROM migration_case"))}
    assert rows[a].stage == "aerial_removed" and rows[a].removed_on == _day(31)
    assert f"survei #{gone.survey_id}" in rows[a].note
    assert rows[b].stage == "pulled_into_duct" and rows[b].removed_on is None  # SJUT order is never skipped
    assert flags(session, "duct_available") == []


def test_dashboard_counts_removed_cable_migrations_and_the_trend_per_survey(client, session, people, survey):
    _candidate(client, session, people, survey)
    first = session.scalar(text("SELECT max(id) FROM survey_round"))
    opened = len(flags(session))
    second = survey(street() + [span("P0", "P1"), cable("P0", "P1")], day=date(2026, 6, 1))  # TOPB's cable is gone
    r = client.get(f"{API}/dashboard", headers=people.headers("auditor"))
    assert r.status_code == 200
    kec = [k for k in r.json()["kecamatan"] if k["km_aerial_removed"] > 0]
    assert len(kec) == 1 and 0.09 < kec[0]["km_aerial_removed"] < 0.11  # one 100 m cable
    # TOPB's cable is gone: its planned case closed itself with that survey as the reason; TOPA's is still planned
    assert kec[0]["migrations_by_stage"] == {"planned": 1, "closed": 1}
    assert kec[0]["open_flags_by_rule"]["duct_available"] == 1
    trend = {t["survey_id"]: t for t in r.json()["trend"]}
    assert trend[first]["flags_opened"] == opened and trend[first]["flags_resolved"] == 0
    assert trend[second.survey_id]["flags_resolved"] == second.evaluation.resolved > 0


def test_migration_list_filters_by_stage_and_kecamatan_and_pages(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    a, b = cases[people.orgs["op_a"].id], cases[people.orgs["op_b"].id]
    _leased(client, session, people, a, "op_a", _day(0))
    service.advance_migration(session, case_id=a, to=MigrationStage.PULLED_INTO_DUCT, on=_day(1))
    kec = session.execute(
        text("SELECT s.kecamatan_kode FROM migration_case m JOIN aerial_span s ON s.id = m.span_id WHERE m.id = :id"),
        {"id": a},
    ).scalar_one()
    session.commit()

    def ids(**params) -> list[int]:
        r = client.get(f"{API}/migrations", params=params, headers=people.headers("planner"))
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert sorted(ids()) == sorted([a, b])
    assert ids(stage="pulled_into_duct") == [a] and ids(stage="planned") == [b] and ids(stage="cut_over") == []
    assert kec is not None  # the test network lies inside a kecamatan
    assert sorted(ids(kecamatan=kec)) == sorted([a, b])
    assert ids(kecamatan="99.99.99") == []
    first, second = ids(limit=1), ids(limit=1, offset=1)
    assert len(first) == len(second) == 1 and {first[0], second[0]} == {a, b}
    assert (
        client.get(f"{API}/migrations", params={"stage": "lompat"}, headers=people.headers("planner")).status_code
        == 422
    )
    assert (
        client.get(f"{API}/migrations", params={"kecamatan": "x'; --"}, headers=people.headers("planner")).status_code
        == 422
    )
    # an operator's filter still only reaches its own cases
    r = client.get(f"{API}/migrations", params={"stage": "planned"}, headers=people.headers("op_a"))
    assert r.status_code == 200 and r.json() == []


def test_a_case_reaches_the_duct_only_under_a_lease_of_its_route(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    session.commit()  # a refused request rolls back what the test had not committed
    mine = cases[people.orgs["op_a"].id]
    advance = {"to": "pulled_into_duct", "on": _day(2).isoformat()}
    r = client.post(f"{API}/migrations/{mine}/advance", json=advance, headers=people.headers("op_a"))
    assert r.status_code == 409 and r.json()["code"] == "migration_lease_required", r.text
    assert r.json()["capacity_request_id"] is None and r.json()["missing_segments"] == ["RS-C-AB"]
    # a request that only holds the route (submitted, not accepted) is no lease yet
    held = _request(client, people, "op_a")
    client.patch(f"{API}/migrations/{mine}", json={"capacity_request_id": held}, headers=people.headers("op_a"))
    r = client.post(f"{API}/migrations/{mine}/advance", json=advance, headers=people.headers("op_a"))
    assert r.status_code == 409 and r.json()["code"] == "migration_lease_required"
    assert r.json()["capacity_request_id"] == held
    # the lease in force on the day the cable goes in
    leased = lease(client, people, "op_a", segments=["RS-C-AB"], first_day=_day(1))
    client.patch(f"{API}/migrations/{mine}", json={"capacity_request_id": leased}, headers=people.headers("op_a"))
    early = {"to": "pulled_into_duct", "on": _day(0).isoformat()}  # the day before the lease starts
    r = client.post(f"{API}/migrations/{mine}/advance", json=early, headers=people.headers("op_a"))
    assert r.status_code == 409 and r.json()["code"] == "migration_lease_required"
    r = client.post(f"{API}/migrations/{mine}/advance", json=advance, headers=people.headers("op_a"))
    assert r.status_code == 200 and r.json()["stage"] == "pulled_into_duct", r.text


def test_a_planned_case_closes_itself_when_a_later_survey_shows_the_cable_gone(client, session, people, survey):
    cases = _candidate(client, session, people, survey)
    a, b = cases[people.orgs["op_a"].id], cases[people.orgs["op_b"].id]
    later = survey(street() + [span("P0", "P1"), cable("P0", "P1")], day=_day(20))  # TOPB's cable came down
    session.commit()  # a refused request rolls back what the test had not committed
    assert later.migrations_closed == 1
    rows = {
        r.id: r
        for r in session.execute(
            text("SELECT id, stage, closed_on, closed_survey_id, closed_reason FROM migration_case")
        )
    }
    assert rows[b].stage == "planned" and rows[b].closed_on == _day(20)
    assert rows[b].closed_survey_id == later.survey_id and f"survei #{later.survey_id}" in rows[b].closed_reason
    assert rows[a].closed_on is None  # TOPA's cable is still there
    r = client.post(
        f"{API}/migrations/{b}/advance",
        json={"to": "pulled_into_duct", "on": _day(21).isoformat()},
        headers=people.headers("planner"),
    )
    assert r.status_code == 409 and r.json()["code"] == "migration_closed"
    listed = {c["id"]: c for c in client.get(f"{API}/migrations", headers=people.headers("planner")).json()}
    assert listed[b]["closed_on"] == _day(20).isoformat() and listed[a]["closed_on"] is None
    # the cable is back and the duct still has room: the rule finds it again and the case opens again
    survey(street() + [span("P0", "P1"), cable("P0", "P1"), cable("P0", "P1", operator="TOPB", cable_type="copper")])
    assert session.execute(text("SELECT closed_on FROM migration_case WHERE id = :id"), {"id": b}).scalar() is None
