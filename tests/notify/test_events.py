"""Every event type, made to happen through the API (or the clock job), arrives: in the app, by e-mail and, for
what an operator's systems may subscribe to, by a signed webhook carrying the event id as its idempotency key."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ducting.notify.signing import verify
from ducting.notify.vocab import AUDIENCE, OPERATOR, EventType
from tests.billing.conftest import build_net
from tests.notify.conftest import PUBLIC_URL
from tests.notify.scenarios import SCENARIOS, World

STAFF_OF = {"planner", "finance", "admin"}


@pytest.fixture()
def world(client, session, people, notify_settings, addresses) -> World:
    net = build_net(session, prefix="N")
    session.commit()
    return World(client, session, people, net, notify_settings)


@pytest.fixture()
def hook(world, receiver) -> dict:
    """Operator A's webhook for every event type it may have."""
    return world.post("/webhooks", "op_a", 201, json={"url": receiver.url("/hook"), "description": "sistem NOC"})


def _events(world: World, type_: EventType) -> list:
    return world.session.execute(
        text("SELECT id, operator_id, payload FROM notification_event WHERE type = :t AND seq > :s ORDER BY seq"),
        {"t": type_.value, "s": world.start_seq},
    ).all()


def test_scenarios_cover_every_event_type():
    assert set(SCENARIOS) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType), ids=lambda t: t.value)
def test_event_arrives_in_the_app_by_email_and_by_webhook(
    event_type, world, hook, worker, mailbox, receiver, addresses, session
):
    SCENARIOS[event_type](world)
    events = _events(world, event_type)
    expected = 1
    if event_type == EventType.COMPLIANCE_FLAG_OPENED:  # one per flag on the operator's cables
        expected = session.execute(
            text("SELECT count(*) FROM compliance_flag WHERE operator_ids @> ARRAY[CAST(:o AS bigint)]"),
            {"o": world.op_a},
        ).scalar_one()
    assert len(events) == expected >= 1, f"{event_type}: {len(events)} events"
    worker.drain()
    for event in events:
        _arrived(event_type, event, world, hook, mailbox[0], receiver, addresses, session)


def _arrived(event_type, event, world, hook, mailbox, receiver, addresses, session) -> None:
    readers = [who for who in STAFF_OF if who in AUDIENCE[event_type]]
    if OPERATOR in AUDIENCE[event_type]:
        assert event.operator_id == world.op_a
        readers.append("op_a")
    for who in readers:
        listed = world.client.get(
            "/api/v1/notifications", params={"lang": "id", "limit": 200}, headers=world.h(who)
        ).json()
        mine = [n for n in listed["items"] if n["id"] == str(event.id)]
        assert mine, f"{event_type} not in {who}'s list"
        note = mine[0]
        assert note["title"] and "{" not in note["title"] and "–" not in note["title"], note["title"]
        assert not note["read"] and listed["unread"] >= 1
        assert note["links"]["api"].startswith("/api/v1/") and note["page"].startswith("/")
        mails = [m for m in mailbox.to(addresses[who]) if str(event.id) in m["X-Bedelau-Event-Id"]]
        assert len(mails) == 1, f"{event_type}: {len(mails)} e-mails to {who}"
        assert note["title"] in mails[0]["Subject"]
        assert PUBLIC_URL + note["page"] in mails[0].get_content()
    # nobody outside the audience is told
    for who in {"planner", "finance", "admin", "auditor", "op_b"} - set(readers):
        assert not any(str(event.id) in (m["X-Bedelau-Event-Id"] or "") for m in mailbox.to(addresses[who]))
        listed = world.client.get("/api/v1/notifications", params={"limit": 200}, headers=world.h(who)).json()
        assert str(event.id) not in {n["id"] for n in listed["items"]}, who

    posts = [r for r in receiver.at("/hook") if r.headers.get("idempotency-key") == str(event.id)]
    if OPERATOR not in AUDIENCE[event_type]:
        assert posts == [] and receiver.received == []  # the BUMD's own news goes to no operator's webhook
        return
    assert len(posts) == 1, f"{event_type}: {len(posts)} webhook posts"
    post = posts[0]
    assert post.headers["x-bedelau-event"] == event_type.value == post.json["type"]
    assert post.json["id"] == str(event.id) and post.json["operator"]["code"] == "TOPA"
    assert verify(hook["secret"], post.body, post.headers["x-bedelau-signature"])
    assert not verify(hook["secret"], post.body + b" ", post.headers["x-bedelau-signature"])
    assert post.json["links"] == event.payload["links"]
    state = session.execute(
        text(
            "SELECT state, attempts, last_status FROM notification_delivery WHERE event_id = :e AND channel = 'webhook'"
        ),
        {"e": event.id},
    ).one()
    assert tuple(state) == ("delivered", 1, 200)
