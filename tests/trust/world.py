"""Two operators' worth of everything that row-level security guards, built through the services in the test's
transaction (acting as the system): leases and requests in every useful state, issued and draft invoices with
lines and payments, cables, survey findings, flags with their events, agreements and migration cases, and a webhook
each (so the notifications of all that are each operator's events and deliveries).

Operator A's objects are what the matrix test aims at; operator B's are what operator A must never see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.invoicing import issue_month, run_month
from billing.settlement import record_payment
from ducting.calendar import today
from ducting.compliance.service import add_agreement, change_flag, link_request, open_migration
from ducting.compliance.survey import import_survey
from ducting.compliance.vocab import FlagStatus
from ducting.db import Actor
from ducting.leasing import service as leasing
from ducting.leasing.schemas import RequestIn
from ducting.leasing.vocab import RequestStatus
from tests.billing.conftest import Net, build_net
from tests.compliance.conftest import cable, csv_bytes, span, street
from tests.conftest import People

BILLED = date(2026, 3, 1)  # issued and partly paid
UNPAID = date(2026, 4, 1)  # issued, nothing paid: credit notes and payments may still come
DRAFTED = date(2026, 5, 1)  # previewed, not issued: drafts no operator may see


@dataclass
class Side:
    """One operator's objects, by kind."""

    org_id: int
    requests: dict[str, int] = field(default_factory=dict)  # submitted, offered, accepted
    invoice_id: int = 0
    unpaid_invoice_id: int = 0
    draft_invoice_id: int = 0
    flag_id: int = 0
    case_id: int = 0
    span_id: int = 0
    webhook_id: int = 0


@dataclass
class World:
    net: Net
    a: Side
    b: Side
    report_id: int = 0

    def side(self, who: str) -> Side:
        return self.a if who == "op_a" else self.b


def _actor(people: People, who: str) -> Actor:
    acc = people.accounts[who]
    return Actor(account_id=acc.id, role=acc.role, organisation_id=acc.organisation_id)


def _request(session: Session, people: People, who: str, *, to: RequestStatus | None) -> int:
    op = _actor(people, who)
    body = RequestIn(
        segments=["RS-W-BC"],
        subduct_count=1,
        size_class="microduct",
        first_day=today() + timedelta(days=30),
        term_months=12,
    )
    req = leasing.submit_request(session, actor=op, operator_id=op.organisation_id, data=body)
    if to in (RequestStatus.OFFERED, RequestStatus.ACCEPTED):
        leasing.transition(session, request_id=req.id, to=RequestStatus.OFFERED, actor=_actor(people, "planner"))
    if to == RequestStatus.ACCEPTED:
        leasing.transition(session, request_id=req.id, to=RequestStatus.ACCEPTED, actor=op)
    return req.id


def build_world(session: Session, people: People) -> World:
    net = build_net(session, prefix="W")
    finance = _actor(people, "finance")
    world = World(net, Side(people.orgs["op_a"].id), Side(people.orgs["op_b"].id))
    for side in (world.a, world.b):  # a webhook each, so every event below is also a delivery of its operator's
        side.webhook_id = session.execute(
            text("""INSERT INTO webhook_endpoint (operator_id, url, event_types, secret)
                    SELECT :o, 'https://93.184.215.14/hook-' || :o, array_agg(code), 'whsec_' || md5(CAST(:o AS text) || 'x')
                    FROM notification_event_type WHERE audience @> '{operator}' RETURNING id"""),
            {"o": side.org_id},
        ).scalar_one()
    for bore, side in enumerate((world.a, world.b)):
        alloc = net.lease(side.org_id, "RS-W-AB", date(2026, 1, 1), None, bore=bore)
        session.execute(
            text(
                "INSERT INTO cable (subduct_id, allocation_id, operator_id, outer_diameter_mm, installed_on)"
                " VALUES (:s, :a, :o, 12.5, '2026-01-05')"
            ),
            {"s": alloc.subduct_id, "a": alloc.id, "o": side.org_id},
        )
    for month in (BILLED, UNPAID):
        run_month(session, month=month, actor=finance)
        issue_month(session, month=month, actor=finance, issued_on=month.replace(day=28))
    run_month(session, month=DRAFTED, actor=finance)
    for side in (world.a, world.b):
        side.invoice_id, side.unpaid_invoice_id, side.draft_invoice_id = (
            session.execute(
                text("SELECT id FROM invoice WHERE operator_id = :o AND month = :m AND kind = 'invoice'"),
                {"o": side.org_id, "m": m},
            ).scalar_one()
            for m in (BILLED, UNPAID, DRAFTED)
        )
        record_payment(
            session,
            invoice_id=side.invoice_id,
            amount_idr=Decimal(1000),
            paid_on=date(2026, 4, 2),
            reference=f"TRF-{side.org_id}",
            actor=finance,
        )
    for who, side in (("op_a", world.a), ("op_b", world.b)):
        for state in (RequestStatus.SUBMITTED, RequestStatus.OFFERED, RequestStatus.ACCEPTED):
            side.requests[state.value] = _request(session, people, who, to=state)
    _survey(session, people, world)
    session.commit()
    return world


def _survey(session: Session, people: People, world: World) -> None:
    """Low, untagged cables of each operator on its own street: flags, events, agreements, migration cases."""
    rows = street(y=5, x0=100) + [  # beside RS-W-BC, where A's requests are: its case has a route to lease
        span("P0", "P1", min_clearance_m="3.4", crosses="road", road_class="arterial"),
        cable("P0", "P1", owner_tag="no", operator="TOPA"),
    ]
    rows += street(prefix="Q", y=200) + [
        span("Q0", "Q1", min_clearance_m="3.4", crosses="road", road_class="arterial"),
        cable("Q0", "Q1", operator="TOPB", owner_tag="no"),
    ]
    import_survey(
        session,
        data=csv_bytes(rows),
        filename="survey.csv",
        name="Survei uji",
        surveyed_on=date(2026, 3, 1),
        team="Tim Uji",
        account_id=people.accounts["planner"].id,
    )
    for side, code in ((world.a, "TOPA"), (world.b, "TOPB")):
        side.flag_id, side.span_id = session.execute(
            text(
                "SELECT id, span_id FROM compliance_flag WHERE operator_ids = ARRAY[CAST(:o AS bigint)] "
                "AND span_id IS NOT NULL ORDER BY id LIMIT 1"
            ),
            {"o": side.org_id},
        ).one()
        change_flag(
            session, actor=_actor(people, "planner"), flag_id=side.flag_id, to=FlagStatus.ACKNOWLEDGED
        )  # an event
        add_agreement(
            session, operator_id=side.org_id, reference=f"PKS-UJI-{code}", valid_from=date(2026, 1, 1), valid_to=None
        )
        side.case_id = open_migration(session, operator_id=side.org_id, span_id=side.span_id, flag_id=side.flag_id).id
    # A's case is tied to A's accepted lease of that duct route: its cable may be pulled in once the lease runs
    link_request(session, case_id=world.a.case_id, capacity_request_id=world.a.requests["accepted"])
