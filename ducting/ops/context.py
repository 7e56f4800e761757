"""The outermost middleware: what every request gets before anything else looks at it.

* The client's address and scheme, resolved once behind the trusted proxies (`ducting.ops.proxy`) and written into
  the scope, so `request.client.host` and `request.url.scheme` are the real ones everywhere after this.
* A request id: the `X-Request-Id` a proxy or client sent when it is short and plain (letters, digits, `.-_:`, at
  most 64), otherwise a new one; it is answered in `X-Request-Id`, written to the audit trail, and in every log line.
* `/healthz`, `/readyz` and `/metrics`, answered here (they must answer when routing or a dependency is broken).
* Latency per route template into `/metrics`, and one access-log line per request.
* After a successful write from a browser, the read-your-writes cookie (`ducting.replica`); a GET whose replica
  read failed is run once more, on the primary, before anything was answered.

Plain ASGI, like `LimitBody` and the tiles' fast path: an `http` middleware would cost a task per request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ducting.ops import metrics
from ducting.ops.logs import REQUEST_ID
from ducting.ops.proxy import parse_networks, resolve
from ducting.settings import get_settings

access_log = logging.getLogger("ducting.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_ON_PRIMARY = "ducting.retry_on_primary"  # scope key the 503 handler sets when a replica read failed
ROUTE_LABEL = "ducting.route"  # scope key a fast path sets to name its route template
FORCE_PRIMARY = "ducting.force_primary"  # scope key: this request's reads go to the primary (its second run)


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


def route_label(scope: Scope, root_path: str) -> str:
    """The route template that answered (`/api/v1/network/nodes/{node_id}`), never the raw path."""
    if ROUTE_LABEL in scope:
        return scope[ROUTE_LABEL]
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    mounted = scope.get("root_path", "")[len(root_path) :]
    return f"{mounted}/{{path}}" if mounted else "unmatched"


def _json(status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, list, bytes]:
    data = orjson.dumps(body)
    return status, [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *(headers or [])], data


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        wanted = {b"x-forwarded-for": "", b"x-forwarded-proto": "", b"x-request-id": ""}
        for name, value in scope["headers"]:
            if name in wanted:
                wanted[name] = value.decode("latin-1")
        peer = scope.get("client")
        client, scheme = resolve(
            peer[0] if peer else None,
            wanted[b"x-forwarded-for"],
            wanted[b"x-forwarded-proto"],
            scope.get("scheme", "http"),
            parse_networks(get_settings().ops.trusted_proxies),  # cached: parsed once per distinct value
        )
        if peer is None or client != peer[0]:
            scope["client"] = (client, 0) if client else None
        scope["scheme"] = scheme
        sent_id = wanted[b"x-request-id"]
        request_id = sent_id if _SAFE_ID.fullmatch(sent_id) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        status_holder = [500]
        root_path = scope.get("root_path", "")
        try:
            ops = await self._ops_endpoint(scope, client)
            if ops is not None:
                status, headers, body = ops
                status_holder[0] = status
                await send(
                    {"type": "http.response.start", "status": status, "headers": self._headers(headers, request_id)}
                )
                await send({"type": "http.response.body", "body": body})
                scope[ROUTE_LABEL] = scope["path"]
                return
            await self._serve(scope, receive, send, request_id, status_holder)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope, root_path)
            metrics.REQUEST_SECONDS.labels(scope["method"], route, str(status_holder[0])).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1f ms",
                    scope["method"],
                    scope["path"],
                    status_holder[0],
                    elapsed * 1000,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status_holder[0],
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client,
                    },
                )
            REQUEST_ID.reset(token)

    @staticmethod
    def _headers(headers: list[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
        return [*headers, (b"x-request-id", request_id.encode())]

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str, status_holder: list) -> None:
        method = scope["method"]
        state = {"retriable": method in ("GET", "HEAD"), "dropping": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = self._headers(list(message.get("headers", [])), request_id)
                if method in _UNSAFE_METHODS and message["status"] < 400 and self._wants_rw_cookie(scope):
                    headers.append(self._rw_cookie(scope))
                message = {**message, "headers": headers}
                if state["retriable"] and message["status"] == 503 and scope.get(RETRY_ON_PRIMARY):
                    state["dropping"] = True  # not sent: this request is run again, on the primary
                    return
            elif state["dropping"]:
                return
            await send(message)

        await self.app(scope, receive, send_wrapper)
        if state["dropping"]:
            state.update(retriable=False, dropping=False)  # once: a second failure is answered as it is
            scope.pop(RETRY_ON_PRIMARY, None)
            scope.pop("route", None)
            scope[FORCE_PRIMARY] = True
            await self.app(scope, _empty_body(receive), send_wrapper)

    @staticmethod
    def _wants_rw_cookie(scope: Scope) -> bool:
        from ducting.replica import READS

        return READS.url() is not None

    def _rw_cookie(self, scope: Scope) -> tuple[bytes, bytes]:
        from ducting.replica import RW_COOKIE

        window_s = get_settings().db.replica_max_lag_s
        until = time.time() + window_s
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        value = f"{RW_COOKIE}={until:.3f}; Max-Age={int(window_s) + 1}; Path=/; HttpOnly; SameSite=Lax{secure}"
        return b"set-cookie", value.encode()

    async def _ops_endpoint(self, scope: Scope, client: str | None) -> tuple[int, list, bytes] | None:
        path = scope["path"]
        if path not in ("/healthz", "/readyz", "/metrics") or scope["method"] not in ("GET", "HEAD"):
            return None
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            from ducting.ops.health import readiness

            app = scope.get("app")
            ready, details = await asyncio.to_thread(readiness, getattr(getattr(app, "state", None), "engine", None))
            return _json(200 if ready else 503, {"status": "ready" if ready else "not_ready"} | details)
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        if not metrics.may_read(get_settings(), client, authorization):
            return _json(404, {"detail": "not found"})
        from ducting.network.tiles import POOL, REPLICA_POOL
        from ducting.replica import READS

        READS.sample_pools()
        for name, pool in (("tiles", POOL), ("tiles_replica", REPLICA_POOL)):
            pool.sample(name)
        body, content_type = metrics.exposition()
        return 200, [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")], body


def _empty_body(receive: Receive) -> Receive:
    """A receive for running a bodiless request again: the (empty) body once, then whatever the client does."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return again
