"""Occupancy, explained: per segment and duct, which subducts are reserved, held, leased or free for a period,
since when and until when, and each duct's area fill against the configured limits.

An operator sees counts for the whole network and the details of its own holdings; another operator's holding
shows only as "occupied", never who, nor its terms. The database enforces that too: holdings and cables are read
through the `allocation_occupancy` and `cable_fill` views, which leave out whom a row belongs to unless the
caller may see it (row-level security hides the tables' other rows)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.vocab import Role
from ducting.calendar import Days
from ducting.db import Actor
from ducting.errors import NotFound
from ducting.settings import get_settings

# `usable` is the database's rule (subduct_capacity, migration 0034), so a subduct counted free here is one leasing
# would offer
_SUBDUCTS = text("""
    SELECT d.id AS duct_id, d.position AS duct_position, dsp.code AS duct_spec, dsp.inner_diameter_mm AS duct_inner_mm,
           d.status::text AS duct_status, sd.id, sd.position, sp.code AS spec, sp.size_class::text AS size_class,
           sp.outer_diameter_mm, sp.inner_diameter_mm, sd.status::text AS status, sd.is_reserved, c.usable,
           (SELECT count(*) FROM subduct x WHERE x.duct_id = d.id) AS siblings
    FROM duct d JOIN duct_spec dsp ON dsp.id = d.spec_id
    JOIN subduct sd ON sd.duct_id = d.id JOIN duct_spec sp ON sp.id = sd.spec_id
    JOIN subduct_capacity c ON c.id = sd.id
    WHERE d.segment_id = :seg ORDER BY d.position, sd.position""")

_HOLDINGS = text("""
    SELECT a.subduct_id, a.status::text AS status, lower(a.period) AS first_day, upper(a.period) AS upper,
           a.hold_expires_at, a.operator_id, o.code AS operator, a.pks_number, r.reference
    FROM allocation_occupancy a LEFT JOIN organisation o ON o.id = a.operator_id
    LEFT JOIN capacity_request r ON r.id = a.request_id
    WHERE a.segment_id = :seg
      AND allocation_holds_over(a.status, a.hold_expires_at, a.period, CAST(:period AS daterange), now())
    ORDER BY lower(a.period)""")

_CABLES = text("""
    SELECT c.subduct_id, c.outer_diameter_mm, c.method FROM cable_fill c JOIN subduct sd ON sd.id = c.subduct_id
    WHERE sd.segment_id = :seg AND c.removed_on IS NULL""")


def segment_occupancy(session: Session, *, segment_id: int, days: Days, viewer: Actor) -> dict[str, Any]:
    seg = session.execute(
        text("SELECT id, code, length_m FROM route_segment WHERE id = :id"), {"id": segment_id}
    ).first()
    if seg is None:
        raise NotFound(what="segment", ref=segment_id)
    params = {"seg": segment_id, "period": days.literal()}
    holdings: dict[int, list[Any]] = {}
    for h in session.execute(_HOLDINGS, params):
        holdings.setdefault(h.subduct_id, []).append(h)
    cables: dict[int, list[Any]] = {}
    for c in session.execute(_CABLES, {"seg": segment_id}):
        cables.setdefault(c.subduct_id, []).append(c)
    ducts: dict[int, dict[str, Any]] = {}
    for r in session.execute(_SUBDUCTS, {"seg": segment_id}):
        duct = ducts.setdefault(
            r.duct_id,
            {
                "duct_id": r.duct_id,
                "position": r.duct_position,
                "spec": r.duct_spec,
                "inner_diameter_mm": r.duct_inner_mm,
                "status": r.duct_status,
                "subducts": [],
                "_rows": [],
            },
        )
        duct["_rows"].append(r)
        duct["subducts"].append(_explain(r, holdings.get(r.id, []), viewer))
    out = []
    for duct in ducts.values():
        rows = duct.pop("_rows")
        duct["counts"] = _count([s["state"] for s in duct["subducts"]])
        duct["fill"] = area_fill(duct, rows, cables, holdings)
        out.append(duct)
    totals = _count([s["state"] for d in out for s in d["subducts"]])
    return {
        "segment_id": seg.id,
        "code": seg.code,
        "length_m": str(seg.length_m),
        "first_day": days.first_day,
        "last_day": days.last_day,
        "totals": totals,
        "ducts": out,
    }


def _explain(r: Any, holds: list[Any], viewer: Actor) -> dict[str, Any]:
    item: dict[str, Any] = {"subduct_id": r.id, "position": r.position, "spec": r.spec, "size_class": r.size_class}
    if r.status == "decommissioned" or r.duct_status == "decommissioned":
        return item | {"state": "unavailable", "why": "decommissioned"}
    if r.is_reserved:
        return item | {"state": "reserved", "why": "kept free for the city (BUMD reserve)"}
    if not holds:
        if not r.usable:  # planned, under construction, inactive: nothing to lease yet
            return item | {"state": "unavailable", "why": "not in operation (subduct, duct or segment)"}
        return item | {"state": "free"}
    state = "held" if all(h.status == "held" for h in holds) else "leased"
    sees_all = viewer.role != Role.OPERATOR
    item["state"] = state
    item["holdings"] = []
    for h in holds:
        mine = sees_all or h.operator_id == viewer.organisation_id
        last_day = None if h.upper is None else h.upper.fromordinal(h.upper.toordinal() - 1)
        entry = {"status": h.status if mine else "occupied", "since": h.first_day, "until": last_day}
        if mine:
            entry |= {
                "operator": h.operator,
                "request": h.reference,
                "pks_number": h.pks_number,
                "hold_expires_at": h.hold_expires_at,
            }
        item["holdings"].append(entry)
    return item


def _count(states: list[str]) -> dict[str, int]:
    out = {"total": len(states), "reserved": 0, "held": 0, "leased": 0, "free": 0, "unavailable": 0}
    for s in states:
        out[s] += 1
    return out


def area_fill(
    duct: dict[str, Any], rows: list[Any], cables: dict[int, list[Any]], holdings: dict[int, list[Any]]
) -> dict[str, Any]:
    """Sum of outer diameters squared over the inner diameter squared, per bore, against the applicable limit:
    a duct with inner subducts is "subdivided" (55 %); a microduct with blown cable 65 %; 3+ pulled cables 40 %.
    A subduct leased but still empty counts as taken: its bore is full for fill purposes."""
    s = get_settings().leasing
    inner = Decimal(duct["inner_diameter_mm"])
    subdivided = len(rows) > 1 or rows[0].spec != duct["spec"]
    bores = []
    for r in rows:
        bore_cables = cables.get(r.id, [])
        leased_empty = bool(holdings.get(r.id)) and not bore_cables
        area = sum((Decimal(c.outer_diameter_mm) ** 2 for c in bore_cables), Decimal(0))
        fill = Decimal(1) if leased_empty else area / Decimal(r.inner_diameter_mm) ** 2
        blown = any(c.method == "blown" for c in bore_cables)
        limit = s.fill_limit_blown_microduct if blown and r.size_class == "microduct" else s.fill_limit_three_cables
        bores.append(
            {
                "subduct_id": r.id,
                "fill": round(float(fill), 3),
                "limit": limit if len(bore_cables) >= 3 or blown else None,
                "cables": len(bore_cables),
                "leased_empty": leased_empty,
            }
        )
    if subdivided:
        occupied = sum((Decimal(r.outer_diameter_mm) ** 2 for r in rows), Decimal(0))
        duct_fill, limit = occupied / inner**2, s.fill_limit_subdivision
    else:
        duct_fill = Decimal(str(bores[0]["fill"]))
        limit = bores[0]["limit"]
    return {
        "duct_fill": round(float(duct_fill), 3),
        "limit": limit,
        "over_limit": bool(limit is not None and duct_fill > Decimal(str(limit))),
        "bores": bores,
    }
