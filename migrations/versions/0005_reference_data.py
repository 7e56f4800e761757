"""Reference data: Batam's real administrative boundaries, the admin-area derivation trigger, and the duct
specification catalogue seeded with products common in Indonesia.

Boundaries: MIT, Copyright (c) 2024 Cahya DSN (github.com/cahyadsn/wilayah_boundaries); see
gis/data/batam_admin/LICENSE-wilayah_boundaries-MIT.txt. Five kecamatan rings are invalid ("nested shells") in
the source and are repaired with ST_MakeValid on load.

Revision ID: 0005
"""

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from gis.crs import WGS84

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ADMIN_DIR = Path(__file__).resolve().parents[2] / "gis" / "data" / "batam_admin"

# code, name, kind, size_class, outer mm, inner mm, material, children [(code, count)]
SPECS = [
    ("MD-10/8", "Microduct 10/8 mm", "microduct", "microduct", 10, 8, "HDPE", []),
    ("MD-14/10", "Microduct 14/10 mm", "microduct", "microduct", 14, 10, "HDPE", []),
    ("HDPE-32/26", "HDPE subduct 32/26 mm", "duct", "subduct_32_26", 32, 26, "HDPE", []),
    ("HDPE-40/33", "HDPE duct 40/33 mm", "duct", "subduct_40_33", 40, 33, "HDPE", []),
    ("HDPE-50/42", "HDPE duct 50/42 mm", "duct", "whole_duct", 50, 42, "HDPE", []),
    ("HDPE-40/33-7xMD10", "HDPE 40/33 mm with 7 microducts 10/8", "carrier", None, 40, 33, "HDPE", [("MD-10/8", 7)]),
    ("HDPE-50/42-12xMD10", "HDPE 50/42 mm with 12 microducts 10/8", "carrier", None, 50, 42, "HDPE", [("MD-10/8", 12)]),
    (
        "PVC-110-4x32",
        "PVC 110 mm carrier with 4 subducts 32/26",
        "carrier",
        None,
        110,
        101.6,
        "PVC",
        [("HDPE-32/26", 4)],
    ),
    ("PVC-110-3x40", "PVC 110 mm carrier with 3 ducts 40/33", "carrier", None, 110, 101.6, "PVC", [("HDPE-40/33", 3)]),
]


def _load_admin(conn: sa.Connection) -> None:
    insert = sa.text("""
        INSERT INTO admin_area (kode, nama, level, parent_kode, geom)
        VALUES (:kode, :nama, :level, :parent,
                ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(:geom), :srid)), 3)))""")
    for level, fname in (("kota", "batam_kota"), ("kecamatan", "batam_kecamatan"), ("kelurahan", "batam_kelurahan")):
        data = json.loads((ADMIN_DIR / f"{fname}.geojson").read_text())
        for feat in data["features"]:
            p = feat["properties"]
            parent = {"kota": None, "kecamatan": p["kode"].rsplit(".", 1)[0], "kelurahan": p.get("kode_kec")}[level]
            conn.execute(
                insert,
                {
                    "kode": p["kode"],
                    "nama": p["nama"],
                    "level": level,
                    "parent": parent,
                    "geom": json.dumps(feat["geometry"]),
                    "srid": WGS84,
                },
            )


def _seed_specs(conn: sa.Connection) -> None:
    ids: dict[str, int] = {}
    for code, name, kind, size_class, outer, inner, material, _ in SPECS:
        ids[code] = conn.execute(
            sa.text("""
            INSERT INTO duct_spec (code, name, kind, size_class, outer_diameter_mm, inner_diameter_mm, material,
                                   valid_from)
            VALUES (:code, :name, :kind, :size_class, :outer, :inner, :material, DATE '2020-01-01') RETURNING id"""),
            {
                "code": code,
                "name": name,
                "kind": kind,
                "size_class": size_class,
                "outer": outer,
                "inner": inner,
                "material": material,
            },
        ).scalar_one()
    for code, *_, children in SPECS:
        for child, count in children:
            conn.execute(
                sa.text("INSERT INTO duct_spec_child (parent_id, child_id, count) VALUES (:p, :c, :n)"),
                {"p": ids[code], "c": ids[child], "n": count},
            )


def upgrade() -> None:
    conn = op.get_bind()
    _load_admin(conn)
    _seed_specs(conn)
    op.execute("""
    CREATE FUNCTION derive_admin_area() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE probe geometry;
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom THEN
        RETURN NEW;
      END IF;
      probe := CASE WHEN GeometryType(NEW.geom) = 'POINT' THEN NEW.geom ELSE ST_LineInterpolatePoint(NEW.geom, 0.5) END;
      -- the containing kelurahan, or on the shore line the nearest one
      SELECT a.kode, a.parent_kode INTO NEW.kelurahan_kode, NEW.kecamatan_kode
      FROM admin_area a WHERE a.level = 'kelurahan'
      ORDER BY ST_Intersects(a.geom, probe) DESC, a.geom <-> probe LIMIT 1;
      RETURN NEW;
    END $$;
    CREATE TRIGGER node_admin_area BEFORE INSERT OR UPDATE OF geom ON node
      FOR EACH ROW EXECUTE FUNCTION derive_admin_area();
    CREATE TRIGGER route_segment_admin_area BEFORE INSERT OR UPDATE OF geom ON route_segment
      FOR EACH ROW EXECUTE FUNCTION derive_admin_area();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER route_segment_admin_area ON route_segment; DROP TRIGGER node_admin_area ON node;
    DROP FUNCTION derive_admin_area();
    DELETE FROM duct_spec_child; DELETE FROM duct_spec; DELETE FROM admin_area;
    """)
