"""Small readable networks, laid out in metres from a point in Batam Centre."""

from __future__ import annotations

from typing import Any

from gis.crs import to_lonlat, to_metric

ORIGIN_LONLAT = (104.0530, 1.1290)  # near Batam Centre, on land
ORIGIN_XY = to_metric(*ORIGIN_LONLAT)


def at(dx: float, dy: float) -> list[float]:
    """[lon, lat] of the point dx metres east and dy metres north of the origin."""
    lon, lat = to_lonlat(ORIGIN_XY[0] + dx, ORIGIN_XY[1] + dy)
    return [lon, lat]


def point(dx: float, dy: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": at(dx, dy)}


def line(*pts: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [at(x, y) for x, y in pts]}


def node_body(code: str, dx: float, dy: float, kind: str = "manhole", **extra: Any) -> dict[str, Any]:
    return {"code": code, "kind": kind, "geometry": point(dx, dy), **extra}


def segment_body(code: str, *pts: tuple[float, float], **extra: Any) -> dict[str, Any]:
    return {"code": code, "geometry": line(*pts), **extra}
