"""HTTP endpoints of the compliance domain (mounted by ducting.app.create_app).

Planners and admins manage; auditors read; operators see only flags, letters and migration cases of their own
organisation (others' are 404). Everything needs a login except `POST /api/v1/public/reports`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from ducting.accounts.vocab import Role
from ducting.auth import CurrentActor, request_identity, require_roles
from ducting.compliance import citizen, issuing, letters, maps, service, zones
from ducting.compliance.evaluation import evaluate
from ducting.compliance.rules import describe
from ducting.compliance.schemas import (
    AdvanceIn,
    AgreementCreatedOut,
    AgreementIn,
    AgreementOut,
    CitizenReportOut,
    DashboardOut,
    EvaluationOut,
    FlagDetailOut,
    FlagOut,
    FlagTransitionIn,
    MigrationCaseOut,
    MigrationCreatedOut,
    MigrationIn,
    MigrationPatch,
    MigrationStageOut,
    ReportReceiptOut,
    ReviewIn,
    ReviewOut,
    RuleOut,
    SurveyImportOut,
    SurveyOut,
    ZoneImportOut,
    ZoneIn,
    ZoneOut,
    ZonePatch,
    ZoneWrittenOut,
)
from ducting.compliance.settings import get_compliance_settings
from ducting.compliance.survey import import_survey
from ducting.compliance.vocab import FlagStatus, MigrationStage, RuleCode
from ducting.db import Actor, SessionDep, bind_actor
from ducting.errors import InvalidInput, NotFound, TooLarge
from ducting.schemas_base import file_responses

router = APIRouter()
api = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])
public = APIRouter(prefix="/api/v1/public", tags=["public"])

ManagerDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER))]
OverseerDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER, Role.AUDITOR))]
MAX_SURVEY_BYTES = 50 * 1024 * 1024
MAX_ZONE_FILE_BYTES = 20 * 1024 * 1024


def _own_operator(actor: Actor, operator_id: int) -> None:
    """Operators reach only their own organisation; for anyone else it does not exist."""
    if actor.role == Role.OPERATOR.value and actor.organisation_id != operator_id:
        raise NotFound(what="operator", ref=operator_id)
    if actor.role not in (Role.OPERATOR.value, *service.READ_ALL):
        raise NotFound(what="operator", ref=operator_id)


@api.get("/rules", response_model=list[RuleOut], summary="The rules with their thresholds and explanations (id, en)")
def list_rules(actor: CurrentActor) -> list[dict[str, Any]]:
    return describe(get_compliance_settings())


@api.post(
    "/surveys",
    status_code=201,
    response_model=SurveyImportOut,
    summary="Import a survey (CSV lon/lat, KML/KMZ, GeoPackage); all or nothing",
)
async def post_survey(
    session: SessionDep,
    actor: ManagerDep,
    file: UploadFile = File(...),
    name: str = Form(...),
    surveyed_on: date = Form(...),
    team: str = Form(...),
) -> dict[str, Any]:
    data = await file.read(MAX_SURVEY_BYTES + 1)
    if len(data) > MAX_SURVEY_BYTES:
        raise TooLarge(what="file", limit_bytes=MAX_SURVEY_BYTES)
    report = import_survey(
        session,
        data=data,
        filename=file.filename or "survey",
        name=name,
        surveyed_on=surveyed_on,
        team=team,
        account_id=actor.account_id,
    )
    session.commit()
    return report.as_dict()


@api.get("/surveys", response_model=list[SurveyOut], summary="Survey rounds")
def list_surveys(session: SessionDep, actor: OverseerDep) -> list[dict[str, Any]]:
    from sqlalchemy import text

    return [
        dict(r._mapping)
        for r in session.execute(
            text(
                "SELECT id, name, surveyed_on, team, observation_count, imported_at FROM survey_round ORDER BY surveyed_on, id"
            )
        )
    ]


@api.post("/evaluate", response_model=EvaluationOut, summary="Run every rule over everything and merge the flags")
def post_evaluate(session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    report = evaluate(session, account_id=actor.account_id)
    session.commit()
    return report.as_dict()


@api.get("/flags", response_model=list[FlagOut], summary="The worklist: severity, then road class, then age")
def get_flags(
    session: SessionDep,
    actor: CurrentActor,
    status: Annotated[list[FlagStatus] | None, Query()] = None,
    rule: RuleCode | None = None,
    operator_id: int | None = None,
    kecamatan: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    return service.list_flags(
        session,
        actor=actor,
        status=status,
        rule=rule,
        operator_id=operator_id,
        kecamatan=kecamatan,
        limit=limit,
        offset=offset,
    )


@api.get(
    "/flags/map.html",
    response_class=Response,
    responses=file_responses("A standalone HTML map", "text/html"),
    summary="The flags on a folium map, as a standalone HTML file",
)
def get_flag_map(
    session: SessionDep, actor: CurrentActor, rule: RuleCode | None = None, limit: int = Query(5000, ge=1, le=50_000)
) -> Response:
    flags = service.list_flags(session, actor=actor, rule=rule, limit=limit)
    return Response(
        maps.flag_map_html(flags),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="peta-temuan-kabel-udara.html"'},
    )


@api.get("/flags/{flag_id}", response_model=FlagDetailOut, summary="One flag with its evidence and history")
def get_flag(flag_id: int, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    return service.get_flag(session, actor=actor, flag_id=flag_id)


@api.post(
    "/flags/{flag_id}/transition",
    response_model=FlagDetailOut,
    summary="Acknowledge, resolve, waive (with a reason) or re-open",
)
def post_transition(flag_id: int, body: FlagTransitionIn, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    service.change_flag(
        session, actor=actor, flag_id=flag_id, to=body.to, reason=body.reason, expected_version=body.version
    )
    session.commit()
    return service.get_flag(session, actor=actor, flag_id=flag_id)


@api.get(
    "/letters/{operator_id}.pdf",
    response_class=Response,
    responses=file_responses("The letter", "application/pdf"),
    summary="The operator's compliance letter (PDF, Bahasa Indonesia)",
)
def get_letter(operator_id: int, session: SessionDep, actor: CurrentActor) -> Response:
    _own_operator(actor, operator_id)
    pdf = letters.render_letter(session, operator_id=operator_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="surat-kepatuhan-{operator_id}.pdf"'},
    )


@api.get("/zones", response_model=list[ZoneOut], summary="No-overhead zones")
def get_zones(session: SessionDep, actor: CurrentActor) -> list[dict[str, Any]]:
    from sqlalchemy import text

    return [
        dict(r._mapping)
        for r in session.execute(
            text("""SELECT id, name, reason, active,
        ST_AsGeoJSON(geom, 7)::json AS geometry FROM no_overhead_zone ORDER BY id""")
        )
    ]


@api.post(
    "/zones",
    status_code=201,
    response_model=ZoneWrittenOut,
    summary="Draw a no-overhead zone (GeoJSON Polygon/MultiPolygon, EPSG:4326); the spans under it are re-evaluated",
)
def post_zone(body: ZoneIn, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    written = zones.create_zone(
        session, name=body.name, geometry=body.geometry, reason=body.reason, account_id=actor.account_id
    )
    session.commit()
    return _zone_written(written)


@api.post(
    "/zones/import",
    response_model=ZoneImportOut,
    summary="Import no-overhead zones (GeoJSON, GeoPackage, KML/KMZ, zipped Shapefile); "
    "all or nothing; dry_run=true (the default) reports what would change",
)
async def post_zone_import(
    session: SessionDep,
    actor: ManagerDep,
    file: Annotated[
        UploadFile, File(description="one zone per Polygon/MultiPolygon feature, named in `name` or `nama`")
    ],
    dry_run: bool = Query(default=True, description="Check and report only (the default)"),
    crs: str | None = Query(default=None, max_length=64, description="CRS when the file does not name one"),
) -> dict[str, Any]:
    data = await file.read(MAX_ZONE_FILE_BYTES + 1)
    if len(data) > MAX_ZONE_FILE_BYTES:
        raise TooLarge(what="file", limit_bytes=MAX_ZONE_FILE_BYTES)
    layers = zones.read_zone_file(data, _upload_name(file.filename), crs=crs)
    report = zones.import_zones(session, layers=layers, dry_run=dry_run, account_id=actor.account_id)
    if not dry_run:
        session.commit()
    return report.as_dict()


@api.patch(
    "/zones/{zone_id}",
    response_model=ZoneWrittenOut,
    summary="Rename, reshape or switch off a zone; the spans under it are re-evaluated",
)
def patch_zone(zone_id: int, body: ZonePatch, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    written = zones.change_zone(
        session,
        zone_id=zone_id,
        account_id=actor.account_id,
        active=body.active,
        name=body.name,
        reason=body.reason,
        geometry=body.geometry,
    )
    session.commit()
    return _zone_written(written)


def _zone_written(written: zones.ZoneWritten) -> dict[str, Any]:
    return {
        "id": written.zone_id,
        "name": written.name,
        "evaluation": None if written.evaluation is None else written.evaluation.as_dict(),
    }


def _upload_name(name: str | None) -> str:
    """Only the extension of an uploaded name matters; never use it as a path."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", (name or "upload").replace("\\", "/").rsplit("/", 1)[-1])
    return base[-100:] or "upload"


@api.get("/agreements", response_model=list[AgreementOut], summary="Operator agreements (PKS/permits)")
def get_agreements(session: SessionDep, actor: OverseerDep) -> list[dict[str, Any]]:
    from sqlalchemy import text

    return [
        dict(r._mapping)
        for r in session.execute(
            text(
                "SELECT id, operator_id, reference, valid_from, valid_to, revoked_at FROM operator_agreement ORDER BY id"
            )
        )
    ]


@api.post(
    "/agreements",
    status_code=201,
    response_model=AgreementCreatedOut,
    summary="Record an agreement: its operator becomes licensed",
)
def post_agreement(body: AgreementIn, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    row = service.add_agreement(
        session,
        operator_id=body.operator_id,
        reference=body.reference,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    session.commit()
    return {"id": row.id, "reference": row.reference}


@api.get(
    "/migrations", response_model=list[MigrationCaseOut], summary="Migration cases in SJUT order (operators: their own)"
)
def get_migrations(
    session: SessionDep,
    actor: CurrentActor,
    operator_id: int | None = Query(default=None, ge=1, le=2**63 - 1),
    stage: MigrationStage | None = None,
    kecamatan: str | None = Query(
        default=None, max_length=16, pattern=r"^[0-9.]+$", description="Kecamatan code, e.g. 21.71.01"
    ),
    limit: int = Query(default=200, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> list[dict[str, Any]]:
    if actor.role == Role.OPERATOR.value:
        operator_id = actor.organisation_id
    elif actor.role not in service.READ_ALL:
        return []
    return service.list_migrations(
        session, operator_id=operator_id, stage=stage, kecamatan=kecamatan, limit=limit, offset=offset
    )


@api.post(
    "/migrations",
    status_code=201,
    response_model=MigrationCreatedOut,
    summary="Open a migration case for an operator's cable on a span",
)
def post_migration(body: MigrationIn, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    case = service.open_migration(
        session,
        operator_id=body.operator_id,
        span_id=body.span_id,
        flag_id=body.flag_id,
        capacity_request_id=body.capacity_request_id,
    )
    session.commit()
    return {"id": case.id, "stage": case.stage}


def _own_case(session: Any, actor: Actor, case_id: int) -> None:
    """Planners and admins reach every case, an operator its own; for anyone else a case does not exist."""
    from ducting.compliance.models import MigrationCase

    case = session.get(MigrationCase, case_id)
    if (
        case is None
        or (actor.role == Role.OPERATOR.value and case.operator_id != actor.organisation_id)
        or actor.role not in (Role.OPERATOR.value, Role.ADMIN.value, Role.PLANNER.value)
    ):
        raise NotFound(what="migration", ref=case_id)


def _case_out(case: Any) -> dict[str, Any]:
    return {
        "id": case.id,
        "stage": case.stage,
        "pulled_on": case.pulled_on,
        "cut_over_on": case.cut_over_on,
        "removed_on": case.removed_on,
        "closed_on": case.closed_on,
        "capacity_request_id": case.capacity_request_id,
        "version": case.version,
    }


@api.post(
    "/migrations/{case_id}/advance",
    response_model=MigrationStageOut,
    summary="Next SJUT step: pulled into duct → cut-over → aerial removed",
)
def post_advance(case_id: int, body: AdvanceIn, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    _own_case(session, actor, case_id)
    case = service.advance_migration(session, case_id=case_id, to=body.to, on=body.on)
    session.commit()
    return _case_out(case)


@api.patch(
    "/migrations/{case_id}",
    response_model=MigrationStageOut,
    summary="Tie a case to the operator's capacity request for the duct route",
)
def patch_migration(case_id: int, body: MigrationPatch, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    _own_case(session, actor, case_id)
    case = service.link_request(session, case_id=case_id, capacity_request_id=body.capacity_request_id)
    session.commit()
    return _case_out(case)


@api.get(
    "/dashboard",
    response_model=DashboardOut,
    summary="Per kecamatan: km removed, poles decluttered, operators signed, open flags; trend",
)
def get_dashboard(session: SessionDep, actor: OverseerDep) -> dict[str, Any]:
    return service.dashboard(session)


@api.get("/reports", response_model=list[CitizenReportOut], summary="Citizen reports waiting for triage")
def get_reports(session: SessionDep, actor: ManagerDep, status: str = "new") -> list[dict[str, Any]]:
    return citizen.triage_queue(session, status=status)


@api.post(
    "/reports/{report_id}/review",
    response_model=ReviewOut,
    summary="Verify (becomes evidence) or reject a citizen report",
)
def post_review(report_id: int, body: ReviewIn, session: SessionDep, actor: ManagerDep) -> dict[str, Any]:
    report = citizen.review_report(
        session,
        report_id=report_id,
        verified=body.verified,
        account_id=actor.account_id,
        span_id=body.span_id,
        note=body.note,
    )
    session.commit()
    return {"id": report.id, "reference": report.reference, "status": report.status}


@api.get(
    "/reports/{report_id}/photo",
    response_class=Response,
    responses=file_responses("The photo", "image/jpeg"),
    summary="The re-encoded photo of a report",
)
def get_report_photo(report_id: int, session: SessionDep, actor: ManagerDep) -> Response:
    return Response(citizen.report_photo(session, report_id=report_id), media_type="image/jpeg")


@public.post(
    "/reports",
    status_code=201,
    response_model=ReportReceiptOut,
    summary="Report disorderly overhead cable (no login). Rate-limited; the photo is re-encoded.",
)
async def post_public_report(
    request: Request,
    session: SessionDep,
    lon: float = Form(...),
    lat: float = Form(...),
    category: str = Form(...),
    description: str = Form(..., max_length=4000),
    photo: UploadFile | None = File(None),
) -> ReportReceiptOut:
    # The reporter's address is not written to the audit log: only a keyed hash is kept, for the rate limit.
    bind_actor(session, Actor(account_id=None, role="public", request_id="public-report"))
    data = None
    if photo is not None and photo.size != 0:
        limit = get_compliance_settings().report_max_photo_bytes
        data = await photo.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(what="photo", limit_bytes=limit)
        if not data:
            data = None
    if not all(v == v and abs(v) != float("inf") for v in (lon, lat)):
        raise InvalidInput(code="coordinate_not_finite", position=[str(lon), str(lat)])
    receipt = citizen.submit_report(
        session,
        lon=lon,
        lat=lat,
        category=category,
        description=description,
        photo=data,
        client_addr=request_identity(request)[1],  # resolved behind the trusted proxies
    )
    session.commit()
    return ReportReceiptOut(
        reference=receipt.reference,
        status=receipt.status,
        message="Terima kasih. Laporan Anda akan diperiksa petugas. / Thank you; staff will review your report.",
    )


router.include_router(api)
router.include_router(issuing.router)  # issuing a letter tells the operator (ducting.notify)
router.include_router(public)
