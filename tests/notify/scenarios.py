"""How each event type is made to happen: through the API as the people it concerns would, or through the clock
job (for what only time makes true). Each scenario leaves the event of its type written for operator A's world."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from ducting.calendar import WIB, today
from ducting.leasing.service import expire_stale
from ducting.notify.clock import run_clock
from ducting.notify.events import emit_dispute_opened, emit_dispute_resolved
from ducting.notify.settings import NotifySettings
from ducting.notify.vocab import EventType
from tests.billing.conftest import Net
from tests.compliance.conftest import cable, csv_bytes, span, street
from tests.factories import at

API = "/api/v1"


@dataclass
class World:
    client: Any
    session: Any
    people: Any
    net: Net
    settings: NotifySettings
    start_seq: int = 0  # events before the test (other tests' committed rows) are not this test's

    def __post_init__(self) -> None:
        self.start_seq = self.session.execute(text("SELECT coalesce(max(seq), 0) FROM notification_event")).scalar_one()

    def h(self, who: str) -> dict[str, str]:
        return self.people.headers(who)

    @property
    def op_a(self) -> int:
        return self.people.orgs["op_a"].id

    def post(self, path: str, who: str, status: int = 200, **kw: Any) -> Any:
        r = self.client.post(f"{API}{path}", headers=self.h(who), **kw)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def clock(self, now: datetime) -> None:
        run_clock(self.session, now=now, settings=self.settings)
        self.session.commit()


def submit(w: World, *, first: date | None = None, last: date | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "segments": ["RS-N-BC"],
        "subduct_count": 1,
        "size_class": "microduct",
        "first_day": (first or today() + timedelta(days=30)).isoformat(),
    }
    body |= {"last_day": last.isoformat()} if last else {"term_months": 12}
    return w.post("/leasing/requests", "op_a", 201, json=body)


def offered(w: World, **kw: Any) -> dict[str, Any]:
    req = submit(w, **kw)
    return w.post(f"/leasing/requests/{req['id']}/approve", "planner")


def accepted(w: World, **kw: Any) -> dict[str, Any]:
    req = offered(w, **kw)
    return w.post(f"/leasing/requests/{req['id']}/accept", "op_a")


def hold_expiring(w: World) -> None:
    req = submit(w)
    hold = datetime.fromisoformat(req["hold_expires_at"])
    w.clock(hold - timedelta(hours=1))  # well within 3 working days of the hold's end


def expired(w: World) -> None:
    req = submit(w)
    for table, column in (("allocation", "request_id"), ("capacity_request", "id")):
        w.session.execute(
            text(f"UPDATE {table} SET hold_expires_at = now() - interval '1 second' WHERE {column} = :r"),
            {"r": req["id"]},
        )
    expire_stale(w.session)  # what the sweeper, or the next booking, does
    w.session.commit()


def lease_ended(w: World) -> None:
    accepted(w, first=today() - timedelta(days=5), last=today() - timedelta(days=1))
    w.clock(datetime.now(UTC))


def issued_invoice(w: World) -> dict[str, Any]:
    w.net.lease(w.op_a, "RS-N-AB", date(2026, 1, 1), None)
    w.session.commit()
    w.post("/billing/runs", "finance", json={"month": "2026-03"})
    w.post("/billing/runs/2026-03/issue", "finance", json={"issued_on": "2026-03-28"})
    rows = w.client.get(f"{API}/billing/invoices", params={"month": "2026-03"}, headers=w.h("op_a")).json()
    return rows[0]


def payment(w: World) -> None:
    inv = issued_invoice(w)
    body = {"amount_idr": "1000", "paid_on": "2026-04-02", "reference": "TRF-ALFA-1"}
    w.post(f"/billing/invoices/{inv['id']}/payments", "finance", 201, json=body)


def overdue(w: World) -> None:
    inv = issued_invoice(w)
    due = date.fromisoformat(inv["due_on"])
    w.clock(datetime.combine(due + timedelta(days=2), datetime.min.time(), WIB).replace(hour=9))


def dispute_opened(w: World) -> None:
    """Issue 13 files disputes; until then its emit function is called as it will call it."""
    inv = issued_invoice(w)
    emit_dispute_opened(
        w.session,
        dispute_id=7,
        invoice_id=inv["id"],
        invoice_number=inv["number"],
        operator_id=w.op_a,
        reason="Segmen RS-N-AB belum terpakai bulan Maret",
        due_on=today() + timedelta(days=14),
    )
    w.session.commit()


def dispute_resolved(w: World) -> None:
    inv = issued_invoice(w)
    emit_dispute_resolved(
        w.session,
        dispute_id=7,
        invoice_id=inv["id"],
        invoice_number=inv["number"],
        operator_id=w.op_a,
        outcome="rejected",
        reason="Segmen terpakai sejak 1 Januari menurut PKS",
    )
    w.session.commit()


def survey(w: World) -> dict[str, Any]:
    rows = street() + [
        span("P0", "P1", min_clearance_m="3.4", crosses="road", road_class="arterial"),
        cable("P0", "P1", owner_tag="no", operator="TOPA"),
    ]
    data = {"name": "Survei notifikasi", "surveyed_on": "2026-03-01", "team": "Tim Uji"}
    files = {"file": ("survey.csv", csv_bytes(rows), "text/csv")}
    return w.post("/compliance/surveys", "planner", 201, data=data, files=files)


def letter(w: World) -> None:
    survey(w)
    w.post(f"/compliance/letters/{w.op_a}/issue", "planner", 201)


def migration_due(w: World) -> None:
    survey(w)
    span_id = w.session.execute(text("SELECT min(id) FROM aerial_span")).scalar_one()
    w.post("/compliance/migrations", "planner", 201, json={"operator_id": w.op_a, "span_id": span_id})
    w.clock(datetime.now(UTC) + timedelta(days=w.settings.migration_due_days + 1))


def citizen_report(w: World) -> None:
    lon, lat = at(50, 50)
    form = {"lon": str(lon), "lat": str(lat), "category": "tangled", "description": "kabel kusut di tiang listrik"}
    r = w.client.post(f"{API}/public/reports", data=form)
    assert r.status_code == 201, r.text


def terminated(w: World) -> None:
    req = accepted(w)
    w.post(f"/leasing/requests/{req['id']}/terminate", "op_a", json={})


def rejected(w: World) -> None:
    req = submit(w)
    w.post(f"/leasing/requests/{req['id']}/reject", "planner", json={"reason": "jalur sedang direnovasi"})


def cancelled(w: World) -> None:
    req = submit(w)
    w.post(f"/leasing/requests/{req['id']}/cancel", "op_a", json={"reason": "tidak jadi"})


SCENARIOS: dict[EventType, Callable[[World], Any]] = {
    EventType.REQUEST_SUBMITTED: submit,
    EventType.REQUEST_OFFERED: offered,
    EventType.REQUEST_ACCEPTED: accepted,
    EventType.REQUEST_REJECTED: rejected,
    EventType.REQUEST_CANCELLED: cancelled,
    EventType.REQUEST_HOLD_EXPIRING: hold_expiring,
    EventType.REQUEST_EXPIRED: expired,
    EventType.LEASE_STARTED: lambda w: accepted(w, first=today()),
    EventType.LEASE_TERMINATION_NOTICE: terminated,
    EventType.LEASE_ENDED: lease_ended,
    EventType.INVOICE_ISSUED: issued_invoice,
    EventType.INVOICE_PAYMENT_RECEIVED: payment,
    EventType.INVOICE_OVERDUE: overdue,
    EventType.INVOICE_DISPUTE_OPENED: dispute_opened,
    EventType.INVOICE_DISPUTE_RESOLVED: dispute_resolved,
    EventType.COMPLIANCE_FLAG_OPENED: survey,
    EventType.COMPLIANCE_LETTER_ISSUED: letter,
    EventType.COMPLIANCE_MIGRATION_DUE: migration_due,
    EventType.CITIZEN_REPORT_RECEIVED: citizen_report,
}
