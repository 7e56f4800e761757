"""No-overhead zones: polygons where overhead cable is prohibited, drawn one at a time or imported from a file.

Files are whatever `gis.io.read_layers` reads (GeoJSON, GeoPackage, KML/KMZ, zipped Shapefile, CSV with WKT), in
EPSG:4326 unless the file names its CRS. Each feature is one zone: a Polygon or MultiPolygon, its name in `name`
(or `nama`, `zona`, `zone`; a KML placemark's <name>), optionally `reason` (`alasan`, `keterangan`,
`description`) and `active` (`aktif`: yes/no, default yes).

Every row is checked before anything is written (`gis.geometry.check_polygons`: type, swapped axes, service area,
validity, size; a name; no name twice in the file), and every fault comes back with its row; one fault anywhere
and nothing is written. A row whose name matches an existing zone (case and spacing ignored) updates that zone;
the rest create zones. `dry_run` reports what would happen.

A zone that appears, moves or is switched off changes which spans break `no_overhead_zone`, so the spans under the
old and the new shapes are re-evaluated in the same transaction: their flags open or resolve with the zone.
Nothing here commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.compliance.evaluation import EvaluationReport, Scope, evaluate
from ducting.errors import FieldError, InvalidInput, NotFound, read_faults
from gis.crs import UTM48N, WGS84
from gis.geometry import GeometryRejected, check_polygons, load_service_area, shape_from_geojson
from gis.io import ReadError, read_layers

NAME_COLUMNS = ("name", "nama", "zona", "zone")
REASON_COLUMNS = ("reason", "alasan", "keterangan", "description")
ACTIVE_COLUMNS = ("active", "aktif")
MAX_ZONES_PER_FILE = 2_000
_TRUE = {"1", "true", "yes", "y", "ya", "t", "aktif"}
_FALSE = {"0", "false", "no", "n", "tidak", "f", "nonaktif"}


class ZonesRejected(InvalidInput):
    code = "import_rejected"


@dataclass
class _Row:
    layer: str
    row: int
    name: str
    reason: str | None
    active: bool
    geom: MultiPolygon
    action: str = "create"
    zone_id: int | None = None
    old_wkb: bytes | None = None


@dataclass
class ZoneImportReport:
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    evaluation: EvaluationReport | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "evaluation"}
        out["evaluation"] = None if self.evaluation is None else self.evaluation.as_dict()
        return out


@dataclass
class ZoneWritten:
    zone_id: int
    name: str
    evaluation: EvaluationReport | None


def read_zone_file(data: bytes, filename: str, *, crs: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The file's layers, or ZonesRejected with the reader's faults by row."""
    try:
        return read_layers(data, filename, crs=crs)
    except ReadError as exc:
        errors = read_faults(exc)
        raise ZonesRejected(code=exc.code if not errors else None, errors=errors, **exc.facts) from None


def import_zones(
    session: Session, *, layers: dict[str, gpd.GeoDataFrame], dry_run: bool, account_id: int | None
) -> ZoneImportReport:
    """Check every feature, then create or update the zones and re-evaluate the spans they cover (unless
    `dry_run`). Raises ZonesRejected listing every fault. Does not commit."""
    rows, errors = _parse(layers)
    if sum(len(f) for f in layers.values()) > MAX_ZONES_PER_FILE:
        raise ZonesRejected(code="too_many_rows", rows=sum(len(f) for f in layers.values()), limit=MAX_ZONES_PER_FILE)
    if not rows and not errors:
        raise ZonesRejected(code="zones_empty")
    errors += _match_existing(session, rows, multi_layer=len(layers) > 1)
    if errors:
        raise ZonesRejected(errors=errors)
    report = ZoneImportReport(
        dry_run=dry_run,
        created=sum(r.action == "create" for r in rows),
        updated=sum(r.action == "update" for r in rows),
        unchanged=sum(r.action == "unchanged" for r in rows),
    )
    if not dry_run:
        _write(session, rows, account_id)
        changed = [r for r in rows if r.action != "unchanged"]
        shapes = [r.geom.wkb for r in changed] + [r.old_wkb for r in changed if r.old_wkb is not None]
        report.evaluation = reevaluate_under(session, shapes, account_id=account_id)
    report.rows = [
        {"layer": r.layer, "row": r.row, "name": r.name, "action": r.action, "zone_id": r.zone_id} for r in rows
    ]
    return report


def _path(layer: str, row: int, multi_layer: bool) -> str:
    return f"{layer}/rows/{row}" if multi_layer else f"rows/{row}"


def _columns(frame: gpd.GeoDataFrame, names: tuple[str, ...]) -> list[Any]:
    """The frame's columns that may hold one attribute, in order of preference (case ignored)."""
    lowered = {str(c).strip().lower(): c for c in frame.columns if c != "geometry"}
    return [lowered[n] for n in names if n in lowered]


def _first(rec: dict[str, Any], columns: list[Any]) -> tuple[Any, str]:
    """The first non-empty value among `columns`, and its column."""
    return next(((c, v) for c in columns if (v := _text(rec.get(c)))), (columns[0] if columns else None, ""))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _parse(layers: dict[str, gpd.GeoDataFrame]) -> tuple[list[_Row], list[FieldError]]:
    area = load_service_area()
    multi = len(layers) > 1
    rows: list[_Row] = []
    errors: list[FieldError] = []
    seen: dict[str, tuple[str, int]] = {}
    for layer, frame in layers.items():
        name_cols, reason_cols, active_cols = (
            _columns(frame, c) for c in (NAME_COLUMNS, REASON_COLUMNS, ACTIVE_COLUMNS)
        )
        faults = check_polygons(list(frame.geometry), service_area=area)
        records = frame.drop(columns="geometry").to_dict("records")
        for rec, geom, geom_faults in zip(records, frame.geometry, faults):
            n = int(rec["_row"])

            def fail(code: str, layer: str = layer, n: int = n, **facts: Any) -> None:
                errors.append(FieldError(_path(layer, n, multi), code, layer=layer, row=n, **facts))

            for f in geom_faults:
                fail(f.code, **f.detail)
            name = " ".join(_first(rec, name_cols)[1].split())
            reason = _first(rec, reason_cols)[1][:2000] or None
            if "\x00" in name + (reason or ""):
                fail("nul_character", column="name" if "\x00" in name else "reason")
                name = ""
            elif not name:
                fail("value_missing", column="name", alternative="nama")
            elif not 2 <= len(name) <= 200:
                fail("text_length", column="name", length=len(name), min=2, max=200)
            elif name.casefold() in seen:
                other = seen[name.casefold()]
                fail(
                    "value_repeated",
                    column="name",
                    value=name,
                    other_row=other[1],
                    other_layer=other[0] if multi else None,
                )
            else:
                seen[name.casefold()] = (layer, n)
            active_col, raw_active = _first(rec, active_cols)
            raw_active = raw_active.lower()
            if raw_active and raw_active not in _TRUE | _FALSE:
                fail("value_invalid", column=str(active_col), value=raw_active[:20], allowed=["yes", "no"])
            if not geom_faults and name:
                multi_geom = geom if geom.geom_type == "MultiPolygon" else MultiPolygon([geom])
                rows.append(_Row(layer, n, name, reason, raw_active not in _FALSE, multi_geom))
    return rows, errors


def _match_existing(session: Session, rows: list[_Row], *, multi_layer: bool) -> list[FieldError]:
    """Rows naming an existing zone update it (or leave it as it is); two existing zones of one name are an error."""
    if not rows:
        return []
    existing: dict[str, list[Any]] = {}
    for z in session.execute(
        text("""SELECT id, name, reason, active, ST_AsBinary(geom) AS wkb FROM no_overhead_zone
            WHERE lower(regexp_replace(btrim(name), '\\s+', ' ', 'g')) = ANY(:names) ORDER BY id FOR UPDATE"""),
        {"names": [r.name.casefold() for r in rows]},
    ):
        existing.setdefault(" ".join(z.name.split()).casefold(), []).append(z)
    errors = []
    for r in rows:
        found = existing.get(r.name.casefold(), [])
        if len(found) > 1:
            errors.append(
                FieldError(
                    _path(r.layer, r.row, multi_layer),
                    "zone_name_ambiguous",
                    layer=r.layer,
                    row=r.row,
                    name=r.name,
                    zone_ids=[z.id for z in found],
                )
            )
        elif found:
            z = found[0]
            r.zone_id, r.old_wkb = z.id, bytes(z.wkb)
            same = (
                shapely.from_wkb(r.old_wkb).equals_exact(r.geom, 1e-9)
                and (z.reason or None) == r.reason
                and z.active == r.active
            )
            r.action = "unchanged" if same else "update"
    return errors


def _write(session: Session, rows: list[_Row], account_id: int | None) -> None:
    new = [r for r in rows if r.action == "create"]
    if new:
        created = (
            session.execute(
                text(f"""
            INSERT INTO no_overhead_zone (name, reason, active, created_by, geom)
            SELECT n, r, a, :acc, ST_Multi(ST_GeomFromWKB(g, {WGS84}))
            FROM unnest(CAST(:names AS text[]), CAST(:reasons AS text[]), CAST(:actives AS boolean[]),
                        CAST(:wkbs AS bytea[])) WITH ORDINALITY AS t(n, r, a, g, i)
            ORDER BY i RETURNING id"""),
                {
                    "names": [r.name for r in new],
                    "reasons": [r.reason for r in new],
                    "actives": [r.active for r in new],
                    "wkbs": [r.geom.wkb for r in new],
                    "acc": account_id,
                },
            )
            .scalars()
            .all()
        )
        for r, zone_id in zip(new, created):
            r.zone_id = zone_id
    changed = [r for r in rows if r.action == "update"]
    if changed:
        session.execute(
            text(f"""
            UPDATE no_overhead_zone z SET name = t.n, reason = t.r, active = t.a,
                   geom = ST_Multi(ST_GeomFromWKB(t.g, {WGS84}))
            FROM unnest(CAST(:ids AS bigint[]), CAST(:names AS text[]), CAST(:reasons AS text[]),
                        CAST(:actives AS boolean[]), CAST(:wkbs AS bytea[])) AS t(id, n, r, a, g)
            WHERE z.id = t.id"""),
            {
                "ids": [r.zone_id for r in changed],
                "names": [r.name for r in changed],
                "reasons": [r.reason for r in changed],
                "actives": [r.active for r in changed],
                "wkbs": [r.geom.wkb for r in changed],
            },
        )


def reevaluate_under(session: Session, shapes_wkb: list[bytes], *, account_id: int | None) -> EvaluationReport | None:
    """Re-run the rules for the spans under these lon/lat shapes (a zone before and after a change)."""
    if not shapes_wkb:
        return None
    spans = (
        session.execute(
            text(f"""
        SELECT DISTINCT s.id FROM unnest(CAST(:wkbs AS bytea[])) AS g(wkb)
        JOIN aerial_span s ON ST_Intersects(s.geom_m, ST_Transform(ST_GeomFromWKB(g.wkb, {WGS84}), {UTM48N}))"""),
            {"wkbs": shapes_wkb},
        )
        .scalars()
        .all()
    )
    if not spans:
        return None
    return evaluate(session, scope=Scope(spans=list(spans), poles=[]), account_id=account_id)


# -- one zone at a time -------------------------------------------------------------------------------------------
def create_zone(
    session: Session, *, name: str, geometry: dict[str, Any], reason: str | None, account_id: int | None
) -> ZoneWritten:
    """A zone a planner drew (GeoJSON Polygon or MultiPolygon, EPSG:4326); the spans under it are re-evaluated.
    Raises InvalidInput with every fault of the shape. Does not commit."""
    shape = _drawn_shape(geometry)
    zone_id = session.scalar(
        text(f"""INSERT INTO no_overhead_zone (name, reason, created_by, geom)
        VALUES (:n, :r, :a, ST_Multi(ST_GeomFromWKB(:g, {WGS84}))) RETURNING id"""),
        {"n": " ".join(name.split()), "r": reason, "a": account_id, "g": shape.wkb},
    )
    return ZoneWritten(zone_id, name, reevaluate_under(session, [shape.wkb], account_id=account_id))


def change_zone(
    session: Session,
    *,
    zone_id: int,
    account_id: int | None,
    active: bool | None = None,
    name: str | None = None,
    reason: str | None = None,
    geometry: dict[str, Any] | None = None,
) -> ZoneWritten:
    """Rename, re-describe, reshape or switch a zone on or off; the spans under its old and new shape are
    re-evaluated. Locks the zone. Raises NotFound, InvalidInput. Does not commit."""
    row = session.execute(
        text("SELECT id, name, ST_AsBinary(geom) AS wkb FROM no_overhead_zone WHERE id = :id FOR UPDATE"),
        {"id": zone_id},
    ).first()
    if row is None:
        raise NotFound(what="zone", ref=zone_id)
    shape = _drawn_shape(geometry) if geometry is not None else None
    session.execute(
        text(f"""UPDATE no_overhead_zone SET active = coalesce(:active, active), name = coalesce(:n, name),
        reason = coalesce(:r, reason), geom = coalesce(ST_Multi(ST_GeomFromWKB(:g, {WGS84})), geom) WHERE id = :id"""),
        {
            "id": zone_id,
            "active": active,
            "n": " ".join(name.split()) if name else None,
            "r": reason,
            "g": shape.wkb if shape is not None else None,
        },
    )
    shapes = [bytes(row.wkb)] + ([shape.wkb] if shape is not None else [])
    return ZoneWritten(zone_id, name or row.name, reevaluate_under(session, shapes, account_id=account_id))


def _drawn_shape(geometry: dict[str, Any]) -> BaseGeometry:
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        wrong = FieldError("geometry/type", "geometry_type", expected=["Polygon", "MultiPolygon"], got=str(kind)[:40])
        raise InvalidInput(code="zone_geometry_invalid", errors=[wrong])
    try:
        shape = shape_from_geojson(geometry, expected=kind)
    except GeometryRejected as exc:
        errors = [FieldError("geometry", f.code, detail=f.detail) for f in exc.faults]
        raise InvalidInput(code="zone_geometry_invalid", errors=errors) from None
    faults = check_polygons([shape], service_area=load_service_area())[0]
    if faults:
        errors = [FieldError("geometry", f.code, detail=f.detail) for f in faults]
        raise InvalidInput(code="zone_geometry_invalid", errors=errors)
    return shape if shape.geom_type == "MultiPolygon" else MultiPolygon([shape])
