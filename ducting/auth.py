"""Who is calling, and may they? Argon2 passwords, hashed bearer tokens, role checks.

A credential is a bearer token (API clients, GDAL/QGIS) or the same token in the browser's session cookie.
Only SHA-256 digests of tokens are stored. The caller's identity is bound to the request's database session,
so every transaction it opens carries it (history, audit, row-level security).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, ApiToken
from ducting.accounts.vocab import Role, TokenKind, TokenScope
from ducting.db import Actor, SessionDep, bind_actor
from ducting.errors import Forbidden, RateLimited, Unauthenticated
from ducting.replica import back_to_primary
from ducting.settings import get_settings

T = TypeVar("T")

SESSION_COOKIE = "bedelau_session"
CSRF_COOKIE = "bedelau_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_hasher = PasswordHasher()
# Verifying against a dummy hash when the user does not exist keeps response time from revealing usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    account: Account,
    name: str,
    kind: TokenKind = TokenKind.API,
    ttl: timedelta | None = None,
    scopes: list[str] | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; returns the secret (shown once) and its row. Does not commit."""
    secret = "bdl_" + secrets.token_urlsafe(32)
    ttl = ttl or timedelta(hours=get_settings().auth.token_ttl_hours)
    row = ApiToken(
        account_id=account.id,
        name=name,
        kind=kind,
        token_hash=token_digest(secret),
        scopes=scopes or [],
        expires_at=datetime.now(UTC) + ttl,
    )
    session.add(row)
    session.flush()
    return secret, row


def revoke_secret(session: Session, secret: str) -> None:
    """Sign out: the token with this secret stops working now. Unknown or already revoked: nothing. Does not
    commit."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_digest(secret), ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def login(session: Session, *, username: str, password: str) -> Account:
    """Check a password, with lockout after repeated failures. Does not commit (the caller commits either way)."""
    settings = get_settings().auth
    account = session.scalar(select(Account).where(Account.username == username.strip().lower()).with_for_update())
    now = datetime.now(UTC)
    if account is not None and account.locked_until is not None and account.locked_until > now:
        wait_s = int((account.locked_until - now).total_seconds())
        raise RateLimited(code="login_locked", retry_after_s=wait_s, minutes=max(1, -(-wait_s // 60)))
    if account is None or not account.is_active or not verify_password(account.password_hash, password):
        if account is not None:
            account.failed_logins += 1
            if account.failed_logins >= settings.login_max_failures:
                account.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
                account.failed_logins = 0
        raise Unauthenticated(code="login_failed")
    account.failed_logins = 0
    account.last_login_at = now
    return account


# The token check also writes the caller's identity into the transaction (ducting.db's settings), so an
# authenticated request costs one round trip before its own work, not two. A token that matches no row sets
# nothing: the select list is evaluated only for the row that passes the WHERE clause.
_LOOKUP = text("""
    SELECT a.id, a.role, a.organisation_id, t.scopes,
           set_config('ducting.account_id', a.id::text, true), set_config('ducting.role', a.role::text, true),
           set_config('ducting.organisation_id', coalesce(a.organisation_id::text, ''), true),
           set_config('ducting.request_id', :rid, true), set_config('ducting.client_addr', :addr, true)
    FROM api_token t JOIN account a ON a.id = t.account_id
    WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now() AND a.is_active""")


def _credential(request: Request) -> tuple[str | None, bool]:
    """The caller's token and whether it came from the browser's session cookie (not the Authorization header)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, False
    return request.cookies.get(SESSION_COOKIE), True


def _bearer(request: Request) -> str | None:
    return _credential(request)[0]


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a browser session: an HMAC of the session, so nothing is stored and a token
    stolen from one session is worthless in another."""
    key = get_settings().auth.secret_key.encode()
    return hmac.new(key, b"csrf|" + token_digest(session_token).encode(), hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented or "")


def check_csrf(request: Request, token: str) -> None:
    """A state-changing request authenticated by the cookie must echo the session's CSRF token in `X-CSRF-Token`
    (the web pages' forms check their `csrf_token` field themselves). A cross-site page can make the browser send
    the cookie, but cannot read the token. Header-token API clients are not affected: no cookie, no CSRF risk."""
    if request.method in SAFE_METHODS:
        return
    if not csrf_ok(token, request.headers.get(CSRF_HEADER)):
        raise Forbidden(code="csrf_failed", header=CSRF_HEADER)


def request_identity(request: Request) -> tuple[str, str | None]:
    """(request id, client address) of a request: the id `ducting.ops.context` gave it, and the client's address
    as resolved behind the trusted proxies. The one place the audit trail, rate limits and sign-in read them."""
    request_id = request.scope.get("state", {}).get("request_id") or secrets.token_hex(16)
    return request_id, request.client.host if request.client else None


def sign_in_actor(request: Request) -> Actor:
    """The identity of a sign-in before anyone is signed in: no account or role, but the request id and client
    address, so the audit trail says where a sign-in (or a failed one) came from."""
    request_id, client_addr = request_identity(request)
    return Actor(account_id=None, role="", request_id=request_id, client_addr=client_addr)


def current_actor(request: Request, session: SessionDep) -> Actor:
    token, from_cookie = _credential(request)
    if not token:
        raise Unauthenticated()
    if from_cookie:
        check_csrf(request, token)
    request_id, client_addr = request_identity(request)
    params = {"h": token_digest(token), "rid": request_id, "addr": client_addr or ""}
    row = session.execute(_LOOKUP, params).first()
    if row is None and back_to_primary(request, session):  # a token issued a moment ago may not be on the replica yet
        row = session.execute(_LOOKUP, params).first()
    if row is None:
        raise Unauthenticated(code="token_invalid")
    if row.scopes and TokenScope.WRITE not in row.scopes and request.method not in ("GET", "HEAD", "OPTIONS"):
        raise Forbidden(code="token_scope", scopes=list(row.scopes))
    actor = Actor(
        account_id=row.id,
        role=row.role,
        organisation_id=row.organisation_id,
        request_id=request_id,
        client_addr=client_addr,
    )
    bind_actor(session, actor, set_in_transaction=False)  # _LOOKUP has set it for this transaction
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def read_as_caller(request: Request, session: Session, work: Callable[[Actor], T]) -> T:
    """Check the caller and run `work(actor)`, then end the (read-only) transaction, all in one worker thread.

    For the hottest reads (the map's OGC items). Declared the usual way, the caller check, the route and closing
    the session are three hops between the event loop and the worker threads; under load each hop queues for the
    GIL behind whatever else the process is doing, and a map read's p99 grew with them (bench/load.py)."""

    def run() -> T:
        try:
            return work(current_actor(request, session))
        finally:
            session.rollback()  # nothing to keep; the session's close then has no round trip left to make

    return await run_in_threadpool(run)


def require_roles(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = {r.value for r in roles}

    async def check(actor: CurrentActor) -> Actor:  # async: no I/O, so no hop to a worker thread (ducting.db)
        if actor.role not in allowed:
            raise Forbidden(roles=sorted(allowed), role=actor.role)
        return actor

    return check


ReaderDep = CurrentActor  # every authenticated role may read the network map
EditorDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER))]
AdminDep = Annotated[Actor, Depends(require_roles(Role.ADMIN))]
