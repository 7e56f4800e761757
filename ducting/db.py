"""Engine, sessions and the per-transaction identity.

Contract: the session dependency never commits; the route that changes data commits. Closing a session rolls
back whatever was not committed. At the start of every transaction the request's identity is written with
`set_config(..., is_local => true)`, which triggers (history, audit) and row-level security policies read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from ducting.calendar import DEFAULT_ZONE_NAME
from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.settings import Settings, get_settings

log = logging.getLogger("ducting.db")


class Base(DeclarativeBase):
    pass


@dataclass(frozen=True)
class Actor:
    """Who is acting: written into each transaction for triggers and row-level security."""

    account_id: int | None
    role: str
    organisation_id: int | None = None
    request_id: str | None = None
    client_addr: str | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(account_id=None, role="system", request_id=what)

    @property
    def operator_id(self) -> int:
        """The organisation an operator's account acts for (the database requires one: ck_account_operator_has_org)."""
        if self.organisation_id is None:
            raise LookupError(f"the {self.role} account {self.account_id} acts for no organisation")
        return self.organisation_id


def database_url(settings: Settings, *, migrations: bool = False) -> str:
    """The URL for the service (or, with `migrations`, for the schema owner)."""
    if settings.db.url:
        return (settings.db.migration_url or settings.db.url) if migrations else settings.db.url
    cluster = LocalCluster.from_settings(settings)
    return cluster.url(role=OWNER_ROLE if migrations else APP_ROLE)


def connection_options(*, statement_timeout_ms: int, zone: str = DEFAULT_ZONE_NAME) -> str:
    """libpq `options` for every connection the service opens: a statement timeout, and the city's time zone, so
    that `CURRENT_DATE` and `now()::date` in SQL are `ducting.calendar.today()`."""
    return f"-c statement_timeout={statement_timeout_ms} -c timezone={zone}"


def connect_options(settings: Settings, *, extra: str = "", statement_timeout_ms: int | None = None) -> dict[str, Any]:
    """psycopg connection keywords for the service's connections. Behind a transaction pooler (`DUCTING_DB_POOLER=
    transaction`) nothing is prepared, since the next transaction may run on another server connection that never
    saw the statement, and no `options` go in the startup packet (PgBouncer refuses them): the server's own
    settings for the role carry the time zone and the statement timeout instead (README, "Pooling")."""
    db = settings.db
    kwargs: dict[str, Any] = {"connect_timeout": db.connect_timeout_s}
    if db.pooler == "transaction":
        kwargs["prepare_threshold"] = None
    else:
        timeout = db.statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
        kwargs["options"] = connection_options(statement_timeout_ms=timeout) + extra
    return kwargs


def make_engine(url: str, *, pool_size: int = 10, statement_timeout_ms: int = 30_000) -> Engine:
    settings = get_settings()
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_pre_ping=True,  # a restarted database costs one failed check, not a failed request
        pool_recycle=1800,
        pool_timeout=settings.db.pool_timeout_s,
        connect_args=connect_options(settings, statement_timeout_ms=statement_timeout_ms),
    )
    return engine


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL as a libpq conninfo string, several hosts included (`?host=a:5432&host=b:5432` becomes
    `host=a,b port=5432,5432`), for the connections psycopg makes without SQLAlchemy (the tiles' pool)."""
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql+psycopg")
    _, kwargs = create_engine(u).dialect.create_connect_args(u)
    kwargs.pop("context", None)
    return make_conninfo(**{k: str(v) for k, v in kwargs.items()})


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(
        database_url(settings), pool_size=settings.db.pool_size, statement_timeout_ms=settings.db.statement_timeout_ms
    )


def rls_bypass_reasons(engine: Engine) -> list[str]:
    """Why the service's database role would get past row-level security, if it would: a superuser, BYPASSRLS,
    or owning (directly or through a role it inherits) a table whose policies are not forced on its owner.
    Empty when the policies bind the role, as they must (README, "Security model")."""
    with engine.connect() as conn:
        row = conn.execute(
            text("""
            SELECT current_user AS role, r.rolsuper, r.rolbypassrls,
                   (SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
                    WHERE c.relrowsecurity AND NOT c.relforcerowsecurity
                      AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owned
            FROM pg_roles r WHERE r.rolname = current_user""")
        ).one()
        conn.rollback()
    reasons = []
    if row.rolsuper:
        reasons.append(f"{row.role} is a superuser")
    if row.rolbypassrls:
        reasons.append(f"{row.role} has BYPASSRLS")
    if row.owned:
        reasons.append(f"{row.role} owns tables whose policies do not bind their owner: {row.owned}")
    return reasons


SessionFactory = sessionmaker(expire_on_commit=False, autoflush=False)


_ACTOR_SQL = text(
    "SELECT set_config('ducting.account_id', :aid, true), set_config('ducting.role', :role, true),"
    " set_config('ducting.organisation_id', :oid, true), set_config('ducting.request_id', :rid, true),"
    " set_config('ducting.client_addr', :addr, true)"
)


def _actor_params(actor: Actor) -> dict[str, str]:
    return {
        "aid": "" if actor.account_id is None else str(actor.account_id),
        "role": actor.role,
        "oid": "" if actor.organisation_id is None else str(actor.organisation_id),
        "rid": actor.request_id or "",
        "addr": actor.client_addr or "",
    }


def bind_actor(session: Session, actor: Actor, *, set_in_transaction: bool = True) -> None:
    """Make `actor` the identity of this session: the current transaction now, and every later one.
    `set_in_transaction=False` is for a caller whose own statement has already written the same settings into
    the current transaction (ducting.auth's token check)."""
    session.info["actor"] = actor
    if set_in_transaction and session.in_transaction():
        session.execute(_ACTOR_SQL, _actor_params(actor))


@event.listens_for(Session, "after_begin")
def _identity_per_transaction(session: Session, transaction: Any, connection: Any) -> None:
    actor: Actor | None = session.info.get("actor")
    # a savepoint (begin_nested) inherits the settings of the transaction it is in: no statement needed
    if actor is not None and not transaction.nested:
        connection.execute(_ACTOR_SQL, _actor_params(actor))


def rowcount(result: Result[Any]) -> int:
    """How many rows a DML statement touched. `Session.execute` is typed as returning a `Result`; a Core statement
    (text, insert, update, delete) gets the driver's `CursorResult`, which is the one that counts them."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} does not count rows: execute a Core DML statement")
    return result.rowcount


def open_session(actor: Actor | None = None, *, bind: Engine | None = None) -> Session:
    session = SessionFactory(bind=bind or get_engine())
    if actor is not None:
        bind_actor(session, actor)
    return session


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for one request. Never commits; closing rolls back what the route did not commit.

    Async on purpose, though the session is not: FastAPI runs a sync dependency in a worker thread, and every such
    hop queues behind the others under load. Making a session does no I/O, so it happens on the event loop; only a
    close that must roll back an open transaction (a round trip) goes to a worker thread."""
    bind = getattr(request.app.state, "engine", None) or get_engine()
    session = SessionFactory(bind=bind)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_close_quietly, session)
        else:
            session.close()


def _close_quietly(session: Session) -> None:
    """Close (rolling back). The answer is decided by now: a database that went away meanwhile (a restart, a
    replica stopped, a failover) loses the connection, which the pool drops, not the response."""
    try:
        session.close()
    except DBAPIError as exc:
        log.warning("closing a session: %s", (str(exc.orig or exc).splitlines() or ["?"])[0])
        session.invalidate()


SessionDep = Annotated[Session, Depends(get_session)]
