"""The duct route a migration candidate would take: which segments beside a span, in what order, and the size
class the operator's cable needs. Shared by the letters (what they offer) and migration tracking (what a case
must be leased on before the cable is pulled in), so both name the same route."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.compliance.settings import get_compliance_settings
from ducting.network.vocab import SizeClass


def route_along(session: Session, *, span_id: int, segment_ids: list[int]) -> list[tuple[int, str]]:
    """The duct segments to propose for a span, in order along it: of the segments the rule found alongside, the
    connected run (segments sharing nodes) with the most metres, ordered by where its midpoint falls on the span.
    A second, parallel duct route on the other side of the street is left out rather than leased twice."""
    rows = session.execute(
        text("""
        SELECT r.id, r.code, r.start_node_id, r.end_node_id, r.length_m,
               ST_LineLocatePoint(s.geom_m, ST_LineInterpolatePoint(r.geom_m, 0.5)) AS along
        FROM route_segment r, aerial_span s WHERE r.id = ANY(:ids) AND s.id = :span"""),
        {"ids": segment_ids, "span": span_id},
    ).all()
    parent: dict[int, int] = {}

    def root(n: int) -> int:
        while parent.setdefault(n, n) != n:
            n = parent[n]
        return n

    for r in rows:
        parent[root(r.start_node_id)] = root(r.end_node_id)
    runs: dict[int, list[Any]] = {}
    for r in rows:
        runs.setdefault(root(r.start_node_id), []).append(r)
    if not runs:
        return []
    best = max(runs.values(), key=lambda run: (sum(float(r.length_m) for r in run), -min(r.id for r in run)))
    return [(r.id, r.code) for r in sorted(best, key=lambda r: (r.along, r.id))]


def operator_need(session: Session, *, flag: Any, operator_id: int) -> tuple[list[int], SizeClass, float | None]:
    """What the rule found for this operator on the flag's span: the segments where a request for its cable
    would succeed, the size class that cable needs and its diameter. A flag recorded before the rule kept this per
    operator falls back to its segments and the database's fit for the operator's widest cable on the span."""
    mine = [o for o in flag.evidence.get("operators") or [] if o.get("operator_id") == operator_id]
    if mine and mine[0].get("size_class"):
        return [int(s) for s in mine[0]["segment_ids"]], SizeClass(mine[0]["size_class"]), mine[0].get("cable_mm")
    row = session.execute(
        text("""SELECT max(cable_outer_diameter_mm(cable_type, diameter_mm)) AS mm,
                       cable_size_class(max(cable_outer_diameter_mm(cable_type, diameter_mm)))::text AS size_class
                FROM cable_attachment WHERE span_id = :span AND operator_id = :op AND removed_at IS NULL"""),
        {"span": flag.span_id, "op": operator_id},
    ).one()
    size = SizeClass(row.size_class) if row.size_class else SizeClass.WHOLE_DUCT
    return [int(s) for s in flag.evidence.get("segment_ids", [])], size, None if row.mm is None else float(row.mm)


def segments_alongside(session: Session, *, span_id: int) -> list[int]:
    """Live duct segments that run beside a span within the rule's distance (some length of them inside the span's
    flat-ended buffer; one that only meets it at an end does not): where a case with no duct_available flag looks
    for its route."""
    return list(
        session.scalars(
            text("""SELECT r.id FROM route_segment r JOIN aerial_span s ON s.id = :span
            WHERE r.removed_at IS NULL AND ST_DWithin(r.geom_m, s.geom_m, :d)
              AND ST_Length(ST_Intersection(r.geom_m, ST_Buffer(s.geom_m, :d, 'endcap=flat'))) > 1
            ORDER BY r.id"""),
            {"span": span_id, "d": get_compliance_settings().duct_distance_m},
        )
    )
