"""XYZ tile math for Web Mercator (EPSG:3857) vector tiles: envelopes, validity and tile lookup.

Tiles follow the usual slippy-map scheme (x to the east, y to the south, z from 0). Envelopes are computed
here, in Python, so the SQL receives plain numbers and filters the stored EPSG:4326 column by an envelope
already in its CRS (the GiST index is then used, as for bbox queries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ORIGIN_M = 20037508.342789244
"""Half the width of the Web Mercator square, metres (pi * 6378137)."""
MAX_ZOOM = 24
EXTENT = 4096
"""Tile coordinate extent in an MVT tile (the specification's default)."""
BUFFER = 64
"""Pixels (in extent units) kept around a tile so lines and symbols are not cut at its edge."""


class TileError(ValueError):
    """A z/x/y that names no tile; `facts` say which bound it breaks (`max_zoom`, or `max_index` at that zoom)."""

    def __init__(self, **facts: int) -> None:
        self.facts: dict[str, Any] = facts
        super().__init__(f"no such tile: {facts}")


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        if not 0 <= self.z <= MAX_ZOOM:
            raise TileError(z=self.z, max_zoom=MAX_ZOOM)
        n = 1 << self.z
        if not (0 <= self.x < n and 0 <= self.y < n):
            raise TileError(z=self.z, x=self.x, y=self.y, max_index=n - 1)

    def bounds_3857(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in Web Mercator metres."""
        size = 2 * ORIGIN_M / (1 << self.z)
        minx = -ORIGIN_M + self.x * size
        maxy = ORIGIN_M - self.y * size
        return minx, maxy - size, minx + size, maxy

    def bounds_lonlat(self, *, buffer: int = BUFFER) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees, grown by `buffer` extent units on each side: the filter box."""
        minx, miny, maxx, maxy = self.bounds_3857()
        pad = (maxx - minx) * buffer / EXTENT
        west, south = mercator_to_lonlat(minx - pad, miny - pad)
        east, north = mercator_to_lonlat(maxx + pad, maxy + pad)
        return west, south, east, north

    def metres_per_pixel(self, tile_px: int = 256) -> float:
        """Ground resolution at the equator for a `tile_px`-pixel tile (a simplification tolerance)."""
        return 2 * ORIGIN_M / (1 << self.z) / tile_px


def mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    lon = x / ORIGIN_M * 180.0
    lat = math.degrees(2 * math.atan(math.exp(y / ORIGIN_M * math.pi)) - math.pi / 2)
    return max(-180.0, min(180.0, lon)), lat


def tile_at(lon: float, lat: float, z: int) -> Tile:
    """The tile holding a lon/lat point at zoom z."""
    n = 1 << z
    lat = max(-85.05112878, min(85.05112878, lat))
    x = int((lon + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return Tile(z, min(max(x, 0), n - 1), min(max(y, 0), n - 1))


def tiles_covering(bbox: tuple[float, float, float, float], z: int) -> list[Tile]:
    """Every tile at zoom z that intersects a (west, south, east, north) box, row by row."""
    top_left, bottom_right = tile_at(bbox[0], bbox[3], z), tile_at(bbox[2], bbox[1], z)
    return [Tile(z, x, y) for y in range(top_left.y, bottom_right.y + 1) for x in range(top_left.x, bottom_right.x + 1)]
