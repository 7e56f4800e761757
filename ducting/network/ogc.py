"""OGC API - Features Part 1 (Core, GeoJSON, OpenAPI 3.0) at /api/v1, so GDAL (`OAPIF:`) and QGIS open the
layers directly. Item pages are JSON built by PostGIS; Python only wraps the envelope around it."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, overload
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from ducting import calendar
from ducting.auth import ReaderDep, read_as_caller
from ducting.db import Actor
from ducting.errors import FieldError, InvalidInput, NotFound
from ducting.network import queries
from ducting.network.schemas import (
    CollectionOut,
    CollectionsOut,
    ConformanceOut,
    FeatureCollectionOut,
    FeatureOut,
    LandingOut,
)
from ducting.replica import ReadSessionDep
from ducting.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["ogc-features"])
GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """GeoJSON text built in SQL, sent as it is: the route's `responses=` documents its shape and nothing validates
    or re-encodes it (a JSONResponse only so that OpenAPI shows that shape)."""

    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return content.encode() if isinstance(content, str) else super().render(content)


CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


async def parse_bbox(
    bbox: str | None = Query(default=None, description="minLon,minLat,maxLon,maxLat (CRS84)"),
) -> tuple[float, float, float, float] | None:
    """The `bbox` query parameter (async: a dependency without I/O runs on the event loop, with no thread hop)."""
    return bbox_values(bbox)


@overload
def bbox_values(bbox: str) -> tuple[float, float, float, float]: ...
@overload
def bbox_values(bbox: None) -> None: ...
def bbox_values(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise _bbox_error(value=bbox[:80])
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    minx, miny, maxx, maxy = values
    if abs(miny) > 90 or abs(maxy) > 90:
        if abs(minx) <= 90 and abs(maxx) <= 90:  # lat,lon order: say the bbox it probably meant
            raise _bbox_error(value=bbox[:80], suggested=",".join(f"{v:g}" for v in (miny, minx, maxy, maxx)))
        raise _bbox_error(value=bbox[:80], min_lat=miny, max_lat=maxy)
    if minx > maxx or miny > maxy:
        raise _bbox_error(value=bbox[:80], minimum=minx if minx > maxx else miny, maximum=maxx if minx > maxx else maxy)
    return minx, miny, maxx, maxy


def _bbox_error(**facts: Any) -> InvalidInput:
    return InvalidInput(code="bad_bbox", errors=[FieldError("bbox", "bad_bbox", **facts)], **facts)


async def parse_as_of(
    as_of: datetime | None = Query(default=None, description="Show the network as it was then (ISO 8601)"),
) -> datetime | None:
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput(code="bad_as_of", value=as_of.isoformat())
    return as_of


BBox = Annotated[tuple[float, float, float, float] | None, Depends(parse_bbox)]
AsOf = Annotated[datetime | None, Depends(parse_as_of)]


def _collection(collection_id: str) -> queries.Collection:
    col = queries.COLLECTIONS.get(collection_id)
    if col is None:
        raise NotFound(what="collection", ref=collection_id[:60])
    return col


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api/v1"


@router.get("/", response_model=LandingOut, response_model_exclude_unset=True, summary="OGC API landing page")
def landing(request: Request, actor: ReaderDep) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "BEDELAU Ducting - jaringan ducting bersama Kota Batam",
        "description": "Shared underground duct network of Batam: nodes, route segments, ducts.",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {
                "href": str(request.base_url).rstrip("/") + "/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "OpenAPI definition",
            },
            {
                "href": str(request.base_url).rstrip("/") + "/docs",
                "rel": "service-doc",
                "type": "text/html",
                "title": "API documentation",
            },
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


@router.get("/conformance", response_model=ConformanceOut)
def conformance(actor: ReaderDep) -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def _collection_doc(request: Request, col: queries.Collection, extent: list[float] | None) -> dict[str, Any]:
    base = _base(request)
    doc: dict[str, Any] = {
        "id": col.id,
        "title": col.title,
        "description": col.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            {"href": f"{base}/collections/{col.id}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{col.id}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if extent:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return doc


@router.get("/collections", response_model=CollectionsOut, response_model_exclude_unset=True)
def collections(request: Request, session: ReadSessionDep, actor: ReaderDep) -> dict[str, Any]:
    base = _base(request)
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": [
            _collection_doc(request, c, queries.collection_extent(session, c)) for c in queries.COLLECTIONS.values()
        ],
    }


@router.get("/collections/{collection_id}", response_model=CollectionOut, response_model_exclude_unset=True)
def collection(collection_id: str, request: Request, session: ReadSessionDep, actor: ReaderDep) -> dict[str, Any]:
    col = _collection(collection_id)
    return _collection_doc(request, col, queries.collection_extent(session, col))


@router.get(
    "/collections/{collection_id}/items",
    response_class=GeoJSONResponse,
    responses={200: {"model": FeatureCollectionOut, "description": "A GeoJSON FeatureCollection"}},
)
async def items(
    collection_id: str,
    request: Request,
    session: ReadSessionDep,
    bbox: BBox,
    as_of: AsOf,
    limit: int = Query(default=None, ge=1, description="Features per page"),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Response:
    """The map's hottest read: the caller check and the page run in one worker thread (`read_as_caller`)."""
    api = get_settings().api
    limit = min(limit or api.page_limit_default, api.page_limit_max)

    def page(actor: Actor) -> tuple[str, int, bool]:
        col = _collection(collection_id)  # after the caller check: an anonymous caller learns nothing
        equals = {k: v for k, v in request.query_params.items() if k in col.filters}
        return queries.feature_page(session, col, bbox=bbox, limit=limit, offset=offset, as_of=as_of, equals=equals)

    features, returned, more = await read_as_caller(request, session, page)
    links = [_page_link(request, "self", offset, limit)]
    if more:
        links.append(_page_link(request, "next", offset + limit, limit))
    if offset > 0:
        links.append(_page_link(request, "prev", max(offset - limit, 0), limit))
    stamp = calendar.now().isoformat(timespec="seconds")
    envelope = f'{{"type":"FeatureCollection","numberReturned":{returned},"timeStamp":"{stamp}","links":{_json(links)},"features":'
    return GeoJSONResponse(envelope + features + "}")


def _page_link(request: Request, rel: str, offset: int, limit: int) -> dict[str, str]:
    params = dict(request.query_params)
    params.update(offset=str(offset), limit=str(limit))
    return {"href": f"{str(request.url).split('?')[0]}?{urlencode(params)}", "rel": rel, "type": GEOJSON}


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=GeoJSONResponse,
    responses={200: {"model": FeatureOut, "description": "A GeoJSON Feature"}},
)
def item(collection_id: str, feature_id: str, session: ReadSessionDep, actor: ReaderDep, as_of: AsOf) -> Response:
    col = _collection(collection_id)
    feature = queries.feature_one(session, col, feature_id, as_of=as_of)
    if feature is None:
        raise NotFound(what="feature", ref=str(feature_id)[:60], collection=collection_id)
    return GeoJSONResponse(feature)
