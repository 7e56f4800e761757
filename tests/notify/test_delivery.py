"""Delivery in one worker round at a time, in the test's transaction: retries with backoff, dead letters, "send
again", the SSRF guard at registration and at send time, digests, languages, and e-mail without a server."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from sqlalchemy import text

from ducting.calendar import WIB
from ducting.db import Actor
from ducting.notify import webhooks
from ducting.notify.delivery import backoff_s
from ducting.notify.events import emit
from ducting.notify.schemas import WebhookIn
from ducting.notify.settings import NotifySettings, SmtpSettings, get_notify_settings
from ducting.notify.ssrf import Guard
from ducting.notify.vocab import EventType
from ducting.notify.worker import Worker
from tests.notify.conftest import due_now


@pytest.fixture()
def raise_event(session, people):
    """`raise_event(n)` writes n events about operator A (as the leasing triggers would) and commits."""

    def run(n: int = 1, type_: EventType = EventType.REQUEST_OFFERED) -> list[str]:
        ids = []
        for i in range(n):
            payload = {
                "request_id": 900 + i,
                "reference": f"REQ/2026/{900 + i:06d}",
                "links": {"api": "/x", "page": "/operator/sewa"},
            }
            ids.append(
                str(emit(session, type=type_, operator_id=people.orgs["op_a"].id, subject=f"t:{i}", payload=payload))
            )
        session.commit()
        return ids

    return run


def _hook(session, people, url: str, guard: Guard | None = None) -> tuple[dict, str]:
    """Operator A registers `url` (through the service: tests choose the guard)."""
    acc = people.accounts["op_a"]
    actor = Actor(account_id=acc.id, role="operator", organisation_id=acc.organisation_id)
    guard = guard or Guard(NotifySettings(webhook_allow_loopback=True))
    row, secret = webhooks.create_endpoint(session, actor=actor, data=WebhookIn(url=url), guard=guard)
    session.commit()
    return row, secret


def _deliveries(session, channel: str = "webhook") -> list:
    """Operator A's deliveries (its webhooks', its accounts' e-mail): operator A lives in this test only."""
    return session.execute(
        text("""SELECT d.id, d.state, d.attempts, d.last_status, d.last_error, w.url FROM notification_delivery d
                LEFT JOIN webhook_endpoint w ON w.city_id = d.city_id AND w.id = d.endpoint_id
                WHERE d.channel = :c AND d.operator_id = (SELECT id FROM organisation WHERE code = 'TOPA')
                ORDER BY d.id"""),
        {"c": channel},
    ).all()


def test_a_failed_delivery_is_retried_with_the_same_event_id_and_body(session, people, receiver, worker, raise_event):
    _hook(session, people, receiver.url("/flaky"))
    receiver.behave["/flaky"] = [(500, 0.0)]
    (event_id,) = raise_event()
    worker.drain()
    (d,) = _deliveries(session)
    assert (d.state, d.attempts, d.last_status) == ("pending", 1, 500)
    worker.drain()
    assert _deliveries(session)[0].state == "pending"  # its backoff has not passed yet
    due_now(session)
    worker.drain()
    (d,) = _deliveries(session)
    assert (d.state, d.attempts, d.last_status, d.last_error) == ("delivered", 2, 200, None)
    first, second = receiver.at("/flaky")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == event_id
    assert first.body == second.body
    assert (first.headers["x-bedelau-attempt"], second.headers["x-bedelau-attempt"]) == ("1", "2")


def test_a_receiver_that_keeps_failing_is_dead_lettered_while_others_are_delivered(
    session, people, receiver, worker, raise_event
):
    _hook(session, people, receiver.url("/bad"))
    _hook(session, people, receiver.url("/good"))
    receiver.behave["/bad"] = [(500, 0.0)] * 10
    raise_event(3)
    for _ in range(4):
        worker.drain()
        due_now(session)
    rows = _deliveries(session)
    good = [r for r in rows if r.url.endswith("/good")]
    bad = [r for r in rows if r.url.endswith("/bad")]
    assert [r.state for r in good] == ["delivered"] * 3 and all(r.attempts == 1 for r in good)
    assert [r.state for r in bad] == ["dead"] * 3  # max_attempts = 3 in these tests
    assert all(r.attempts == 3 and r.last_status == 500 and r.last_error == "HTTP 500" for r in bad)
    assert len(receiver.at("/bad")) == 9 and len(receiver.at("/good")) == 3


def test_a_receiver_that_does_not_answer_in_time_is_retried(session, people, receiver, worker, raise_event):
    _hook(session, people, receiver.url("/slow"))
    receiver.behave["/slow"] = [(200, 2.0)]  # the tests' timeout is 1 s
    raise_event()
    worker.drain()
    (d,) = _deliveries(session)
    assert d.state == "pending" and d.last_status is None and "no answer within 1 s" in d.last_error
    due_now(session)
    worker.drain()
    assert _deliveries(session)[0].state == "delivered"


def test_backoff_doubles_with_jitter_up_to_the_cap():
    s = NotifySettings(backoff_base_s=10, backoff_max_s=100)
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = {backoff_s(s, attempts) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered


def test_send_again_repeats_a_dead_delivery_with_the_same_event_id(
    client, session, people, receiver, worker, raise_event
):
    _hook(session, people, receiver.url("/down"))
    receiver.behave["/down"] = [(503, 0.0)] * 3
    (event_id,) = raise_event()
    for _ in range(3):
        worker.drain()
        due_now(session)
    (d,) = _deliveries(session)
    assert d.state == "dead"
    assert (
        client.post(f"/api/v1/webhooks/deliveries/{d.id}/redeliver", headers=people.headers("op_b")).status_code == 404
    )
    r = client.post(f"/api/v1/webhooks/deliveries/{d.id}/redeliver", headers=people.headers("op_a"))
    assert r.status_code == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0, r.text
    worker.drain()
    listed = client.get("/api/v1/webhooks/deliveries", headers=people.headers("op_a")).json()["items"]
    assert [(x["id"], x["state"], x["last_status"]) for x in listed] == [(d.id, "delivered", 200)]
    assert {p.headers["idempotency-key"] for p in receiver.at("/down")} == {event_id}
    assert len(receiver.at("/down")) == 4
    # a delivered one may be sent again too (the receiver lost it)
    assert (
        client.post(f"/api/v1/webhooks/deliveries/{d.id}/redeliver", headers=people.headers("admin")).status_code == 200
    )
    worker.drain()
    assert len(receiver.at("/down")) == 5


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/hook", "webhook_url_forbidden"),
        ("http://localhost:9/hook", "webhook_url_forbidden"),
        ("http://2130706433:9/hook", "webhook_url_forbidden"),  # 127.0.0.1 written as one number
        ("http://[::1]:9/hook", "webhook_url_forbidden"),
        ("http://[::ffff:127.0.0.1]:9/hook", "webhook_url_forbidden"),
        ("http://169.254.169.254/latest/meta-data/", "webhook_url_forbidden"),
        ("http://169.254.10.1/hook", "webhook_url_forbidden"),
        ("http://10.1.2.3/hook", "webhook_url_forbidden"),
        ("http://192.168.1.10/hook", "webhook_url_forbidden"),
        ("http://100.64.0.1/hook", "webhook_url_forbidden"),
        ("http://0.0.0.0/hook", "webhook_url_forbidden"),
        ("http://[fd00::1]/hook", "webhook_url_forbidden"),
        ("http://224.0.0.1/hook", "webhook_url_forbidden"),
        ("https://bedelau.test/api/v1/hook", "webhook_url_forbidden"),  # this service (its public URL)
        ("ftp://93.184.215.14/hook", "webhook_url_invalid"),
        ("http://user:pw@93.184.215.14/hook", "webhook_url_invalid"),
        ("http://no-such-host.invalid/hook", "webhook_url_unresolvable"),
    ],
)
def test_webhook_urls_that_lead_inside_are_refused_at_registration(client, people, monkeypatch, url, code):
    monkeypatch.setattr(get_notify_settings(), "webhook_allow_loopback", False)
    monkeypatch.setattr(get_notify_settings(), "public_url", "https://bedelau.test")
    r = client.post("/api/v1/webhooks", json={"url": url}, headers=people.headers("op_a"))
    assert r.status_code == 422 and r.json()["code"] == code, r.text


def test_a_public_address_is_accepted_and_its_secret_shown_once(client, people, session):
    r = client.post(
        "/api/v1/webhooks",
        json={"url": "https://93.184.215.14/bedelau", "event_types": ["invoice.issued"]},
        headers=people.headers("op_a"),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["invoice.issued"]
    listed = client.get("/api/v1/webhooks", headers=people.headers("op_a")).json()
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    assert listed[0]["secret_fingerprint"] == created["secret_fingerprint"]
    assert client.get("/api/v1/webhooks", headers=people.headers("op_b")).json() == []
    assert (
        client.patch(
            f"/api/v1/webhooks/{created['id']}", json={"active": False}, headers=people.headers("op_b")
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/webhooks",
            json={"url": "https://93.184.215.14/x", "event_types": ["citizen_report.received"]},
            headers=people.headers("op_a"),
        ).status_code
        == 422
    )


class FakeDns:
    """A name whose addresses the test decides, and may change (DNS rebinding)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    def __call__(self, host: str, port: int) -> list[str]:
        from ducting.notify.ssrf import WebhookUrlUnresolvable

        if host not in self.table:
            raise WebhookUrlUnresolvable(f"{host} does not resolve")
        return self.table[host]


def test_a_name_is_checked_again_when_sending_and_connects_only_where_it_resolved(
    session, people, receiver, raise_event, notify_settings, smtp_settings
):
    dns = FakeDns({"hooks.alfa.test": ["127.0.0.1"]})
    allowed = Guard(notify_settings, resolve=dns)  # loopback allowed: the receiver is local
    _hook(session, people, f"http://hooks.alfa.test:{receiver.port}/named", guard=allowed)
    raise_event()
    Worker(lambda: nullcontext(session), settings=notify_settings, smtp=smtp_settings, guard=allowed).drain()
    (post,) = receiver.at("/named")
    assert post.headers["host"] == f"hooks.alfa.test:{receiver.port}"
    # the name now points at the metadata address: refused at send time, nothing leaves
    strict = NotifySettings(**(notify_settings.model_dump() | {"webhook_allow_loopback": False}))
    dns.table["hooks.alfa.test"] = ["169.254.169.254"]
    raise_event()
    Worker(lambda: nullcontext(session), settings=strict, smtp=smtp_settings, guard=Guard(strict, resolve=dns)).drain()
    last = _deliveries(session)[-1]
    assert last.state == "pending" and "cloud metadata address" in last.last_error
    assert len(receiver.at("/named")) == 1


def test_a_daily_digest_gathers_the_accounts_events_into_one_email(
    client, session, people, addresses, mailbox, worker, raise_event
):
    prefs = {"email_enabled": True, "email_mode": "digest", "digest_hour": 7, "language": "en"}
    r = client.put("/api/v1/notifications/preferences", json=prefs, headers=people.headers("op_a"))
    assert r.status_code == 200 and r.json()["email"] == addresses["op_a"], r.text
    ids = raise_event(3)
    worker.drain()
    assert mailbox[0].to(addresses["op_a"]) == []  # waiting for 07:00 WIB
    waiting = (
        session.execute(
            text(
                "SELECT DISTINCT next_attempt_at FROM notification_delivery WHERE digest AND operator_id = (SELECT id FROM organisation WHERE code = 'TOPA')"
            )
        )
        .scalars()
        .all()
    )
    assert len(waiting) == 1 and waiting[0].astimezone(WIB).hour == 7
    due_now(session)
    worker.drain()
    (mail,) = mailbox[0].to(addresses["op_a"])
    assert mail["Subject"] == "[BEDELAU] Daily digest: 3 notifications"
    body = mail.get_content()
    assert all(f"REQ/2026/{900 + i:06d}" in body for i in range(3)) and "Request REQ/2026/000900 offered" in body
    assert set(mail["X-Bedelau-Event-Id"].split(", ")) == set(ids)
    assert {d.state for d in _deliveries(session, "email")} == {"delivered"}


def test_email_is_in_the_accounts_language_and_can_be_switched_off(
    client, session, people, addresses, mailbox, worker, raise_event
):
    client.put("/api/v1/notifications/preferences", json={"language": "en"}, headers=people.headers("op_a"))
    raise_event()
    worker.drain()
    (mail,) = mailbox[0].to(addresses["op_a"])
    assert mail["Subject"] == "[BEDELAU] Request REQ/2026/000900 offered" and mail["Content-Language"] == "en"
    client.put("/api/v1/notifications/preferences", json={"email_enabled": False}, headers=people.headers("op_a"))
    raise_event()
    worker.drain()
    assert len(mailbox[0].to(addresses["op_a"])) == 1
    audited = session.execute(
        text("SELECT count(*) FROM audit_log WHERE table_name = 'notification_preference'")
    ).scalar_one()
    assert audited == 2


def test_without_an_smtp_server_email_is_dead_lettered_visibly(
    session, people, addresses, notify_settings, raise_event
):
    raise_event()
    Worker(lambda: nullcontext(session), settings=notify_settings, smtp=SmtpSettings(host=None)).drain()
    (d,) = _deliveries(session, "email")
    assert d.state == "dead" and "DUCTING_SMTP_HOST" in d.last_error


def test_a_refused_recipient_is_retried(session, people, addresses, mailbox, worker, raise_event):
    mailbox[0].refuse.add(addresses["op_a"])
    raise_event()
    worker.drain()
    (d,) = _deliveries(session, "email")
    assert d.state == "pending" and "550" in (d.last_error or "")
    mailbox[0].refuse.clear()
    due_now(session)
    worker.drain()
    assert _deliveries(session, "email")[0].state == "delivered" and len(mailbox[0].to(addresses["op_a"])) == 1


def test_an_endpoint_switched_off_gets_nothing_new_and_its_waiting_deliveries_stop(
    client, session, people, receiver, worker, raise_event
):
    hook, _ = _hook(session, people, receiver.url("/off"))
    raise_event()  # queued while on
    r = client.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False}, headers=people.headers("op_a"))
    assert r.status_code == 200 and r.json()["active"] is False
    raise_event()  # while off: no delivery at all
    worker.drain()
    rows = _deliveries(session)
    assert [(r.state, r.last_error) for r in rows] == [("dead", "the endpoint is switched off")]
    assert receiver.at("/off") == []
