"""Compliance services: flag lifecycle, the worklist, zones, agreements, migration tracking, dashboard figures.

Plain functions with keyword arguments and no web types. They lock what they change, flush, raise domain
errors, and never commit. Visibility: an operator sees a flag only when its organisation is among the flag's
`operator_ids`; anything else is "not found" to them (404, not 403, so ids do not leak).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.vocab import Role
from ducting.compliance.models import ComplianceFlag, FlagEvent, MigrationCase, OperatorAgreement
from ducting.compliance.routes import operator_need, route_along, segments_alongside
from ducting.compliance.vocab import FLAG_TRANSITIONS, FlagStatus, MigrationStage
from ducting.db import Actor, rowcount
from ducting.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed

READ_ALL = {Role.ADMIN.value, Role.PLANNER.value, Role.AUDITOR.value}


class FlagTransitionRefused(Conflict):
    code = "illegal_transition"


class MigrationOutOfOrder(Conflict):
    code = "migration_out_of_order"


class MigrationNotLeased(Conflict):
    code = "migration_lease_required"


class MigrationClosed(Conflict):
    code = "migration_closed"


def visibility(actor: Actor, alias: str = "f") -> tuple[str, dict[str, Any]]:
    """A SQL condition limiting flags to what `actor` may see."""
    if actor.role in READ_ALL:
        return "TRUE", {}
    if actor.role == Role.OPERATOR.value and actor.organisation_id is not None:
        return f"{alias}.operator_ids @> ARRAY[CAST(:viewer_org AS bigint)]", {"viewer_org": actor.organisation_id}
    return "FALSE", {}


FLAG_COLUMNS = """f.id, f.rule, f.severity, f.status, f.subject_kind, f.subject_id, f.span_id, f.pole_id,
    f.operator_ids, f.measured, f.threshold, f.unit, f.observation_id, f.raised_survey_id, f.road_class,
    f.kecamatan_kode, f.evidence, f.opened_at, f.last_seen_at, f.acknowledged_at, f.resolved_at,
    f.resolved_survey_id, f.waived_at, f.waived_by, f.waived_reason, f.version, f.opened_run_id,
    ST_AsGeoJSON(f.geom, 7)::json AS geometry"""


def _flag_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for k in ("measured", "threshold"):
        if out.get(k) is not None:
            out[k] = float(out[k])
    return out


def list_flags(
    session: Session,
    *,
    actor: Actor,
    status: Sequence[str] | None = None,
    rule: str | None = None,
    operator_id: int | None = None,
    kecamatan: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The worklist: severity, then road class (busiest first), then the oldest first."""
    cond, params = visibility(actor)
    where = [cond, "f.status = ANY(CAST(:status AS flag_status[]))"]
    params |= {
        "status": status or [FlagStatus.OPEN.value, FlagStatus.ACKNOWLEDGED.value],
        "limit": limit,
        "offset": offset,
    }
    if rule:
        where.append("f.rule = :rule")
        params["rule"] = rule
    if operator_id is not None:
        where.append("f.operator_ids @> ARRAY[CAST(:op AS bigint)]")
        params["op"] = operator_id
    if kecamatan:
        where.append("f.kecamatan_kode = :kec")
        params["kec"] = kecamatan
    rows = session.execute(
        text(f"""SELECT {FLAG_COLUMNS} FROM compliance_flag f WHERE {" AND ".join(where)}
        ORDER BY f.severity, f.road_class, f.opened_at, f.id LIMIT :limit OFFSET :offset"""),
        params,
    ).all()
    return [_flag_dict(r) for r in rows]


def get_flag(session: Session, *, actor: Actor, flag_id: int) -> dict[str, Any]:
    cond, params = visibility(actor)
    row = session.execute(
        text(f"SELECT {FLAG_COLUMNS} FROM compliance_flag f WHERE f.id = :id AND {cond}"), params | {"id": flag_id}
    ).first()
    if row is None:
        raise NotFound(what="flag", ref=flag_id)
    out = _flag_dict(row)
    out["history"] = flag_history(session, flag_id=flag_id)
    return out


def flag_history(session: Session, *, flag_id: int) -> list[dict[str, Any]]:
    """Every state of a flag, oldest first. The opening comes from the flag and the run that opened it (since
    migration 0021); older flags have it as a `flag_event` row. Either way it reads the same."""
    return [
        dict(r._mapping)
        for r in session.execute(
            text("""
        SELECT f.opened_at AS at, NULL::flag_status AS from_status, 'open'::flag_status AS to_status,
               r.account_id, r.survey_id, 'raised by rule evaluation' AS note, r.id AS run_id, 0 AS seq
        FROM compliance_flag f JOIN evaluation_run r ON r.id = f.opened_run_id WHERE f.id = :id
        UNION ALL
        SELECT at, from_status, to_status, account_id, survey_id, note, NULL, id FROM flag_event WHERE flag_id = :id
        ORDER BY at, seq"""),
            {"id": flag_id},
        )
    ]


def change_flag(
    session: Session,
    *,
    actor: Actor,
    flag_id: int,
    to: FlagStatus,
    reason: str | None = None,
    expected_version: int | None = None,
) -> ComplianceFlag:
    """Acknowledge, resolve, waive (with a reason) or re-open a flag. Locks the flag. Does not commit."""
    flag = session.get(ComplianceFlag, flag_id, with_for_update=True)
    if flag is None:
        raise NotFound(what="flag", ref=flag_id)
    if expected_version is not None and flag.version != expected_version:
        raise PreconditionFailed(
            what="flag", ref=flag_id, expected_version=expected_version, current_version=flag.version
        )
    was = FlagStatus(flag.status)
    if (was, to) not in FLAG_TRANSITIONS:
        raise FlagTransitionRefused(
            what="flag",
            current_status=was.value,
            to=to.value,
            allowed=[t.value for (f, t) in FLAG_TRANSITIONS if f == was],
        )
    if to == FlagStatus.WAIVED and not (reason and reason.strip()):
        raise InvalidInput(code="waive_reason_missing")
    if to == FlagStatus.OPEN:
        clash = session.execute(
            text("""SELECT id FROM compliance_flag WHERE rule = :r AND subject_kind = :k
            AND subject_id = :s AND status IN ('open', 'acknowledged') AND id <> :id"""),
            {"r": flag.rule, "k": flag.subject_kind, "s": flag.subject_id, "id": flag.id},
        ).first()
        if clash is not None:
            raise FlagTransitionRefused(what="flag", ref=flag_id, open_flag=clash.id, to=to.value)
    now = session.scalar(text("SELECT clock_timestamp()"))
    flag.status = to
    if to == FlagStatus.ACKNOWLEDGED:
        flag.acknowledged_at, flag.acknowledged_by = now, actor.account_id
    elif to == FlagStatus.RESOLVED:
        flag.resolved_at, flag.resolved_by = now, actor.account_id
    elif to == FlagStatus.WAIVED:
        flag.waived_at, flag.waived_by, flag.waived_reason = now, actor.account_id, reason.strip()  # type: ignore[union-attr]
    else:
        flag.waived_at = flag.waived_by = flag.waived_reason = None
    flag.version += 1
    session.add(FlagEvent(flag_id=flag.id, from_status=was, to_status=to, account_id=actor.account_id, note=reason))
    session.flush()
    return flag


# -- agreements (zones live in ducting.compliance.zones) -----------------------------------------------------------
def add_agreement(
    session: Session, *, operator_id: int, reference: str, valid_from: date, valid_to: date | None
) -> OperatorAgreement:
    row = OperatorAgreement(operator_id=operator_id, reference=reference, valid_from=valid_from, valid_to=valid_to)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except Exception as exc:  # unique reference or unknown operator
        raise Conflict(
            code="agreement_refused", reference=reference, reason=str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        ) from exc
    return row


# -- migration tracking ----------------------------------------------------------------------------------------------
_STAGE_DATE = {
    MigrationStage.PULLED_INTO_DUCT: "pulled_on",
    MigrationStage.CUT_OVER: "cut_over_on",
    MigrationStage.AERIAL_REMOVED: "removed_on",
}


def open_migration(
    session: Session, *, operator_id: int, span_id: int, flag_id: int | None, capacity_request_id: int | None = None
) -> MigrationCase:
    _require_references(
        session, operator_id=operator_id, span_id=span_id, flag_id=flag_id, capacity_request_id=capacity_request_id
    )
    case = session.execute(
        text("SELECT id FROM migration_case WHERE operator_id = :o AND span_id = :s"), {"o": operator_id, "s": span_id}
    ).first()
    if case is not None:
        return session.get(MigrationCase, case.id)  # type: ignore[return-value]
    row = MigrationCase(
        operator_id=operator_id, span_id=span_id, flag_id=flag_id, capacity_request_id=capacity_request_id
    )
    session.add(row)
    session.flush()
    return row


_REFERENCES = {
    "operator_id": "SELECT 1 FROM organisation WHERE id = :v AND kind = 'operator'",
    "span_id": "SELECT 1 FROM aerial_span WHERE id = :v",
    "flag_id": "SELECT 1 FROM compliance_flag WHERE id = :v",
    "capacity_request_id": "SELECT 1 FROM capacity_request WHERE id = :v",
}


def _require_references(session: Session, **ids: int | None) -> None:
    """Every id given names an existing row (422 listing those that do not), before a foreign key says it as a 500."""
    missing = [
        FieldError(name, "not_found", what=name.removesuffix("_id"), ref=value)
        for name, value in ids.items()
        if value is not None and session.execute(text(_REFERENCES[name]), {"v": value}).first() is None
    ]
    if missing:
        raise InvalidInput(errors=missing)


def advance_migration(session: Session, *, case_id: int, to: MigrationStage, on: date) -> MigrationCase:
    """Move a case one SJUT step forward, never skipping or going back; into the duct only under a lease of the
    span's duct route (`require_lease`). Locks the case. Does not commit."""
    case = session.get(MigrationCase, case_id, with_for_update=True)
    if case is None:
        raise NotFound(what="migration", ref=case_id)
    if case.closed_on is not None:
        raise MigrationClosed(
            case=case_id, closed_on=case.closed_on, reason=case.closed_reason, closed_survey_id=case.closed_survey_id
        )
    current = MigrationStage(case.stage)
    if to.rank != current.rank + 1:
        following = list(MigrationStage)[min(current.rank + 1, 3)].value
        raise MigrationOutOfOrder(stage=current.value, next_stage=following, asked=to.value)
    previous = {MigrationStage.CUT_OVER: case.pulled_on, MigrationStage.AERIAL_REMOVED: case.cut_over_on}.get(to)
    if previous is not None and on < previous:
        raise MigrationOutOfOrder(asked=to.value, on=on.isoformat(), previous_on=previous.isoformat())
    if to == MigrationStage.PULLED_INTO_DUCT:
        require_lease(session, case=case, on=on)
    setattr(case, _STAGE_DATE[to], on)
    case.stage = to
    case.version += 1
    session.execute(text("UPDATE migration_case SET updated_at = clock_timestamp() WHERE id = :id"), {"id": case.id})
    session.flush()
    return case


def case_route(session: Session, *, case: MigrationCase) -> list[tuple[int, str]]:
    """The duct segments the case's cable goes into, in order along the span: what the rule found for this
    operator (the route its letter offers), or for a case opened by hand the live segments alongside the span."""
    flag = (
        session.execute(
            text("SELECT span_id, evidence FROM compliance_flag WHERE id = :id"), {"id": case.flag_id}
        ).first()
        if case.flag_id is not None
        else None
    )
    if flag is not None and flag.evidence.get("segment_ids"):
        segment_ids, _, _ = operator_need(session, flag=flag, operator_id=case.operator_id)
    else:
        segment_ids = segments_alongside(session, span_id=case.span_id)
    return route_along(session, span_id=case.span_id, segment_ids=segment_ids)


def require_lease(session: Session, *, case: MigrationCase, on: date) -> None:
    """Refuse (409 `migration_lease_required`) unless the case's capacity request leases every segment of its
    duct route on the day the cable is pulled in (`allocation_leased_on`: a lease in force, not a hold)."""
    route = case_route(session, case=case)
    leased: set[int] = set()
    if case.capacity_request_id is not None and route:
        leased = set(
            session.scalars(
                text("""SELECT DISTINCT segment_id FROM allocation WHERE request_id = :r AND segment_id = ANY(:ids)
                AND allocation_leased_on(status, period, :on)"""),
                {"r": case.capacity_request_id, "ids": [sid for sid, _ in route], "on": on},
            )
        )
    missing = [code for sid, code in route if sid not in leased]
    if route and not missing:
        return
    raise MigrationNotLeased(
        why="no_route" if not route else "unlinked" if case.capacity_request_id is None else "not_leased",
        capacity_request_id=case.capacity_request_id,
        missing_segments=missing,
        on=on,
    )


def link_request(session: Session, *, case_id: int, capacity_request_id: int) -> MigrationCase:
    """Tie a case to the operator's capacity request for its duct route (where the letter's link leads).
    The request must be the case operator's own. Locks the case. Raises NotFound, InvalidInput. Does not commit."""
    case = session.get(MigrationCase, case_id, with_for_update=True)
    if case is None:
        raise NotFound(what="migration", ref=case_id)
    owner = session.scalar(text("SELECT operator_id FROM capacity_request WHERE id = :id"), {"id": capacity_request_id})
    if owner is None:
        raise InvalidInput(
            errors=[FieldError("capacity_request_id", "not_found", what="capacity_request", ref=capacity_request_id)]
        )
    if owner != case.operator_id:
        mismatch = FieldError("capacity_request_id", "request_operator_mismatch", request=capacity_request_id)
        raise InvalidInput(code="request_operator_mismatch", errors=[mismatch], request=capacity_request_id)
    case.capacity_request_id = capacity_request_id
    case.version += 1
    session.execute(text("UPDATE migration_case SET updated_at = clock_timestamp() WHERE id = :id"), {"id": case.id})
    session.flush()
    return case


def complete_migrations_seen_removed(
    session: Session, *, survey_id: int, surveyed_on: date, span_ids: list[int]
) -> int:
    """Cases at cut-over whose operator has no cable left on the span in this survey: the aerial cable is removed,
    on the survey's day (SJUT's last step, with the survey as its evidence). Earlier stages are left alone: the
    order is never skipped. Returns how many cases completed. Does not commit."""
    return rowcount(
        session.execute(
            text("""
        UPDATE migration_case m SET stage = 'aerial_removed', removed_on = :on, version = m.version + 1,
               updated_at = clock_timestamp(),
               note = concat_ws(E'\n', m.note, 'kabel udara terlihat sudah dibongkar pada survei #' || :sid)
        WHERE m.stage = 'cut_over' AND m.span_id = ANY(:spans) AND m.cut_over_on <= :on
          AND NOT EXISTS (SELECT 1 FROM cable_attachment a WHERE a.span_id = m.span_id
                          AND a.operator_id = m.operator_id AND a.removed_at IS NULL)"""),
            {"on": surveyed_on, "sid": survey_id, "spans": span_ids},
        )
    )


def close_migrations_seen_removed(session: Session, *, survey_id: int, surveyed_on: date, span_ids: list[int]) -> int:
    """Planned cases whose operator has no cable left on the span in this survey close themselves, the survey
    as their reason: nothing will be pulled into the duct for a cable that is gone. Returns how many closed.
    Does not commit."""
    return rowcount(
        session.execute(
            text("""
        UPDATE migration_case m SET closed_on = :on, closed_survey_id = :sid, version = m.version + 1,
               updated_at = clock_timestamp(),
               closed_reason = 'kabel udara tidak lagi terlihat pada survei #' || :sid || ' (' || :on || ')'
        WHERE m.stage = 'planned' AND m.closed_on IS NULL AND m.span_id = ANY(:spans)
          AND NOT EXISTS (SELECT 1 FROM cable_attachment a WHERE a.span_id = m.span_id
                          AND a.operator_id = m.operator_id AND a.removed_at IS NULL)"""),
            {"on": surveyed_on, "sid": survey_id, "spans": span_ids},
        )
    )


def list_migrations(
    session: Session,
    *,
    operator_id: int | None,
    stage: MigrationStage | None = None,
    kecamatan: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Cases in SJUT order (operator, stage, id), one page of them; a city-wide programme has thousands."""
    rows = session.execute(
        text("""
        SELECT m.id, m.operator_id, o.code AS operator, m.span_id, m.flag_id, m.capacity_request_id, m.stage,
               m.pulled_on, m.cut_over_on, m.removed_on, m.closed_on, m.closed_survey_id, m.closed_reason,
               s.length_m, s.kecamatan_kode, m.version,
               ST_AsGeoJSON(s.geom, 7)::json AS geometry
        FROM migration_case m JOIN organisation o ON o.id = m.operator_id JOIN aerial_span s ON s.id = m.span_id
        WHERE (CAST(:op AS bigint) IS NULL OR m.operator_id = :op)
          AND (CAST(:stage AS text) IS NULL OR m.stage::text = :stage)
          AND (CAST(:kec AS text) IS NULL OR s.kecamatan_kode = :kec)
        ORDER BY m.operator_id, m.stage, m.id LIMIT :limit OFFSET :offset"""),
        {
            "op": operator_id,
            "stage": stage.value if stage else None,
            "kec": kecamatan,
            "limit": limit,
            "offset": offset,
        },
    ).all()
    return [dict(r._mapping) | {"length_m": float(r.length_m)} for r in rows]


# -- dashboard ------------------------------------------------------------------------------------------------------
def dashboard(session: Session) -> dict[str, Any]:
    """Figures per kecamatan (km of aerial cable removed, poles decluttered, operators signed and outstanding,
    open flags by rule, migration cases by SJUT stage), and the trend across survey rounds."""
    per_kec = session.execute(
        text("""
        WITH removed AS (
            SELECT s.kecamatan_kode AS k, sum(s.length_m) / 1000.0 AS km FROM cable_attachment a
            JOIN aerial_span s ON s.id = a.span_id WHERE a.removed_at IS NOT NULL GROUP BY 1),
        decluttered AS (
            SELECT kecamatan_kode AS k, count(DISTINCT subject_id) AS n FROM compliance_flag
            WHERE rule = 'overloaded_pole' AND status = 'resolved' GROUP BY 1),
        present AS (
            SELECT DISTINCT s.kecamatan_kode AS k, a.operator_id FROM cable_attachment a
            JOIN aerial_span s ON s.id = a.span_id WHERE a.removed_at IS NULL AND a.operator_id IS NOT NULL),
        signed AS (
            SELECT p.k, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM operator_agreement g WHERE g.operator_id = p.operator_id
                        AND g.revoked_at IS NULL AND g.valid_from <= CURRENT_DATE
                        AND (g.valid_to IS NULL OR g.valid_to >= CURRENT_DATE))) AS signed, count(*) AS operators
            FROM present p GROUP BY 1),
        open_flags AS (
            SELECT kecamatan_kode AS k, jsonb_object_agg(rule, n) AS by_rule FROM (
                SELECT kecamatan_kode, rule, count(*) AS n FROM compliance_flag
                WHERE status IN ('open', 'acknowledged') GROUP BY 1, 2) q GROUP BY 1),
        migrations AS (  -- a closed case is counted as closed, not at the stage it stopped at
            SELECT k, jsonb_object_agg(stage, n) AS by_stage FROM (
                SELECT s.kecamatan_kode AS k, CASE WHEN m.closed_on IS NULL THEN m.stage::text ELSE 'closed' END AS stage,
                       count(*) AS n FROM migration_case m
                JOIN aerial_span s ON s.id = m.span_id GROUP BY 1, 2) q GROUP BY 1)
        SELECT a.kode, a.nama, round(coalesce(r.km, 0)::numeric, 3) AS km_aerial_removed,
               coalesce(d.n, 0) AS poles_decluttered, coalesce(sg.signed, 0) AS operators_signed,
               coalesce(sg.operators, 0) - coalesce(sg.signed, 0) AS operators_outstanding,
               coalesce(o.by_rule, '{}'::jsonb) AS open_flags_by_rule,
               coalesce(mg.by_stage, '{}'::jsonb) AS migrations_by_stage
        FROM admin_area a LEFT JOIN removed r ON r.k = a.kode LEFT JOIN decluttered d ON d.k = a.kode
        LEFT JOIN signed sg ON sg.k = a.kode LEFT JOIN open_flags o ON o.k = a.kode
        LEFT JOIN migrations mg ON mg.k = a.kode
        WHERE a.level = 'kecamatan' ORDER BY a.kode""")
    ).all()
    # opened: flags opened by runs of the survey (since 0021) or open events (before); resolved: resolve events
    trend = session.execute(
        text("""
        WITH opened AS (
            SELECT survey_id, sum(opened) AS n FROM evaluation_run WHERE survey_id IS NOT NULL GROUP BY 1
            UNION ALL
            SELECT survey_id, count(*) FROM flag_event WHERE to_status = 'open' AND from_status IS NULL
              AND survey_id IS NOT NULL GROUP BY 1),
        resolved AS (
            SELECT survey_id, count(*) AS n FROM flag_event WHERE to_status = 'resolved' AND survey_id IS NOT NULL
            GROUP BY 1)
        SELECT r.id AS survey_id, r.name, r.surveyed_on, r.observation_count,
               coalesce((SELECT sum(n) FROM opened o WHERE o.survey_id = r.id), 0)::int AS flags_opened,
               coalesce((SELECT n FROM resolved v WHERE v.survey_id = r.id), 0)::int AS flags_resolved
        FROM survey_round r ORDER BY r.surveyed_on, r.id""")
    ).all()
    return {
        "kecamatan": [dict(r._mapping) | {"km_aerial_removed": float(r.km_aerial_removed)} for r in per_kec],
        "trend": [dict(r._mapping) for r in trend],
    }
