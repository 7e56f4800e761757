"""The application factory: mounts every domain's router, the error handlers and the middleware."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ducting import __version__
from ducting.errors import ServiceUnavailable, TooLarge, install_handlers, language, language_of, render
from ducting.settings import get_settings

log = logging.getLogger("ducting")


class LimitBody:
    """Refuse a declared body over the limit with 413, before anything reads it. Plain ASGI: an `http` middleware
    (BaseHTTPMiddleware) cost ~0.35 ms and an extra task on every request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
            if length.isdigit() and int(length) > self.max_bytes:
                head = {k: v.decode("latin-1") for k, v in scope["headers"] if k in (b"cookie", b"accept-language")}
                lang = language_of(head.get(b"cookie", ""), head.get(b"accept-language", ""))
                refusal = TooLarge(what="request_body", size_bytes=int(length), limit_bytes=self.max_bytes)
                await render(refusal, lang)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def check_database_role(app: FastAPI) -> None:
    """Row-level security only binds a role that is not superuser, not BYPASSRLS and owns no table: refuse to
    serve on any other in production, and say so loudly elsewhere. A database that is down now is not a reason to
    refuse: the service starts and recovers when it is back (the check then waits for the next start)."""
    from ducting.db import get_engine, rls_bypass_reasons
    from ducting.settings import Environment

    engine = getattr(app.state, "engine", None) or get_engine()
    try:
        reasons = rls_bypass_reasons(engine)
    except DBAPIError as exc:
        log.warning("could not check the database role at start-up: %s", str(exc.orig).splitlines()[0])
        return
    if not reasons:
        return
    message = (
        "DATABASE_URL's role gets past row-level security (" + "; ".join(reasons) + "): operators could see "
        "each other's rows through any query that forgets its filter. Connect as the application role "
        "(ducting_app; README, 'Security model')."
    )
    if get_settings().env == Environment.PRODUCTION:
        raise RuntimeError(message)
    log.error(message)


def check_pooled_sessions(app: FastAPI) -> None:
    """Behind a transaction pooler, say loudly when the role lacks the settings the service cannot send."""
    if get_settings().db.pooler != "transaction":
        return
    from ducting.ops.health import session_setting_problems

    try:
        problems = session_setting_problems(getattr(app.state, "engine", None))
    except DBAPIError as exc:
        log.warning("could not check the pooled sessions' settings: %s", str(exc.orig).splitlines()[0])
        return
    for problem in problems:
        log.error("behind the pooler, %s: ALTER ROLE ... SET it (deploy/pgbouncer/pgbouncer.ini)", problem)


def create_app() -> FastAPI:
    settings = get_settings()
    from ducting.ops import logs

    logs.configure(settings)
    sys.setswitchinterval(settings.api.gil_switch_interval_ms / 1000)  # the process serves this app (ApiSettings)
    app = FastAPI(
        title="BEDELAU Ducting API",
        version=__version__,
        description="Jaringan ducting bersama Kota Batam: peta jaringan, sewa kapasitas, kepatuhan kabel "
        "udara, dan penagihan. Shared underground duct network of Batam.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_handlers(app)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> Response:
        # The pool reconnects on its own (pre-ping); this request failed cleanly and wrote nothing.
        from ducting.ops.context import RETRY_ON_PRIMARY
        from ducting.ops.metrics import DB_UNAVAILABLE
        from ducting.replica import READS, REPLICA_TARGET

        reason = str(exc.orig).splitlines()[0] if exc.orig and str(exc.orig) else str(exc)
        if request.scope.get(REPLICA_TARGET) == "replica":  # the replica failed: skip it, and run a GET again
            READS.mark_down(f"a read failed there: {reason}")
            request.scope[RETRY_ON_PRIMARY] = request.method in ("GET", "HEAD")
        else:
            DB_UNAVAILABLE.inc()
        log.warning("database unavailable: %s", reason)
        return render(ServiceUnavailable(), language(request.headers, request.cookies), {"Retry-After": "2"})

    app.add_middleware(LimitBody, max_bytes=settings.api.max_body_bytes)

    from billing.router import router as billing_router
    from ducting.accounts.router import router as accounts_router
    from ducting.audit import router as audit_router
    from ducting.compliance.router import router as compliance_router
    from ducting.leasing import hooks as leasing_hooks
    from ducting.leasing.router import router as leasing_router
    from ducting.network.files import router as files_router
    from ducting.network.ogc import router as ogc_router
    from ducting.network.router import router as network_router
    from ducting.network.tiles import POOL as tile_pool
    from ducting.network.tiles import REPLICA_POOL as replica_tile_pool
    from ducting.network.tiles import TileFastPath
    from ducting.network.tiles import router as tiles_router
    from ducting.notify.router import router as notify_router

    app.include_router(accounts_router)
    app.include_router(audit_router)
    app.include_router(network_router)
    app.include_router(files_router)
    app.include_router(leasing_router)
    app.include_router(ogc_router)
    app.include_router(billing_router)
    app.include_router(compliance_router)
    app.include_router(tiles_router)
    app.include_router(notify_router)
    app.add_middleware(TileFastPath)  # tiles skip routing and the stack (see ducting.network.tiles)
    from ducting.ops.context import RequestContext

    app.add_middleware(RequestContext)  # outermost: client address, request id, health, metrics (ducting.ops)
    from ducting.web.assets import mount_static
    from ducting.web.router import router as web_router
    from ducting.web.signon import router as signon_router

    app.include_router(web_router)
    app.include_router(signon_router)
    mount_static(app)
    app.router.on_shutdown.append(tile_pool.close)
    app.router.on_shutdown.append(replica_tile_pool.close)
    from billing.tariffs import quote_provider
    from ducting.leasing.quotes import register_quote_provider

    register_quote_provider(quote_provider)
    leasing_hooks.register()
    from ducting.leasing.routing import REFRESH_OBSERVERS
    from ducting.ops.metrics import observe_graph, process_exit

    if observe_graph not in REFRESH_OBSERVERS:
        REFRESH_OBSERVERS.append(observe_graph)
    from ducting.leasing.sweeper import warm_calendar
    from ducting.ops import jobs
    from ducting.replica import READS

    runner = jobs.JobRunner(jobs.service_jobs(settings), jobs.service_loops(settings))
    app.router.on_startup.append(lambda: check_database_role(app))
    app.router.on_startup.append(lambda: check_pooled_sessions(app))
    app.router.on_startup.append(warm_calendar)
    app.router.on_startup.append(runner.start)
    app.router.on_startup.append(READS.start)
    app.router.on_shutdown.append(runner.stop)
    app.router.on_shutdown.append(READS.stop)
    app.router.on_shutdown.append(process_exit)
    return app
