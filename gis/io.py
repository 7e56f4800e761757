"""Reading and writing the files field teams bring: GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ and CSV.

Every layer read comes back as a GeoDataFrame in EPSG:4326 with a 1-based `_row` column (the feature's number
within its layer, used in error reports) and the file's own attribute columns. A CRS declared by the file wins;
the `crs` argument is what a file without one is assumed to be; with neither, EPSG:4326.

Uploads are hostile until proven otherwise: zips are checked for traversal, symlinks, size and ratio before a byte
is extracted, members are written to a private temp dir under our own names, and KML is parsed with defusedxml
with DTDs refused. Bad rows are collected, not fatal one by one: a `ReadError` with code `rows_invalid` carries
`.errors`, a list of `(row, code, facts)`. Errors carry a machine code and the facts a message states, never the
words (see gis.geometry).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import re
import stat
import tempfile
import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import defusedxml.ElementTree as DET
import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio
import shapely
from defusedxml import DefusedXmlException
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gis.crs import WGS84
from gis.geometry import SUPPORTED_TYPES, GeometryFault, GeometryRejected, shape_from_geojson

FORMATS = {"geojson", "gpkg", "shp", "kml", "kmz", "csv"}
"""Formats read and written. `shp` is a zip archive of shapefiles."""

MAX_ZIP_ENTRIES = 200
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
_RATIO_FLOOR_BYTES = 1024 * 1024  # below this much output no ratio can hurt, and tiny files compress absurdly well
_READ_MAX_VERTICES = 1_000_000  # a sanity bound only; the network's vertex rule is check_lines' job

_MEDIA = {
    "geojson": ("application/geo+json", "geojson"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
    "shp": ("application/zip", "zip"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "kmz": ("application/vnd.google-earth.kmz", "kmz"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}
_ZIP_MEDIA = ("application/zip", "zip")
_EXTENSIONS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shp",
    ".kml": "kml",
    ".kmz": "kmz",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
}
_SHP_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
_ZIPPED_LAYER_FILES = {".geojson", ".csv", ".kml", ".gpkg"}  # not .txt/.json: readmes and metadata ride along
_WKT_COLUMNS = ("wkt", "geometry", "geom")
_LON_COLUMNS = ("lon", "lng", "longitude", "x")
_LAT_COLUMNS = ("lat", "latitude", "y")
_KML_NS = "http://www.opengis.net/kml/2.2"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


RowFault = tuple[int, str, dict[str, Any]]
"""(1-based row, code, facts)"""


class ReadError(ValueError):
    """A file that cannot be read: a machine `code` and its `facts`; `errors` lists bad rows as (row, code, facts)."""

    def __init__(
        self, code: str, *, row: int | None = None, errors: list[RowFault] | None = None, **facts: Any
    ) -> None:
        self.code, self.row, self.facts = code, row, facts
        self.errors: list[RowFault] = errors or []
        super().__init__(f"{code} {facts}")


class WriteError(ValueError):
    """Layers that cannot be written in the asked format."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


# --- format detection -----------------------------------------------------------------------------------------


def detect_format(filename: str, data: bytes) -> str:
    """One of FORMATS, from the content first and the extension second. Raises ReadError."""
    ext = Path(filename or "").suffix.lower()
    if not data.strip():
        raise ReadError("unreadable_file", empty_file=_shown_name(filename))
    sniffed = _sniff(data, ext)
    if sniffed:
        return sniffed
    if ext == ".shp":
        raise ReadError("unsupported_format", shapefile=_shown_name(filename))
    if ext in _EXTENSIONS:
        raise ReadError("unreadable_file", file=_shown_name(filename), looks_unlike=_EXTENSIONS[ext])
    raise ReadError("unsupported_format", file=_shown_name(filename))


def _shown_name(filename: str) -> str:
    return PurePosixPath((filename or "").replace("\\", "/")).name[:80] or "-"


def _sniff(data: bytes, ext: str) -> str | None:
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "kmz" if ext == ".kmz" or _zip_is_kmz(data) else "shp"
    if data.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "geojson"
    if head[:1] == b"<":
        return "kml" if b"<kml" in head.lower() else None
    if b"\x00" in head:
        return None
    if ext in (".csv", ".txt", ".tsv"):
        return "csv"
    first_line = head.split(b"\n", 1)[0]
    return "csv" if any(d in first_line for d in (b",", b";", b"\t")) and _decode(first_line, strict=True) else None


def _zip_is_kmz(data: bytes) -> bool:
    try:
        names = [n.lower() for n in zipfile.ZipFile(io.BytesIO(data)).namelist()]
    except (zipfile.BadZipFile, OSError):
        return False
    return not any(n.endswith(".shp") for n in names) and any(n.endswith(".kml") for n in names)


# --- reading --------------------------------------------------------------------------------------------------


def read_layers(data: bytes, filename: str, *, crs: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Every layer in the file, by name, in EPSG:4326 with `_row`. Raises ReadError."""
    fallback = _parse_crs(crs, "argument") if crs else None
    fmt = detect_format(filename, data)
    if fmt == "shp":
        return _read_zip(data, fallback)
    if fmt == "kmz":
        return _read_kml(_kml_from_kmz(data))
    if fmt == "gpkg":
        return _read_ogr(data, ".gpkg", fallback)
    if fmt == "kml":
        return _read_kml(data)
    if fmt == "csv":
        return {_stem_name(filename): _read_csv(data, fallback)}
    return _read_geojson(data, fallback)


def _parse_crs(text: Any, where: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except (CRSError, TypeError, ValueError) as exc:
        raise ReadError("crs_unknown", where=where, crs=str(text)[:60], error=str(exc)[:200]) from None


def _finish(attrs: pd.DataFrame, geoms: Any, crs: CRS | None) -> gpd.GeoDataFrame:
    """The common shape of a layer: `_row`, attributes, 2D geometry, EPSG:4326."""
    attrs = attrs.reset_index(drop=True)
    attrs = attrs.rename(columns={c: f"{c}_attr" for c in attrs.columns if c in ("_row", "geometry")})
    attrs.insert(0, "_row", np.arange(1, len(attrs) + 1))
    geometry = shapely.force_2d(np.asarray(geoms, dtype=object)) if len(attrs) else []
    gdf = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geometry, index=attrs.index), crs=crs or WGS84)
    if crs is not None and crs.to_epsg() != WGS84 and not crs.equals(CRS.from_epsg(WGS84), ignore_axis_order=True):
        gdf = gdf.to_crs(WGS84)
    return gdf.set_crs(WGS84, allow_override=True)


def _stem_name(filename: str) -> str:
    stem = PurePosixPath((filename or "").replace("\\", "/")).stem
    return stem or "features"


# GeoJSON


def _read_geojson(data: bytes, fallback: CRS | None) -> dict[str, gpd.GeoDataFrame]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # json accepts NaN and Infinity, which the geometry checks then report by row
            obj = json.loads(_decode(data))
        except ValueError as exc:
            raise ReadError("unreadable_file", json_error=str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise ReadError("unsupported_format", geojson_type=type(obj).__name__)
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
    elif kind == "Feature":
        features = [obj]
    elif kind in SUPPORTED_TYPES:
        features = [{"type": "Feature", "geometry": obj, "properties": {}}]
    else:
        raise ReadError("unsupported_format", geojson_type=str(kind)[:40])
    if not isinstance(features, list):
        raise ReadError("unreadable_file", not_array="features")
    declared = _geojson_crs(obj.get("crs"))
    given = obj.get("name")
    name = given if isinstance(given, str) and given else "features"
    records, geoms = _geojson_features(features)
    return {name: _finish(pd.DataFrame(records, index=range(len(records))), geoms, declared or fallback)}


def _geojson_crs(member: Any) -> CRS | None:
    """The legacy (2008) `crs` member: {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32648"}}."""
    if member is None:
        return None
    props = member.get("properties") if isinstance(member, dict) else None
    if not isinstance(props, dict):
        raise ReadError("crs_unknown", where="geojson", member="crs")
    if member.get("type") == "EPSG" and "code" in props:
        return _parse_crs(f"EPSG:{props['code']}", "geojson")
    return _parse_crs(props.get("name"), "geojson")


def _geojson_features(features: list[Any]) -> tuple[list[dict[str, Any]], list[BaseGeometry | None]]:
    errors: list[RowFault] = []
    records: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    for row, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            errors.append((row, "feature_invalid", {"feature": row}))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            errors.append((row, "feature_invalid", {"feature": row, "member": "properties"}))
            continue
        if "id" in feature and "id" not in props:
            props = {"id": feature["id"], **props}
        geom = _feature_geometry(row, feature.get("geometry"), errors)
        records.append(props)
        geoms.append(geom)
    if errors:
        raise ReadError("rows_invalid", row=errors[0][0], errors=errors, count=len(errors))
    return records, geoms


def _feature_geometry(row: int, obj: Any, errors: list[RowFault]) -> BaseGeometry | None:
    if obj is None:
        return None  # kept: check_points/check_lines report geometry_missing with the row
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind not in SUPPORTED_TYPES:
        errors.append((row, "geometry_type", {"expected": sorted(SUPPORTED_TYPES), "got": str(kind)[:40]}))
        return None
    try:
        return shape_from_geojson(obj, expected=kind, max_vertices=_READ_MAX_VERTICES)
    except GeometryRejected as exc:
        errors.extend((row, f.code, f.detail) for f in exc.faults)
        return None


# GeoPackage and shapefiles (GDAL through pyogrio, always from files we named)


def _read_ogr(data: bytes, suffix: str, fallback: CRS | None) -> dict[str, gpd.GeoDataFrame]:
    with tempfile.TemporaryDirectory(prefix="gis-read-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return _read_ogr_path(path, fallback)


def _read_ogr_path(path: Path, fallback: CRS | None, name: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    try:
        listed = pyogrio.list_layers(path)
        layers: dict[str, gpd.GeoDataFrame] = {}
        for layer, geometry_type in listed:
            if geometry_type is None:
                continue  # attribute-only tables (GPKG) carry no features to import
            frame = pyogrio.read_dataframe(path, layer=layer)
            attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
            declared = CRS.from_user_input(frame.crs) if frame.crs else None
            layers[name or str(layer)] = _finish(attrs, frame.geometry.array, declared or fallback)
    except (RuntimeError, UnicodeError) as exc:  # every pyogrio and pyproj error is a RuntimeError
        raise ReadError("unreadable_file", format=path.suffix[1:], gdal_error=str(exc)[:200]) from None
    return layers


# Zip archives


def _checked_zip(data: bytes) -> zipfile.ZipFile:
    """Open a zip and refuse it before extraction if any entry is dangerous."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReadError("unreadable_file", zip_error=str(exc)[:200]) from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ReadError("zip_too_large", entries=len(infos), limit=MAX_ZIP_ENTRIES)
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
            raise ReadError("zip_traversal", entry=info.filename[:80])
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ReadError("zip_symlink", entry=info.filename[:80])
        if info.flag_bits & 0x1:
            raise ReadError("unreadable_file", encrypted_entry=info.filename[:80])
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise ReadError("zip_too_large", unpacked_bytes=total, limit_bytes=MAX_UNZIPPED_BYTES)
    for entry in [*infos, None]:  # each entry, then the archive as a whole
        size, squeezed = (entry.file_size, entry.compress_size) if entry else (total, packed)
        if size > _RATIO_FLOOR_BYTES and size > MAX_ZIP_RATIO * max(squeezed, 1):
            raise ReadError("zip_bomb", ratio=round(size / max(squeezed, 1)), limit=MAX_ZIP_RATIO)
    return archive


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one entry, counting real output so a header that lies about its size cannot inflate it."""
    out = bytearray()
    with archive.open(info) as stream:
        while chunk := stream.read(1 << 20):
            out += chunk
            if len(out) > info.file_size or len(out) > MAX_UNZIPPED_BYTES:
                raise ReadError("zip_bomb", entry=info.filename[:80])
    return bytes(out)


def _zip_members(archive: zipfile.ZipFile) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    members = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if info.is_dir() or path.parts[:1] == ("__MACOSX",) or path.name.startswith("._"):
            continue
        members.append((path, info))
    return members


def _read_zip(data: bytes, fallback: CRS | None) -> dict[str, gpd.GeoDataFrame]:
    """Each shapefile in the zip is a layer named by its stem; GeoJSON/CSV/KML/GPKG members are read too."""
    archive = _checked_zip(data)
    members = _zip_members(archive)
    groups: dict[PurePosixPath, dict[str, zipfile.ZipInfo]] = {}
    others = []
    for path, info in members:
        suffix = path.suffix.lower()
        if suffix in _SHP_PARTS:
            groups.setdefault(path.with_suffix(""), {})[suffix] = info
        elif suffix in _ZIPPED_LAYER_FILES:
            others.append((path, info))
    layers: dict[str, gpd.GeoDataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="gis-zip-") as tmp:
        for n, (stem, parts) in enumerate(sorted(groups.items())):
            if ".shp" in parts:
                _add_layers(layers, _read_shapefile(archive, stem, parts, Path(tmp) / f"layer{n}", fallback))
    for path, info in others:
        _add_layers(
            layers, read_layers(_member_bytes(archive, info), path.name, crs=fallback.to_wkt() if fallback else None)
        )
    if not layers:
        raise ReadError("unsupported_format", archive="zip")
    return layers


def _read_shapefile(
    archive: zipfile.ZipFile, stem: PurePosixPath, parts: dict[str, zipfile.ZipInfo], base: Path, fallback: CRS | None
) -> dict[str, gpd.GeoDataFrame]:
    missing = [s for s in (".shx", ".dbf") if s not in parts]
    if missing:
        raise ReadError("shapefile_incomplete", shapefile=stem.name[:80], missing=missing)
    for suffix, info in parts.items():
        base.with_suffix(suffix).write_bytes(_member_bytes(archive, info))  # our name, never the entry's
    return _read_ogr_path(base.with_suffix(".shp"), fallback, name=stem.name or "features")


def _add_layers(into: dict[str, gpd.GeoDataFrame], new: dict[str, gpd.GeoDataFrame]) -> None:
    for name, frame in new.items():
        key, n = name, 2
        while key in into:
            key, n = f"{name}_{n}", n + 1
        into[key] = frame


# KML / KMZ


def _kml_from_kmz(data: bytes) -> bytes:
    archive = _checked_zip(data)
    kmls = [(p, i) for p, i in _zip_members(archive) if p.suffix.lower() == ".kml"]
    if not kmls:
        raise ReadError("unreadable_file", missing_member=".kml")
    # doc.kml at the root is the convention; otherwise the first KML in the archive
    chosen = next((i for p, i in kmls if str(p).lower() == "doc.kml"), kmls[0][1])
    return _member_bytes(archive, chosen)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _child_text(element: ET.Element, name: str) -> str | None:
    found = _child(element, name)
    return found.text.strip() if found is not None and found.text is not None else None


def _read_kml(data: bytes) -> dict[str, gpd.GeoDataFrame]:
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ReadError("xml_unsafe", error=type(exc).__name__) from None
    except ET.ParseError as exc:
        raise ReadError("unreadable_file", xml_error=str(exc)[:200]) from None
    types = _kml_schema_types(root)
    placemarks: dict[str, list[ET.Element]] = {}
    stack: list[tuple[ET.Element, str]] = [(root, "features")]
    while stack:  # iterative, so deeply nested folders cannot exhaust the Python stack
        element, folder = stack.pop()
        tag = _local(element.tag)
        if tag == "Placemark":
            placemarks.setdefault(folder, []).append(element)
            continue
        if tag == "Folder":
            folder = _child_text(element, "name") or folder
        stack.extend((c, folder) for c in reversed(list(element)))
    errors: list[RowFault] = []
    layers = {name: _kml_layer(name, marks, types, errors) for name, marks in placemarks.items()}
    if errors:
        raise ReadError("rows_invalid", row=errors[0][0], errors=errors, count=len(errors))
    return layers


def _kml_schema_types(root: ET.Element) -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    for schema in (e for e in root.iter() if _local(e.tag) == "Schema"):
        fields = {
            f.get("name", ""): (f.get("type") or "string").lower() for f in schema if _local(f.tag) == "SimpleField"
        }
        for key in (schema.get("id"), schema.get("name")):
            if key:
                types[key] = fields
    return types


def _kml_layer(
    name: str, marks: list[ET.Element], types: dict[str, dict[str, str]], errors: list[RowFault]
) -> gpd.GeoDataFrame:
    records, geoms = [], []
    field_types: dict[str, str] = {}
    for row, mark in enumerate(marks, start=1):
        record: dict[str, Any] = {}
        for key in ("name", "description"):
            if (text := _child_text(mark, key)) is not None:
                record[key] = text
        record.update(_kml_extended(mark, types, field_types))
        try:
            geoms.append(_kml_geometry(mark))
        except GeometryRejected as exc:
            errors.extend((row, f.code, {**f.detail, "layer": name}) for f in exc.faults)
            geoms.append(None)
        except ValueError as exc:  # shapely refusing coordinates it was given
            errors.append((row, "coordinate_invalid", {"token": str(exc)[:80], "layer": name}))
            geoms.append(None)
        records.append(record)
    attrs = pd.DataFrame(records, index=range(len(records)))
    for column, kind in field_types.items():
        if column in attrs:
            attrs[column] = _typed(attrs[column], kind)
    return _finish(attrs, geoms, None)


def _kml_extended(mark: ET.Element, types: dict[str, dict[str, str]], field_types: dict[str, str]) -> dict:
    values: dict[str, Any] = {}
    extended = _child(mark, "ExtendedData")
    if extended is None:
        return values
    for item in extended:
        tag = _local(item.tag)
        if tag == "Data" and (data_name := item.get("name")):
            values[data_name] = _child_text(item, "value") or ""
        elif tag == "SchemaData":
            schema = types.get((item.get("schemaUrl") or "").lstrip("#"), {})
            for simple in item:
                key = simple.get("name")
                if _local(simple.tag) != "SimpleData" or not key:
                    continue
                values[key] = simple.text or ""
                if key in schema:
                    field_types.setdefault(key, schema[key])
    return values


def _typed(column: pd.Series, kind: str) -> pd.Series:
    """Restore a KML SimpleField's declared type; values that do not parse stay text."""
    present = column.notna() & (column != "")
    try:
        if kind in ("int", "uint", "short", "ushort"):
            ints = pd.array([int(v) if ok else None for v, ok in zip(column, present)], dtype="Int64")
            return (
                pd.Series(ints, index=column.index).astype("int64")
                if present.all()
                else pd.Series(ints, index=column.index)
            )
        if kind in ("float", "double"):
            return pd.Series([float(v) if ok else math.nan for v, ok in zip(column, present)], index=column.index)
        if kind == "bool":
            flags = [str(v).strip().lower() in ("1", "true") if ok else None for v, ok in zip(column, present)]
            return pd.Series(flags, index=column.index, dtype="bool" if present.all() else "boolean")
    except ValueError:
        return column
    return column.where(present, None)


def _kml_geometry(mark: ET.Element) -> BaseGeometry | None:
    for child in mark:
        if _local(child.tag) in ("Point", "LineString", "Polygon", "MultiGeometry"):
            return _kml_shape(child, depth=0)
    return None


def _kml_shape(element: ET.Element, depth: int) -> BaseGeometry:
    tag = _local(element.tag)
    if tag == "Point":
        return shapely.Point(_kml_coords(element)[0])
    if tag == "LineString":
        coords = _kml_coords(element)
        if len(coords) < 2:
            raise _fault("geometry_invalid", line_positions=len(coords))
        return shapely.LineString(coords)
    if tag == "Polygon":
        return _kml_polygon(element)
    if depth > 8:
        raise _fault("geometry_invalid", nesting=8)
    parts = [
        _kml_shape(c, depth + 1)
        for c in element
        if _local(c.tag) in ("Point", "LineString", "Polygon", "MultiGeometry")
    ]
    if len(parts) == 1:
        return parts[0]  # the common KML export of a single line or point
    kinds = {p.geom_type for p in parts}
    if kinds == {"Point"}:
        return shapely.MultiPoint(parts)
    if kinds == {"LineString"}:
        return shapely.MultiLineString(parts)
    if kinds == {"Polygon"}:
        return shapely.MultiPolygon(parts)
    return shapely.GeometryCollection(parts)


def _kml_polygon(element: ET.Element) -> BaseGeometry:
    rings: dict[str, list[list[tuple[float, float]]]] = {"outerBoundaryIs": [], "innerBoundaryIs": []}
    for boundary in element:
        key = _local(boundary.tag)
        if key in rings:
            ring = _child(boundary, "LinearRing")
            if ring is not None:
                rings[key].append(_kml_coords(ring))
    if not rings["outerBoundaryIs"] or len(rings["outerBoundaryIs"][0]) < 4:
        outer = rings["outerBoundaryIs"]
        raise _fault("geometry_invalid", ring_positions=len(outer[0]) if outer else 0)
    return shapely.Polygon(rings["outerBoundaryIs"][0], rings["innerBoundaryIs"])


def _fault(code: str, **facts: Any) -> GeometryRejected:
    return GeometryRejected([GeometryFault(code, facts)])


def _kml_coords(element: ET.Element) -> list[tuple[float, float]]:
    text = _child_text(element, "coordinates")
    if not text:
        raise _fault("geometry_missing", geometry=_local(element.tag))
    coords = []
    for token in text.split():
        parts = token.split(",")
        if len(parts) not in (2, 3):
            raise _fault("coordinate_dimension", token=token[:40])
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise _fault("coordinate_invalid", token=token[:40]) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _fault("coordinate_not_finite", token=token[:40])
        coords.append((x, y))
    return coords


# CSV


def _decode(data: bytes, strict: bool = False) -> str:
    """UTF-8 (with or without Excel's BOM), else Windows-1252, which is what Excel saves otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if strict:
            return ""
        return data.decode("cp1252", errors="replace")


def _read_csv(data: bytes, fallback: CRS | None) -> gpd.GeoDataFrame:
    text = _decode(data)
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ReadError("unreadable_file", csv_error=str(exc)[:200]) from None
    lower = {str(c).strip().lower(): c for c in frame.columns}
    wkt = next((lower[c] for c in _WKT_COLUMNS if c in lower), None)
    lon = next((lower[c] for c in _LON_COLUMNS if c in lower), None)
    lat = next((lower[c] for c in _LAT_COLUMNS if c in lower), None)
    if wkt is not None:
        geoms, errors, srid = _csv_wkt(frame[wkt])
        used = [wkt]
    elif lon is not None and lat is not None:
        geoms, errors, srid = *_csv_lonlat(frame[lon], frame[lat], decimal_comma=delimiter == ";"), None
        used = [lon, lat]
    else:
        raise ReadError("csv_no_geometry", columns=[str(c)[:40] for c in frame.columns[:30]])
    if errors:
        raise ReadError("rows_invalid", row=errors[0][0], errors=errors, count=len(errors))
    declared = _parse_crs(f"EPSG:{srid}", "ewkt") if srid else None
    return _finish(frame.drop(columns=used), geoms, declared or fallback)


def _csv_wkt(column: pd.Series) -> tuple[np.ndarray, list[RowFault], int | None]:
    """Geometries from WKT or EWKT text; a blank cell is a missing geometry, left for the checks to name."""
    raw = column.fillna("").astype(str).str.strip()
    srids = raw.str.extract(r"^SRID=(\d+);", expand=False)
    text = raw.str.replace(r"^SRID=\d+;", "", regex=True)
    wkt = text.mask(text == "").to_numpy(dtype=object, na_value=None)
    geoms = shapely.from_wkt(wkt, on_invalid="ignore")
    bad = (text != "").to_numpy() & shapely.is_missing(geoms)
    errors: list[RowFault] = [
        (int(i) + 1, "wkt_invalid", {"value": text.iloc[i][:60], "line": int(i) + 2}) for i in np.flatnonzero(bad)
    ]
    found = set(srids.dropna())
    return geoms, errors, int(found.pop()) if len(found) == 1 else None


def _csv_lonlat(lon: pd.Series, lat: pd.Series, *, decimal_comma: bool) -> tuple[np.ndarray, list[RowFault]]:
    errors: list[RowFault] = []
    values = []
    for series in (lon, lat):
        text = series.fillna("").astype(str).str.strip()
        if decimal_comma:  # Indonesian Excel writes 104,05 in a semicolon-separated file
            text = text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        values.append((text, pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)))
    (lon_text, x), (lat_text, y) = values
    blank_x, blank_y = (lon_text == "").to_numpy(), (lat_text == "").to_numpy()
    for i in range(len(x)):
        if blank_x[i] and blank_y[i]:
            continue
        for name, raw, v, blank in (("lon", lon_text, x, blank_x), ("lat", lat_text, y, blank_y)):
            if blank[i]:
                errors.append((i + 1, "coordinate_invalid", {"blank": name, "line": i + 2}))
            elif not math.isfinite(v[i]):
                code = "coordinate_invalid" if math.isnan(v[i]) else "coordinate_not_finite"
                errors.append((i + 1, code, {"column": name, "value": raw.iloc[i][:40], "line": i + 2}))
    ok = ~blank_x & ~blank_y & np.isfinite(x) & np.isfinite(y)
    geoms = np.full(len(x), None, dtype=object)
    geoms[ok] = shapely.points(x[ok], y[ok])
    return geoms, errors


# --- writing --------------------------------------------------------------------------------------------------


def write_layers(layers: dict[str, gpd.GeoDataFrame], fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file extension). Several layers in a one-layer format come as a zip of files.

    Columns are written as they are, minus `_row`; dates and datetimes become ISO 8601 text, Decimals and UUIDs
    text, dicts and lists JSON text. Shapefile field names are cut to 10 characters by GDAL (and strings to 254
    bytes): keep exported column names short, or use GeoPackage.
    """
    if fmt not in FORMATS:
        raise WriteError("unsupported_format", f"cannot write {fmt!r}; choose one of {sorted(FORMATS)}")
    if not layers:
        raise WriteError("no_layers", "nothing to write")
    prepared = {name: _prepare(frame) for name, frame in layers.items()}
    if fmt == "gpkg":
        return _write_gpkg(prepared), *_MEDIA["gpkg"]
    if fmt == "shp":
        return _write_shp(prepared), *_MEDIA["shp"]
    if fmt in ("kml", "kmz"):
        document = _kml_document(prepared)
        content = document if fmt == "kml" else _zip_files({"doc.kml": document})
        return content, *_MEDIA[fmt]
    writer = _geojson_bytes if fmt == "geojson" else _csv_bytes
    if len(prepared) == 1:
        name, frame = next(iter(prepared.items()))
        return writer(name, frame), *_MEDIA[fmt]
    files = {f"{name}.{_MEDIA[fmt][1]}": writer(name, frame) for name, frame in _safe_names(prepared).items()}
    return _zip_files(files), *_ZIP_MEDIA


def _prepare(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """EPSG:4326, no `_row`, and every column in a type each format can carry."""
    out = frame.drop(columns=[c for c in ("_row",) if c in frame.columns])
    if out.crs is not None and out.crs.to_epsg() != WGS84:
        out = out.to_crs(WGS84)
    out = out.set_crs(WGS84, allow_override=True)
    if out.geometry.name != "geometry":
        out = out.rename_geometry("geometry")
    for column in out.columns:
        if column != "geometry":
            out[column] = _portable(out[column])
    return out


def _portable(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column) or isinstance(column.dtype, pd.PeriodDtype):
        return pd.Series([v.isoformat() if pd.notna(v) else None for v in column], index=column.index, dtype=object)
    if column.dtype != object:
        return column
    return column.map(_portable_value)


def _portable_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value, default=str).decode()
    return value


def _safe_names(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """File-system-safe, unique layer names for files inside zips."""
    out: dict[str, gpd.GeoDataFrame] = {}
    for name, frame in layers.items():
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:64] or "layer"
        key, n = base, 2
        while key.lower() in {k.lower() for k in out}:
            key, n = f"{base}_{n}", n + 1
        out[key] = frame
    return out


def _zip_files(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _records(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    attrs = pd.DataFrame(frame.drop(columns="geometry")).astype(object)
    return attrs.where(attrs.notna(), None).to_dict("records")


def _geojson_bytes(name: str, frame: gpd.GeoDataFrame) -> bytes:
    features = [
        {"type": "Feature", "properties": props, "geometry": mapping(geom) if geom is not None else None}
        for props, geom in zip(_records(frame), frame.geometry)
    ]
    collection = {"type": "FeatureCollection", "name": name, "features": features}
    return orjson.dumps(collection, option=orjson.OPT_SERIALIZE_NUMPY, default=str)


def _csv_bytes(name: str, frame: gpd.GeoDataFrame) -> bytes:
    attrs = pd.DataFrame(frame.drop(columns="geometry"))
    wkt_name = "wkt" if "wkt" not in attrs.columns else "geometry_wkt"
    wkt = shapely.to_wkt(np.asarray(frame.geometry.array, dtype=object), rounding_precision=-1)
    attrs.insert(0, wkt_name, wkt)
    # The BOM makes Excel, which field teams open CSVs in, read UTF-8 as UTF-8.
    return attrs.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="gis-write-") as tmp:
        path = Path(tmp) / "export.gpkg"
        for name, frame in layers.items():
            _write_ogr(frame, path, driver="GPKG", layer=name)
        return path.read_bytes()


def _write_shp(layers: dict[str, gpd.GeoDataFrame]) -> bytes:
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="gis-write-") as tmp:
        for name, frame in _safe_names(_by_family(layers)).items():
            _write_ogr(frame, Path(tmp) / f"{name}.shp", driver="ESRI Shapefile", encoding="UTF-8")
            for part in sorted(Path(tmp).glob(f"{name}.*")):
                files[part.name] = part.read_bytes()
    return _zip_files(files)


def _by_family(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """A shapefile holds one geometry family, so a mixed layer becomes name_points, name_lines, name_polygons."""
    out: dict[str, gpd.GeoDataFrame] = {}
    for name, frame in layers.items():
        family = frame.geometry.geom_type.str.replace("Multi", "").fillna("")
        kinds = sorted(set(family) - {""})
        if len(kinds) <= 1:
            out[name] = frame
            continue
        for kind in kinds:
            out[f"{name}_{kind.lower()}s".replace("linestrings", "lines")] = frame[family == kind]
    return out


def _write_ogr(frame: gpd.GeoDataFrame, path: Path, **options: Any) -> None:
    if len(frame) == 0 or frame.geometry.isna().all():
        options.setdefault("geometry_type", "Unknown")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Nn]ormalized/laundered field name.*")
        warnings.filterwarnings("ignore", message=".*truncated.*")
        pyogrio.write_dataframe(frame, path, **options)


def _xml_text(value: Any) -> str:
    """Text XML 1.0 can hold: control characters are dropped rather than written as broken XML."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _XML_INVALID.sub("", str(value))


def _kml_field_type(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    if pd.api.types.is_float_dtype(column):
        return "double"
    return "string"


def _kml_document(layers: dict[str, gpd.GeoDataFrame]) -> bytes:
    root = ET.Element("kml", {"xmlns": _KML_NS})
    document = ET.SubElement(root, "Document")
    schema_ids = {}
    for n, (name, frame) in enumerate(layers.items()):
        schema_ids[name] = f"schema{n}"
        schema = ET.SubElement(document, "Schema", {"name": _xml_text(name), "id": schema_ids[name]})
        for column in _kml_fields(frame):
            ET.SubElement(schema, "SimpleField", {"name": _xml_text(column), "type": _kml_field_type(frame[column])})
    for name, frame in layers.items():
        folder = ET.SubElement(document, "Folder")
        ET.SubElement(folder, "name").text = _xml_text(name)
        fields = _kml_fields(frame)
        for record, geom in zip(_records(frame), frame.geometry):
            _kml_placemark(folder, record, geom, fields, schema_ids[name])
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def _kml_fields(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("geometry", "name", "description")]


def _kml_placemark(
    folder: ET.Element, record: dict[str, Any], geom: BaseGeometry | None, fields: list[str], schema_id: str
) -> None:
    mark = ET.SubElement(folder, "Placemark")
    for key in ("name", "description"):
        if record.get(key) is not None:
            ET.SubElement(mark, key).text = _xml_text(record[key])
    present = [f for f in fields if record.get(f) is not None]
    if present:
        data = ET.SubElement(ET.SubElement(mark, "ExtendedData"), "SchemaData", {"schemaUrl": f"#{schema_id}"})
        for field_name in present:
            ET.SubElement(data, "SimpleData", {"name": _xml_text(field_name)}).text = _xml_text(record[field_name])
    if geom is not None and not geom.is_empty:
        _kml_geometry_element(mark, geom)


def _kml_geometry_element(parent: ET.Element, geom: BaseGeometry) -> None:
    kind = geom.geom_type
    if kind in ("Point", "LineString"):
        ET.SubElement(ET.SubElement(parent, kind), "coordinates").text = _kml_coord_text(geom)
    elif kind == "Polygon":
        polygon = ET.SubElement(parent, "Polygon")
        for tag, ring in [("outerBoundaryIs", geom.exterior), *(("innerBoundaryIs", r) for r in geom.interiors)]:
            linear = ET.SubElement(ET.SubElement(polygon, tag), "LinearRing")
            ET.SubElement(linear, "coordinates").text = _kml_coord_text(ring)
    else:
        multi = ET.SubElement(parent, "MultiGeometry")
        for part in geom.geoms:
            _kml_geometry_element(multi, part)


def _kml_coord_text(geom: BaseGeometry) -> str:
    return " ".join(f"{x!r},{y!r}" for x, y in shapely.get_coordinates(geom).tolist())
