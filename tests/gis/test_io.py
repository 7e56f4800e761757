"""File formats: detection, safe reading (zips, XML), CRS handling, row-numbered errors, and round trips."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely import LineString, Point

from gis import io as gio
from gis.crs import UTM48N
from gis.geometry import to_metric
from gis.io import FORMATS, ReadError, detect_format, read_layers, write_layers

NODES = gpd.GeoDataFrame(
    {
        "code": ["MH-001", "HH-002 & <Nagoya>", "CAB-003"],
        "depth_m": [1.5, 2.25, 0.8],
        "ducts": [4, 2, 0],
        "shared": [True, False, True],
        "built": [dt.date(2024, 1, 2), dt.date(2023, 12, 31), None],
        "inspected": pd.to_datetime(["2025-03-04T05:06:07", "2025-03-05T00:00:00", "2025-03-06T23:59:59"]),
    },
    geometry=[Point(104.01004967401289, 1.1200496740128827), Point(104.02, 1.13), Point(104.0301, 1.1402)],
    crs=4326,
)
SEGMENTS = gpd.GeoDataFrame(
    {"code": ["S-1", "S-2"], "length_m": [1113.2, 2.5]},
    geometry=[
        LineString([(104.01004967401289, 1.1200496740128827), (104.02, 1.13)]),
        LineString([(104.02, 1.13), (104.025, 1.135), (104.0301, 1.1402)]),
    ],
    crs=4326,
)
EXPECTED_NODE_ATTRS = {
    "code": ["MH-001", "HH-002 & <Nagoya>", "CAB-003"],
    "depth_m": [1.5, 2.25, 0.8],
    "ducts": [4, 2, 0],
    "shared": [True, False, True],
    "built": ["2024-01-02", "2023-12-31", None],
    "inspected": ["2025-03-04T05:06:07", "2025-03-05T00:00:00", "2025-03-06T23:59:59"],
}


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def cell(value):
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def assert_same_layer(read: gpd.GeoDataFrame, written: gpd.GeoDataFrame, expected: dict, *, as_text: bool = False):
    assert read.crs.to_epsg() == 4326
    assert read["_row"].tolist() == list(range(1, len(written) + 1))
    assert all(a.equals_exact(b, tolerance=0) for a, b in zip(read.geometry, written.geometry))
    for column, values in expected.items():
        got = [cell(v) for v in read[column]]
        want = [None if v is None else (str(v) if as_text else v) for v in values]
        assert got == want, column


# --- detection ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "fmt"),
    [
        ("a.geojson", b'{"type": "FeatureCollection", "features": []}', "geojson"),
        ("a.json", b'\xef\xbb\xbf  {"type": "FeatureCollection"}', "geojson"),
        ("upload", b"SQLite format 3\x00rest", "gpkg"),
        ("a.kml", b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>', "kml"),
        ("a.csv", b"lon,lat\n104,1\n", "csv"),
        ("noext", b"name;lon;lat\nx;104;1\n", "csv"),
        ("a.zip", zip_of({"nodes.shp": b"x"}), "shp"),
        ("a.kmz", zip_of({"doc.kml": b"<kml/>"}), "kmz"),
        ("download", zip_of({"doc.kml": b"<kml/>"}), "kmz"),
    ],
)
def test_format_is_detected_from_content_then_extension(filename, data, fmt):
    assert detect_format(filename, data) == fmt


def test_unknown_binary_is_unsupported_format():
    with pytest.raises(ReadError) as info:
        detect_format("report.pdf", b"%PDF-1.7\x00\x01\x02 binary")
    assert info.value.code == "unsupported_format"


def test_garbled_file_with_known_extension_is_unreadable_file():
    with pytest.raises(ReadError) as info:
        read_layers(b"\x00\x01\x02garbage", "network.gpkg")
    assert info.value.code == "unreadable_file"


def test_broken_json_is_unreadable_file():
    with pytest.raises(ReadError) as info:
        read_layers(b'{"type": "FeatureCollection", "features": [', "a.geojson")
    assert info.value.code == "unreadable_file"


def test_empty_upload_is_unreadable_file():
    with pytest.raises(ReadError) as info:
        read_layers(b"  \n", "a.geojson")
    assert info.value.code == "unreadable_file"


def test_bare_shp_without_its_sidecars_is_refused_with_advice():
    with pytest.raises(ReadError) as info:
        read_layers(b"\x00\x00\x27\x0a binary shape", "nodes.shp")
    assert info.value.code == "unsupported_format" and info.value.facts == {"shapefile": "nodes.shp"}


# --- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml", "kmz"])
def test_every_typed_format_round_trips_geometries_and_attributes(fmt):
    content, media_type, extension = write_layers({"nodes": NODES, "segments": SEGMENTS}, fmt)
    layers = read_layers(content, f"export.{extension}")
    assert set(layers) == {"nodes", "segments"}
    assert_same_layer(layers["nodes"], NODES, EXPECTED_NODE_ATTRS)
    assert_same_layer(layers["segments"], SEGMENTS, {"code": ["S-1", "S-2"], "length_m": [1113.2, 2.5]})
    assert media_type


def test_csv_round_trips_geometries_exactly_and_attributes_as_text():
    content, media_type, extension = write_layers({"nodes": NODES}, "csv")
    assert (media_type, extension) == ("text/csv; charset=utf-8", "csv")
    (layer,) = read_layers(content, "nodes.csv").values()
    assert_same_layer(layer, NODES, {k: v for k, v in EXPECTED_NODE_ATTRS.items() if k != "shared"}, as_text=True)
    assert layer["shared"].tolist() == ["True", "False", "True"]
    assert "wkt" not in layer.columns


def test_single_geojson_layer_is_a_named_feature_collection():
    content, media_type, extension = write_layers({"segments": SEGMENTS}, "geojson")
    assert (media_type, extension) == ("application/geo+json", "geojson")
    doc = json.loads(content)
    assert doc["type"] == "FeatureCollection" and doc["name"] == "segments"
    assert list(read_layers(content, "x.geojson")) == ["segments"]


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_several_layers_in_a_one_layer_format_come_as_a_zip_of_files(fmt):
    content, media_type, extension = write_layers({"nodes": NODES, "segments": SEGMENTS}, fmt)
    assert (media_type, extension) == ("application/zip", "zip")
    assert sorted(unzip(content)) == [f"nodes.{fmt}", f"segments.{fmt}"]


def test_kmz_is_a_zip_holding_doc_kml():
    content, _media_type, extension = write_layers({"nodes": NODES}, "kmz")
    assert extension == "kmz" and list(unzip(content)) == ["doc.kml"]


def test_row_column_is_not_written_back():
    layer = read_layers(write_layers({"nodes": NODES}, "geojson")[0], "x.geojson")["nodes"]
    again = read_layers(write_layers({"nodes": layer}, "geojson")[0], "x.geojson")["nodes"]
    assert "_row_attr" not in again.columns and again["_row"].tolist() == [1, 2, 3]


def test_shapefile_writer_splits_mixed_geometry_layers():
    mixed = pd.concat([NODES[["code", "geometry"]], SEGMENTS[["code", "geometry"]]], ignore_index=True)
    layers = read_layers(write_layers({"mixed": gpd.GeoDataFrame(mixed, crs=4326)}, "shp")[0], "x.zip")
    assert sorted(layers) == ["mixed_lines", "mixed_points"]


def test_all_formats_write_something():
    for fmt in FORMATS:
        assert write_layers({"nodes": NODES}, fmt)[0]


def test_unknown_write_format_is_refused():
    with pytest.raises(gio.WriteError) as info:
        write_layers({"nodes": NODES}, "dxf")
    assert info.value.code == "unsupported_format"


# --- CRS ------------------------------------------------------------------------------------------------------


def test_geojson_crs_member_is_transformed_to_lonlat():
    x, y = shapely.get_coordinates(to_metric(Point(104.02, 1.13)))[0]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32648"}},
        "features": [
            {"type": "Feature", "properties": {"code": "A"}, "geometry": {"type": "Point", "coordinates": [x, y]}}
        ],
    }
    (layer,) = read_layers(json.dumps(doc).encode(), "x.geojson").values()
    assert layer.geometry[0].x == pytest.approx(104.02, abs=1e-9) and layer.geometry[0].y == pytest.approx(1.13)


def test_geopackage_in_utm_is_transformed_to_lonlat():
    content, *_ = write_layers({"nodes": NODES.to_crs(UTM48N)}, "gpkg")  # the writer itself goes to 4326
    assert read_layers(content, "x.gpkg")["nodes"].geometry[1].equals_exact(Point(104.02, 1.13), 1e-9)


def test_shapefile_prj_is_honoured(tmp_path):
    NODES.to_crs(UTM48N)[["code", "geometry"]].to_file(tmp_path / "manholes.shp")
    entries = {f"manholes{ext}": (tmp_path / f"manholes{ext}").read_bytes() for ext in (".shp", ".shx", ".dbf", ".prj")}
    layer = read_layers(zip_of(entries), "survey.zip")["manholes"]
    assert layer.crs.to_epsg() == 4326
    assert layer.geometry[1].equals_exact(Point(104.02, 1.13), 1e-9)


def test_csv_crs_argument_is_used_when_the_file_declares_none():
    x, y = shapely.get_coordinates(to_metric(Point(104.02, 1.13)))[0]
    layer = read_layers(f"code,x,y\nA,{x},{y}\n".encode(), "a.csv", crs="EPSG:32648")["a"]
    assert layer.geometry[0].equals_exact(Point(104.02, 1.13), 1e-9)


def test_unknown_crs_is_crs_unknown():
    with pytest.raises(ReadError) as info:
        read_layers(b"lon,lat\n104,1\n", "a.csv", crs="EPSG:999999")
    assert info.value.code == "crs_unknown"


def test_no_crs_declared_means_wgs84():
    layer = read_layers(b"lon,lat\n104.02,1.13\n", "a.csv")["a"]
    assert layer.crs.to_epsg() == 4326 and layer.geometry[0].equals(Point(104.02, 1.13))


# --- CSV ------------------------------------------------------------------------------------------------------


def test_csv_lon_lat_columns_are_found_case_insensitively():
    layer = read_layers(b"Code,Longitude,LAT\nMH-1,104.02,1.13\n", "survey.csv")["survey"]
    assert list(layer.columns) == ["_row", "Code", "geometry"] and layer.geometry[0].equals(Point(104.02, 1.13))


def test_semicolon_csv_with_decimal_commas_is_read():
    layer = read_layers(b"kode;lng;lat\nMH-1;104,02;1,13\n", "a.csv")["a"]
    assert layer.geometry[0].equals(Point(104.02, 1.13)) and layer["kode"][0] == "MH-1"


def test_csv_wkt_column_and_ewkt_srid_are_read():
    x, y = shapely.get_coordinates(to_metric(Point(104.02, 1.13)))[0]
    layer = read_layers(f'WKT,code\n"SRID=32648;POINT ({x} {y})",A\n'.encode(), "a.csv")["a"]
    assert layer.geometry[0].equals_exact(Point(104.02, 1.13), 1e-9)


def test_every_bad_csv_row_is_reported_with_its_row_number():
    text = b"code,lon,lat\nok,104.0,1.1\nbad1,abc,1.1\nok2,104.1,1.1\nbad2,104.2,\nbad3,inf,1\n"
    with pytest.raises(ReadError) as info:
        read_layers(text, "a.csv")
    assert info.value.code == "rows_invalid"
    assert [(row, code) for row, code, _ in info.value.errors] == [
        (2, "coordinate_invalid"),
        (4, "coordinate_invalid"),
        (5, "coordinate_not_finite"),
    ]
    assert info.value.errors[0][2] == {"column": "lon", "value": "abc", "line": 3}
    assert info.value.facts == {"count": 3}


def test_bad_wkt_rows_are_all_reported():
    text = b'wkt,code\n"POINT (104 1)",a\n"POINT (104",b\n"LINESTRING (1 2)",c\n,d\n'
    with pytest.raises(ReadError) as info:
        read_layers(text, "a.csv")
    assert [(row, code) for row, code, _ in info.value.errors] == [(2, "wkt_invalid"), (3, "wkt_invalid")]


def test_blank_geometry_cell_is_kept_as_missing_for_the_checks():
    layer = read_layers(b"code,lon,lat\na,,\n", "a.csv")["a"]
    assert layer.geometry[0] is None


def test_csv_without_geometry_columns_is_csv_no_geometry():
    with pytest.raises(ReadError) as info:
        read_layers(b"code,depth\na,1\n", "a.csv")
    assert info.value.code == "csv_no_geometry" and info.value.facts == {"columns": ["code", "depth"]}


# --- GeoJSON --------------------------------------------------------------------------------------------------


def test_geojson_bad_features_are_all_reported_with_their_row():
    doc = (
        '{"type": "FeatureCollection", "name": "manholes", "features": ['
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [104, 1]}},'
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [NaN, 1]}},'
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": ["104", 1]}},'
        '{"type": "Feature", "properties": {}, "geometry": {"type": "GeometryCollection", "geometries": []}},'
        '"not a feature"]}'
    )
    with pytest.raises(ReadError) as info:
        read_layers(doc.encode(), "a.geojson")
    assert [(row, code) for row, code, _ in info.value.errors] == [
        (2, "coordinate_not_finite"),
        (3, "coordinate_invalid"),
        (4, "geometry_type"),
        (5, "feature_invalid"),
    ]


def test_geojson_layer_takes_the_name_member_and_null_geometry_survives():
    doc = {
        "type": "FeatureCollection",
        "name": "manholes",
        "features": [{"type": "Feature", "id": 7, "properties": {"code": "A"}, "geometry": None}],
    }
    layers = read_layers(json.dumps(doc).encode(), "a.geojson")
    assert list(layers) == ["manholes"]
    assert layers["manholes"].geometry[0] is None and layers["manholes"]["id"][0] == 7


# --- zip safety -----------------------------------------------------------------------------------------------


def shapefile_entries(tmp_path, stem: str = "nodes") -> dict[str, bytes]:
    NODES[["code", "geometry"]].to_file(tmp_path / f"{stem}.shp")
    return {f"{stem}{ext}": (tmp_path / f"{stem}{ext}").read_bytes() for ext in (".shp", ".shx", ".dbf", ".prj")}


@pytest.mark.parametrize("evil", ["../../evil.shp", "/etc/evil.shp", "C:/evil.shp", "ok/..\\..\\evil.dbf"])
def test_zip_entry_escaping_the_archive_is_zip_traversal(tmp_path, evil):
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({**shapefile_entries(tmp_path), evil: b"payload"}), "a.zip")
    assert info.value.code == "zip_traversal"
    assert not os.path.exists("/etc/evil.shp")


def test_zip_symlink_entry_is_zip_symlink(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in shapefile_entries(tmp_path).items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("nodes.cpg")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(ReadError) as info:
        read_layers(buffer.getvalue(), "a.zip")
    assert info.value.code == "zip_symlink"


def test_zip_with_too_many_entries_is_zip_too_large():
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({f"f{i}.txt": b"x" for i in range(201)}), "a.zip")
    assert info.value.code == "zip_too_large"


def test_zip_unpacking_past_the_size_limit_is_zip_too_large(monkeypatch):
    monkeypatch.setattr(gio, "MAX_UNZIPPED_BYTES", 1024 * 1024)
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({"big.dbf": os.urandom(2 * 1024 * 1024)}), "a.zip")
    assert info.value.code == "zip_too_large"


def test_highly_compressed_zip_is_zip_bomb():
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({"nodes.shp": bytes(20 * 1024 * 1024)}), "a.zip")
    assert info.value.code == "zip_bomb"


def test_kmz_gets_the_same_zip_checks():
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({"doc.kml": b"<kml/>", "../x.kml": b"<kml/>"}), "a.kmz")
    assert info.value.code == "zip_traversal"


def test_shapefile_layers_are_named_by_stem_and_readmes_are_ignored(tmp_path):
    entries = {f"survey/{name}": content for name, content in shapefile_entries(tmp_path, "manholes").items()}
    entries["README.txt"] = b"not a csv, do not parse"
    entries["__MACOSX/survey/._manholes.shp"] = b"resource fork"
    layers = read_layers(zip_of(entries), "a.zip")
    assert list(layers) == ["manholes"] and layers["manholes"]["code"].tolist() == NODES["code"].tolist()


def test_shapefile_without_dbf_is_shapefile_incomplete(tmp_path):
    entries = shapefile_entries(tmp_path)
    del entries["nodes.dbf"]
    with pytest.raises(ReadError) as info:
        read_layers(zip_of(entries), "a.zip")
    assert info.value.code == "shapefile_incomplete" and info.value.facts == {"shapefile": "nodes", "missing": [".dbf"]}


def test_zip_without_layers_is_unsupported_format():
    with pytest.raises(ReadError) as info:
        read_layers(zip_of({"letter.docx": b"x"}), "a.zip")
    assert info.value.code == "unsupported_format"


# --- KML ------------------------------------------------------------------------------------------------------

KML = b"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Schema name="survey" id="survey"><SimpleField name="depth_m" type="double"/>
    <SimpleField name="ducts" type="int"/></Schema>
  <Placemark><name>loose</name><Point><coordinates>104.0,1.1</coordinates></Point></Placemark>
  <Folder><name>Manholes</name>
    <Placemark><name>MH-1</name><description>by the road</description>
      <ExtendedData><SchemaData schemaUrl="#survey"><SimpleData name="depth_m">1.5</SimpleData>
        <SimpleData name="ducts">4</SimpleData></SchemaData></ExtendedData>
      <Point><coordinates>104.02,1.13,0</coordinates></Point></Placemark>
  </Folder>
  <Folder><name>Routes</name>
    <Placemark><name>R-1</name><ExtendedData><Data name="owner"><value>BP Batam</value></Data></ExtendedData>
      <MultiGeometry><LineString><coordinates>104.02,1.13 104.03,1.14</coordinates></LineString></MultiGeometry>
    </Placemark>
  </Folder>
</Document></kml>"""


def test_kml_folders_become_layers_and_extended_data_becomes_columns():
    layers = read_layers(KML, "survey.kml")
    assert set(layers) == {"features", "Manholes", "Routes"}
    manholes = layers["Manholes"]
    assert manholes["name"][0] == "MH-1" and manholes["description"][0] == "by the road"
    assert manholes["depth_m"][0] == 1.5 and manholes["ducts"][0] == 4
    assert manholes.geometry[0].equals(Point(104.02, 1.13)) and not manholes.geometry[0].has_z
    assert layers["Routes"]["owner"][0] == "BP Batam"
    assert layers["Routes"].geometry[0].geom_type == "LineString"


def test_kml_external_entity_is_refused_without_reading_the_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name>'
        "<Point><coordinates>104,1</coordinates></Point></Placemark></Document></kml>"
    ).encode()
    with pytest.raises(ReadError) as info:
        read_layers(payload, "evil.kml")
    assert info.value.code == "xml_unsafe"
    assert "TOP-SECRET-TOKEN" not in str(info.value)


def test_kml_entity_expansion_bomb_is_refused():
    payload = (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<kml><Document><Placemark><name>&b;</name></Placemark></Document></kml>"
    )
    with pytest.raises(ReadError) as info:
        read_layers(payload, "evil.kml")
    assert info.value.code == "xml_unsafe"


def test_kml_bad_coordinates_are_reported_per_placemark():
    payload = (
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        b"<Placemark><Point><coordinates>104,1</coordinates></Point></Placemark>"
        b"<Placemark><Point><coordinates>east,north</coordinates></Point></Placemark>"
        b"<Placemark><LineString><coordinates>104,1</coordinates></LineString></Placemark>"
        b"</Document></kml>"
    )
    with pytest.raises(ReadError) as info:
        read_layers(payload, "a.kml")
    assert [(row, code) for row, code, _ in info.value.errors] == [(2, "coordinate_invalid"), (3, "geometry_invalid")]


def test_kml_writer_escapes_markup_and_drops_control_characters():
    frame = gpd.GeoDataFrame(
        {"name": ["<b>&amp;</b>\x01"], "note": ["]]> \x00 ok"]}, geometry=[Point(104, 1)], crs=4326
    )
    content, *_ = write_layers({"x": frame}, "kml")
    layer = read_layers(content, "x.kml")["x"]
    assert layer["name"][0] == "<b>&amp;</b>" and layer["note"][0] == "]]>  ok"
