"""The browser application: sign-in, the session cookie, and one page per job (planner, operator, finance, the
public report). Pages are thin Jinja2 shells; the data comes from the same JSON API as every other client, with
the session cookie and the CSRF header (see ducting.auth)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import text, update
from starlette.responses import RedirectResponse, Response

from ducting.accounts.models import ApiToken
from ducting.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_ok,
    csrf_token,
    current_actor,
    issue_token,
    login,
    token_digest,
)
from ducting.db import Actor, SessionDep
from ducting.errors import DomainError
from ducting.network.vocab import Lifecycle, NodeKind, Role, SizeClass
from ducting.settings import Environment, get_settings
from ducting.web import i18n

log = logging.getLogger("ducting.web")
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["rupiah"] = i18n.rupiah
templates.env.filters["wib"] = i18n.wib
router = APIRouter(include_in_schema=False)

HOME = {
    Role.ADMIN: "/peta",
    Role.PLANNER: "/peta",
    Role.AUDITOR: "/peta",
    Role.OPERATOR: "/operator",
    Role.FINANCE: "/keuangan",
}
# (path, message key, roles): the navigation, filtered by the signed-in role
NAV = [
    ("/peta", "nav.map", {Role.ADMIN, Role.PLANNER, Role.AUDITOR}),
    ("/kotak-masuk", "nav.inbox", {Role.ADMIN, Role.PLANNER}),
    ("/impor", "nav.import", {Role.ADMIN, Role.PLANNER}),
    ("/kepatuhan", "nav.compliance", {Role.ADMIN, Role.PLANNER, Role.AUDITOR}),
    ("/operator", "nav.availability", {Role.OPERATOR}),
    ("/operator/sewa", "nav.my_leases", {Role.OPERATOR}),
    ("/operator/tagihan", "nav.my_invoices", {Role.OPERATOR}),
    ("/keuangan", "nav.finance", {Role.ADMIN, Role.FINANCE, Role.AUDITOR}),
    ("/notifikasi/webhook", "nav.webhooks", {Role.ADMIN, Role.OPERATOR}),
]


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(i18n.LANG_COOKIE) or i18n.DEFAULT_LANGUAGE
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def _secure(request: Request) -> bool:
    return get_settings().env == Environment.PRODUCTION or request.url.scheme == "https"


def render(
    request: Request,
    name: str,
    *,
    actor: Actor | None = None,
    account: dict[str, Any] | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    lang = language(request)
    token = request.cookies.get(SESSION_COOKIE)
    ctx = {
        "request": request,
        "lang": lang,
        "messages": i18n.catalogue(lang),
        "actor": actor,
        "account": account,
        "t": lambda key, **kw: i18n.translate(lang, key, **kw),
        "csrf": csrf_token(token) if token and actor else "",
        "nav": [(p, k) for p, k, roles in NAV if actor and actor.role in {r.value for r in roles}],
        "vocab": {
            "lifecycle": [v.value for v in Lifecycle],
            "node_kind": [v.value for v in NodeKind],
            "size_class": [v.value for v in SizeClass],
        },
        "page": name.removesuffix(".html"),
    } | context
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=_secure(request))
    return response


def _who(request: Request, session: Any) -> tuple[Actor, dict[str, Any]] | None:
    """The signed-in browser user, or None. GET pages only (no CSRF needed)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        actor = current_actor(request, session)
    except DomainError:
        return None
    row = session.execute(
        text("""
        SELECT a.username, a.full_name, a.role, o.code AS org_code, o.name AS org_name
        FROM account a LEFT JOIN organisation o ON o.id = a.organisation_id WHERE a.id = :id"""),
        {"id": actor.account_id},
    ).one()
    return actor, dict(row._mapping)


def _page(request: Request, session: Any, template: str, roles: set[Role], **context: Any) -> Response:
    who = _who(request, session)
    if who is None:
        return RedirectResponse(f"/masuk?next={quote(request.url.path)}", status_code=303)
    actor, account = who
    if actor.role not in {r.value for r in roles}:
        return render(request, "forbidden.html", actor=actor, account=account, status=403)
    return render(request, template, actor=actor, account=account, **context)


# -- sign-in --------------------------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    who = _who(request, session)
    if who is None:
        return RedirectResponse("/masuk", status_code=303)
    return RedirectResponse(HOME.get(Role(who[0].role), "/peta"), status_code=303)


@router.get("/masuk")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", next=next if next.startswith("/") and not next.startswith("//") else "")


@router.post("/masuk")
def login_submit(
    request: Request, session: SessionDep, username: str = Form(...), password: str = Form(...), next: str = Form("")
) -> Response:
    try:
        account = login(session, username=username, password=password)
    except DomainError as exc:
        session.commit()  # keep the failed-attempt count
        key = "login.locked" if exc.code == "login_locked" else "login.failed"
        return render(request, "login.html", next=next, error=key, username=username, status=exc.status)
    ttl = timedelta(hours=get_settings().auth.token_ttl_hours)
    secret, _ = issue_token(session, account=account, name="browser", kind="session", ttl=ttl)
    session.commit()
    target = next if next.startswith("/") and not next.startswith("//") else HOME.get(Role(account.role), "/peta")
    response = RedirectResponse(target, status_code=303)
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
    return response


@router.post("/keluar")
def logout(request: Request, session: SessionDep, csrf_token_field: str = Form("", alias="csrf_token")) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    presented = request.headers.get("x-csrf-token") or csrf_token_field
    if token and not csrf_ok(token, presented):
        return render(request, "login.html", error="login.csrf", status=403)
    if token:
        from datetime import UTC, datetime

        session.execute(
            update(ApiToken).where(ApiToken.token_hash == token_digest(token)).values(revoked_at=datetime.now(UTC))
        )
        session.commit()
    response = RedirectResponse("/masuk", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- pages ----------------------------------------------------------------------------------------------------------
PLANNERS = {Role.ADMIN, Role.PLANNER}


@router.get("/peta")
def planner_map(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "map.html", PLANNERS | {Role.AUDITOR})


@router.get("/kotak-masuk")
def inbox(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "inbox.html", PLANNERS)


@router.get("/impor")
def import_wizard(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "import.html", PLANNERS)


@router.get("/kepatuhan")
def compliance(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "compliance.html", PLANNERS | {Role.AUDITOR})


@router.get("/operator")
def operator_map(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "operator.html", {Role.OPERATOR})


@router.get("/operator/sewa")
def operator_leases(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "leases.html", {Role.OPERATOR})


@router.get("/operator/tagihan")
def operator_invoices(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "invoices.html", {Role.OPERATOR})


@router.get("/keuangan")
def finance(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "finance.html", {Role.ADMIN, Role.FINANCE, Role.AUDITOR})


@router.get("/notifikasi")
def notifications(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "notifications.html", set(Role))


@router.get("/notifikasi/webhook")
def webhooks(request: Request, session: SessionDep) -> Response:
    return _page(request, session, "webhooks.html", {Role.ADMIN, Role.OPERATOR, Role.AUDITOR})


@router.get("/lapor")
def citizen_report(request: Request) -> Response:
    return render(request, "report.html")
