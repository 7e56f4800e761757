"""The project's coordinate reference systems, named once.

Storage and exchange use WGS 84 longitude/latitude (EPSG:4326): GeoJSON, OGC API Features, GDAL and the
browser all speak it, so nothing is transformed on the hot read paths. Every metre (lengths billed, snapping
tolerances, buffers, "within 15 m") comes from UTM zone 48N (EPSG:32648), the zone Batam (about 104° E, 1° N)
sits in, or from the spheroid. No other module writes an SRID literal.
"""

from __future__ import annotations

from functools import cache

from pyproj import Geod, Transformer

WGS84 = 4326
"""Storage and exchange CRS (lon/lat, GeoJSON axis order)."""
UTM48N = 32648
"""Metric CRS for Batam: lengths, distances, buffers."""
WEB_MERCATOR = 3857
"""Vector tile CRS."""

GEOD = Geod(ellps="WGS84")
"""The spheroid, for geodesic lengths that check the UTM ones."""


@cache
def transformer(src: int, dst: int) -> Transformer:
    """A cached pyproj transformer in x/y (lon/lat) order."""
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(lon: float, lat: float) -> tuple[float, float]:
    """Project one lon/lat pair to UTM 48N metres."""
    return transformer(WGS84, UTM48N).transform(lon, lat)


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Unproject one UTM 48N pair to lon/lat."""
    return transformer(UTM48N, WGS84).transform(x, y)
