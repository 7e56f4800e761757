"""Editing the network: nodes, segments, splits, ducts. Plain functions; none commits (the route does).

Optimistic concurrency: each edit may name the version it was based on; the row is locked (`FOR UPDATE`)
and a different current version raises `PreconditionFailed` (412) naming who changed it and when.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, Point
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, Organisation
from ducting.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed
from ducting.network import hooks, topology
from ducting.network.models import Duct, DuctSpec, Node, RouteSegment, Subduct
from ducting.network.schemas import DuctPlacement, NodeIn, NodePatch, SegmentIn, SegmentPatch
from ducting.network.vocab import KECAMATAN_ABBREVIATION, NODE_CODE_PREFIX, SEGMENT_CODE_PREFIX, Lifecycle, NodeKind
from gis.crs import WGS84
from gis.snapping import split_line_at


# -- shared helpers ----------------------------------------------------------------------------------------------
def organisation_id(session: Session, code: str | None, *, path: str = "owner") -> int | None:
    if code is None:
        return None
    org_id = session.scalar(select(Organisation.id).where(Organisation.code == code))
    if org_id is None:
        raise InvalidInput(errors=[FieldError(path, "organisation_not_found", value=code)])
    return org_id


_THING = {"route_segment": "segment"}
"""What a table's row is called in messages, where the two differ."""


def lock(session: Session, model: type[Any], obj_id: int, expected_version: int | None, *, live: bool = True) -> Any:
    """Load and lock one versioned row; 404 if missing (or removed), 412 if its version moved on."""
    # Lock the row alone: eager-loaded relationships are outer joins, which FOR UPDATE refuses.
    session.execute(select(model.id).where(model.id == obj_id).with_for_update())
    obj = session.get(model, obj_id, populate_existing=True)
    if obj is None or (live and getattr(obj, "removed_at", None) is not None):
        raise NotFound(what=_THING.get(model.__tablename__, model.__tablename__), ref=obj_id)
    if expected_version is not None and obj.version != expected_version:
        who = session.scalar(select(Account.username).where(Account.id == obj.updated_by)) if obj.updated_by else None
        raise PreconditionFailed(
            what=_THING.get(model.__tablename__, model.__tablename__),
            ref=obj_id,
            expected_version=expected_version,
            current_version=obj.version,
            changed_by=who,
            changed_at=obj.updated_at.isoformat(),
        )
    return obj


def _district(session: Session, point: Point) -> str:
    kode = session.scalar(
        text("""
        SELECT parent_kode FROM admin_area WHERE level = 'kelurahan'
        ORDER BY ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), :srid)) DESC,
                 geom <-> ST_SetSRID(ST_MakePoint(:x, :y), :srid) LIMIT 1"""),
        {"x": point.x, "y": point.y, "srid": WGS84},
    )
    return KECAMATAN_ABBREVIATION.get(kode or "", "BTM")


def next_code(session: Session, table: str, prefix: str, point: Point) -> str:
    """`PREFIX-DST-00042`: one past the highest serial in use for that prefix and district.
    Concurrent creators may pick the same code; the unique constraint then refuses one (409, retry)."""
    stem = f"{prefix}-{_district(session, point)}-"
    highest = session.scalar(
        text(f"SELECT max(substring(code FROM '([0-9]+)$')::int) FROM {table} WHERE code LIKE :p AND code ~ :re"),
        {"p": stem + "%", "re": "^" + re.escape(stem) + "[0-9]+$"},
    )
    return f"{stem}{(highest or 0) + 1:05d}"


def _flush_unique(session: Session, what: str, code: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if "unique" in str(exc.orig).lower() and "code" in str(exc.orig).lower():
            raise Conflict(code="code_taken", what=what, value=code) from exc
        raise


# -- nodes --------------------------------------------------------------------------------------------------------
def create_node(session: Session, *, data: NodeIn) -> tuple[Node, hooks.SegmentSplit | None]:
    """Create a node. Drawn on a live segment (within the split tolerance), it splits that segment there."""
    point = topology.parse_point(data.geometry)
    topology.check_node_free(session, point)
    hit = topology.segment_under(session, point) if data.split else None
    if hit is not None:
        split = split_segment(
            session, segment_id=hit.id, point=point, node_code=data.code, node_kind=data.kind, node_fields=data
        )
        return session.get_one(Node, split.node_id), split
    node = _insert_node(session, point=point, data=data)
    return node, None


def _insert_node(session: Session, *, point: Point, data: NodeIn) -> Node:
    code = data.code or next_code(session, "node", NODE_CODE_PREFIX[data.kind], point)
    node = Node(
        code=code,
        kind=data.kind,
        status=data.status,
        owner_id=organisation_id(session, data.owner),
        install_date=data.install_date,
        notes=data.notes,
        geom=topology.wkb_element(point),
    )
    session.add(node)
    _flush_unique(session, "node", code)
    return node


def update_node(session: Session, *, node_id: int, patch: NodePatch, expected_version: int | None) -> Node:
    """Change a node. Moving it moves the ends of its segments with it, which are checked again."""
    node = lock(session, Node, node_id, expected_version if expected_version is not None else patch.version)
    fields = patch.model_dump(exclude_unset=True, exclude={"version", "geometry", "owner"})
    for key, value in fields.items():
        setattr(node, key, value)
    if "owner" in patch.model_fields_set:
        node.owner_id = organisation_id(session, patch.owner)
    if patch.geometry is not None:
        point = topology.parse_point(patch.geometry)
        topology.check_node_free(session, point, exclude_id=node.id)
        node.geom = topology.wkb_element(point)
        _move_segment_ends(session, node.id, point)
    if patch.status == Lifecycle.DECOMMISSIONED:
        raise InvalidInput(code="use_delete", what="node")
    _flush_unique(session, "node", node.code)
    return node


def _move_segment_ends(session: Session, node_id: int, point: Point) -> None:
    segments = session.scalars(
        select(RouteSegment)
        .where(
            RouteSegment.removed_at.is_(None),
            (RouteSegment.start_node_id == node_id) | (RouteSegment.end_node_id == node_id),
        )
        .with_for_update()
    ).all()
    errors: list[FieldError] = []
    for seg in segments:
        coords = list(to_shape(seg.geom).coords)
        if seg.start_node_id == node_id:
            coords[0] = (point.x, point.y)
        if seg.end_node_id == node_id:
            coords[-1] = (point.x, point.y)
        line = LineString(coords)
        try:
            topology.check_parsed_line(line, path=f"segments/{seg.code}")
        except topology.TopologyError as exc:
            errors.extend(exc.errors)
            continue
        seg.geom = topology.wkb_element(line)
    if errors:
        raise topology.TopologyError(errors=errors, cause="node_moved")


def delete_node(session: Session, *, node_id: int, expected_version: int | None) -> Node:
    """Decommission a node (soft delete). Refused (409) while live segments end on it."""
    node = lock(session, Node, node_id, expected_version)
    blockers = [
        hooks.Blocker("segment", s.id, s.code)
        for s in session.scalars(
            select(RouteSegment).where(
                RouteSegment.removed_at.is_(None),
                (RouteSegment.start_node_id == node_id) | (RouteSegment.end_node_id == node_id),
            )
        )
    ]
    blockers += [b for hook in hooks.delete_blockers for b in hook(session, "node", node_id)]
    _refuse_if_blocked("node", node.code, blockers)
    node.status = Lifecycle.DECOMMISSIONED
    node.removed_at = datetime.now(UTC)
    session.flush()
    return node


def _refuse_if_blocked(what: str, code: str, blockers: list[hooks.Blocker]) -> None:
    if blockers:
        raise Conflict(
            code="delete_blocked", what=what, ref=code, count=len(blockers), blockers=[b.as_dict() for b in blockers]
        )


# -- segments -----------------------------------------------------------------------------------------------------
def create_segment(session: Session, *, data: SegmentIn) -> RouteSegment:
    line = topology.parse_line(data.geometry)
    line, start, end = topology.snap_segment(session, line, start_code=data.start_node, end_code=data.end_node)
    topology.check_not_duplicate(session, line, start.id, end.id)
    code = data.code or next_code(session, "route_segment", SEGMENT_CODE_PREFIX, line.interpolate(0.5, normalized=True))
    seg = RouteSegment(
        code=code,
        start_node_id=start.id,
        end_node_id=end.id,
        status=data.status,
        trench_type=data.trench_type,
        depth_m=data.depth_m,
        zone_class=data.zone_class,
        owner_id=organisation_id(session, data.owner),
        install_date=data.install_date,
        notes=data.notes,
        geom=topology.wkb_element(line),
    )
    session.add(seg)
    _flush_unique(session, "segment", code)
    for i, placement in enumerate(data.ducts, start=1):
        add_duct(session, segment_id=seg.id, placement=placement, default_position=i, path=f"ducts/{i - 1}")
    return seg


def update_segment(
    session: Session, *, segment_id: int, patch: SegmentPatch, expected_version: int | None
) -> RouteSegment:
    seg = lock(session, RouteSegment, segment_id, expected_version if expected_version is not None else patch.version)
    fields = patch.model_dump(exclude_unset=True, exclude={"version", "geometry", "owner"})
    if fields.get("status") == Lifecycle.DECOMMISSIONED:
        raise InvalidInput(code="use_delete", what="segment")
    for key, value in fields.items():
        setattr(seg, key, value)
    if "owner" in patch.model_fields_set:
        seg.owner_id = organisation_id(session, patch.owner)
    if patch.geometry is not None:
        line = topology.parse_line(patch.geometry)
        start = session.get_one(Node, seg.start_node_id)
        end = session.get_one(Node, seg.end_node_id)
        line, s, e = topology.snap_segment(session, line, start_code=start.code, end_code=end.code)
        topology.check_not_duplicate(session, line, s.id, e.id, exclude_id=seg.id)
        seg.geom = topology.wkb_element(line)
    _flush_unique(session, "segment", seg.code)
    session.refresh(seg, ["length_m"])
    return seg


def delete_segment(session: Session, *, segment_id: int, expected_version: int | None) -> RouteSegment:
    """Decommission a segment (soft delete). Refused (409) while it carries live ducts or leases."""
    seg = lock(session, RouteSegment, segment_id, expected_version)
    blockers = [
        hooks.Blocker("duct", d.id, f"{seg.code} duct {d.position} ({d.spec.code})")
        for d in session.scalars(select(Duct).where(Duct.segment_id == seg.id, Duct.status != Lifecycle.DECOMMISSIONED))
    ]
    blockers += [b for hook in hooks.delete_blockers for b in hook(session, "segment", seg.id)]
    _refuse_if_blocked("segment", seg.code, blockers)
    seg.status = Lifecycle.DECOMMISSIONED
    seg.removed_at = datetime.now(UTC)
    session.flush()
    return seg


def split_segment(
    session: Session,
    *,
    segment_id: int,
    point: Point,
    node_code: str | None = None,
    node_kind: NodeKind = NodeKind.MANHOLE,
    node_fields: NodeIn | None = None,
    expected_version: int | None = None,
) -> hooks.SegmentSplit:
    """Split a segment at the point nearest `point`, with a new node there.

    The original keeps its id and the first part; a new segment takes the second part with copies of every
    duct and subduct (same positions and specs). Registered split hooks (leasing) then carry their rows over,
    in this same transaction.
    """
    seg = lock(session, RouteSegment, segment_id, expected_version)
    line = to_shape(seg.geom)
    try:
        first, second = split_line_at(line, point)
    except ValueError as exc:
        raise topology.TopologyError(code="split_at_end", segment=seg.code) from exc
    at = Point(first.coords[-1])
    topology.check_node_free(session, at)
    fields = node_fields or NodeIn(kind=node_kind, code=node_code, geometry=None)
    node = _insert_node(session, point=at, data=fields.model_copy(update={"code": node_code, "kind": node_kind}))
    old_end = seg.end_node_id
    seg.geom = topology.wkb_element(first)
    seg.end_node_id = node.id
    twin = RouteSegment(
        code=next_code(session, "route_segment", SEGMENT_CODE_PREFIX, second.interpolate(0.5, normalized=True)),
        start_node_id=node.id,
        end_node_id=old_end,
        status=seg.status,
        trench_type=seg.trench_type,
        depth_m=seg.depth_m,
        zone_class=seg.zone_class,
        owner_id=seg.owner_id,
        install_date=seg.install_date,
        notes=seg.notes,
        geom=topology.wkb_element(second),
    )
    session.add(twin)
    session.flush()
    subduct_map = _copy_ducts(session, seg.id, twin.id)
    session.refresh(seg, ["length_m"])
    session.refresh(twin, ["length_m"])
    result = hooks.SegmentSplit(
        original_id=seg.id,
        new_id=twin.id,
        node_id=node.id,
        first_length_m=seg.length_m,
        second_length_m=twin.length_m,
        subduct_map=subduct_map,
    )
    for hook in hooks.split_hooks:
        hook(session, result)
    return result


def _copy_ducts(session: Session, from_id: int, to_id: int) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for duct in session.scalars(select(Duct).where(Duct.segment_id == from_id).order_by(Duct.position)):
        copy = Duct(
            segment_id=to_id,
            position=duct.position,
            spec_id=duct.spec_id,
            status=duct.status,
            install_date=duct.install_date,
        )
        session.add(copy)
        session.flush()
        for sub in session.scalars(select(Subduct).where(Subduct.duct_id == duct.id).order_by(Subduct.position)):
            twin = Subduct(
                duct_id=copy.id,
                segment_id=to_id,
                position=sub.position,
                spec_id=sub.spec_id,
                status=sub.status,
                is_reserved=sub.is_reserved,
            )
            session.add(twin)
            session.flush()
            mapping[sub.id] = twin.id
    return mapping


# -- ducts --------------------------------------------------------------------------------------------------------
def current_spec(session: Session, code: str, *, path: str = "spec") -> DuctSpec:
    spec = session.scalars(
        select(DuctSpec)
        .where(DuctSpec.code == code, DuctSpec.retired_on.is_(None))
        .order_by(DuctSpec.version.desc())
        .limit(1)
    ).first()
    if spec is None:
        raise InvalidInput(errors=[FieldError(path, "not_found", what="spec", ref=code)])
    return spec


def subduct_layout(spec: DuctSpec) -> list[DuctSpec]:
    """The leasable bores of a duct: a carrier's children in order, or the plain duct itself."""
    if not spec.children:
        return [spec]
    return [child.child for child in sorted(spec.children, key=lambda c: c.child_id) for _ in range(child.count)]


def add_duct(
    session: Session,
    *,
    segment_id: int,
    placement: DuctPlacement,
    default_position: int | None = None,
    path: str = "duct",
) -> Duct:
    seg = session.get(RouteSegment, segment_id)
    if seg is None or seg.removed_at is not None:
        raise NotFound(what="segment", ref=segment_id)
    spec = current_spec(session, placement.spec, path=f"{path}/spec")
    position = (
        placement.position
        or default_position
        or ((session.scalar(select(func.max(Duct.position)).where(Duct.segment_id == segment_id)) or 0) + 1)
    )
    bores = subduct_layout(spec)
    if placement.reserve > len(bores):
        raise InvalidInput(
            errors=[
                FieldError(
                    f"{path}/reserve",
                    "reserve_too_large",
                    spec=spec.code,
                    subducts=len(bores),
                    reserve=placement.reserve,
                )
            ]
        )
    seg_code = seg.code  # read now: after the failed flush below, loading an attribute raises PendingRollbackError
    duct = Duct(segment_id=segment_id, position=position, spec_id=spec.id)
    session.add(duct)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(code="duct_position_taken", segment=seg_code, position=position) from exc
    reserved_from = len(bores) - placement.reserve + 1
    for i, bore in enumerate(bores, start=1):
        session.add(
            Subduct(duct_id=duct.id, segment_id=segment_id, position=i, spec_id=bore.id, is_reserved=i >= reserved_from)
        )
    session.flush()
    return duct


def remove_duct(session: Session, *, duct_id: int, expected_version: int | None) -> Duct:
    duct = lock(session, Duct, duct_id, expected_version, live=False)
    if duct.status == Lifecycle.DECOMMISSIONED:
        raise NotFound(what="duct", ref=duct_id)
    blockers = [b for hook in hooks.delete_blockers for b in hook(session, "duct", duct.id)]
    _refuse_if_blocked("duct", str(duct.id), blockers)
    duct.status = Lifecycle.DECOMMISSIONED
    for sub in session.scalars(select(Subduct).where(Subduct.duct_id == duct.id)):
        sub.status = Lifecycle.DECOMMISSIONED
    session.flush()
    return duct
