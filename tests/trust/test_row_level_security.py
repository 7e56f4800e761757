"""Row-level security, proved with deliberately unscoped queries: the application's own session, bound to
operator A, runs `SELECT * FROM <table>` with no WHERE clause, and none of operator B's rows come back.

Ownership is worked out as the schema owner would see it (before the session takes A's identity), so the test
does not trust the policies it is checking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from ducting.calendar import today
from ducting.db import Actor, bind_actor
from ducting.localdb import APP_ROLE
from tests.trust.world import World, build_world

# how to tell whose a row is, per table (`o` is an organisation id); the catalogue check below makes sure every
# table with an operator column is here
OWNER_OF = {
    "capacity_request": "operator_id = :o",
    "request_event": "operator_id = :o",
    "allocation": "operator_id = :o",
    "cable": "operator_id = :o",
    "invoice": "operator_id = :o",
    "invoice_line": "invoice_id IN (SELECT id FROM invoice WHERE operator_id = :o)",
    "payment": "invoice_id IN (SELECT id FROM invoice WHERE operator_id = :o)",
    "compliance_flag": "operator_ids @> ARRAY[CAST(:o AS bigint)]",
    "flag_event": "flag_id IN (SELECT id FROM compliance_flag WHERE operator_ids @> ARRAY[CAST(:o AS bigint)])",
    "migration_case": "operator_id = :o",
    "operator_agreement": "operator_id = :o",
    "cable_attachment": "operator_id = :o",
    "notification_event": "operator_id = :o",
    "notification_delivery": "operator_id = :o",
    "webhook_endpoint": "operator_id = :o",
}
# row-level security on tables without an operator column: each account's own rows (migrations 0041, 0042)
RLS_TABLES = {*OWNER_OF, "audit_log", "notification_read", "notification_preference"}
# what operator A may not see of its own: invoices (and their lines and payments) still in draft
HIDDEN_FROM_OWNER = {
    "invoice": "status = 'draft'",
    "invoice_line": "invoice_id IN (SELECT id FROM invoice WHERE status = 'draft')",
    "payment": "invoice_id IN (SELECT id FROM invoice WHERE status = 'draft')",
}
NETWORK_TABLES = ("node", "route_segment", "duct", "subduct", "duct_spec", "duct_spec_child")


@pytest.fixture()
def world(session, people) -> World:
    return build_world(session, people)


def _ids(session, table: str, where: str = "TRUE", **params) -> set[int]:
    return set(session.execute(text(f"SELECT id FROM {table} WHERE {where}"), params).scalars())


def _act_as(session, people, who: str) -> None:
    acc = people.accounts[who]
    bind_actor(session, Actor(account_id=acc.id, role=acc.role, organisation_id=acc.organisation_id))


def test_every_table_with_an_operator_column_has_row_level_security(session):
    with_operator = set(
        session.execute(
            text("""
        SELECT DISTINCT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
          AND c.column_name IN ('operator_id', 'operator_ids')""")
        ).scalars()
    )
    protected = set(
        session.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relrowsecurity"
            )
        ).scalars()
    )
    assert with_operator - protected == set(), "operator data without row-level security"
    assert protected == RLS_TABLES


def test_the_application_role_cannot_bypass_row_level_security(session):
    role = session.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert session.execute(text("SELECT current_user")).scalar() == APP_ROLE
    assert role == (False, False)
    owned = (
        session.execute(
            text("""SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
        AND relname = ANY(:t) AND pg_get_userbyid(relowner) = current_user"""),
            {"t": sorted(RLS_TABLES)},
        )
        .scalars()
        .all()
    )
    assert owned == []  # an owner is exempt from its tables' policies (they are not FORCEd)


def test_the_service_checks_its_role_at_start_up_and_production_refuses_an_owner(
    engine, owner_engine, monkeypatch, caplog
):
    from fastapi import FastAPI

    from ducting.app import check_database_role
    from ducting.db import rls_bypass_reasons
    from ducting.settings import Environment, get_settings

    assert rls_bypass_reasons(engine) == []
    reasons = rls_bypass_reasons(owner_engine)
    assert len(reasons) == 1 and "owns tables whose policies do not bind their owner" in reasons[0]
    assert "allocation" in reasons[0] and "invoice" in reasons[0]

    app = FastAPI()
    app.state.engine = owner_engine
    with caplog.at_level("ERROR", logger="ducting"):
        check_database_role(app)  # development: said loudly, the service still starts
    assert "gets past row-level security" in caplog.text
    monkeypatch.setattr(get_settings(), "env", Environment.PRODUCTION)
    with pytest.raises(RuntimeError, match="gets past row-level security"):
        check_database_role(app)
    app.state.engine = engine
    check_database_role(app)  # the application role passes, in production too


def test_unscoped_selects_as_operator_a_return_none_of_operator_bs_rows(session, people, world):
    a, b = world.a.org_id, world.b.org_id
    mine = {t: _ids(session, t, w, o=a) for t, w in OWNER_OF.items()}
    theirs = {t: _ids(session, t, w, o=b) - mine[t] for t, w in OWNER_OF.items()}
    hidden = {t: _ids(session, t, w) for t, w in HIDDEN_FROM_OWNER.items()}
    everything = {t: _ids(session, t) for t in OWNER_OF}
    for table in OWNER_OF:
        assert theirs[table], f"the world has no row of operator B in {table}: the check would prove nothing"
    _act_as(session, people, "op_a")
    for table in OWNER_OF:
        seen = _ids(session, table)  # no WHERE clause: only the policies stand between A and B's rows
        assert seen & theirs[table] == set(), f"operator A sees operator B's rows in {table}"
        assert seen == mine[table] - hidden.get(table, set()), table
        assert seen < everything[table], table
    audit = session.execute(text("SELECT DISTINCT table_name FROM audit_log")).scalars().all()
    assert audit and set(audit) <= set(NETWORK_TABLES)


def test_operator_a_may_not_write_operator_bs_rows_nor_rows_in_bs_name(session, people, world):
    b = world.b.org_id
    b_request = world.b.requests["submitted"]
    _act_as(session, people, "op_a")
    assert (
        session.execute(text("UPDATE allocation SET pks_number = 'X' WHERE operator_id = :o"), {"o": b}).rowcount == 0
    )
    assert (
        session.execute(text("UPDATE capacity_request SET reason = 'X' WHERE id = :i"), {"i": b_request}).rowcount == 0
    )
    assert session.execute(text("DELETE FROM request_event WHERE operator_id = :o"), {"o": b}).rowcount == 0
    assert (
        session.execute(text("UPDATE migration_case SET note = 'X' WHERE id = :i"), {"i": world.b.case_id}).rowcount
        == 0
    )
    with pytest.raises(ProgrammingError, match="row-level security"), session.begin_nested():
        session.execute(
            text("""INSERT INTO request_event (request_id, operator_id, to_status, note)
                                VALUES (:r, :o, 'cancelled', 'forged')"""),
            {"r": b_request, "o": b},
        )


STAFF_READS = [
    ("planner", "invoice", False),
    ("planner", "compliance_flag", True),
    ("planner", "allocation", True),
    ("finance", "invoice", True),
    ("finance", "compliance_flag", False),
    ("finance", "allocation", True),
    ("auditor", "invoice", True),
    ("auditor", "compliance_flag", True),
    ("auditor", "audit_log", True),
    ("admin", "payment", True),
    ("admin", "flag_event", True),
    ("planner", "audit_log", True),
    ("planner", "notification_event", True),  # the requests submitted
    ("finance", "notification_event", False),  # nothing overdue in this world
    ("planner", "webhook_endpoint", False),
    ("auditor", "notification_delivery", True),
]


def test_staff_see_what_their_role_reads(session, people, world):
    for who, table, visible in STAFF_READS:
        _act_as(session, people, who)
        assert bool(_ids(session, table)) is visible, (who, table)


def test_read_only_roles_cannot_write_and_no_identity_sees_nothing(session, people, world):
    _act_as(session, people, "auditor")
    assert session.execute(text("UPDATE allocation SET pks_number = 'X'")).rowcount == 0
    assert session.execute(text("UPDATE invoice SET reason = 'X' WHERE status = 'draft'")).rowcount == 0
    _act_as(session, people, "finance")
    assert session.execute(text("UPDATE capacity_request SET reason = 'X'")).rowcount == 0
    bind_actor(session, Actor(account_id=None, role=""))
    for table in sorted(RLS_TABLES):
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_occupancy_view_shows_every_operators_space_but_only_own_identities(session, people, world):
    total, cables = session.execute(
        text("SELECT (SELECT count(*) FROM allocation), (SELECT count(*) FROM cable)")
    ).one()
    _act_as(session, people, "op_a")
    rows = session.execute(text("SELECT operator_id, request_id, pks_number FROM allocation_occupancy")).all()
    assert len(rows) == total  # availability counts every lease
    assert {r.operator_id for r in rows} == {world.a.org_id, None}
    assert cables >= 2 and session.execute(text("SELECT count(*) FROM cable_fill")).scalar() == cables
    with pytest.raises(ProgrammingError, match="permission denied"), session.begin_nested():
        session.execute(text("UPDATE allocation_occupancy SET status = 'released'"))


def test_an_operators_booking_frees_another_operators_lapsed_hold(client, session, people):
    """The sweep runs as the schema owner: A cannot see B's hold, yet A's booking must release it, or the
    exclusion constraint would refuse A the subduct that B's lapsed hold still names."""
    from tests.billing.conftest import build_net

    build_net(session, prefix="H")
    session.execute(
        text(
            "UPDATE subduct SET is_reserved = true WHERE segment_id = (SELECT id FROM route_segment "
            "WHERE code = 'RS-H-BC') AND id <> (SELECT min(id) FROM subduct WHERE segment_id = "
            "(SELECT id FROM route_segment WHERE code = 'RS-H-BC'))"
        )
    )
    session.commit()
    body = {
        "segments": ["RS-H-BC"],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (today() + timedelta(days=20)).isoformat(),
        "term_months": 6,
    }
    first = client.post("/api/v1/leasing/requests", json=body, headers=people.headers("op_b"))
    assert first.status_code == 201, first.text
    assert client.post("/api/v1/leasing/requests", json=body, headers=people.headers("op_a")).status_code == 409
    session.execute(
        text("UPDATE allocation SET hold_expires_at = now() - interval '1 second' WHERE request_id = :r"),
        {"r": first.json()["id"]},
    )
    session.execute(
        text("UPDATE capacity_request SET hold_expires_at = now() - interval '1 second' WHERE id = :r"),
        {"r": first.json()["id"]},
    )
    session.commit()
    second = client.post("/api/v1/leasing/requests", json=body, headers=people.headers("op_a"))
    assert second.status_code == 201, second.text
    status = session.execute(
        text("SELECT status::text FROM capacity_request WHERE id = :r"), {"r": first.json()["id"]}
    ).scalar()
    assert status == "expired"
