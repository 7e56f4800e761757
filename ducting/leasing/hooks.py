"""Leasing's answers to network events: carry allocations across a segment split; block deletes of what is
leased. Registered by the app factory (`register`)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ducting.leasing.models import Allocation
from ducting.network import hooks

MM = Decimal("0.001")


def carry_allocations_across_split(session: Session, split: hooks.SegmentSplit) -> None:
    """Each space-holding allocation on the original's subducts gets a twin on the new segment's matching
    subduct, same period, status and terms. The contracted metres are divided in proportion to the two parts'
    lengths, to the millimetre, and the second part takes the remainder: the total never changes."""
    total_len = split.first_length_m + split.second_length_m
    rows = session.scalars(
        select(Allocation)
        .where(Allocation.subduct_id.in_(list(split.subduct_map)), func.allocation_holds_space(Allocation.status))
        .with_for_update()
    ).all()
    for a in rows:
        whole = a.contracted_length_m
        first = (whole * split.first_length_m / total_len).quantize(MM, rounding=ROUND_HALF_UP)
        a.contracted_length_m = first
        session.add(
            Allocation(
                request_id=a.request_id,
                operator_id=a.operator_id,
                subduct_id=split.subduct_map[a.subduct_id],
                segment_id=split.new_id,
                route_seq=a.route_seq,
                period=a.period,
                status=a.status,
                hold_expires_at=a.hold_expires_at,
                contracted_length_m=whole - first,
                pks_number=a.pks_number,
                is_legacy=a.is_legacy,
                created_by=a.created_by,
            )
        )
    session.flush()


def leases_block_delete(session: Session, kind: str, obj_id: int) -> list[hooks.Blocker]:
    """Allocations that hold space today or later block removing the segment, duct or node they are on (the
    database's `allocation_holds_space_from`; its removal trigger, migration 0035, refuses the same rows)."""
    column = {"segment": "a.segment_id", "duct": "sd.duct_id", "node": None}[kind]
    if column is None:
        return []
    rows = session.execute(
        text(f"""
        SELECT a.id, o.code, lower(a.period) AS since FROM allocation a
        JOIN subduct sd ON sd.id = a.subduct_id JOIN organisation o ON o.id = a.operator_id
        WHERE {column} = :id AND allocation_holds_space_from(a.status, a.hold_expires_at, a.period, CURRENT_DATE, now())
        ORDER BY a.id"""),
        {"id": obj_id},
    ).all()
    return [hooks.Blocker("allocation", r.id, f"lease of {r.code} since {r.since}") for r in rows]


def register() -> None:
    hooks.register_split_hook(carry_allocations_across_split)
    hooks.register_delete_blocker(leases_block_delete)
