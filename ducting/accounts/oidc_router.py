"""The browser's two steps of single sign-on ("Masuk dengan akun tunggal"): off to the provider, and back.

Browser redirects, not API: they stay out of the OpenAPI document. A successful return sets the same session and
CSRF cookies as the password form (`/masuk`); a failed one shows the sign-in page with a message, and the reason
goes to the log, not to the browser.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ducting.accounts import oidc
from ducting.auth import CSRF_COOKIE, SESSION_COOKIE, csrf_token, issue_token, sign_in_actor
from ducting.db import SessionDep, bind_actor
from ducting.errors import DomainError
from ducting.network.vocab import Role
from ducting.settings import get_settings
from ducting.web.router import HOME, _secure, render, templates

log = logging.getLogger("ducting.oidc")
router = APIRouter(include_in_schema=False)
FLOW_PATH = "/auth/oidc"

# the sign-in page shows the button only when a provider is configured
templates.env.globals["oidc_enabled"] = lambda: get_settings().oidc.enabled


def _local(path: str) -> str:
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else ""


def _failed(request: Request, exc: DomainError) -> Response:
    log.warning("single sign-on failed (%s): %s", exc.extra.get("code", exc.code), exc.detail)
    response = render(request, "login.html", error="login.oidc_failed", status=exc.status)
    response.delete_cookie(oidc.FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get(f"{FLOW_PATH}/login", name="oidc_login")
def oidc_login(request: Request, next: str = "") -> Response:
    settings = get_settings()
    redirect_uri = settings.oidc.redirect_url or str(request.url_for("oidc_callback"))
    try:
        url, flow = oidc.begin(settings.oidc, redirect_uri=redirect_uri, next_path=_local(next))
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
        secure=_secure(request),
        path=FLOW_PATH,
    )
    return response


@router.get(f"{FLOW_PATH}/callback", name="oidc_callback")
def oidc_callback(request: Request, session: SessionDep, code: str = "", state: str = "", error: str = "") -> Response:
    settings = get_settings()
    bind_actor(session, sign_in_actor(request))
    try:
        if error:
            raise oidc.OidcFailed(f"the provider answered error={error!r}", code="oidc_provider_error")
        flow = oidc.unseal(request.cookies.get(oidc.FLOW_COOKIE), key=settings.auth.secret_key)
        claims = oidc.finish(settings.oidc, flow=flow, code=code, state=state)
        account = oidc.account_for(session, settings.oidc, claims)
    except DomainError as exc:
        return _failed(request, exc)
    ttl = timedelta(hours=settings.auth.token_ttl_hours)
    account.last_login_at = datetime.now(UTC)
    secret, _ = issue_token(session, account=account, name="browser (akun tunggal)", kind="session", ttl=ttl)
    session.commit()
    log.info("single sign-on: %s (sub %s) signed in as %s", settings.oidc.issuer, claims.get("sub"), account.username)
    response = RedirectResponse(flow.next or HOME.get(Role(account.role), "/peta"), status_code=303)
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(ttl.total_seconds()), httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token(secret),
        max_age=int(ttl.total_seconds()),
        httponly=False,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.delete_cookie(oidc.FLOW_COOKIE, path=FLOW_PATH)
    return response
