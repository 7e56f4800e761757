"""The outbox's promises: an event exists if and only if its change committed; the clock announces each occurrence
once, counting working days; the vocabulary in Python and in the database agree; secrets stay out of the audit
trail; the bell counts what is unread, per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ducting.calendar import add_working_days, today
from ducting.db import Actor, bind_actor
from ducting.notify.clock import run_clock
from ducting.notify.events import emit
from ducting.notify.vocab import AUDIENCE, EventType
from tests.billing.conftest import build_net
from tests.notify.scenarios import World, accepted, submit


@pytest.fixture()
def world(client, session, people, notify_settings) -> World:
    net = build_net(session, prefix="N")
    session.commit()
    return World(client, session, people, net, notify_settings)


def _types(session, subject: str | None = None) -> list[str]:
    return (
        session.execute(
            text("SELECT type FROM notification_event WHERE (CAST(:s AS text) IS NULL OR subject = :s) ORDER BY seq"),
            {"s": subject},
        )
        .scalars()
        .all()
    )


def test_the_vocabulary_in_python_is_the_databases(session):
    rows = dict(session.execute(text("SELECT code, audience FROM notification_event_type")).all())
    assert {EventType(k): frozenset(v) for k, v in rows.items()} == AUDIENCE


def test_an_event_exists_only_if_its_change_committed(world, session):
    req = submit(world)
    subject = f"capacity_request:{req['id']}"
    assert _types(session, subject) == ["request.submitted"]
    # a refused transition (the hold has lapsed) rolls back, and with it every event it would have written (the
    # expiry it found on its way included)
    session.execute(
        text("UPDATE allocation SET hold_expires_at = now() - interval '1 second' WHERE request_id = :r"),
        {"r": req["id"]},
    )
    session.commit()
    r = world.client.post(f"/api/v1/leasing/requests/{req['id']}/approve", headers=world.h("planner"))
    assert r.status_code == 409, r.text
    assert _types(session, subject) == ["request.submitted"]
    # and an event raised in a transaction that rolls back is gone with it
    with session.begin_nested():
        emit(session, type=EventType.REQUEST_OFFERED, operator_id=world.op_a, subject=subject, payload={})
        assert _types(session, subject) == ["request.submitted", "request.offered"]
        session.rollback()
    assert _types(session, subject) == ["request.submitted"]
    told = session.execute(
        text("""SELECT count(*) FROM notification_delivery d JOIN notification_event e ON e.id = d.event_id
                WHERE e.subject = :s"""),
        {"s": subject},
    ).scalar_one()
    assert told == 0  # no one to tell: no webhook, no e-mail address


def test_an_acceptance_that_starts_the_lease_tells_both_in_order_with_the_pks_number(world, session):
    req = accepted(world, first=today())
    rows = session.execute(
        text("SELECT type, payload FROM notification_event WHERE subject = :s ORDER BY seq"),
        {"s": f"capacity_request:{req['id']}"},
    ).all()
    assert [r.type for r in rows] == ["request.submitted", "request.offered", "request.accepted", "lease.started"]
    assert rows[2].payload["pks_number"] == rows[3].payload["pks_number"] == req["pks_number"]
    assert rows[3].payload["status"] == "active"


def test_the_clock_announces_each_occurrence_once_and_a_renewed_hold_again(world, session):
    req = submit(world)
    hold = datetime.fromisoformat(req["hold_expires_at"])
    near = hold - timedelta(hours=2)
    assert run_clock(session, now=near, settings=world.settings)["request.hold_expiring"] == 1
    assert run_clock(session, now=near + timedelta(minutes=30), settings=world.settings)["request.hold_expiring"] == 0
    world.post(f"/leasing/requests/{req['id']}/approve", "planner")  # the offer renews the hold: a new occurrence
    renewed = world.client.get(f"/api/v1/leasing/requests/{req['id']}", headers=world.h("op_a")).json()
    later = datetime.fromisoformat(renewed["hold_expires_at"]) - timedelta(hours=2)
    assert run_clock(session, now=later, settings=world.settings)["request.hold_expiring"] == 1
    assert _types(session, f"capacity_request:{req['id']}").count("request.hold_expiring") == 2


def test_a_hold_is_announced_three_working_days_ahead_not_three_calendar_days(world, session):
    req = submit(world)
    friday = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)  # a Friday with no holiday in the week after
    horizon = add_working_days(friday, 3)
    assert horizon - friday == timedelta(days=5)  # Friday + three working days is Wednesday
    session.execute(text("UPDATE capacity_request SET hold_expires_at = :h WHERE id = :r"),
                    {"h": horizon + timedelta(minutes=1), "r": req["id"]})  # fmt: skip
    assert run_clock(session, now=friday, settings=world.settings)["request.hold_expiring"] == 0
    session.execute(text("UPDATE capacity_request SET hold_expires_at = :h WHERE id = :r"),
                    {"h": horizon - timedelta(minutes=1), "r": req["id"]})  # fmt: skip
    assert run_clock(session, now=friday, settings=world.settings)["request.hold_expiring"] == 1


def test_the_clock_does_not_announce_what_happened_long_ago(world, session):
    accepted(world, first=today() - timedelta(days=5), last=today() - timedelta(days=1))
    ten_days_on = datetime.now(UTC) + timedelta(days=10)  # past the 7-day catch-up window
    assert run_clock(session, now=ten_days_on, settings=world.settings)["lease.ended"] == 0
    assert run_clock(session, now=datetime.now(UTC), settings=world.settings)["lease.ended"] == 1


def test_the_clock_steps_aside_while_another_process_runs_it(world, session, engine):
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(hashtext('ducting.notify.clock'))"))
        try:
            assert run_clock(session, settings=world.settings) == {}
        finally:
            other.execute(text("SELECT pg_advisory_unlock(hashtext('ducting.notify.clock'))"))
            other.commit()


def test_the_bell_counts_unread_per_account_and_mark_read(world, session, people):
    submit(world)
    submit(world)
    h = world.h
    count = lambda who: world.client.get("/api/v1/notifications/unread-count", headers=h(who)).json()["unread"]  # noqa: E731
    assert (count("op_a"), count("planner"), count("admin"), count("op_b"), count("finance")) == (2, 2, 2, 0, 0)
    first = world.client.get("/api/v1/notifications", headers=h("op_a")).json()["items"][0]
    r = world.client.post(f"/api/v1/notifications/{first['id']}/read", headers=h("op_a"))
    assert r.status_code == 200 and r.json()["unread"] == 1
    assert world.client.post(f"/api/v1/notifications/{first['id']}/read", headers=h("op_a")).json()["unread"] == 1
    assert world.client.post(f"/api/v1/notifications/{first['id']}/read", headers=h("op_b")).status_code == 404
    assert count("planner") == 2  # one account's reading is its own
    unread = world.client.get("/api/v1/notifications", params={"unread_only": True}, headers=h("op_a")).json()
    assert [n["read"] for n in unread["items"]] == [False]
    assert world.client.post("/api/v1/notifications/read-all", headers=h("planner")).json() == {
        "marked": 2,
        "unread": 0,
    }
    assert count("planner") == 0
    english = world.client.get("/api/v1/notifications", params={"lang": "en"}, headers=h("op_a")).json()["items"]
    assert english[0]["title"].startswith("Request REQ/") and english[0]["title"].endswith(" submitted")


def test_row_level_security_keeps_each_operators_events_deliveries_and_webhooks(world, session, people, receiver):
    world.post("/webhooks", "op_a", 201, json={"url": receiver.url("/a")})
    world.post("/webhooks", "op_b", 201, json={"url": receiver.url("/b")})
    submit(world)  # operator A's request
    counts = text("""SELECT (SELECT count(*) FROM notification_event WHERE seq > :s),
        (SELECT count(*) FROM notification_delivery d JOIN notification_event e ON e.id = d.event_id WHERE e.seq > :s),
        (SELECT count(*) FROM webhook_endpoint WHERE operator_id IN (:a, :b))""").bindparams(
        s=world.start_seq, a=world.op_a, b=people.orgs["op_b"].id
    )
    assert tuple(session.execute(counts).one()) == (1, 1, 2)
    for who, seen in (
        ("op_a", (1, 1, 1)),
        ("op_b", (0, 0, 1)),
        ("planner", (1, 0, 0)),
        ("finance", (0, 0, 0)),
        ("auditor", (1, 1, 2)),
    ):
        acc = people.accounts[who]
        bind_actor(session, Actor(account_id=acc.id, role=acc.role, organisation_id=acc.organisation_id))
        assert tuple(session.execute(counts).one()) == seen, who
    bind_actor(session, Actor(account_id=None, role=""))
    assert tuple(session.execute(counts).one()) == (0, 0, 0)


def test_a_webhook_secret_never_reaches_the_audit_trail(world, session, receiver):
    created = world.post("/webhooks", "op_a", 201, json={"url": receiver.url("/a")})
    rotated = world.post(f"/webhooks/{created['id']}/rotate-secret", "op_a")
    assert rotated["secret"] != created["secret"] and rotated["secret_fingerprint"] != created["secret_fingerprint"]
    raw = session.execute(
        text("SELECT old, new FROM audit_log WHERE table_name = 'webhook_endpoint' ORDER BY id")
    ).all()
    assert len(raw) == 2 and all("secret" not in (r.new or {}) for r in raw)
    assert raw[1].old["secret_sha256"] != raw[1].new["secret_sha256"]  # the rotation is recorded, as a digest
    text_of_trail = str([tuple(r) for r in raw])
    assert created["secret"] not in text_of_trail and rotated["secret"] not in text_of_trail
    shown = world.client.get("/api/v1/audit", params={"table": "webhook_endpoint"}, headers=world.h("admin")).json()
    assert {item["new"]["secret_sha256"] for item in shown["items"]} == {"[redacted]"}
