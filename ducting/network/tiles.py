"""Mapbox vector tiles of the network at `/tiles/{layer}/{z}/{x}/{y}.pbf`, built by `ST_AsMVT`.

Why this path is lean: tipg loses a fixed 3-4 ms per tile outside PostgreSQL (bench/README.md, "Peer figures"). Here a tile is one
round trip on an autocommit connection from an async psycopg pool: the token check and the tile are the same
statement (an uncorrelated `EXISTS` the planner runs once, before any tile work), psycopg prepares it after a
few uses, the tile comes back in binary (not as hex text), and no ORM session, transaction or thread hop is
involved. `TileFastPath`, a plain ASGI middleware, answers before FastAPI's routing and dependency machinery,
which cost about as much as a z16 tile itself. The pool's connections turn parallel query off: on 2 cores it
made a z14 tile slower, not faster (18.9 ms against 6.8 ms: bench/README.md, "Peer figures").

Caching: the ETag is a digest of the tile bytes, so `If-None-Match` gets a 304 without the body, and
`Cache-Control: private` keeps authenticated tiles out of shared caches. Occupancy (free / nearly full / full)
is for today in WIB, counted by the database's `segment_space` (migration 0034), the routing graph's own rule:
usable subducts, and those no allocation holds today.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from psycopg_pool import PoolTimeout
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ducting.auth import SESSION_COOKIE, token_digest
from ducting.errors import DomainError, InvalidInput, NotFound, ServiceUnavailable, Unauthenticated, language_of, render
from ducting.ops.context import ROUTE_LABEL
from ducting.replica import READS, RW_COOKIE
from ducting.schemas_base import file_responses
from ducting.settings import get_settings
from gis.crs import WEB_MERCATOR, WGS84
from gis.tiles import BUFFER, EXTENT, Tile, TileError

log = logging.getLogger("ducting.tiles")
router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "private, max-age=60, stale-while-revalidate=300"
PUBLIC_CACHE_CONTROL = "public, max-age=86400"  # boundaries change with a migration, not with edits

TOKEN_CHECK = """(SELECT EXISTS (SELECT 1 FROM api_token t JOIN account a ON a.id = t.account_id
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
        return _statement(self)


@cache
def _statement(layer: Layer) -> str:
    """The tile statement of a layer, built once (psycopg keys its prepared statements by the text)."""
    allowed = "true" if layer.public else TOKEN_CHECK
    return (
        f"SELECT {allowed} AS allowed, (SELECT ST_AsMVT(q, '{layer.name}', {EXTENT}, 'geom', 'id') FROM "
        f"({layer.rows_sql}) q WHERE q.geom IS NOT NULL AND {allowed}) AS tile"
    )


def _mvt_geom(column: str) -> str:
    return f"ST_AsMVTGeom(ST_Transform({column}, {WEB_MERCATOR}), {_ENVELOPE}, {EXTENT}, {BUFFER}, true)"


# Usable and free subducts per segment today, as leasing counts them (the database's one rule)
_OCCUPANCY = """
    LEFT JOIN LATERAL segment_space(s.id, daterange(CURRENT_DATE, CURRENT_DATE, '[]'), now()) o ON true"""

LAYERS: dict[str, Layer] = {
    # The overview layer stays lean (what the map draws first); occupancy is its own layer, fetched only when the
    # map is coloured by occupancy, because counting subducts costs about five times the geometry (bench/tiles.py).
    "segments": Layer(
        "segments",
        8,
        f"""
        SELECT s.id, s.code, s.status::text AS status, {_mvt_geom("s.geom")} AS geom
        FROM route_segment s WHERE s.removed_at IS NULL AND s.geom && {_FILTER}""",
    ),
    "occupancy": Layer(
        "occupancy",
        8,
        f"""
        SELECT s.id, s.code, s.status::text AS status, s.zone_class::text AS zone_class,
               round(s.length_m)::int AS length_m, o.usable::int AS usable, o.free::int AS free,
               CASE WHEN o.usable = 0 THEN 'none' WHEN o.free = 0 THEN 'full'
                    WHEN o.free < %(near_full)s * o.usable THEN 'nearly_full' ELSE 'free' END AS occupancy,
               {_mvt_geom("s.geom")} AS geom
        FROM route_segment s {_OCCUPANCY}
        WHERE s.removed_at IS NULL AND s.geom && {_FILTER}""",
    ),
    "nodes": Layer(
        "nodes",
        12,
        f"""
        SELECT n.id, n.code, n.kind::text AS kind, n.status::text AS status, {_mvt_geom("n.geom")} AS geom
        FROM node n WHERE n.removed_at IS NULL AND n.geom && {_FILTER}""",
    ),
    **{
        level: Layer(
            level,
            0,
            f"""
        SELECT row_number() OVER () AS id, k.kode, k.nama,
               ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(k.geom, {WEB_MERCATOR}), %(px)s),
                            {_ENVELOPE}, {EXTENT}, {BUFFER}, true) AS geom
        FROM admin_area k WHERE k.level = '{level}' AND k.geom && {_FILTER}""",
            public=True,
        )
        for level in ("kecamatan", "kelurahan")
    },
}


def tile_params(tile: Tile, token: str | None) -> dict[str, Any]:
    x0, y0, x1, y1 = tile.bounds_3857()
    w, s, e, n = tile.bounds_lonlat()
    return {
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "w": w,
        "s": s,
        "e": e,
        "n": n,
        "px": tile.metres_per_pixel() / 2,
        "near_full": get_settings().leasing.near_full_share,
        "token": token_digest(token or ""),
    }


# -- the pools -----------------------------------------------------------------------------------------------------
class TilePool:
    """One async pool per event loop (a test client runs a loop per test; a server has one), on the primary or on
    the read replica (`ducting.replica`). Each connection is checked as it is handed out, and a request waits at
    most `DUCTING_POOL_TIMEOUT_S` for one: a database restart or a failover costs the requests in flight, not the
    ones after it, and a database that is away answers 503 in seconds, not half a minute."""

    def __init__(self, *, replica: bool = False) -> None:
        self.replica = replica
        self._pools: dict[int, Any] = {}

    def conninfo(self) -> str:
        from ducting.db import database_url, libpq_conninfo
        from ducting.replica import replica_url

        settings = get_settings()
        url = replica_url(settings) if self.replica else database_url(settings)
        if url is None:
            raise RuntimeError("no read replica is configured")
        return libpq_conninfo(url)

    async def get(self) -> Any:
        from psycopg_pool import AsyncConnectionPool

        from ducting.db import connect_options

        loop = asyncio.get_running_loop()
        pool = self._pools.get(id(loop))
        if pool is None:
            settings = get_settings()
            kwargs = {"autocommit": True} | connect_options(settings, extra=" -c max_parallel_workers_per_gather=0")
            pool = AsyncConnectionPool(
                self.conninfo(),
                min_size=1,
                max_size=settings.db.pool_size,
                open=False,
                check=AsyncConnectionPool.check_connection,
                timeout=settings.db.pool_timeout_s,
                kwargs=kwargs,
            )
            await pool.open()
            self._pools = {id(loop): pool}  # a finished loop's pool is unusable; drop it
        return pool

    def sample(self, name: str) -> None:
        from ducting.ops.metrics import sample_async_pool

        for pool in self._pools.values():
            sample_async_pool(name, pool)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools = {}


POOL = TilePool()
REPLICA_POOL = TilePool(replica=True)


def _token_from(authorization: str, cookie: str) -> str | None:
    """The Bearer token, else the browser's session cookie (the same precedence as ducting.auth)."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return cookie_parser(cookie).get(SESSION_COOKIE) if cookie else None


async def _query(pool: Any, spec: Layer, where: Tile, z: int, token: str | None) -> tuple[bool, Any]:
    """(allowed, tile bytes) from one connection of `pool`: one statement."""
    async with pool.connection() as conn:
        if z < spec.min_zoom:
            if spec.public:
                return True, b""
            row = await (await conn.execute(f"SELECT {TOKEN_CHECK}", {"token": token_digest(token or "")})).fetchone()
            return bool(row[0]), b""
        # binary=True: the tile comes back as bytes, not as hex text twice its size to decode
        cur = await conn.execute(spec.sql(), tile_params(where, token), binary=True)
        allowed, body = await cur.fetchone()
        return bool(allowed), body


async def render_tile(
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    token: str | None,
    if_none_match: str = "",
    prefer_replica: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one tile request: 200 with the tile, or 304 when the ETag matches. Raises
    DomainError (404 layer, 422 tile, 401 token). Shared by the fast path and the documented FastAPI route.
    `prefer_replica`: read from the replica when it is in use (`ducting.replica`), else from the primary."""
    spec = LAYERS.get(layer)
    if spec is None:
        raise NotFound(what="tile_layer", ref=layer[:40], layers=list(LAYERS))
    try:
        where = Tile(z, x, y)
    except TileError as exc:
        raise InvalidInput(code="bad_tile", **exc.facts) from exc
    if not token and not spec.public:
        raise Unauthenticated()
    if prefer_replica and READS.usable and READS.url() is not None:
        try:
            allowed, body = await _query(await REPLICA_POOL.get(), spec, where, z, token)
        except (psycopg.OperationalError, PoolTimeout) as exc:  # the primary answers instead
            READS.mark_down(f"a tile failed there: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            allowed, body = await _query(await POOL.get(), spec, where, z, token)
        else:
            if not allowed:  # a token issued a moment ago may not have reached the replica: the primary decides
                allowed, body = await _query(await POOL.get(), spec, where, z, token)
    else:
        allowed, body = await _query(await POOL.get(), spec, where, z, token)
    if not allowed:
        raise Unauthenticated(code="token_invalid")
    body = bytes(body or b"")
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {
        "etag": etag,
        "cache-control": PUBLIC_CACHE_CONTROL if spec.public else CACHE_CONTROL,
        "vary": "Authorization, Cookie",
    }
    if etag in if_none_match:
        return 304, headers, b""
    return 200, headers | {"content-type": MVT}, body


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    summary="A Mapbox vector tile of one layer",
    responses=file_responses("The tile", MVT) | {304: {"description": "Not modified (ETag)"}},
)
async def tile(layer: str, z: int, x: int, y: int, request: Request) -> Response:
    """Documents the endpoint; in the app, `TileFastPath` answers these requests before routing."""
    status, headers, body = await render_tile(
        layer,
        z,
        x,
        y,
        token=_token_from(request.headers.get("authorization", ""), request.headers.get("cookie", "")),
        if_none_match=request.headers.get("if-none-match", ""),
        prefer_replica=READS.wants_replica(request.cookies.get(RW_COOKIE)),
    )
    return Response(body, status_code=status, headers=headers)


async def may_read_tiles(token: str | None, *, prefer_replica: bool) -> bool:
    """Whether `token` may read the network's tiles (every signed-in role may): the proxy's question before it
    answers a tile from its cache (`GET /tiles/access`, deploy/nginx/bedelau.conf)."""
    if not token:
        return False
    check = Layer("access", 99, "SELECT NULL::geometry AS geom")  # below its min zoom: the token check alone
    if prefer_replica and READS.usable and READS.url() is not None:
        try:
            if (await _query(await REPLICA_POOL.get(), check, Tile(0, 0, 0), 0, token))[0]:
                return True
        except (psycopg.OperationalError, PoolTimeout) as exc:
            READS.mark_down(f"a token check failed there: {str(exc).splitlines()[0] if str(exc) else exc}")
    return (await _query(await POOL.get(), check, Tile(0, 0, 0), 0, token))[0]


# -- the fast path --------------------------------------------------------------------------------------------------
_PATH = re.compile(r"/tiles/([a-z]+)/(\d{1,2})/(\d{1,9})/(\d{1,9})\.pbf")
ROUTE = "/tiles/{layer}/{z}/{x}/{y}.pbf"
ACCESS_PATH = "/tiles/access"
# what a cached tile depends on besides its URL: today nothing (every signed-in role gets the same bytes); with
# cities as tenants (issue 20) the caller's city, which the proxy then adds to its cache key
TILE_SCOPE = "network"


class TileFastPath:
    """Pure ASGI middleware that answers `GET /tiles/...` itself, before routing and the rest of the stack.

    Why: a tile's own work is ~1.5 ms at z16, and FastAPI's route matching over every router, its dependency
    machinery and the middleware around it cost ~1 ms more per request (py-spy, bench/tiles.py). Nothing is
    skipped that a tile needs: the token is checked in the tile's own statement, errors are the same problem+json
    (a database outage a 503 with Retry-After, as in ducting.app), and anything unexpected propagates to the
    server-error middleware outside this one. Other requests pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_get = scope["type"] == "http" and scope["method"] == "GET"
        match = _PATH.fullmatch(scope["path"]) if is_get else None
        if match is None and not (is_get and scope["path"] == ACCESS_PATH):
            await self.app(scope, receive, send)
            return
        wanted = {b"authorization": "", b"cookie": "", b"if-none-match": "", b"accept-language": ""}
        for name, value in scope["headers"]:
            if name in wanted:
                wanted[name] = value.decode("latin-1")
        token = _token_from(wanted[b"authorization"], wanted[b"cookie"])
        rw = cookie_parser(wanted[b"cookie"]).get(RW_COOKIE) if wanted[b"cookie"] else None
        try:
            if match is None:
                scope[ROUTE_LABEL] = ACCESS_PATH
                allowed = await may_read_tiles(token, prefer_replica=READS.wants_replica(rw))
                status, headers, body = (204, {"x-tile-scope": TILE_SCOPE}, b"") if allowed else (401, {}, b"")
            else:
                scope[ROUTE_LABEL] = ROUTE
                layer, z, x, y = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
                status, headers, body = await render_tile(
                    layer,
                    z,
                    x,
                    y,
                    token=token,
                    if_none_match=wanted[b"if-none-match"],
                    prefer_replica=READS.wants_replica(rw),
                )
        except DomainError as exc:
            await render(exc, language_of(wanted[b"cookie"], wanted[b"accept-language"]))(scope, receive, send)
            return
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("database unavailable for a tile: %s", str(exc).splitlines()[0] if str(exc) else exc)
            lang = language_of(wanted[b"cookie"], wanted[b"accept-language"])
            await render(ServiceUnavailable(), lang, {"Retry-After": "2"})(scope, receive, send)
            return
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
