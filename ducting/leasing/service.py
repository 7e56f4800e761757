"""The request workflow: submit (route + hold) → offered → accepted → active → terminated; or rejected,
cancelled, expired. Every transition is checked against `TRANSITIONS`, time-stamped with who did it, and
written in the caller's transaction (the route commits). Nothing here commits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ducting import numbering
from ducting.accounts.vocab import Role
from ducting.calendar import Days, add_working_days, term_last_day, today
from ducting.db import Actor
from ducting.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from ducting.leasing import booking
from ducting.leasing.models import Allocation, CapacityRequest, RequestEvent
from ducting.leasing.schemas import DirectAllocationIn, RequestIn, RouteQuery
from ducting.leasing.vocab import TRANSITIONS, AllocationStatus, RequestStatus
from ducting.network.models import RouteSegment
from ducting.settings import get_settings


# -- input ----------------------------------------------------------------------------------------------------
def resolve_query(session: Session, query: RouteQuery) -> tuple[int | None, int | None, list[int] | None, Days]:
    """Node/segment codes to ids and the period, with every fault reported; nothing is written."""
    errors: list[FieldError] = []
    last_day = query.last_day
    if query.term_months is not None:
        last_day = term_last_day(query.first_day, query.term_months)
    if last_day is not None and last_day < query.first_day:
        errors.append(FieldError("last_day", "end_before_start", first_day=query.first_day, last_day=last_day))
    grace = get_settings().leasing.start_grace_days
    if query.first_day < today() - timedelta(days=grace):
        errors.append(FieldError("first_day", "start_in_past", first_day=query.first_day, grace_days=grace))
    from_id = to_id = None
    via: list[int] | None = None
    if query.from_node is not None and query.to_node is not None:  # the schema has them go together
        ids: dict[str, int] = dict(
            session.execute(
                text("SELECT code, id FROM node WHERE code IN (:a, :b) AND removed_at IS NULL"),
                {"a": query.from_node, "b": query.to_node},
            ).all()
        )
        for field, code in (("from_node", query.from_node), ("to_node", query.to_node)):
            if code not in ids:
                errors.append(FieldError(field, "not_found", what="node", ref=code))
        if query.from_node == query.to_node:
            errors.append(FieldError("to_node", "same_node", node=query.to_node))
        from_id, to_id = ids.get(query.from_node), ids.get(query.to_node)
    elif query.segments is not None:
        via = _segment_path(session, query.segments, errors)
    else:
        via = _match_line(session, query.line, errors)
    if errors:
        raise InvalidInput(errors=errors)
    return from_id, to_id, via, Days(query.first_day, last_day)


def _segment_path(session: Session, codes: list[str], errors: list[FieldError]) -> list[int]:
    rows = {
        r.code: r
        for r in session.execute(
            text(
                "SELECT id, code, start_node_id, end_node_id FROM route_segment WHERE code = ANY(:c) AND removed_at IS NULL"
            ),
            {"c": codes},
        )
    }
    for i, code in enumerate(codes):
        if code not in rows:
            errors.append(FieldError(f"segments/{i}", "not_found", what="segment", ref=code))
    if errors:
        return []
    for i in range(1, len(codes)):
        a, b = rows[codes[i - 1]], rows[codes[i]]
        if not {a.start_node_id, a.end_node_id} & {b.start_node_id, b.end_node_id}:
            errors.append(
                FieldError(f"segments/{i}", "segments_not_connected", segment=codes[i], previous=codes[i - 1])
            )
    return [rows[c].id for c in codes]


def _match_line(session: Session, line: Any, errors: list[FieldError]) -> list[int]:
    """Segments that a drawn line follows (within 10 m for 80 % of their length), ordered along the line."""
    from ducting.network.topology import TopologyError, parse_line
    from gis.crs import UTM48N, WGS84

    try:
        shape = parse_line(line, path="line")
    except TopologyError as exc:
        errors.extend(exc.errors)
        return []
    rows = (
        session.execute(
            text(f"""
        WITH l AS (SELECT ST_Transform(ST_SetSRID(ST_GeomFromWKB(:wkb), {WGS84}), {UTM48N}) AS g)
        SELECT s.id FROM route_segment s, l
        WHERE s.removed_at IS NULL AND ST_DWithin(s.geom_m, l.g, 10)
          AND ST_Length(ST_Intersection(s.geom_m, ST_Buffer(l.g, 10))) >= 0.8 * ST_Length(s.geom_m)
        ORDER BY ST_LineLocatePoint(l.g, ST_LineInterpolatePoint(s.geom_m, 0.5))"""),
            {"wkb": shape.wkb},
        )
        .scalars()
        .all()
    )
    if not rows:
        errors.append(FieldError("line", "line_not_matched"))
    return list(rows)


# -- the workflow ---------------------------------------------------------------------------------------------
def plan(session: Session, *, operator_id: int | None, query: RouteQuery) -> booking.RoutePlan:
    from_id, to_id, via, days = resolve_query(session, query)
    return booking.plan_route(
        session,
        from_node_id=from_id or 0,
        to_node_id=to_id or 0,
        subduct_count=query.subduct_count,
        size_class=query.size_class,
        days=days,
        operator_id=operator_id,
        via_segment_ids=via,
    )


def submit_request(session: Session, *, actor: Actor, operator_id: int, data: RequestIn) -> CapacityRequest:
    """Route, hold the subducts until the hold expires, quote, and file the request. Raises NoRoute/LeaseOverlap."""
    settings = get_settings().leasing
    expire_stale(session)
    from_id, to_id, via, days = resolve_query(session, data)
    route = booking.plan_route(
        session,
        from_node_id=from_id or 0,
        to_node_id=to_id or 0,
        subduct_count=data.subduct_count,
        size_class=data.size_class,
        days=days,
        operator_id=operator_id,
        via_segment_ids=via,
    )
    now = datetime.now(UTC)
    request = CapacityRequest(
        reference=f"REQ/{today().year}/{_request_number(session):06d}",
        operator_id=operator_id,
        submitted_by=actor.account_id,
        from_node_id=from_id,
        to_node_id=to_id,
        via_segment_ids=via,
        subduct_count=data.subduct_count,
        size_class=data.size_class,
        first_day=days.first_day,
        last_day=days.last_day,
        status=RequestStatus.SUBMITTED,
        due_at=add_working_days(now, settings.decision_working_days),
        hold_expires_at=now + timedelta(days=settings.hold_days),
        route_length_m=route.length_m,
        # the route beside its quote, without a second copy of the quote or of the geometry (route_geom has it)
        route_geom=_multiline(route.geometry),
        quote=route.quote | {"route": {k: v for k, v in route.as_dict().items() if k not in ("geometry", "quote")}},
        quote_total_idr=_total(route.quote),
    )
    session.add(request)
    session.flush()
    booking.hold(
        session,
        plan=route,
        operator_id=operator_id,
        request_id=request.id,
        days=days,
        status=AllocationStatus.HELD,
        hold_expires_at=request.hold_expires_at,
        created_by=actor.account_id,
    )
    _event(session, request, None, RequestStatus.SUBMITTED, actor)
    return request


def _request_number(session: Session) -> int:
    """Unique and rising, not gapless (a sequence: no lock held until commit; see migration 0031)."""
    return session.execute(text("SELECT nextval('capacity_request_reference_seq')")).scalar_one()


def _multiline(geometry: dict[str, Any]) -> Any:
    from geoalchemy2.shape import from_shape
    from shapely.geometry import shape

    from gis.crs import WGS84

    return from_shape(shape(geometry), srid=WGS84)


def _total(q: dict[str, Any]) -> Any:
    from decimal import Decimal

    value = q.get("total_term_idr") or q.get("annual_idr")
    return Decimal(value) if value is not None else None


def get_request(session: Session, request_id: int, actor: Actor, *, lock: bool = False) -> CapacityRequest:
    """404 for a request the actor may not see (another operator's looks the same as a missing one)."""
    query = select(CapacityRequest).where(CapacityRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    req = session.scalars(query).first()
    if req is None or (actor.role == Role.OPERATOR and req.operator_id != actor.organisation_id):
        raise NotFound(what="request", ref=request_id)
    return req


def transition(
    session: Session,
    *,
    request_id: int,
    to: RequestStatus,
    actor: Actor,
    note: str | None = None,
    last_day: date | None = None,
) -> CapacityRequest:
    """Move a request; the allocations follow in the same transaction."""
    expire_stale(session)
    req = get_request(session, request_id, actor, lock=True)
    who = TRANSITIONS.get((req.status, to))
    if who is None:
        raise Conflict(code="illegal_transition", what="request", current_status=req.status, to=to)
    if not _may(actor, who, req):
        raise Forbidden(to=to, who=who)
    handler = {
        RequestStatus.OFFERED: _offer,
        RequestStatus.REJECTED: _release,
        RequestStatus.CANCELLED: _release,
        RequestStatus.ACCEPTED: _accept,
        RequestStatus.TERMINATED: _terminate,
    }[to]
    handler(session, req, actor=actor, last_day=last_day)
    frm = req.status
    req.status, req.status_since = to, datetime.now(UTC)
    if to in (RequestStatus.OFFERED, RequestStatus.REJECTED) and req.decided_at is None:
        req.decided_at = req.status_since
    if to in (RequestStatus.REJECTED, RequestStatus.CANCELLED) and note:
        req.reason = note
    req.version += 1
    _event(session, req, frm, to, actor, note)
    if to == RequestStatus.ACCEPTED and req.first_day <= today():
        _activate(session, req)
    session.flush()
    if to == RequestStatus.ACCEPTED:
        _number_contract(session, req)
        session.flush()
    return req


def _may(actor: Actor, who: str, req: CapacityRequest) -> bool:
    if who == "planner":
        return actor.role in (Role.PLANNER, Role.ADMIN)
    if who == "operator":
        return actor.role == Role.OPERATOR and actor.organisation_id == req.operator_id
    return False


def _holds(session: Session, req: CapacityRequest) -> tuple[int, datetime | None]:
    """How many of the request's subducts are held, and the earliest hold expiry among them. The request row is
    locked, so its holds only change under us by expiring (which `now()` below sees)."""
    count, earliest = session.execute(
        text("SELECT count(*), min(hold_expires_at) FROM allocation WHERE request_id = :r AND status = 'held'"),
        {"r": req.id},
    ).one()
    return count, earliest


def _update_held(session: Session, req: CapacityRequest, **values: Any) -> None:
    """One set-based UPDATE of the request's held allocations (a route holds dozens); objects already in the
    session are refreshed from RETURNING."""
    session.execute(
        update(Allocation)
        .where(Allocation.request_id == req.id, Allocation.status == AllocationStatus.HELD)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )


def _offer(session: Session, req: CapacityRequest, **_: Any) -> None:
    settings = get_settings().leasing
    now = datetime.now(UTC)
    count, earliest = _holds(session, req)
    if not count or earliest is None or earliest <= now:
        raise Conflict(code="hold_expired", request=req.reference)
    req.hold_expires_at = now + timedelta(days=settings.hold_days)
    req.due_at = add_working_days(now, settings.acceptance_working_days)
    _update_held(session, req, hold_expires_at=req.hold_expires_at)


def _release(session: Session, req: CapacityRequest, **_: Any) -> None:
    _update_held(session, req, status=AllocationStatus.RELEASED)
    req.due_at = None


def _accept(session: Session, req: CapacityRequest, **_: Any) -> None:
    count, earliest = _holds(session, req)
    if not count or earliest is None or earliest <= datetime.now(UTC):
        raise Conflict(code="hold_expired", request=req.reference)
    length_now = select(RouteSegment.length_m).where(RouteSegment.id == Allocation.segment_id).scalar_subquery()
    # the billed snapshot, taken when accepted; the PKS number comes last (`_number_contract`)
    _update_held(session, req, status=AllocationStatus.ACTIVE, hold_expires_at=None, contracted_length_m=length_now)
    req.hold_expires_at = None
    req.due_at = None


def _number_contract(session: Session, req: CapacityRequest) -> None:
    """The gapless PKS number, as the transaction's last write: its counter row stays locked until commit, and
    every other acceptance in the city waits for it."""
    req.pks_number = numbering.take_one(session, numbering.PKS, today().year)
    session.execute(
        update(Allocation)
        .where(
            Allocation.request_id == req.id,
            Allocation.status == AllocationStatus.ACTIVE,
            Allocation.pks_number.is_(None),
        )
        .values(pks_number=req.pks_number)
        .execution_options(synchronize_session="fetch")
    )


def _terminate(session: Session, req: CapacityRequest, *, last_day: date | None = None, **_: Any) -> None:
    """Notice: the lease ends on the requested day, but not before the notice period has run, nor after the
    contracted last day. A lease ending before it began occupied nothing and is released."""
    earliest = today() + timedelta(days=get_settings().leasing.termination_notice_days)
    end = max(last_day or earliest, earliest)
    if req.last_day is not None:
        end = min(end, req.last_day)
    req.notice_given_on = today()
    if end >= req.first_day:
        req.last_day = end
    for a in session.scalars(
        select(Allocation)
        .where(Allocation.request_id == req.id, Allocation.status == AllocationStatus.ACTIVE)
        .with_for_update()
    ):
        days = Days.from_range(a.period)
        if end < days.first_day:
            a.status = AllocationStatus.RELEASED
        else:
            a.period = Days(days.first_day, end).to_range()
            a.status = AllocationStatus.TERMINATED


def _activate(session: Session, req: CapacityRequest) -> None:
    frm = req.status
    req.status, req.status_since = RequestStatus.ACTIVE, datetime.now(UTC)
    _event(session, req, frm, RequestStatus.ACTIVE, Actor.system("lease start"), "lease period started")


def _event(
    session: Session,
    req: CapacityRequest,
    frm: RequestStatus | None,
    to: RequestStatus,
    actor: Actor,
    note: str | None = None,
) -> None:
    session.add(
        RequestEvent(
            request_id=req.id,
            operator_id=req.operator_id,
            account_id=actor.account_id,
            from_status=frm,
            to_status=to,
            note=note,
        )
    )


# -- clocks ---------------------------------------------------------------------------------------------------
def expire_stale(session: Session) -> int:
    """Release holds past their expiry and expire their requests; start accepted leases whose day has come.
    Called at the start of every booking transaction, so nothing stays stale. Every operator's rows: it runs as
    the schema owner (`leasing_expire_stale()`, SECURITY DEFINER), because one operator's booking must free
    another's lapsed hold, which row-level security hides from it."""
    return session.execute(text("SELECT leasing_expire_stale()")).scalar_one()


# -- direct allocation --------------------------------------------------------------------------------------------
def allocate_directly(session: Session, *, actor: Actor, data: DirectAllocationIn) -> list[int]:
    """A planner records capacity already in use (legacy cables): active at once, same constraint."""
    org = session.execute(
        text("SELECT id FROM organisation WHERE code = :c AND kind = 'operator'"), {"c": data.operator}
    ).scalar()
    errors: list[FieldError] = []
    if org is None:
        errors.append(FieldError("operator", "not_found", what="operator", ref=data.operator))
    via = _segment_path(session, data.segments, errors)
    if data.last_day is not None and data.last_day < data.first_day:
        errors.append(FieldError("last_day", "end_before_start", first_day=data.first_day, last_day=data.last_day))
    if errors:
        raise InvalidInput(errors=errors)
    assert org is not None  # an unknown operator is among the errors raised above
    days = Days(data.first_day, data.last_day)
    planned = booking.choose_subducts(
        session, segment_ids=via, count=data.subduct_count, size_class=data.size_class, days=days
    )
    route = booking.RoutePlan(planned, [], sum((p.length_m for p in planned), Decimal(0)), 0.0, {}, {})
    return booking.hold(
        session,
        plan=route,
        operator_id=org,
        request_id=None,
        days=days,
        status=AllocationStatus.ACTIVE,
        hold_expires_at=None,
        created_by=actor.account_id,
        pks_number=data.pks_number,
        is_legacy=True,
    )
