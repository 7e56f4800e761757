"""Time-driven events: what becomes true by the clock alone, found by a periodic run and announced once.

* `request.hold_expiring`: a submitted or offered request whose hold lapses within `hold_warning_working_days`
  (3) working days, once per hold (an offer renews the hold, and a renewed hold is a new occurrence).
* `lease.ended`: an active or terminated lease whose last day has passed.
* `invoice.overdue`: an issued, unpaid invoice past its due day, once per due day.
* `compliance.migration_case_due`: a migration case not finished `migration_due_days` (30, the letter's
  deadline) after it was opened.

Each is written with a dedupe key naming its subject and occurrence, so however many processes run the clock and
however often, it is written once (the unique key decides; an advisory lock only spares the duplicate work).
Occurrences older than `clock_catch_up_days` are not announced, so a first start or a long outage does not bring
a flood of stale news. Working days are the calendar's (`ducting.calendar.add_working_days`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting import calendar
from ducting.notify import links
from ducting.notify.events import emit
from ducting.notify.settings import NotifySettings, get_notify_settings
from ducting.notify.vocab import EventType

WIB = calendar.DEFAULT_ZONE
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('ducting.notify.clock'))")


@dataclass(frozen=True)
class Moment:
    now: datetime
    today: date
    since: date  # the oldest occurrence still announced
    settings: NotifySettings


def _unannounced(key_sql: str) -> str:
    return f"""NOT EXISTS (SELECT 1 FROM notification_event e
                           WHERE e.city_id = current_city_id() AND e.dedupe_key = {key_sql})"""


def _holds(session: Session, m: Moment) -> int:
    from ducting.calendar import add_working_days

    horizon = add_working_days(m.now, m.settings.hold_warning_working_days)
    # the hold's end to the microsecond: an offer renews the hold, and may do so within the same second
    key = "'request.hold_expiring:' || r.id || ':' || (extract(epoch FROM r.hold_expires_at) * 1000000)::bigint"
    rows = session.execute(
        text(f"""
        SELECT r.id, r.operator_id, r.reference, r.status::text AS status, r.hold_expires_at, {key} AS key
        FROM capacity_request r
        WHERE r.status IN ('submitted', 'offered') AND r.hold_expires_at > :now AND r.hold_expires_at <= :horizon
          AND {_unannounced(key)}
        ORDER BY r.hold_expires_at, r.id"""),
        {"now": m.now, "horizon": horizon},
    )
    return _emit_all(
        session,
        rows,
        EventType.REQUEST_HOLD_EXPIRING,
        lambda r: (
            f"capacity_request:{r.id}",
            {
                "request_id": r.id,
                "reference": r.reference,
                "status": r.status,
                "hold_expires_at": r.hold_expires_at,
                "working_days": m.settings.hold_warning_working_days,
                "links": links.request(r.id),
            },
        ),
    )


def _leases_ended(session: Session, m: Moment) -> int:
    key = "'lease.ended:' || r.id"
    rows = session.execute(
        text(f"""
        SELECT r.id, r.operator_id, r.reference, r.pks_number, r.first_day, r.last_day, {key} AS key
        FROM capacity_request r
        WHERE r.status IN ('active', 'terminated') AND r.last_day < :today AND r.last_day >= :since
          AND {_unannounced(key)}
        ORDER BY r.last_day, r.id"""),
        {"today": m.today, "since": m.since},
    )
    return _emit_all(
        session,
        rows,
        EventType.LEASE_ENDED,
        lambda r: (
            f"capacity_request:{r.id}",
            {
                "request_id": r.id,
                "reference": r.reference,
                "pks_number": r.pks_number,
                "first_day": r.first_day,
                "last_day": r.last_day,
                "links": links.request(r.id),
            },
        ),
    )


def _overdue(session: Session, m: Moment) -> int:
    key = "'invoice.overdue:' || i.id || ':' || i.due_on"
    rows = session.execute(
        text(f"""
        SELECT i.id, i.operator_id, i.number, i.due_on, i.total_idr,
               i.total_idr - i.paid_idr + coalesce((SELECT sum(c.total_idr) FROM invoice c
                                                    WHERE c.credited_invoice_id = i.id), 0) AS outstanding,
               {key} AS key
        FROM invoice i
        WHERE i.kind = 'invoice' AND i.status = 'issued' AND i.due_on < :today AND i.due_on + 1 >= :since
          AND {_unannounced(key)}
        ORDER BY i.due_on, i.id"""),
        {"today": m.today, "since": m.since},
    )
    return _emit_all(
        session,
        rows,
        EventType.INVOICE_OVERDUE,
        lambda r: (
            f"invoice:{r.id}",
            {
                "invoice_id": r.id,
                "number": r.number,
                "due_on": r.due_on,
                "days_late": (m.today - r.due_on).days,
                "total_idr": r.total_idr,
                "outstanding_idr": r.outstanding,
                "links": links.invoice(r.id),
            },
        ),
    )


def _migrations_due(session: Session, m: Moment) -> int:
    key = "'compliance.migration_case_due:' || c.id"
    rows = session.execute(
        text(f"""
        SELECT c.id, c.operator_id, c.span_id, c.stage::text AS stage, c.due_on, {key} AS key
        FROM (SELECT m.*, (m.created_at AT TIME ZONE :zone)::date + :days AS due_on
              FROM migration_case m WHERE m.stage <> 'aerial_removed') c
        WHERE c.due_on <= :today AND c.due_on >= :since AND {_unannounced(key)}
        ORDER BY c.due_on, c.id"""),
        {"days": m.settings.migration_due_days, "today": m.today, "since": m.since, "zone": calendar.DEFAULT_ZONE_NAME},
    )
    return _emit_all(
        session,
        rows,
        EventType.COMPLIANCE_MIGRATION_DUE,
        lambda r: (
            f"migration_case:{r.id}",
            {
                "case_id": r.id,
                "span_id": r.span_id,
                "stage": r.stage,
                "due_on": r.due_on,
                "links": links.migration_cases(r.operator_id),
            },
        ),
    )


def _emit_all(session: Session, rows: Any, type_: EventType, shape: Callable[[Any], tuple[str, dict[str, Any]]]) -> int:
    written = 0
    for r in rows.all():
        subject, payload = shape(r)
        if emit(session, type=type_, operator_id=r.operator_id, subject=subject, payload=payload, dedupe_key=r.key):
            written += 1
    return written


JOBS = {
    EventType.REQUEST_HOLD_EXPIRING: _holds,
    EventType.LEASE_ENDED: _leases_ended,
    EventType.INVOICE_OVERDUE: _overdue,
    EventType.COMPLIANCE_MIGRATION_DUE: _migrations_due,
}


def run_clock(
    session: Session, *, now: datetime | None = None, settings: NotifySettings | None = None
) -> dict[str, int]:
    """Write the time-driven events that have come due by `now` (default: now), each once. Returns how many of
    each type were written; empty when another process is running the clock at this moment. Reads every
    operator's rows, so the session acts as the system. Does not commit."""
    settings = settings or get_notify_settings()
    now = now or datetime.now(UTC)
    if not session.execute(_LOCK).scalar():
        return {}
    today = now.astimezone(WIB).date()
    moment = Moment(now, today, today - timedelta(days=settings.clock_catch_up_days), settings)
    return {kind.value: job(session, moment) for kind, job in JOBS.items()}
