"""The browser application: one page per job (planner, operator, finance, the public report), and how a page is
rendered (language, catalogue, formats, navigation by role). Signing on and off is `ducting.web.signon`. Pages
are thin Jinja2 shells; the data comes from the same JSON API as every other client, with the session cookie and
the CSRF header (see ducting.auth)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.responses import RedirectResponse, Response

from ducting import formats
from ducting.accounts.vocab import Role
from ducting.auth import SESSION_COOKIE, csrf_token, current_actor
from ducting.db import Actor, SessionDep
from ducting.errors import DomainError
from ducting.network.vocab import Lifecycle, NodeKind, SizeClass
from ducting.settings import Environment, get_settings
from ducting.web import i18n

log = logging.getLogger("ducting.web")
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["rupiah"] = formats.rupiah
templates.env.filters["date_time"] = formats.date_time
templates.env.globals["oidc_enabled"] = lambda: get_settings().oidc.enabled  # the sign-in page's second button
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


def secure_cookies(request: Request) -> bool:
    """Cookies are `Secure` when the original request was https: the scheme is the one resolved behind the trusted
    proxies (ducting.ops.proxy), so TLS ended at nginx still counts. Production always sets it."""
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
        "formats": formats.browser_config(lang),
    } | context
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure_cookies(request))
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


# -- home --------------------------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    who = _who(request, session)
    if who is None:
        return RedirectResponse("/masuk", status_code=303)
    return RedirectResponse(HOME.get(Role(who[0].role), "/peta"), status_code=303)


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
