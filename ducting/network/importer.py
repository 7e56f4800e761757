"""Importing a network file: every row checked against every rule, then written all at once, or not at all.

Layers: `nodes` (Points) and `segments` (LineStrings), found by name or, failing that, by geometry type.
Features are matched to the database by `code`: a new code is created, an identical one is unchanged, one with
other attributes is updated. Moving existing geometry by import is refused (`import_geometry_conflict`): moves
go through the editor, which keeps segment ends attached. Errors name the layer, the 1-based row and the rule.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.errors import FieldError, InvalidInput
from ducting.network.vocab import Lifecycle, NodeKind, TrenchType, ZoneClass
from ducting.settings import get_settings
from gis.crs import WGS84
from gis.geometry import check_lines, check_points, load_service_area, to_metric
from gis.snapping import match_endpoints, snap_line

Progress = Callable[[str, int, int], None]
# Shapefile cuts field names at 10 characters; accept the cut forms.
E = TypeVar("E", bound=StrEnum)
ALIASES = {"trench_typ": "trench_type", "install_da": "install_date", "start_nod": "start_node", "name": "code"}
SAME_PLACE_M = 0.01


class ImportRejected(InvalidInput):
    code = "import_rejected"


@dataclass
class Counts:
    create: int = 0
    update: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    dry_run: bool
    nodes: Counts = field(default_factory=Counts)
    segments: Counts = field(default_factory=Counts)
    ducts: int = 0
    subducts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "nodes": vars(self.nodes),
            "segments": vars(self.segments),
            "ducts": self.ducts,
            "subducts": self.subducts,
        }


@dataclass
class _Ctx:
    session: Session
    errors: list[FieldError]
    orgs: dict[str, int]
    specs: dict[str, tuple[int, list[int]]]  # code -> (spec id, bore spec ids)
    tolerance_m: float

    def fail(self, layer: str, row: int, code: str, **facts: Any) -> None:
        self.errors.append(FieldError(f"{layer}/{row}", code, row=row, **facts))


def _noop(stage: str, done: int, total: int) -> None:
    return None


def import_layers(
    session: Session, layers: dict[str, gpd.GeoDataFrame], *, dry_run: bool, progress: Progress = _noop
) -> ImportReport:
    """Check everything, then (unless `dry_run`) write. Raises ImportRejected with every fault. Does not commit."""
    settings = get_settings()
    nodes_gdf, segments_gdf = _pick_layers(layers)
    limit = settings.api.max_import_features
    if len(nodes_gdf) + len(segments_gdf) > limit:
        raise ImportRejected(code="too_many_rows", rows=len(nodes_gdf) + len(segments_gdf), limit=limit)
    ctx = _Ctx(session, [], _org_codes(session), _spec_layouts(session), settings.topology.snap_tolerance_m)
    report = ImportReport(dry_run=dry_run)
    progress("checking nodes", 0, len(nodes_gdf))
    nodes = _check_nodes(ctx, nodes_gdf, report)
    progress("checking segments", 0, len(segments_gdf))
    segments = _check_segments(ctx, segments_gdf, nodes, report)
    if ctx.errors:
        raise ImportRejected(errors=ctx.errors)
    report.ducts = sum(len(s["ducts"]) for s in segments if s["action"] == "create")
    report.subducts = sum(len(ctx.specs[d["spec"]][1]) for s in segments if s["action"] == "create" for d in s["ducts"])
    if not dry_run:
        _write(ctx, nodes, segments, progress)
    return report


# -- reading ------------------------------------------------------------------------------------------------------
def _pick_layers(layers: dict[str, gpd.GeoDataFrame]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    picked: dict[str, list[gpd.GeoDataFrame]] = {"nodes": [], "segments": []}
    for name, gdf in layers.items():
        gdf = gdf.rename(columns={c: ALIASES.get(c.lower(), c.lower()) for c in gdf.columns if c != "geometry"})
        if name.lower() in picked:
            picked[name.lower()].append(gdf)
            continue
        types = set(gdf.geom_type.dropna()) if len(gdf) else set()
        unsupported = types - {"Point", "LineString", "MultiLineString"}
        if unsupported:
            raise ImportRejected(code="unsupported_layer", layer=name, types=sorted(unsupported))
        # One layer may hold both (a GeoJSON or KML from the field): points are nodes, lines are segments.
        is_point = (gdf.geom_type == "Point").to_numpy()
        if is_point.any():
            picked["nodes"].append(gdf[is_point])
        if (~is_point).any():
            picked["segments"].append(gdf[~is_point])
    empty = gpd.GeoDataFrame({"_row": []}, geometry=gpd.GeoSeries([], crs=WGS84))
    out = []
    for key in ("nodes", "segments"):
        frames = picked[key]
        if len(frames) > 1:
            raise ImportRejected(code="ambiguous_layers", layer=key)
        out.append(frames[0] if frames else empty)
    if not len(out[0]) and not len(out[1]):
        raise ImportRejected(code="empty_import")
    return out[0], out[1]


def _org_codes(session: Session) -> dict[str, int]:
    """Organisation ids by code, and by lower-cased code and name (files from the field often carry names)."""
    rows = session.execute(text("SELECT code, name, id FROM organisation")).all()
    out = {r.code: r.id for r in rows}
    out.update({r.code.lower(): r.id for r in rows} | {r.name.lower(): r.id for r in rows})
    return out


def _spec_layouts(session: Session) -> dict[str, tuple[int, list[int]]]:
    from sqlalchemy import select

    from ducting.network.models import DuctSpec
    from ducting.network.service import subduct_layout

    specs = session.scalars(select(DuctSpec).where(DuctSpec.retired_on.is_(None)).order_by(DuctSpec.version)).unique()
    return {s.code: (s.id, [b.id for b in subduct_layout(s)]) for s in specs}  # the latest version wins


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    out = str(value).strip()
    return out or None


def _enum(ctx: _Ctx, layer: str, row: int, name: str, value: Any, enum: type[E], default: E) -> E:
    raw = _text(value)
    if raw is None:
        return default
    try:
        return enum(raw)
    except ValueError:
        ctx.fail(layer, row, "value_invalid", column=name, value=raw, allowed=[e.value for e in enum])
        return default


def _date(ctx: _Ctx, layer: str, row: int, value: Any) -> date | None:
    raw = _text(value)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        ctx.fail(layer, row, "value_invalid", column="install_date", value=raw, expected="date")
        return None


def _owner(ctx: _Ctx, layer: str, row: int, value: Any) -> int | None:
    raw = _text(value)
    if raw is None:
        return None
    found = ctx.orgs.get(raw, ctx.orgs.get(raw.lower()))
    if found is None:
        ctx.fail(layer, row, "organisation_not_found", column="owner", value=raw)
    return found


def _faults(ctx: _Ctx, layer: str, rows: list[int], faults: list[list[Any]]) -> np.ndarray:
    ok = np.ones(len(rows), dtype=bool)
    for i, fs in enumerate(faults):
        for f in fs:
            ctx.fail(layer, rows[i], f.code, **f.detail)
            ok[i] = False
    return ok


# -- nodes --------------------------------------------------------------------------------------------------------
def _check_nodes(ctx: _Ctx, gdf: gpd.GeoDataFrame, report: ImportReport) -> dict[str, dict[str, Any]]:
    """Valid nodes of the file by code, each with its action; faults go to ctx.errors."""
    area = load_service_area(get_settings().topology.service_area_buffer_m)
    rows = [int(r) for r in gdf["_row"]] if len(gdf) else []
    ok = (
        _faults(ctx, "nodes", rows, check_points(list(gdf.geometry), service_area=area)) if rows else np.array([], bool)
    )
    existing = {
        r.code: r
        for r in ctx.session.execute(
            text(
                "SELECT code, id, kind::text, status::text, owner_id, install_date, ST_X(geom) x, ST_Y(geom) y FROM node"
                " WHERE removed_at IS NULL AND code = ANY(:codes)"
            ),
            {"codes": [c for c in (_text(v) for v in gdf.get("code", [])) if c]},
        )
    }
    nodes: dict[str, dict[str, Any]] = {}
    for i, (row, geom) in enumerate(zip(rows, gdf.geometry)):
        rec = gdf.iloc[i]
        code = _text(rec.get("code"))
        if code is None:
            ctx.fail("nodes", row, "value_missing", column="code")
            continue
        if code in nodes:
            ctx.fail("nodes", row, "value_repeated", column="code", value=code, other_row=nodes[code]["row"])
            continue
        item = {
            "row": row,
            "code": code,
            "geom": geom,
            "kind": _enum(ctx, "nodes", row, "kind", rec.get("kind"), NodeKind, NodeKind.MANHOLE),
            "status": _enum(ctx, "nodes", row, "status", rec.get("status"), Lifecycle, Lifecycle.OPERATIONAL),
            "owner_id": _owner(ctx, "nodes", row, rec.get("owner")),
            "install_date": _date(ctx, "nodes", row, rec.get("install_date")),
            "notes": _text(rec.get("notes")),
        }
        item["action"] = _node_action(ctx, row, item, existing.get(code)) if ok[i] else "invalid"
        nodes[code] = item
    _check_node_spacing(ctx, nodes)
    for item in nodes.values():
        if item["action"] in ("create", "update", "unchanged"):
            setattr(report.nodes, item["action"], getattr(report.nodes, item["action"]) + 1)
    return nodes


def _node_action(ctx: _Ctx, row: int, item: dict[str, Any], current: Any) -> str:
    if current is None:
        return "create"
    moved = _metres(Point(current.x, current.y), item["geom"])
    if moved > SAME_PLACE_M:
        ctx.fail("nodes", row, "import_geometry_conflict", node=item["code"], distance_m=round(moved, 3))
        return "invalid"
    item["id"] = current.id
    same = (
        current.kind == item["kind"]
        and current.status == item["status"]
        and current.owner_id == item["owner_id"]
        and current.install_date == item["install_date"]
    )
    return "unchanged" if same else "update"


def _metres(a: Any, b: Any) -> float:
    return float(shapely.distance(to_metric(a), to_metric(b)))


def _check_node_spacing(ctx: _Ctx, nodes: dict[str, dict[str, Any]]) -> None:
    """A new node within the snap tolerance of another node (in the file or the database) is a duplicate."""
    new = [n for n in nodes.values() if n["action"] == "create"]
    if not new:
        return
    db = ctx.session.execute(text("SELECT code, ST_X(geom) x, ST_Y(geom) y FROM node WHERE removed_at IS NULL")).all()
    others = [(r.code, Point(r.x, r.y)) for r in db] + [
        (n["code"], n["geom"]) for n in nodes.values() if n["action"] in ("create", "update", "unchanged")
    ]
    tree = shapely.STRtree(to_metric(np.array([p for _, p in others], dtype=object)))
    pts = to_metric(np.array([n["geom"] for n in new], dtype=object))
    src, hit = tree.query(pts, predicate="dwithin", distance=ctx.tolerance_m)
    for s, h in zip(src, hit):
        item, (other_code, _) = new[s], others[h]
        if other_code != item["code"]:
            ctx.fail(
                "nodes", item["row"], "node_duplicate", node=item["code"], other=other_code, tolerance_m=ctx.tolerance_m
            )
            item["action"] = "invalid"


# -- segments -----------------------------------------------------------------------------------------------------
def _check_segments(
    ctx: _Ctx, gdf: gpd.GeoDataFrame, nodes: dict[str, dict[str, Any]], report: ImportReport
) -> list[dict[str, Any]]:
    settings = get_settings().topology
    area = load_service_area(settings.service_area_buffer_m)
    if not len(gdf):
        return []
    geoms = [
        g if g is None or g.geom_type != "MultiLineString" or len(g.geoms) != 1 else g.geoms[0] for g in gdf.geometry
    ]
    rows = [int(r) for r in gdf["_row"]]
    ok = _faults(
        ctx, "segments", rows, check_lines(geoms, service_area=area, min_length_m=settings.min_segment_length_m)
    )
    targets = _snap_targets(ctx, nodes)
    lines = [g if ok[i] else LineString() for i, g in enumerate(geoms)]
    starts, ends = match_endpoints(lines, [t[2] for t in targets], ctx.tolerance_m)
    existing = _existing_segments(ctx, gdf)
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        rec = gdf.iloc[i]
        item = _segment_attrs(ctx, row, rec)
        if item is None:
            continue
        if item["code"] in seen:
            ctx.fail("segments", row, "value_repeated", column="code", value=item["code"], other_row=seen[item["code"]])
            continue
        seen[item["code"]] = row
        if not ok[i]:
            continue
        ends_ok = _snap_item(ctx, row, item, lines[i], targets, starts[i], ends[i], rec)
        if not ends_ok:
            continue
        item["action"] = _segment_action(ctx, row, item, existing.get(item["code"]))
        out.append(item)
    _check_duplicates(ctx, out)
    for item in out:
        if item["action"] in ("create", "update", "unchanged"):
            setattr(report.segments, item["action"], getattr(report.segments, item["action"]) + 1)
    return out


def _snap_targets(ctx: _Ctx, nodes: dict[str, dict[str, Any]]) -> list[tuple[str, int | None, Point]]:
    """(code, database id or None, point) of every node a segment may end on."""
    db = ctx.session.execute(
        text("SELECT code, id, ST_X(geom) x, ST_Y(geom) y FROM node WHERE removed_at IS NULL")
    ).all()
    targets = {r.code: (r.code, r.id, Point(r.x, r.y)) for r in db}
    for n in nodes.values():
        if n["action"] in ("create", "update", "unchanged"):
            targets[n["code"]] = (n["code"], n.get("id"), n["geom"])
    return list(targets.values())


def _segment_attrs(ctx: _Ctx, row: int, rec: Any) -> dict[str, Any] | None:
    code = _text(rec.get("code"))
    if code is None:
        ctx.fail("segments", row, "value_missing", column="code")
        return None
    depth = _text(rec.get("depth_m"))
    depth_m = None
    if depth is not None:
        try:
            depth_m = Decimal(depth).quantize(Decimal("0.01"))
            if not Decimal(0) < depth_m < Decimal(10):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            ctx.fail("segments", row, "value_out_of_range", column="depth_m", value=depth, low=0, high=10)
    return {
        "row": row,
        "code": code,
        "depth_m": depth_m,
        "status": _enum(ctx, "segments", row, "status", rec.get("status"), Lifecycle, Lifecycle.OPERATIONAL),
        "trench_type": _enum(
            ctx, "segments", row, "trench_type", rec.get("trench_type"), TrenchType, TrenchType.OPEN_CUT
        ),
        "zone_class": _enum(
            ctx, "segments", row, "zone_class", rec.get("zone_class"), ZoneClass, ZoneClass.RESIDENTIAL
        ),
        "owner_id": _owner(ctx, "segments", row, rec.get("owner")),
        "install_date": _date(ctx, "segments", row, rec.get("install_date")),
        "notes": _text(rec.get("notes")),
        "ducts": _ducts(ctx, row, rec.get("ducts")),
    }


def _ducts(ctx: _Ctx, row: int, value: Any) -> list[dict[str, Any]]:
    raw = value if isinstance(value, list) else _text(value)
    if raw is None:
        return []
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise ValueError
    except ValueError:
        ctx.fail("segments", row, "value_invalid", column="ducts", expected="ducts_json")
        return []
    out = []
    for k, item in enumerate(items):
        spec = item.get("spec") if isinstance(item, dict) else item
        reserve = item.get("reserve", 0) if isinstance(item, dict) else 0
        if spec not in ctx.specs:
            ctx.fail("segments", row, "not_found", what="spec", ref=str(spec)[:60], column="ducts", duct=k + 1)
            continue
        if not isinstance(reserve, int) or not 0 <= reserve <= len(ctx.specs[spec][1]):
            ctx.fail(
                "segments",
                row,
                "reserve_too_large",
                column="ducts",
                duct=k + 1,
                reserve=str(reserve)[:20],
                spec=spec,
                subducts=len(ctx.specs[spec][1]),
            )
            continue
        out.append({"spec": spec, "reserve": reserve})
    return out


def _snap_item(
    ctx: _Ctx, row: int, item: dict[str, Any], line: LineString, targets: list, start: Any, end: Any, rec: Any
) -> bool:
    chosen = []
    for which, match, named in (
        ("start", start, _text(rec.get("start_node"))),
        ("end", end, _text(rec.get("end_node"))),
    ):
        if match.index is None:
            ctx.fail(
                "segments",
                row,
                "segment_not_snapped",
                segment=item["code"],
                end=which,
                distance_m=round(match.distance_m, 3) if math.isfinite(match.distance_m) else None,
                tolerance_m=ctx.tolerance_m,
            )
            return False
        code = targets[match.index][0]
        if named is not None and named != code:
            ctx.fail("segments", row, "segment_not_snapped", segment=item["code"], end=which, node=code, named=named)
            return False
        chosen.append(targets[match.index])
    if chosen[0][0] == chosen[1][0]:
        ctx.fail("segments", row, "segment_same_node", segment=item["code"], node=chosen[0][0])
        return False
    item["start"], item["end"] = chosen[0][0], chosen[1][0]
    item["geom"] = snap_line(line, chosen[0][2], chosen[1][2])
    return True


def _existing_segments(ctx: _Ctx, gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    codes = [c for c in (_text(v) for v in gdf.get("code", [])) if c]
    rows = ctx.session.execute(
        text("""
        SELECT s.code, s.id, a.code AS start, b.code AS end, s.status::text, s.trench_type::text, s.depth_m,
               s.zone_class::text, s.owner_id, s.install_date, ST_AsBinary(s.geom) AS wkb
        FROM route_segment s JOIN node a ON a.id = s.start_node_id JOIN node b ON b.id = s.end_node_id
        WHERE s.removed_at IS NULL AND s.code = ANY(:codes)"""),
        {"codes": codes},
    )
    return {r.code: r for r in rows}


def _segment_action(ctx: _Ctx, row: int, item: dict[str, Any], current: Any) -> str:
    if current is None:
        return "create"
    geom = shapely.from_wkb(bytes(current.wkb))
    if (current.start, current.end) != (item["start"], item["end"]) or shapely.hausdorff_distance(
        to_metric(geom), to_metric(item["geom"])
    ) > SAME_PLACE_M:
        ctx.fail("segments", row, "import_geometry_conflict", segment=item["code"])
        return "invalid"
    item["id"] = current.id
    same = (
        current.status == item["status"]
        and current.trench_type == item["trench_type"]
        and current.depth_m == item["depth_m"]
        and current.zone_class == item["zone_class"]
        and current.owner_id == item["owner_id"]
        and current.install_date == item["install_date"]
    )
    return "unchanged" if same else "update"


def _check_duplicates(ctx: _Ctx, items: list[dict[str, Any]]) -> None:
    """Two live segments joining the same two nodes along overlapping geometry (in the file or vs the database)."""
    pairs: dict[frozenset[str], list[tuple[str, Any, int | None]]] = defaultdict(list)
    for r in ctx.session.execute(
        text("""
        SELECT s.code, a.code AS start, b.code AS end, ST_AsBinary(s.geom) AS wkb
        FROM route_segment s JOIN node a ON a.id = s.start_node_id JOIN node b ON b.id = s.end_node_id
        WHERE s.removed_at IS NULL AND (a.code = ANY(:codes) OR b.code = ANY(:codes))"""),
        {"codes": list({c for i in items if i["action"] == "create" for c in (i["start"], i["end"])})},
    ):
        pairs[frozenset((r.start, r.end))].append((r.code, shapely.from_wkb(bytes(r.wkb)), None))
    for item in items:
        if item["action"] in ("create",):
            key = frozenset((item["start"], item["end"]))
            for code, geom, row in pairs[key]:
                if code != item["code"] and _overlap_m(geom, item["geom"]) > 1.0:
                    ctx.fail(
                        "segments", item["row"], "segment_duplicate", segment=item["code"], other=code, other_row=row
                    )
                    item["action"] = "invalid"
                    break
            pairs[key].append((item["code"], item["geom"], item["row"]))


def _overlap_m(a: Any, b: Any) -> float:
    return float(shapely.length(shapely.intersection(to_metric(a), to_metric(b))))


# -- writing ------------------------------------------------------------------------------------------------------
def _ewkb(geom: Any) -> str:
    return shapely.to_wkb(shapely.set_srid(geom, WGS84), hex=True, include_srid=True)


def _write(ctx: _Ctx, nodes: dict[str, dict[str, Any]], segments: list[dict[str, Any]], progress: Progress) -> None:
    conn = ctx.session.connection().connection.driver_connection
    assert conn is not None  # a checked-out connection always has its psycopg connection
    new_nodes = [n for n in nodes.values() if n["action"] == "create"]
    progress("writing nodes", 0, len(new_nodes))
    with conn.cursor() as cur:
        with cur.copy("COPY node (code, kind, status, owner_id, install_date, notes, geom) FROM STDIN") as copy:
            for n in new_nodes:
                copy.write_row(
                    (
                        n["code"],
                        n["kind"].value,
                        n["status"].value,
                        n["owner_id"],
                        n["install_date"],
                        n["notes"],
                        _ewkb(n["geom"]),
                    )
                )
        _update_rows(
            cur,
            "node",
            [n for n in nodes.values() if n["action"] == "update"],
            ("kind", "status", "owner_id", "install_date"),
        )
        node_ids = dict(cur.execute("SELECT code, id FROM node WHERE removed_at IS NULL").fetchall())
        new_segments = [s for s in segments if s["action"] == "create"]
        progress("writing segments", 0, len(new_segments))
        with cur.copy(
            "COPY route_segment (code, start_node_id, end_node_id, status, trench_type, depth_m, zone_class,"
            " owner_id, install_date, notes, geom) FROM STDIN"
        ) as copy:
            for s in new_segments:
                copy.write_row(
                    (
                        s["code"],
                        node_ids[s["start"]],
                        node_ids[s["end"]],
                        s["status"].value,
                        s["trench_type"].value,
                        s["depth_m"],
                        s["zone_class"].value,
                        s["owner_id"],
                        s["install_date"],
                        s["notes"],
                        _ewkb(s["geom"]),
                    )
                )
        _update_rows(
            cur,
            "route_segment",
            [s for s in segments if s["action"] == "update"],
            ("status", "trench_type", "depth_m", "zone_class", "owner_id", "install_date"),
        )
        progress("writing ducts", 0, len(new_segments))
        _write_ducts(ctx, cur, new_segments)
    progress("done", 1, 1)


def _update_rows(cur: Any, table: str, items: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    casts = {"kind": "node_kind", "status": "lifecycle", "trench_type": "trench_type", "zone_class": "zone_class"}
    sets = ", ".join(f"{c} = %({c})s" + (f"::{casts[c]}" if c in casts else "") for c in columns)
    for item in items:
        params = {c: (item[c].value if hasattr(item[c], "value") else item[c]) for c in columns} | {"id": item["id"]}
        cur.execute(f"UPDATE {table} SET {sets} WHERE id = %(id)s", params)


def _write_ducts(ctx: _Ctx, cur: Any, segments: list[dict[str, Any]]) -> None:
    codes = [s["code"] for s in segments if s["ducts"]]
    if not codes:
        return
    seg_ids = dict(cur.execute("SELECT code, id FROM route_segment WHERE code = ANY(%s)", (codes,)).fetchall())
    with cur.copy("COPY duct (segment_id, position, spec_id) FROM STDIN") as copy:
        for s in segments:
            for pos, d in enumerate(s["ducts"], start=1):
                copy.write_row((seg_ids[s["code"]], pos, ctx.specs[d["spec"]][0]))
    duct_ids = {
        (sid, pos): did
        for did, sid, pos in cur.execute(
            "SELECT id, segment_id, position FROM duct WHERE segment_id = ANY(%s)", (list(seg_ids.values()),)
        ).fetchall()
    }
    with cur.copy("COPY subduct (duct_id, segment_id, position, spec_id, is_reserved) FROM STDIN") as copy:
        for s in segments:
            sid = seg_ids.get(s["code"])
            for pos, d in enumerate(s["ducts"], start=1):
                bores = ctx.specs[d["spec"]][1]
                first_reserved = len(bores) - d["reserve"] + 1
                for k, bore in enumerate(bores, start=1):
                    copy.write_row((duct_ids[(sid, pos)], sid, k, bore, k >= first_reserved))
