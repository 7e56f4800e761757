"""Admin-area derivation that uses the GiST index: the containing kelurahan first (index scan), the nearest
one only for points on the shore line. The first version ordered all 64 kelurahan by ST_Intersects for
every row, which dominated bulk imports.

Revision ID: 0008
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE OR REPLACE FUNCTION derive_admin_area() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE probe geometry;
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom THEN
        RETURN NEW;
      END IF;
      probe := CASE WHEN GeometryType(NEW.geom) = 'POINT' THEN NEW.geom ELSE ST_LineInterpolatePoint(NEW.geom, 0.5) END;
      SELECT a.kode, a.parent_kode INTO NEW.kelurahan_kode, NEW.kecamatan_kode
      FROM admin_area a WHERE a.level = 'kelurahan' AND ST_Intersects(a.geom, probe) LIMIT 1;
      IF NEW.kelurahan_kode IS NULL THEN  -- on the shore line or a reclaimed edge: the nearest kelurahan
        SELECT a.kode, a.parent_kode INTO NEW.kelurahan_kode, NEW.kecamatan_kode
        FROM admin_area a WHERE a.level = 'kelurahan' ORDER BY a.geom <-> probe LIMIT 1;
      END IF;
      RETURN NEW;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    CREATE OR REPLACE FUNCTION derive_admin_area() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE probe geometry;
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom THEN
        RETURN NEW;
      END IF;
      probe := CASE WHEN GeometryType(NEW.geom) = 'POINT' THEN NEW.geom ELSE ST_LineInterpolatePoint(NEW.geom, 0.5) END;
      SELECT a.kode, a.parent_kode INTO NEW.kelurahan_kode, NEW.kecamatan_kode
      FROM admin_area a WHERE a.level = 'kelurahan'
      ORDER BY ST_Intersects(a.geom, probe) DESC, a.geom <-> probe LIMIT 1;
      RETURN NEW;
    END $$;
    """)
