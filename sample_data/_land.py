"""The land the network may use: the central kecamatan, cut to Batam's main island, in UTM metres."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import UTM48N, WGS84
from sample_data._places import DISTRICTS

KELURAHAN_PATH = Path(__file__).resolve().parent.parent / "gis" / "data" / "batam_admin" / "batam_kelurahan.geojson"


def load_kelurahan() -> gpd.GeoDataFrame:
    """The kelurahan boundaries of Kota Batam, EPSG:4326."""
    frame = gpd.read_file(KELURAHAN_PATH)
    return frame.set_crs(WGS84, allow_override=True)


def _union(geometries: object) -> BaseGeometry:
    # Some source polygons are invalid "nested shells"; repair both the parts and the result.
    return shapely.make_valid(shapely.union_all(shapely.make_valid(geometries)))


@lru_cache(maxsize=1)
def district_land() -> tuple[BaseGeometry, ...]:
    """Each district's land on the main island, in `DISTRICTS` order, UTM 48N.

    Islets and the neighbouring islands (Rempang, Ngenang, ...) are left out: the main island is the largest
    part of the union of all central kelurahan.
    """
    kelurahan = load_kelurahan().to_crs(UTM48N)
    central = kelurahan[kelurahan["kecamatan"].isin([d.name for d in DISTRICTS])]
    main_island = max(shapely.get_parts(_union(central.geometry.values)), key=lambda part: part.area)
    lands = []
    for district in DISTRICTS:
        own = central.geometry.values[central["kecamatan"].values == district.name]
        land = shapely.make_valid(_union(own).intersection(main_island))
        lands.append(shapely.union_all([p for p in shapely.get_parts(land) if p.geom_type == "Polygon"]))
    return tuple(lands)


@lru_cache(maxsize=1)
def island_land() -> BaseGeometry:
    """All central districts' land on the main island as one geometry, UTM 48N: trunk links may cross borders."""
    return shapely.make_valid(shapely.union_all(district_land()))


def district_at(xy: np.ndarray) -> np.ndarray:
    """Index in `DISTRICTS` of the land each UTM point lies on; the nearest land for a point on a border crack."""
    points = shapely.points(xy)
    distance = np.column_stack([shapely.distance(land, points) for land in district_land()])
    return np.argmin(distance, axis=1)
