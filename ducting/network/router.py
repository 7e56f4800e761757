"""Network write and detail endpoints under /api/v1/network. Reads of whole layers are the OGC endpoints."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from ducting.auth import EditorDep, ReaderDep
from ducting.db import SessionDep
from ducting.errors import FieldError, InvalidInput, NotFound
from ducting.network import queries, service
from ducting.network.models import Duct, DuctSpec, Node, RouteSegment
from ducting.network.schemas import (
    BulkIn,
    BulkOut,
    DuctIn,
    DuctOut,
    DuctSpecOut,
    HistoryEntry,
    NodeCreatedOut,
    NodeFeatureOut,
    NodeIn,
    NodePatch,
    SegmentFeatureOut,
    SegmentIn,
    SegmentPatch,
    SplitIn,
    SplitOut,
    SubductOut,
    Summary,
)
from ducting.replica import ReadSessionDep

router = APIRouter(prefix="/api/v1/network", tags=["network"])
IfMatch = Annotated[str | None, Header(description='The ETag you read, e.g. "v3"; a stale one gets 412')]


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"?v?(\d+)"?\s*', value)
    if not found:
        raise InvalidInput(code="bad_if_match", value=value[:40])
    return int(found.group(1))


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"v{version}"'


def node_feature(node: Node) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": node.id,
        "geometry": mapping(to_shape(node.geom)),
        "properties": {
            "code": node.code,
            "uuid": str(node.uuid),
            "kind": node.kind,
            "status": node.status,
            "owner_id": node.owner_id,
            "install_date": node.install_date,
            "kecamatan": node.kecamatan_kode,
            "kelurahan": node.kelurahan_kode,
            "notes": node.notes,
            "removed_at": node.removed_at,
            "version": node.version,
            "updated_at": node.updated_at,
        },
    }


def segment_feature(session: Session, seg: RouteSegment) -> dict[str, Any]:
    codes = dict(
        session.execute(select(Node.id, Node.code).where(Node.id.in_([seg.start_node_id, seg.end_node_id]))).all()
    )
    return {
        "type": "Feature",
        "id": seg.id,
        "geometry": mapping(to_shape(seg.geom)),
        "properties": {
            "code": seg.code,
            "uuid": str(seg.uuid),
            "start_node": codes.get(seg.start_node_id),
            "end_node": codes.get(seg.end_node_id),
            "start_node_id": seg.start_node_id,
            "end_node_id": seg.end_node_id,
            "status": seg.status,
            "trench_type": seg.trench_type,
            "depth_m": seg.depth_m,
            "zone_class": seg.zone_class,
            "length_m": seg.length_m,
            "kecamatan": seg.kecamatan_kode,
            "kelurahan": seg.kelurahan_kode,
            "notes": seg.notes,
            "removed_at": seg.removed_at,
            "version": seg.version,
            "updated_at": seg.updated_at,
        },
    }


def duct_out(duct: Duct) -> DuctOut:
    return DuctOut(
        id=duct.id,
        segment_id=duct.segment_id,
        position=duct.position,
        spec=duct.spec.code,
        spec_name=duct.spec.name,
        kind=duct.spec.kind,
        outer_diameter_mm=duct.spec.outer_diameter_mm,
        inner_diameter_mm=duct.spec.inner_diameter_mm,
        status=duct.status,
        version=duct.version,
        subducts=[
            SubductOut(
                id=s.id,
                position=s.position,
                spec=s.spec.code,
                size_class=s.spec.size_class,
                inner_diameter_mm=s.spec.inner_diameter_mm,
                status=s.status,
                is_reserved=s.is_reserved,
            )
            for s in duct.subducts
        ],
    )


# -- nodes --------------------------------------------------------------------------------------------------------
@router.post(
    "/nodes",
    status_code=201,
    response_model=NodeCreatedOut,
    response_model_exclude_unset=True,
    summary="Create a node (drawn on a segment, it splits it)",
)
def create_node(body: NodeIn, session: SessionDep, actor: EditorDep, response: Response) -> dict[str, Any]:
    node, split = service.create_node(session, data=body)
    session.commit()
    _etag(response, node.version)
    out = node_feature(node)
    if split is not None:
        out["split"] = {"original_segment_id": split.original_id, "new_segment_id": split.new_id}
    return out


@router.get("/nodes/{node_id}", response_model=NodeFeatureOut)
def get_node(node_id: int, session: SessionDep, actor: ReaderDep, response: Response) -> dict[str, Any]:
    node = session.get(Node, node_id)
    if node is None:
        raise NotFound(what="node", ref=node_id)
    _etag(response, node.version)
    return node_feature(node)


@router.patch("/nodes/{node_id}", response_model=NodeFeatureOut)
def patch_node(
    node_id: int, body: NodePatch, session: SessionDep, actor: EditorDep, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    node = service.update_node(session, node_id=node_id, patch=body, expected_version=parse_if_match(if_match))
    session.commit()
    _etag(response, node.version)
    return node_feature(node)


@router.delete(
    "/nodes/{node_id}", response_model=NodeFeatureOut, summary="Decommission a node (refused while segments end on it)"
)
def delete_node(node_id: int, session: SessionDep, actor: EditorDep, if_match: IfMatch = None) -> dict[str, Any]:
    node = service.delete_node(session, node_id=node_id, expected_version=parse_if_match(if_match))
    session.commit()
    return node_feature(node)


@router.get("/nodes/{node_id}/history", response_model=list[HistoryEntry])
def node_history(node_id: int, session: SessionDep, actor: ReaderDep) -> list[dict[str, Any]]:
    return _history(session, "node", node_id)


def _history(session: Session, table: str, row_id: int) -> list[dict[str, Any]]:
    entries = queries.history(session, table, row_id)
    if not entries:
        raise NotFound(what="history", of={"route_segment": "segment"}.get(table, table), ref=row_id)
    return entries


# -- segments -----------------------------------------------------------------------------------------------------
@router.post(
    "/segments", status_code=201, response_model=SegmentFeatureOut, summary="Create a segment; its ends snap to nodes"
)
def create_segment(body: SegmentIn, session: SessionDep, actor: EditorDep, response: Response) -> dict[str, Any]:
    seg = service.create_segment(session, data=body)
    session.commit()
    session.refresh(seg)
    _etag(response, seg.version)
    return segment_feature(session, seg)


@router.get("/segments/{segment_id}", response_model=SegmentFeatureOut)
def get_segment(segment_id: int, session: SessionDep, actor: ReaderDep, response: Response) -> dict[str, Any]:
    seg = session.get(RouteSegment, segment_id)
    if seg is None:
        raise NotFound(what="segment", ref=segment_id)
    _etag(response, seg.version)
    return segment_feature(session, seg)


@router.patch("/segments/{segment_id}", response_model=SegmentFeatureOut)
def patch_segment(
    segment_id: int,
    body: SegmentPatch,
    session: SessionDep,
    actor: EditorDep,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    seg = service.update_segment(session, segment_id=segment_id, patch=body, expected_version=parse_if_match(if_match))
    session.commit()
    _etag(response, seg.version)
    return segment_feature(session, seg)


@router.delete(
    "/segments/{segment_id}",
    response_model=SegmentFeatureOut,
    summary="Decommission a segment (refused while it carries ducts)",
)
def delete_segment(segment_id: int, session: SessionDep, actor: EditorDep, if_match: IfMatch = None) -> dict[str, Any]:
    seg = service.delete_segment(session, segment_id=segment_id, expected_version=parse_if_match(if_match))
    session.commit()
    return segment_feature(session, seg)


@router.post(
    "/segments/{segment_id}/split", status_code=201, response_model=SplitOut, summary="Split a segment with a new node"
)
def split_segment(
    segment_id: int, body: SplitIn, session: SessionDep, actor: EditorDep, if_match: IfMatch = None
) -> dict[str, Any]:
    from ducting.network import topology

    point = topology.parse_point(body.geometry)
    version = parse_if_match(if_match) if if_match is not None else body.version
    result = service.split_segment(
        session,
        segment_id=segment_id,
        point=point,
        node_code=body.node_code,
        node_kind=body.node_kind,
        expected_version=version,
    )
    session.commit()
    return {
        "node": node_feature(session.get_one(Node, result.node_id)),
        "segments": [
            segment_feature(session, session.get_one(RouteSegment, i)) for i in (result.original_id, result.new_id)
        ],
        "subduct_map": {str(k): v for k, v in result.subduct_map.items()},
    }


@router.get("/segments/{segment_id}/history", response_model=list[HistoryEntry])
def segment_history(segment_id: int, session: SessionDep, actor: ReaderDep) -> list[dict[str, Any]]:
    return _history(session, "route_segment", segment_id)


@router.get("/segments/{segment_id}/ducts", response_model=list[DuctOut])
def list_ducts(segment_id: int, session: SessionDep, actor: ReaderDep) -> list[DuctOut]:
    if session.get(RouteSegment, segment_id) is None:
        raise NotFound(what="segment", ref=segment_id)
    ducts = session.scalars(select(Duct).where(Duct.segment_id == segment_id).order_by(Duct.position)).unique()
    return [duct_out(d) for d in ducts]


@router.post("/segments/{segment_id}/ducts", status_code=201, response_model=DuctOut)
def add_duct(segment_id: int, body: DuctIn, session: SessionDep, actor: EditorDep) -> DuctOut:
    duct = service.add_duct(session, segment_id=segment_id, placement=body)
    session.commit()
    session.refresh(duct)
    return duct_out(duct)


@router.get("/ducts/{duct_id}", response_model=DuctOut)
def get_duct(duct_id: int, session: SessionDep, actor: ReaderDep, response: Response) -> DuctOut:
    duct = session.get(Duct, duct_id)
    if duct is None:
        raise NotFound(what="duct", ref=duct_id)
    _etag(response, duct.version)
    return duct_out(duct)


@router.delete("/ducts/{duct_id}", response_model=DuctOut)
def remove_duct(duct_id: int, session: SessionDep, actor: EditorDep, if_match: IfMatch = None) -> DuctOut:
    duct = service.remove_duct(session, duct_id=duct_id, expected_version=parse_if_match(if_match))
    session.commit()
    return duct_out(duct)


@router.get("/ducts/{duct_id}/history", response_model=list[HistoryEntry])
def duct_history(duct_id: int, session: SessionDep, actor: ReaderDep) -> list[dict[str, Any]]:
    return _history(session, "duct", duct_id)


# -- catalogue, bulk, summary -------------------------------------------------------------------------------------
@router.get("/specs", response_model=list[DuctSpecOut], summary="Duct specification catalogue")
def list_specs(session: SessionDep, actor: ReaderDep) -> list[DuctSpecOut]:
    specs = session.scalars(select(DuctSpec).order_by(DuctSpec.code, DuctSpec.version)).unique()
    return [
        DuctSpecOut(
            id=s.id,
            code=s.code,
            version=s.version,
            name=s.name,
            kind=s.kind,
            size_class=s.size_class,
            outer_diameter_mm=s.outer_diameter_mm,
            inner_diameter_mm=s.inner_diameter_mm,
            material=s.material,
            children=[{"spec": c.child.code, "count": c.count} for c in s.children],
        )
        for s in specs
    ]


@router.post(
    "/bulk",
    response_model=BulkOut,
    response_model_exclude_unset=True,
    summary="Several edits in one transaction: all are applied, or none",
)
def bulk(body: BulkIn, session: SessionDep, actor: EditorDep) -> dict[str, Any]:
    results = service_bulk(session, body)
    session.commit()
    return {"applied": len(results), "results": results}


def service_bulk(session: Session, body: BulkIn) -> list[dict[str, Any]]:
    """Apply every operation in order inside one savepoint per operation; collect every failure with its index.
    Any failure rolls the whole batch back (the route commits only when none failed)."""
    from pydantic import ValidationError

    from ducting.errors import DomainError, validation_facts

    results: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for i, op in enumerate(body.operations):
        try:
            with session.begin_nested():
                results.append(_apply_op(session, op))
        except DomainError as exc:
            for e in exc.errors or [FieldError("", exc.code, exc.note, detail=exc.facts)]:
                errors.append(FieldError(f"operations/{i}/{e.path}".rstrip("/"), e.code, e.note, detail=e.detail))
        except ValidationError as exc:
            errors += [
                FieldError(
                    f"operations/{i}/data/" + "/".join(str(p) for p in err["loc"]),
                    err["type"],
                    err["msg"],
                    detail=validation_facts(err),
                )
                for err in exc.errors()
            ]
    if errors:
        raise InvalidInput(code="bulk_rejected", errors=errors, operations=len(body.operations))
    return results


def _apply_op(session: Session, op: Any) -> dict[str, Any]:
    if op.type == "node":
        if op.op == "create":
            node, _ = service.create_node(session, data=NodeIn.model_validate(op.data))
            return {"type": "node", "id": node.id, "code": node.code}
        if op.op == "update":
            node = service.update_node(
                session, node_id=_need_id(op), patch=NodePatch.model_validate(op.data), expected_version=op.version
            )
            return {"type": "node", "id": node.id, "version": node.version}
        node = service.delete_node(session, node_id=_need_id(op), expected_version=op.version)
        return {"type": "node", "id": node.id, "removed": True}
    if op.op == "create":
        seg = service.create_segment(session, data=SegmentIn.model_validate(op.data))
        return {"type": "segment", "id": seg.id, "code": seg.code}
    if op.op == "update":
        seg = service.update_segment(
            session, segment_id=_need_id(op), patch=SegmentPatch.model_validate(op.data), expected_version=op.version
        )
        return {"type": "segment", "id": seg.id, "version": seg.version}
    seg = service.delete_segment(session, segment_id=_need_id(op), expected_version=op.version)
    return {"type": "segment", "id": seg.id, "removed": True}


def _need_id(op: Any) -> int:
    if op.id is None:
        raise InvalidInput(code="id_required", op=op.op, what=op.type)
    return op.id


@router.get("/summary", response_model=Summary, summary="Km of route and duct, subducts by status, per kecamatan")
def network_summary(session: ReadSessionDep, actor: ReaderDep) -> dict[str, Any]:
    return queries.summary(session)
