"""The planner's inbox and the decision-time SLA report."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.calendar import DEFAULT_ZONE


def sla_report(session: Session, *, months: int = 12, tz: ZoneInfo = DEFAULT_ZONE) -> list[dict[str, Any]]:
    """Per month of submission (a calendar month in the city's zone): requests, decided, median and p90 hours to a
    decision, overdue now."""
    rows = session.execute(
        text("""
        SELECT to_char(created_at AT TIME ZONE :zone, 'YYYY-MM') AS month,
               count(*) AS submitted,
               count(decided_at) AS decided,
               round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
                      / 3600)::numeric, 1) AS median_hours,
               round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
                      / 3600)::numeric, 1) AS p90_hours,
               count(*) FILTER (WHERE status IN ('submitted', 'offered') AND due_at < now()) AS overdue_now
        FROM capacity_request
        WHERE created_at >= (date_trunc('month', now() AT TIME ZONE :zone) - make_interval(months => :m))
                            AT TIME ZONE :zone
        GROUP BY 1 ORDER BY 1"""),
        {"m": months - 1, "zone": tz.key},
    )
    return [dict(r._mapping) for r in rows]
