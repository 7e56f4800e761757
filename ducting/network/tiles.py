"""Mapbox vector tiles of the network at `/tiles/{layer}/{z}/{x}/{y}.pbf`, built by `ST_AsMVT`.

Why this path is lean: tipg loses a fixed 3-4 ms per tile outside PostgreSQL (PEERS.md). Here a tile is one
round trip on an autocommit connection from an async psycopg pool: the token check and the tile are the same
statement (an uncorrelated `EXISTS` the planner runs once, before any tile work), psycopg prepares it after a
few uses, and no ORM session, transaction or thread hop is involved. The pool's connections turn parallel
query off: on 2 cores it made a z14 tile slower, not faster (PEERS.md).

Caching: the ETag is a digest of the tile bytes, so `If-None-Match` gets a 304 without the body, and
`Cache-Control: private` keeps authenticated tiles out of shared caches. Occupancy (free / nearly full / full)
is for today in WIB, counted the same way as the routing graph: operational, unreserved subducts on live ducts,
less those held (unexpired), leased or under notice today.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.engine import make_url
from starlette.responses import Response

from ducting.auth import SESSION_COOKIE, token_digest
from ducting.errors import InvalidInput, NotFound, Unauthenticated
from ducting.settings import get_settings
from gis.crs import WEB_MERCATOR, WGS84
from gis.tiles import BUFFER, EXTENT, Tile, TileError

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "private, max-age=60, stale-while-revalidate=300"
PUBLIC_CACHE_CONTROL = "public, max-age=86400"  # boundaries change with a migration, not with edits

_AUTH = """(SELECT EXISTS (SELECT 1 FROM api_token t JOIN account a ON a.id = t.account_id
            WHERE t.token_hash = %(token)s AND t.revoked_at IS NULL AND t.expires_at > now() AND a.is_active))"""
_ENVELOPE = f"ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, {WEB_MERCATOR})"
_FILTER = f"ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, {WGS84})"


@dataclass(frozen=True)
class Layer:
    name: str
    min_zoom: int
    rows_sql: str  # SELECT ... AS geom FROM ... WHERE ...: the features of one tile, `geom` already MVT geometry
    public: bool = False  # the boundaries are public data (the citizen report page shows them without a login)

    def sql(self) -> str:
        allowed = "true" if self.public else _AUTH
        return (f"SELECT {allowed} AS allowed, (SELECT ST_AsMVT(q, '{self.name}', {EXTENT}, 'geom', 'id') FROM "
                f"({self.rows_sql}) q WHERE q.geom IS NOT NULL AND {allowed}) AS tile")


def _mvt_geom(column: str) -> str:
    return f"ST_AsMVTGeom(ST_Transform({column}, {WEB_MERCATOR}), {_ENVELOPE}, {EXTENT}, {BUFFER}, true)"


# Usable and free subducts per segment today: the same rule as ducting.leasing.routing's graph.
_OCCUPANCY = """
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE u.usable) AS usable, count(*) FILTER (WHERE u.usable AND NOT u.busy) AS free
        FROM (SELECT (sd.status = 'operational' AND NOT sd.is_reserved AND d.status = 'operational') AS usable,
                     EXISTS (SELECT 1 FROM allocation a WHERE a.subduct_id = sd.id
                             AND a.status IN ('held', 'active', 'terminated') AND a.period @> CURRENT_DATE
                             AND (a.status <> 'held' OR a.hold_expires_at > now())) AS busy
              FROM subduct sd JOIN duct d ON d.id = sd.duct_id WHERE sd.segment_id = s.id) u
    ) o ON true"""

LAYERS: dict[str, Layer] = {
    # The overview layer stays lean (what the map draws first); occupancy is its own layer, fetched only when the
    # map is coloured by occupancy, because counting subducts costs about five times the geometry (bench/tiles.py).
    "segments": Layer("segments", 8, f"""
        SELECT s.id, s.code, s.status::text AS status, {_mvt_geom('s.geom')} AS geom
        FROM route_segment s WHERE s.removed_at IS NULL AND s.geom && {_FILTER}"""),
    "occupancy": Layer("occupancy", 8, f"""
        SELECT s.id, s.code, s.status::text AS status, s.zone_class::text AS zone_class,
               round(s.length_m)::int AS length_m, o.usable::int AS usable, o.free::int AS free,
               CASE WHEN o.usable = 0 THEN 'none' WHEN o.free = 0 THEN 'full'
                    WHEN o.free < %(near_full)s * o.usable THEN 'nearly_full' ELSE 'free' END AS occupancy,
               {_mvt_geom('s.geom')} AS geom
        FROM route_segment s {_OCCUPANCY}
        WHERE s.removed_at IS NULL AND s.geom && {_FILTER}"""),
    "nodes": Layer("nodes", 12, f"""
        SELECT n.id, n.code, n.kind::text AS kind, n.status::text AS status, {_mvt_geom('n.geom')} AS geom
        FROM node n WHERE n.removed_at IS NULL AND n.geom && {_FILTER}"""),
    **{level: Layer(level, 0, f"""
        SELECT row_number() OVER () AS id, k.kode, k.nama,
               ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(k.geom, {WEB_MERCATOR}), %(px)s),
                            {_ENVELOPE}, {EXTENT}, {BUFFER}, true) AS geom
        FROM admin_area k WHERE k.level = '{level}' AND k.geom && {_FILTER}""", public=True)
       for level in ("kecamatan", "kelurahan")},
}


def tile_params(tile: Tile, token: str | None) -> dict[str, Any]:
    x0, y0, x1, y1 = tile.bounds_3857()
    w, s, e, n = tile.bounds_lonlat()
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "w": w, "s": s, "e": e, "n": n,
            "px": tile.metres_per_pixel() / 2, "near_full": get_settings().leasing.near_full_share,
            "token": token_digest(token or "")}


# -- the pool -------------------------------------------------------------------------------------------------------
class TilePool:
    """One async pool per event loop (a test client runs a loop per test; a server has one)."""

    def __init__(self) -> None:
        self._pools: dict[int, Any] = {}

    def conninfo(self) -> str:
        from ducting.db import database_url

        settings = get_settings()
        url = make_url(database_url(settings)).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def get(self) -> Any:
        from psycopg_pool import AsyncConnectionPool

        loop = asyncio.get_running_loop()
        pool = self._pools.get(id(loop))
        if pool is None:
            timeout = get_settings().db.statement_timeout_ms
            pool = AsyncConnectionPool(
                self.conninfo(), min_size=1, max_size=get_settings().db.pool_size, open=False,
                kwargs={"autocommit": True, "options": f"-c statement_timeout={timeout} -c timezone=Asia/Jakarta"
                                                       " -c max_parallel_workers_per_gather=0"})
            await pool.open()
            self._pools = {id(loop): pool}  # a finished loop's pool is unusable; drop it
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools = {}


POOL = TilePool()


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


@router.get("/tiles/{layer}/{z}/{x}/{y}.pbf", response_class=Response, summary="A Mapbox vector tile of one layer",
            responses={200: {"content": {MVT: {}}}, 304: {"description": "Not modified (ETag)"}})
async def tile(layer: str, z: int, x: int, y: int, request: Request) -> Response:
    spec = LAYERS.get(layer)
    if spec is None:
        raise NotFound(f"no tile layer {layer!r}; layers: {', '.join(LAYERS)}")
    try:
        where = Tile(z, x, y)
    except TileError as exc:
        raise InvalidInput(str(exc), code="bad_tile") from exc
    token = _token(request)
    if not token and not spec.public:
        raise Unauthenticated("sign in first: send `Authorization: Bearer <token>` (POST /api/v1/auth/token)")
    if z < spec.min_zoom:
        body = b""
        allowed = spec.public or await _allowed(token or "")
    else:
        pool = await POOL.get()
        async with pool.connection() as conn:
            cur = await conn.execute(spec.sql(), tile_params(where, token))
            allowed, body = await cur.fetchone()
        body = bytes(body or b"")
    if not allowed:
        raise Unauthenticated("the token is unknown, expired or revoked", code="token_invalid")
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": PUBLIC_CACHE_CONTROL if spec.public else CACHE_CONTROL,
               "Vary": "Authorization, Cookie"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MVT, headers=headers)


async def _allowed(token: str) -> bool:
    pool = await POOL.get()
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT {_AUTH}", {"token": token_digest(token)})
        return bool((await cur.fetchone())[0])
