"""Leasing endpoints under /api/v1/leasing. Operators see their own requests and allocations only; planners
and admins see all; finance and auditors read."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from psycopg.types.range import Range
from sqlalchemy import select, text
from sqlalchemy.orm import Session, defer

from ducting.accounts.vocab import Role
from ducting.auth import CurrentActor, require_roles
from ducting.calendar import Days, today
from ducting.db import Actor, SessionDep
from ducting.errors import DomainError
from ducting.leasing import booking, capacity, reports, service
from ducting.leasing.booking import LeaseOverlap, NoRoute
from ducting.leasing.models import CapacityRequest
from ducting.leasing.schemas import (
    AllocationOut,
    AvailabilityOut,
    DirectAllocationIn,
    OccupancyOut,
    Reason,
    RequestIn,
    RequestOut,
    RoutePlanOut,
    RouteQuery,
    SlaMonthOut,
    TerminateIn,
)
from ducting.leasing.vocab import RequestStatus
from ducting.network.ogc import GeoJSONResponse
from ducting.network.vocab import SizeClass
from ducting.replica import ReadSessionDep

router = APIRouter(prefix="/api/v1/leasing", tags=["leasing"])
PlannerDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER))]
OperatorDep = Annotated[Actor, Depends(require_roles(Role.OPERATOR))]
QuoterDep = Annotated[Actor, Depends(require_roles(Role.OPERATOR, Role.PLANNER, Role.ADMIN))]


def _operator_scope(actor: Actor) -> int | None:
    return actor.organisation_id if actor.role == Role.OPERATOR else None


@router.post(
    "/quotes", response_model=RoutePlanOut, summary="Find a route with free capacity and price it; nothing is held"
)
def quote_route(body: RouteQuery, session: SessionDep, actor: QuoterDep) -> dict[str, Any]:
    plan = service.plan(session, operator_id=actor.organisation_id, query=body)
    session.rollback()  # planning locked subducts for a moment; a quote holds nothing
    return plan.as_dict()


@router.post(
    "/requests",
    status_code=201,
    response_model=RequestOut,
    summary="Request capacity: the route is found and its subducts held until the hold expires",
)
def submit(body: RequestIn, session: SessionDep, actor: OperatorDep) -> RequestOut:
    try:
        req = service.submit_request(session, actor=actor, operator_id=actor.operator_id, data=body)
    except LeaseOverlap as exc:
        session.rollback()
        exc.extra["alternative"] = _alternative(session, actor, body)
        raise
    except NoRoute as exc:
        # the search already covered every route: there is no alternative to look for
        exc.extra["alternative"] = None
        raise
    out = request_out(session, req, with_events=True)  # read inside the transaction: no second one to answer
    session.commit()
    return out


def _alternative(session: Session, actor: Actor, body: RequestIn) -> dict[str, Any] | None:
    """After losing a race, another route that is free now, if any (nothing held)."""
    try:
        plan = service.plan(session, operator_id=actor.organisation_id, query=body)
    except DomainError:
        return None
    finally:
        session.rollback()
    return plan.as_dict()


@router.get(
    "/requests",
    response_model=list[RequestOut],
    description="Newest first. Each quote carries its totals; its per-segment lines are in GET /requests/{id}.",
)
def list_requests(
    session: SessionDep,
    actor: CurrentActor,
    status: RequestStatus | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[RequestOut]:
    scope = _operator_scope(actor)
    rows = (
        session.execute(
            text("""
        SELECT id FROM capacity_request
        WHERE (CAST(:op AS bigint) IS NULL OR operator_id = :op) AND (CAST(:st AS request_status) IS NULL OR status = :st)
        ORDER BY created_at DESC LIMIT :limit OFFSET :offset"""),
            {"op": scope, "st": status.value if status else None, "limit": limit, "offset": offset},
        )
        .scalars()
        .all()
    )
    return requests_out(session, list(rows))


@router.get(
    "/inbox",
    response_model=list[RequestOut],
    summary="Requests waiting for a planner, overdue first",
    description="Each quote carries its totals; its per-segment lines are in GET /requests/{id}.",
)
def inbox(session: SessionDep, actor: PlannerDep) -> list[RequestOut]:
    ids = (
        session.execute(
            text("""
        SELECT id FROM capacity_request WHERE status = 'submitted' AND hold_expires_at > now()
        ORDER BY due_at < now() DESC, due_at, created_at""")
        )
        .scalars()
        .all()
    )
    return requests_out(session, list(ids))


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: int, session: SessionDep, actor: CurrentActor) -> RequestOut:
    return request_out(session, service.get_request(session, request_id, actor), with_events=True)


def _move(session: Session, actor: Actor, request_id: int, to: RequestStatus, **kw: Any) -> RequestOut:
    req = service.transition(session, request_id=request_id, to=to, actor=actor, **kw)
    out = request_out(session, req, with_events=True)
    session.commit()
    return out


@router.post("/requests/{request_id}/approve", response_model=RequestOut, summary="Offer the held route")
def approve(request_id: int, session: SessionDep, actor: PlannerDep) -> RequestOut:
    return _move(session, actor, request_id, RequestStatus.OFFERED)


@router.post("/requests/{request_id}/reject", response_model=RequestOut)
def reject(request_id: int, body: Reason, session: SessionDep, actor: PlannerDep) -> RequestOut:
    return _move(session, actor, request_id, RequestStatus.REJECTED, note=body.reason)


@router.post("/requests/{request_id}/accept", response_model=RequestOut, summary="Accept the offer: the lease is made")
def accept(request_id: int, session: SessionDep, actor: OperatorDep) -> RequestOut:
    return _move(session, actor, request_id, RequestStatus.ACCEPTED)


@router.post("/requests/{request_id}/cancel", response_model=RequestOut)
def cancel(request_id: int, session: SessionDep, actor: OperatorDep, body: Reason | None = None) -> RequestOut:
    return _move(session, actor, request_id, RequestStatus.CANCELLED, note=body.reason if body else None)


@router.post("/requests/{request_id}/terminate", response_model=RequestOut, summary="Give termination notice")
def terminate(request_id: int, body: TerminateIn, session: SessionDep, actor: OperatorDep) -> RequestOut:
    return _move(session, actor, request_id, RequestStatus.TERMINATED, last_day=body.last_day)


@router.post(
    "/allocations",
    status_code=201,
    response_model=list[AllocationOut],
    summary="Record capacity already in use (legacy cables), under the same constraint",
)
def allocate(body: DirectAllocationIn, session: SessionDep, actor: PlannerDep) -> list[AllocationOut]:
    ids = service.allocate_directly(session, actor=actor, data=body)
    session.commit()
    return allocations_out(session, actor, ids=ids)


@router.get("/allocations", response_model=list[AllocationOut])
def list_allocations(
    session: SessionDep,
    actor: CurrentActor,
    segment_id: int | None = None,
    limit: int = Query(default=500, ge=1, le=10_000),
    offset: int = Query(default=0, ge=0),
) -> list[AllocationOut]:
    return allocations_out(session, actor, segment_id=segment_id, limit=limit, offset=offset)


@router.get(
    "/segments/{segment_id}/occupancy",
    response_model=OccupancyOut,
    response_model_exclude_unset=True,
    summary="Who holds what on a segment, explained",
)
def occupancy(
    segment_id: int,
    session: SessionDep,
    actor: CurrentActor,
    first_day: date | None = None,
    last_day: date | None = None,
) -> dict[str, Any]:
    days = booking.parse_days(first_day or today(), last_day if last_day or first_day else None)
    return capacity.segment_occupancy(session, segment_id=segment_id, days=days, viewer=actor)


@router.get(
    "/availability",
    response_class=GeoJSONResponse,
    responses={200: {"model": AvailabilityOut, "description": "A GeoJSON FeatureCollection"}},
    summary="Free subducts per segment for a period, as GeoJSON (no identities)",
)
def availability(
    session: SessionDep,
    actor: CurrentActor,
    bbox: str = Query(description="minLon,minLat,maxLon,maxLat"),
    first_day: date | None = None,
    last_day: date | None = None,
    size_class: SizeClass = SizeClass.MICRODUCT,
    limit: int = Query(default=5000, ge=1, le=50_000),
) -> GeoJSONResponse:
    from ducting.leasing.routing import GRAPH
    from ducting.network.ogc import bbox_values
    from gis.crs import WGS84

    box = bbox_values(bbox)
    days = booking.parse_days(first_day or today(), last_day)
    with GRAPH.lock:
        GRAPH.refresh(session)
        cap = GRAPH.capacity(days, size_class)
        net = GRAPH.network
    rows = session.execute(
        text("""
        SELECT id, code, ST_AsGeoJSON(geom, 7) AS g FROM route_segment
        WHERE removed_at IS NULL AND geom && ST_MakeEnvelope(:a, :b, :c, :d, :srid) ORDER BY id LIMIT :limit"""),
        {"a": box[0], "b": box[1], "c": box[2], "d": box[3], "srid": WGS84, "limit": limit},
    ).all()
    features = []
    for r in rows:
        i = net.seg_index.get(r.id) if net else None
        free, usable = (int(cap.free[i]), int(cap.usable[i])) if i is not None else (0, 0)
        state = "none" if usable == 0 else "full" if free == 0 else "nearly_full" if free / usable < 0.2 else "free"
        features.append(
            f'{{"type":"Feature","id":{int(r.id)},"geometry":{r.g},"properties":'
            f"{orjson.dumps({'code': r.code, 'free': free, 'usable': usable, 'state': state}).decode()}}}"
        )
    return GeoJSONResponse('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}")


@router.get("/sla", response_model=list[SlaMonthOut], summary="Median and p90 time to a planner's decision, per month")
def sla(
    session: ReadSessionDep,
    actor: Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER, Role.AUDITOR))],
    months: int = Query(default=12, ge=1, le=60),
) -> list[dict[str, Any]]:
    return reports.sla_report(session, months=months)


# -- shaping ------------------------------------------------------------------------------------------------------
# What a request's answer needs beside the ORM row: the route as GeoJSON, the operator's code, and the quote less
# the keys in :omit (a list leaves out the per-segment lines; parsing them only to drop them cost most of its time)
_ROUTE_OPERATOR_QUOTE = text("""
    SELECT r.id, ST_AsGeoJSON(r.route_geom, 7) AS route, o.code, r.quote - CAST(:omit AS text[]) AS quote
    FROM capacity_request r JOIN organisation o ON o.id = r.operator_id WHERE r.id = ANY(:ids)""")
LIST_QUOTE_OMITS = ["lines", "route"]  # a list's quotes carry their totals; GET /requests/{id} has every line


def request_out(session: Session, req: CapacityRequest, *, with_events: bool = False) -> RequestOut:
    _, route, operator, quote = session.execute(_ROUTE_OPERATOR_QUOTE, {"ids": [req.id], "omit": []}).one()
    events = []
    if with_events:
        events = [
            dict(r._mapping)
            for r in session.execute(
                text("""
            SELECT e.at, e.from_status::text AS from_status, e.to_status::text AS to_status, a.username AS by, e.note
            FROM request_event e LEFT JOIN account a ON a.id = e.account_id
            WHERE e.request_id = :id ORDER BY e.at, e.id"""),
                {"id": req.id},
            )
        ]
    return _shaped(req, route, operator, quote, events)


def requests_out(session: Session, ids: list[int]) -> list[RequestOut]:
    """Many requests in the order of `ids`, in two statements (not two per request: an inbox holds hundreds), each
    quote without its per-segment lines and route detail: 216 requests were 11 MB with them."""
    if not ids:
        return []
    reqs = {
        r.id: r
        for r in session.scalars(
            select(CapacityRequest).options(defer(CapacityRequest.quote)).where(CapacityRequest.id.in_(ids))
        )
    }
    extra = {
        r.id: (r.route, r.code, r.quote)
        for r in session.execute(_ROUTE_OPERATOR_QUOTE, {"ids": ids, "omit": LIST_QUOTE_OMITS})
    }
    return [_shaped(reqs[i], *extra[i], []) for i in ids if i in reqs and i in extra]


def _shaped(
    req: CapacityRequest, route: str | None, operator: str, quote: dict[str, Any] | None, events: list[dict[str, Any]]
) -> RequestOut:
    now = datetime.now(UTC)
    status = req.status
    if (
        status in (RequestStatus.SUBMITTED, RequestStatus.OFFERED)
        and req.hold_expires_at
        and req.hold_expires_at <= now
    ):
        status = RequestStatus.EXPIRED  # the sweeper will file it; the answer is already true
    return RequestOut(
        id=req.id,
        reference=req.reference,
        operator=operator,
        status=status,
        status_since=req.status_since,
        due_at=req.due_at,
        overdue=bool(req.due_at and req.due_at < now and status in (RequestStatus.SUBMITTED, RequestStatus.OFFERED)),
        hold_expires_at=req.hold_expires_at,
        subduct_count=req.subduct_count,
        size_class=req.size_class,
        first_day=req.first_day,
        last_day=req.last_day,
        route_length_m=req.route_length_m,
        route=orjson.loads(route) if route else None,
        quote=quote,
        pks_number=req.pks_number,
        reason=req.reason,
        created_at=req.created_at,
        events=events,
    )


def allocations_out(
    session: Session,
    actor: Actor,
    *,
    ids: list[int] | None = None,
    segment_id: int | None = None,
    limit: int = 10_000,
    offset: int = 0,
) -> list[AllocationOut]:
    rows = session.execute(
        text("""
        SELECT a.id, r.reference AS request_reference, o.code AS operator, a.segment_id, s.code AS segment_code,
               a.subduct_id, d.position AS duct_position, sd.position AS subduct_position,
               sp.size_class::text AS size_class, lower(a.period) AS first_day, upper(a.period) AS upper,
               a.status::text AS status, a.contracted_length_m, a.pks_number, a.hold_expires_at
        FROM allocation a JOIN organisation o ON o.id = a.operator_id JOIN route_segment s ON s.id = a.segment_id
        JOIN subduct sd ON sd.id = a.subduct_id JOIN duct d ON d.id = sd.duct_id JOIN duct_spec sp ON sp.id = sd.spec_id
        LEFT JOIN capacity_request r ON r.id = a.request_id
        WHERE (CAST(:op AS bigint) IS NULL OR a.operator_id = :op)
          AND (CAST(:ids AS bigint[]) IS NULL OR a.id = ANY(:ids))
          AND (CAST(:seg AS bigint) IS NULL OR a.segment_id = :seg)
        ORDER BY a.id LIMIT :limit OFFSET :offset"""),
        {"op": _operator_scope(actor), "ids": ids, "seg": segment_id, "limit": limit, "offset": offset},
    )
    out = []
    for r in rows:
        m = dict(r._mapping)
        upper = m.pop("upper")
        m["last_day"] = Days.from_range(Range(m["first_day"], upper, "[)")).last_day
        out.append(AllocationOut(**m))
    return out
