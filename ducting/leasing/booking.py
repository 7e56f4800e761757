"""Planning a route and holding its subducts. The graph proposes, SQL chooses and locks, the EXCLUDE
constraint decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
from psycopg.errors import ExclusionViolation
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ducting.calendar import Days
from ducting.errors import Conflict, FieldError, InvalidInput
from ducting.leasing.quotes import QuoteLine, quote
from ducting.leasing.routing import GRAPH, CapacityGraph
from ducting.leasing.vocab import AllocationStatus
from ducting.network.vocab import SizeClass, ZoneClass
from ducting.settings import get_settings


class NoRoute(Conflict):
    code = "no_route"


class LeaseOverlap(Conflict):
    code = "lease_overlap"


@dataclass
class PlannedSegment:
    segment_id: int
    code: str
    length_m: Decimal
    zone_class: ZoneClass
    subducts: list[dict[str, Any]] = field(default_factory=list)  # id, duct, position, size_class


@dataclass
class RoutePlan:
    segments: list[PlannedSegment]
    node_ids: list[int]
    length_m: Decimal
    cost: float
    geometry: dict[str, Any]
    quote: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "length_m": str(self.length_m),
            "cost": round(self.cost, 3),
            "node_ids": self.node_ids,
            "geometry": self.geometry,
            "quote": self.quote,
            "segments": [
                {
                    "segment_id": s.segment_id,
                    "code": s.code,
                    "length_m": str(s.length_m),
                    "zone_class": s.zone_class,
                    "subducts": s.subducts,
                }
                for s in self.segments
            ],
        }


# Free subducts (ducting's one definition, migration 0034: usable, and no allocation holds them for any day of the
# period right now), locked as they are chosen. Every operator's holdings count, read without identity (RLS).
_FREE_SUBDUCTS = text("""
    SELECT f.id, f.segment_id, f.duct_position AS duct, f.position, f.size_class::text AS size_class
    FROM subduct sd JOIN free_subducts(CAST(:period AS daterange), now()) f ON f.id = sd.id
    WHERE f.segment_id = ANY(:segments) AND f.size_class >= CAST(:size_class AS size_class)
    ORDER BY f.segment_id, f.size_class, f.duct_position, f.position
    FOR UPDATE OF sd SKIP LOCKED""")


def find_path(
    session: Session,
    *,
    from_node_id: int,
    to_node_id: int,
    count: int,
    size_class: SizeClass,
    days: Days,
    graph: CapacityGraph = GRAPH,
    avoid: frozenset[int] = frozenset(),
) -> tuple[list[int], list[int], float]:
    """(segment ids, node ids, cost) of the cheapest path with `count` free subducts for all of `days`, not
    through the segments in `avoid` (found full a moment ago: another transaction has them locked)."""
    settings = get_settings().leasing
    with graph.lock:
        net = graph.refresh(session)
        cap = graph.capacity(days, size_class)
        cost = graph.costs(cap, count, near_full_share=settings.near_full_share, penalty=settings.near_full_penalty)
        if avoid:
            cost[[net.seg_index[s] for s in avoid if s in net.seg_index]] = np.inf
        path = graph.shortest_path(from_node_id, to_node_id, cost)
        if path is not None:
            return path.segment_ids, path.node_ids, path.cost
        raise _no_route(graph, cap, from_node_id, to_node_id, count)


def _no_route(graph: CapacityGraph, cap: Any, a: int, b: int, count: int) -> NoRoute:
    """Explain: the shortest path ignoring capacity, and which of its segments lack room."""
    net = graph.network
    assert net is not None
    if a not in net.node_index or b not in net.node_index:
        return NoRoute(bottleneck=[], reason="node_off_network")
    bare = graph.shortest_path(a, b, net.seg_len.copy())
    if bare is None:
        return NoRoute(bottleneck=[], reason="not_connected")
    short: list[dict[str, Any]] = [
        {"segment_id": sid, "code": code, "free": free, "usable": usable}
        for sid, code, free, usable in graph.segment_free(cap, bare.segment_ids)
        if free < count
    ]
    return NoRoute(
        bottleneck=short,
        needed=count,
        blocked_at=", ".join(s["code"] for s in short[:5]),
    )


def choose_subducts(
    session: Session, *, segment_ids: list[int], count: int, size_class: SizeClass, days: Days
) -> list[PlannedSegment]:
    """Lock `count` free subducts per segment, preferring the same duct and position as the previous segment
    (fewer splices), then the smallest size that fits. Raises NoRoute when a segment turned out full."""
    rows = session.execute(
        _FREE_SUBDUCTS, {"segments": segment_ids, "size_class": size_class.value, "period": days.literal()}
    ).all()
    by_segment: dict[int, list[Any]] = {}
    for r in rows:
        by_segment.setdefault(r.segment_id, []).append(r)
    meta = {
        r.id: r
        for r in session.execute(
            text("SELECT id, code, length_m, zone_class::text AS zone_class FROM route_segment WHERE id = ANY(:ids)"),
            {"ids": segment_ids},
        )
    }
    planned: list[PlannedSegment] = []
    previous: list[tuple[int, int]] = []
    for sid in segment_ids:
        free = by_segment.get(sid, [])
        if len(free) < count:
            raise NoRoute(
                segment=meta[sid].code,
                free=len(free),
                needed=count,
                bottleneck=[{"segment_id": sid, "code": meta[sid].code, "free": len(free)}],
            )
        ranked = sorted(free, key=lambda r: ((r.duct, r.position) not in previous, r.size_class, r.duct, r.position))
        pick = ranked[:count]
        previous = [(r.duct, r.position) for r in pick]
        planned.append(
            PlannedSegment(
                sid,
                meta[sid].code,
                meta[sid].length_m,
                ZoneClass(meta[sid].zone_class),
                [{"id": r.id, "duct": r.duct, "position": r.position, "size_class": r.size_class} for r in pick],
            )
        )
    return planned


def route_geometry(session: Session, segment_ids: list[int]) -> dict[str, Any]:
    raw = session.execute(
        text(
            "SELECT ST_AsGeoJSON(ST_Multi(ST_Collect(geom ORDER BY array_position(:ids, id))), 7)"
            " FROM route_segment WHERE id = ANY(:ids)"
        ),
        {"ids": segment_ids},
    ).scalar_one()
    return orjson.loads(raw)


def quote_lines(planned: list[PlannedSegment]) -> list[QuoteLine]:
    lines = []
    for seg in planned:
        by_class: dict[str, int] = {}
        for sub in seg.subducts:
            by_class[sub["size_class"]] = by_class.get(sub["size_class"], 0) + 1
        for cls, n in by_class.items():
            lines.append(
                QuoteLine(
                    segment_id=seg.segment_id,
                    segment_code=seg.code,
                    zone_class=seg.zone_class,
                    size_class=SizeClass(cls),
                    length_m=seg.length_m,
                    subducts=n,
                )
            )
    return lines


def plan_route(
    session: Session,
    *,
    from_node_id: int,
    to_node_id: int,
    subduct_count: int,
    size_class: SizeClass,
    days: Days,
    operator_id: int | None = None,
    graph: CapacityGraph = GRAPH,
    via_segment_ids: list[int] | None = None,
) -> RoutePlan:
    """Find and lock a route: the cheapest path, then concrete subducts on it (locked until the transaction
    ends). A segment found full when locking (the graph was a moment behind) is retried once, fresh."""
    avoid: set[int] = set()
    node_ids: list[int]
    for attempt in range(3):
        if via_segment_ids:
            segment_ids, node_ids, cost = via_segment_ids, [], 0.0
        else:
            segment_ids, node_ids, cost = find_path(
                session,
                from_node_id=from_node_id,
                to_node_id=to_node_id,
                count=subduct_count,
                size_class=size_class,
                days=days,
                graph=graph,
                avoid=frozenset(avoid),
            )
        try:
            planned = choose_subducts(
                session, segment_ids=segment_ids, count=subduct_count, size_class=size_class, days=days
            )
            break
        except NoRoute as exc:
            # a concurrent booking holds the row locks there (or took the space since the graph last looked):
            # route around it rather than reload the whole graph
            if attempt == 2 or via_segment_ids:
                raise
            avoid.update(b["segment_id"] for b in exc.extra.get("bottleneck", []))
    length = sum((s.length_m for s in planned), Decimal(0))
    q = (
        quote(
            session,
            operator_id=operator_id or 0,
            lines=quote_lines(planned),
            first_day=days.first_day,
            last_day=days.last_day,
        )
        if operator_id
        else {"available": False, "reason": "no operator"}
    )
    return RoutePlan(planned, node_ids, length, cost or float(length), route_geometry(session, segment_ids), q)


_INSERT_ALLOCATIONS = text("""
    INSERT INTO allocation (request_id, operator_id, subduct_id, segment_id, route_seq, period, status,
                            hold_expires_at, contracted_length_m, pks_number, is_legacy, created_by)
    SELECT :request, :operator, u.subduct, u.segment, u.seq, CAST(:period AS daterange),
           CAST(:status AS allocation_status), :hold_until, u.metres, :pks, :legacy, :by
    FROM unnest(CAST(:subducts AS bigint[]), CAST(:segments AS bigint[]), CAST(:seqs AS integer[]),
                CAST(:metres AS numeric[])) AS u(subduct, segment, seq, metres)
    ORDER BY u.seq
    RETURNING id""")


def hold(
    session: Session,
    *,
    plan: RoutePlan,
    operator_id: int,
    request_id: int | None,
    days: Days,
    status: AllocationStatus,
    hold_expires_at: datetime | None,
    created_by: int | None,
    pks_number: str | None = None,
    is_legacy: bool = False,
) -> list[int]:
    """Write one allocation per chosen subduct, in one statement (a route holds dozens), and return their ids.
    The exclusion constraint refuses a double booking (LeaseOverlap); the savepoint keeps the transaction usable
    for looking for an alternative."""
    picks = [(sub["id"], seg.segment_id, seg.length_m) for seg in plan.segments for sub in seg.subducts]
    params = {
        "request": request_id,
        "operator": operator_id,
        "period": days.literal(),
        "status": status.value,
        "hold_until": hold_expires_at,
        "pks": pks_number,
        "legacy": is_legacy,
        "by": created_by,
        "subducts": [p[0] for p in picks],
        "segments": [p[1] for p in picks],
        "seqs": list(range(1, len(picks) + 1)),
        "metres": [p[2] for p in picks],
    }
    session.flush()  # pending objects (the request row) first
    try:
        with session.begin_nested():
            return list(session.execute(_INSERT_ALLOCATIONS, params).scalars())
    except IntegrityError as exc:
        if isinstance(exc.orig, ExclusionViolation):
            raise LeaseOverlap(
                bottleneck=[{"segment_id": s.segment_id, "code": s.code} for s in plan.segments]
            ) from exc
        raise


def parse_days(first_day: Any, last_day: Any, *, path: str = "") -> Days:
    if first_day is None:
        raise InvalidInput(errors=[FieldError(f"{path}first_day", "value_missing", column="first_day")])
    try:
        return Days(first_day, last_day)
    except ValueError as exc:
        facts: dict[str, Any] = {"first_day": first_day, "last_day": last_day}
        raise InvalidInput(
            code="end_before_start", errors=[FieldError(f"{path}last_day", "end_before_start", **facts)], **facts
        ) from exc
