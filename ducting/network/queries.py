"""Read queries. Feature collections are built as JSON text inside PostGIS and passed through untouched:
no Python object per feature. `as_of` reads the versioned history tables: the row valid at that instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import WGS84


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    table: str
    properties_sql: str  # a json_build_object(...) over alias `t`
    versioned: bool = True
    columns: str = "*"
    filters: tuple[str, ...] = ()  # property names usable as ?name=value


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            id="nodes",
            title="Nodes (manholes, handholes, poles, cabinets, building entries)",
            description="Network nodes of the shared duct network (ducting bersama).",
            table="node",
            properties_sql="json_build_object('code', t.code, 'kind', t.kind, 'status', t.status,"
            " 'owner_id', t.owner_id, 'install_date', t.install_date,"
            " 'kecamatan', t.kecamatan_kode, 'kelurahan', t.kelurahan_kode, 'version', t.version)",
            filters=("code", "kind", "status", "kecamatan_kode", "kelurahan_kode"),
        ),
        Collection(
            id="segments",
            title="Route segments (duct routes between nodes)",
            description="Edges of the duct network graph; length_m is the spheroid length in metres.",
            table="route_segment",
            properties_sql="json_build_object('code', t.code, 'start_node_id', t.start_node_id,"
            " 'end_node_id', t.end_node_id, 'status', t.status, 'trench_type', t.trench_type,"
            " 'depth_m', t.depth_m, 'zone_class', t.zone_class, 'length_m', t.length_m,"
            " 'kecamatan', t.kecamatan_kode, 'kelurahan', t.kelurahan_kode, 'version', t.version)",
            filters=("code", "status", "zone_class", "trench_type", "kecamatan_kode", "kelurahan_kode"),
        ),
        Collection(
            id="kecamatan",
            title="Kecamatan (districts) of Kota Batam",
            description="Boundaries: MIT, (c) 2024 Cahya DSN, github.com/cahyadsn/wilayah_boundaries.",
            table="admin_area",
            versioned=False,
            properties_sql="json_build_object('kode', t.kode, 'nama', t.nama)",
            filters=("kode", "nama"),
        ),
        Collection(
            id="kelurahan",
            title="Kelurahan (urban villages) of Kota Batam",
            description="Boundaries: MIT, (c) 2024 Cahya DSN, github.com/cahyadsn/wilayah_boundaries.",
            table="admin_area",
            versioned=False,
            properties_sql="json_build_object('kode', t.kode, 'nama', t.nama, 'kecamatan', t.parent_kode)",
            filters=("kode", "nama", "parent_kode"),
        ),
    )
}


def _source(col: Collection, as_of: datetime | None, params: dict[str, Any]) -> tuple[str, str]:
    """FROM clause and base WHERE for a collection, current or as it was at `as_of`."""
    if col.table == "admin_area":
        level = "kecamatan" if col.id == "kecamatan" else "kelurahan"
        return "admin_area t", f"t.level = '{level}'"
    if as_of is None:
        return f"{col.table} t", "t.removed_at IS NULL"
    params["as_of"] = as_of
    cols = _shared_columns(col.table)
    src = (
        f"(SELECT {cols} FROM {col.table} WHERE lower(sys_period) <= :as_of"
        f" UNION ALL SELECT {cols} FROM {col.table}_history WHERE sys_period @> CAST(:as_of AS timestamptz)) t"
    )
    return src, "t.removed_at IS NULL"


_COLUMNS = {
    "node": "id, code, kind, status, owner_id, install_date, kecamatan_kode, kelurahan_kode, removed_at, version, geom",
    "route_segment": "id, code, start_node_id, end_node_id, status, trench_type, depth_m, zone_class, length_m,"
    " kecamatan_kode, kelurahan_kode, removed_at, version, geom",
}


def _shared_columns(table: str) -> str:
    return _COLUMNS[table]


def feature_page(
    session: Session,
    col: Collection,
    *,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
    offset: int,
    as_of: datetime | None,
    equals: dict[str, str],
) -> tuple[str, int, bool]:
    """One page of features as a JSON array text, how many it holds, and whether a next page exists."""
    params: dict[str, Any] = {"fetch": limit + 1, "page": limit, "offset": offset, "srid": WGS84}
    source, where = _source(col, as_of, params)
    clauses = [where]
    if bbox is not None:
        # Transform nothing on the column: the envelope is already in the stored CRS, so the GiST index is used.
        clauses.append("t.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, :srid)")
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
    for i, (name, value) in enumerate(equals.items()):
        clauses.append(f"t.{name}::text = :eq{i}")
        params[f"eq{i}"] = value
    key = "t.kode" if col.table == "admin_area" else "t.id"
    sql = f"""
        WITH page AS (
            SELECT {key} AS fid, t.geom, {col.properties_sql} AS props, row_number() OVER (ORDER BY {key}) AS rn
            FROM (SELECT * FROM {source} WHERE {" AND ".join(clauses)} ORDER BY {key} LIMIT :fetch OFFSET :offset) t
        )
        SELECT coalesce(string_agg('{{"type":"Feature","id":' || to_json(fid)::text || ',"geometry":'
                        || ST_AsGeoJSON(geom, 7) || ',"properties":' || props::text || '}}', ',' ORDER BY rn)
                        FILTER (WHERE rn <= :page), '') AS features,
               count(*) FILTER (WHERE rn <= :page) AS returned, count(*) FILTER (WHERE rn > :page) AS more
        FROM page"""
    row = session.execute(text(sql), params).one()
    return "[" + row.features + "]", int(row.returned), bool(row.more)


def feature_one(session: Session, col: Collection, fid: str, *, as_of: datetime | None) -> str | None:
    params: dict[str, Any] = {"fid": fid}
    source, where = _source(col, as_of, params)
    key = "t.kode" if col.table == "admin_area" else "t.id::text"
    sql = f"""SELECT json_build_object('type', 'Feature', 'id', {"t.kode" if col.table == "admin_area" else "t.id"},
                  'geometry', ST_AsGeoJSON(t.geom, 7)::json, 'properties', {col.properties_sql})::text
              FROM {source} WHERE {where} AND {key} = :fid"""
    return session.execute(text(sql), params).scalar()


def collection_extent(session: Session, col: Collection) -> list[float] | None:
    source, where = _source(col, None, {})
    box = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(t.geom) e FROM {source} WHERE {where}) x"
        )
    ).one()
    return None if box[0] is None else [round(float(v), 6) for v in box]


# -- history ------------------------------------------------------------------------------------------------------
IGNORED_IN_DIFF = {"sys_period", "updated_at", "updated_by", "version", "geom_m"}


def history(session: Session, table: str, row_id: int) -> list[dict[str, Any]]:
    """Every recorded change of one row, oldest first, with only the fields that changed."""
    rows = session.execute(
        text("""
        SELECT l.at, l.action, l.account_id, a.username, l.request_id, l.old, l.new
        FROM audit_log l LEFT JOIN account a ON a.id = l.account_id
        WHERE l.table_name = :t AND l.row_id = :id ORDER BY l.id"""),
        {"t": table, "id": str(row_id)},
    ).all()
    out = []
    for r in rows:
        old, new = r.old or {}, r.new or {}
        keys = (set(old) | set(new)) - IGNORED_IN_DIFF
        changes = {k: {"old": old.get(k), "new": new.get(k)} for k in sorted(keys) if old.get(k) != new.get(k)}
        out.append(
            {
                "at": r.at,
                "action": r.action,
                "version": (new or old).get("version"),
                "account_id": r.account_id,
                "username": r.username,
                "request_id": r.request_id,
                "changes": changes,
            }
        )
    return out


# -- summary ------------------------------------------------------------------------------------------------------
def summary(session: Session) -> dict[str, Any]:
    route_km, duct_km = session.execute(
        text("""
        SELECT coalesce(sum(s.length_m), 0) / 1000,
               coalesce(sum(s.length_m * (SELECT count(*) FROM duct d WHERE d.segment_id = s.id
                                            AND d.status <> 'decommissioned')), 0) / 1000
        FROM route_segment s WHERE s.removed_at IS NULL""")
    ).one()
    nodes: dict[str, int] = dict(
        session.execute(
            text("SELECT kind::text, count(*) FROM node WHERE removed_at IS NULL GROUP BY kind ORDER BY kind")
        ).all()
    )
    subducts: dict[str, int] = dict(
        session.execute(
            text("""
        SELECT CASE WHEN sd.is_reserved THEN 'reserved' ELSE sd.status::text END, count(*)
        FROM subduct sd JOIN route_segment s ON s.id = sd.segment_id
        WHERE s.removed_at IS NULL AND sd.status <> 'decommissioned' GROUP BY 1 ORDER BY 1""")
        ).all()
    )
    by_kec = [
        dict(r._mapping)
        for r in session.execute(
            text("""
        SELECT k.kode, k.nama,
               round(coalesce(sum(s.length_m), 0) / 1000, 3) AS route_km,
               count(s.id) AS segments,
               coalesce(sum((SELECT count(*) FROM subduct sd WHERE sd.segment_id = s.id
                              AND sd.status <> 'decommissioned')), 0) AS subducts
        FROM admin_area k LEFT JOIN route_segment s ON s.kecamatan_kode = k.kode AND s.removed_at IS NULL
        WHERE k.level = 'kecamatan' GROUP BY k.kode, k.nama ORDER BY k.kode""")
        )
    ]
    return {
        "route_km": round(route_km, 3),
        "duct_km": round(duct_km, 3),
        "nodes_by_kind": nodes,
        "subducts_by_status": subducts,
        "by_kecamatan": by_kec,
    }
