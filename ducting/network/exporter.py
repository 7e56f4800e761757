"""Exporting the network (or the network as it was at `as_of`) in the formats the importer reads, plus the
Open Fibre Data Standard GeoJSON. Columns are those the importer expects, so export → import is lossless."""

from __future__ import annotations

import io
import uuid
import zipfile

import geopandas as gpd
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting import calendar
from gis.crs import WGS84
from gis.io import write_layers
from gis.ofds import to_ofds_geojson, validate_ofds

# OFDS wants a UUID for the network: a stable one, derived from the service's name.
NETWORK_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://bedelau.batam.go.id/network"))
EXPORT_FORMATS = ("geojson", "gpkg", "shp", "kml", "kmz", "csv", "ofds")

_NODES = """
    SELECT n.code, n.kind::text AS kind, n.status::text AS status, o.code AS owner, n.install_date, n.notes,
           n.uuid::text AS uuid, n.geom
    FROM node n LEFT JOIN organisation o ON o.id = n.owner_id
    WHERE n.removed_at IS NULL ORDER BY n.code"""
_SEGMENTS = """
    SELECT s.code, a.code AS start_node, b.code AS end_node, s.status::text AS status,
           s.trench_type::text AS trench_type, s.depth_m::float8 AS depth_m, s.zone_class::text AS zone_class,
           o.code AS owner, s.install_date, s.notes, s.length_m::float8 AS length_m,
           s.uuid::text AS uuid, a.uuid::text AS start_uuid, b.uuid::text AS end_uuid,
           coalesce((SELECT json_agg(json_build_object('spec', sp.code, 'reserve',
                        (SELECT count(*) FROM subduct sd WHERE sd.duct_id = d.id AND sd.is_reserved)) ORDER BY d.position)
                     FROM duct d JOIN duct_spec sp ON sp.id = d.spec_id
                     WHERE d.segment_id = s.id AND d.status <> 'decommissioned'), '[]')::text AS ducts,
           s.geom
    FROM route_segment s JOIN node a ON a.id = s.start_node_id JOIN node b ON b.id = s.end_node_id
    LEFT JOIN organisation o ON o.id = s.owner_id
    WHERE s.removed_at IS NULL ORDER BY s.code"""


def network_layers(session: Session) -> dict[str, gpd.GeoDataFrame]:
    conn = session.connection()
    nodes = gpd.read_postgis(text(_NODES), conn, geom_col="geom", crs=WGS84).rename_geometry("geometry")
    segments = gpd.read_postgis(text(_SEGMENTS), conn, geom_col="geom", crs=WGS84).rename_geometry("geometry")
    return {"nodes": nodes, "segments": segments}


def export_network(session: Session, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, extension) of the whole live network in `fmt`."""
    layers = network_layers(session)
    if fmt == "ofds":
        return _ofds(session, layers)
    plain = {
        name: gdf.drop(columns=[c for c in ("uuid", "start_uuid", "end_uuid", "length_m") if c in gdf.columns])
        for name, gdf in layers.items()
    }
    return write_layers(plain, fmt)


def _ofds(session: Session, layers: dict[str, gpd.GeoDataFrame]) -> tuple[bytes, str, str]:
    orgs = {
        r.code: {"id": str(r.uuid), "name": r.name}
        for r in session.execute(text("SELECT code, uuid, name FROM organisation"))
    }
    nodes_fc, spans_fc = to_ofds_geojson(
        layers["nodes"],
        layers["segments"],
        network_id=NETWORK_ID,
        network_name="BEDELAU Ducting Bersama Kota Batam",
        publisher="BUMD Kota Batam",
        publication_date=calendar.today().isoformat(),
        organisations=orgs,
    )
    problems = validate_ofds(nodes_fc, spans_fc)
    if problems:  # our own output must satisfy the standard; a failure here is a bug to see, not to ship
        raise RuntimeError(f"OFDS export does not validate: {problems[:3]}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nodes.geojson", orjson.dumps(nodes_fc))
        archive.writestr("spans.geojson", orjson.dumps(spans_fc))
    return buffer.getvalue(), "application/zip", "zip"


def export_filename(fmt: str, ext: str) -> str:
    stamp = calendar.now().strftime("%Y%m%d-%H%M")  # the city's wall clock, as a person reads the name
    return f"bedelau-network-{'ofds-' if fmt == 'ofds' else ''}{stamp}.{ext}"
