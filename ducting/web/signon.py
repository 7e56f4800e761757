"""The sign-on pages: the password form (`/masuk`), signing out (`/keluar`), and single sign-on's two steps
("Masuk dengan akun tunggal": off to the provider, `/auth/oidc/login`, and back, `/auth/oidc/callback`).

Browser pages and redirects, not API: they stay out of the OpenAPI document. Both ways in end the same way: a
session token in an HttpOnly cookie and its CSRF token beside it (`signed_in`). A failed single sign-on shows the
sign-in page with a message; the reason goes to the log, not to the browser. The protocol and how a provider's
claims become an account are `ducting.accounts.oidc`; tokens and passwords are `ducting.auth`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ducting.accounts import oidc
from ducting.accounts.models import Account
from ducting.accounts.vocab import Role, TokenKind
from ducting.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_ok,
    csrf_token,
    issue_token,
    login,
    revoke_secret,
    sign_in_actor,
)
from ducting.db import SessionDep, bind_actor
from ducting.errors import DomainError
from ducting.settings import get_settings
from ducting.web.router import HOME, render, secure_cookies

log = logging.getLogger("ducting.web")
router = APIRouter(include_in_schema=False)
FLOW_PATH = "/auth/oidc"


def local_path(path: str) -> str:
    """`path` if it stays on this site (a `next` to go back to), else ""."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else ""


def signed_in(request: Request, session: SessionDep, account: Account, *, name: str, target: str) -> Response:
    """Issue the browser's session token, commit, and redirect to `target` (or the role's home page) with the
    session and CSRF cookies set."""
    ttl = timedelta(hours=get_settings().auth.token_ttl_hours)
    secret, _ = issue_token(session, account=account, name=name, kind=TokenKind.SESSION, ttl=ttl)
    session.commit()
    response = RedirectResponse(target or HOME.get(Role(account.role), "/peta"), status_code=303)
    secure, max_age = secure_cookies(request), int(ttl.total_seconds())
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/")
    response.set_cookie(
        CSRF_COOKIE, csrf_token(secret), max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )
    return response


# -- password ---------------------------------------------------------------------------------------------------
@router.get("/masuk")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", next=local_path(next))


@router.post("/masuk")
def login_submit(
    request: Request, session: SessionDep, username: str = Form(...), password: str = Form(...), next: str = Form("")
) -> Response:
    bind_actor(session, sign_in_actor(request))  # a sign-in is audited with its client address, account or not
    try:
        account = login(session, username=username, password=password)
    except DomainError as exc:
        session.commit()  # keep the failed-attempt count
        key = "login.locked" if exc.code == "login_locked" else "login.failed"
        return render(request, "login.html", next=next, error=key, username=username, status=exc.status)
    return signed_in(request, session, account, name="browser", target=local_path(next))


@router.post("/keluar")
def logout(request: Request, session: SessionDep, csrf_token_field: str = Form("", alias="csrf_token")) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    presented = request.headers.get("x-csrf-token") or csrf_token_field
    if token and not csrf_ok(token, presented):
        return render(request, "login.html", error="login.csrf", status=403)
    if token:
        revoke_secret(session, token)
        session.commit()
    response = RedirectResponse("/masuk", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- single sign-on ---------------------------------------------------------------------------------------------
def _failed(request: Request, exc: DomainError) -> Response:
    log.warning("single sign-on failed (%s): %s", exc.code, exc.detail)
    response = render(request, "login.html", error="login.oidc_failed", status=exc.status)
    response.delete_cookie(oidc.FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get(f"{FLOW_PATH}/login", name="oidc_login")
def oidc_login(request: Request, next: str = "") -> Response:
    settings = get_settings()
    redirect_uri = settings.oidc.redirect_url or str(request.url_for("oidc_callback"))
    try:
        url, flow = oidc.begin(settings.oidc, redirect_uri=redirect_uri, next_path=local_path(next))
    except DomainError as exc:
        return _failed(request, exc)
    response = RedirectResponse(url, status_code=303)
    # lax, not strict: the provider's redirect back is a top-level navigation from another site
    response.set_cookie(
        oidc.FLOW_COOKIE,
        oidc.seal(flow, key=settings.auth.secret_key),
        max_age=oidc.FLOW_TTL_S,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path=FLOW_PATH,
    )
    return response


@router.get(f"{FLOW_PATH}/callback", name="oidc_callback")
def oidc_callback(request: Request, session: SessionDep, code: str = "", state: str = "", error: str = "") -> Response:
    settings = get_settings()
    bind_actor(session, sign_in_actor(request))
    try:
        if error:
            raise oidc.OidcFailed(code="oidc_provider_error", error=error[:200])
        flow = oidc.unseal(request.cookies.get(oidc.FLOW_COOKIE), key=settings.auth.secret_key)
        claims = oidc.finish(settings.oidc, flow=flow, code=code, state=state)
        account = oidc.account_for(session, settings.oidc, claims)
    except DomainError as exc:
        return _failed(request, exc)
    account.last_login_at = datetime.now(UTC)
    response = signed_in(request, session, account, name="browser (akun tunggal)", target=flow.next or "")
    log.info("single sign-on: %s (sub %s) signed in as %s", settings.oidc.issuer, claims.get("sub"), account.username)
    response.delete_cookie(oidc.FLOW_COOKIE, path=FLOW_PATH)
    return response
