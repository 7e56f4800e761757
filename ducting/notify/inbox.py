"""The in-app list: the events for this account (its organisation's, or its staff role's), what it has read, and
its preferences. Row-level security already limits an operator to its own organisation's events; the `for me`
condition below narrows admins (who may read every event) to the ones addressed to them. None of this commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.vocab import Role
from ducting.db import Actor, rowcount
from ducting.errors import NotFound
from ducting.notify import texts
from ducting.notify.schemas import NotificationOut, PreferencesIn
from ducting.notify.settings import get_notify_settings
from ducting.notify.vocab import OPERATOR


def _for_me(actor: Actor) -> tuple[str, dict[str, Any]]:
    """Events addressed to the actor, within the list's window (`inbox_days`)."""
    days = {"days": get_notify_settings().inbox_days}
    recent = "e.city_id = current_city_id() AND e.occurred_at > now() - make_interval(days => :days)"
    if actor.role == Role.OPERATOR:
        return f"{recent} AND e.operator_id = :org AND e.audience @> '{{{OPERATOR}}}'", days | {
            "org": actor.organisation_id
        }
    return f"{recent} AND e.audience @> ARRAY[CAST(:role AS text)]", days | {"role": actor.role}


def _unread_sql(mine: str) -> str:
    return f"""SELECT count(*) FROM notification_event e
        WHERE {mine} AND NOT EXISTS (SELECT 1 FROM notification_read r
                                     WHERE r.city_id = e.city_id AND r.account_id = :me AND r.event_id = e.id)"""


def unread_count(session: Session, actor: Actor) -> int:
    mine, params = _for_me(actor)
    return session.execute(text(_unread_sql(mine)), params | {"me": actor.account_id}).scalar_one()


def list_notifications(
    session: Session, actor: Actor, *, lang: str, unread_only: bool, limit: int, before_seq: int | None
) -> tuple[list[NotificationOut], int | None]:
    """Newest first, one page; the next page's keyset (None at the end)."""
    mine, params = _for_me(actor)
    rows = session.execute(
        text(f"""
        SELECT e.id, e.seq, e.type, e.occurred_at, e.operator_id, e.subject, e.payload, (r.event_id IS NOT NULL) AS read
        FROM notification_event e
        LEFT JOIN notification_read r ON r.city_id = e.city_id AND r.account_id = :me AND r.event_id = e.id
        WHERE {mine} AND (CAST(:before AS bigint) IS NULL OR e.seq < :before)
          AND (NOT :unread_only OR r.event_id IS NULL)
        ORDER BY e.seq DESC LIMIT :limit"""),
        params | {"me": actor.account_id, "before": before_seq, "unread_only": unread_only, "limit": limit + 1},
    ).all()
    staff = actor.role != Role.OPERATOR
    items = [_out(r, lang, staff=staff) for r in rows[:limit]]
    return items, (rows[limit - 1].seq if len(rows) > limit else None)


def _out(r: Any, lang: str, *, staff: bool) -> NotificationOut:
    payload = dict(r.payload)
    links = {k: str(v) for k, v in (payload.pop("links", None) or {}).items()}
    return NotificationOut(
        id=r.id,
        type=r.type,
        occurred_at=r.occurred_at,
        operator_id=r.operator_id,
        subject=r.subject,
        title=texts.title(lang, r.type, r.payload),
        detail=texts.detail(lang, r.type, r.payload),
        payload=payload,
        links=links,
        page=(links.get("staff_page") if staff else None) or links.get("page"),
        read=r.read,
    )


def mark_read(session: Session, actor: Actor, event_id: uuid.UUID) -> datetime:
    """Mark one event read (again: no change). NotFound when it is not this account's to read."""
    mine, params = _for_me(actor)
    read_at = session.execute(
        text(f"""
        WITH mark AS (
            INSERT INTO notification_read (city_id, account_id, event_id)
            SELECT e.city_id, :me, e.id FROM notification_event e WHERE {mine} AND e.id = :id
            ON CONFLICT DO NOTHING RETURNING read_at)
        SELECT read_at FROM mark
        UNION ALL
        SELECT r.read_at FROM notification_read r
        WHERE r.city_id = current_city_id() AND r.account_id = :me AND r.event_id = :id"""),
        params | {"me": actor.account_id, "id": event_id},
    ).scalar()
    if read_at is None:
        raise NotFound(what="notification", ref=event_id)
    return read_at


def mark_all_read(session: Session, actor: Actor) -> int:
    mine, params = _for_me(actor)
    return rowcount(
        session.execute(
            text(f"""
        INSERT INTO notification_read (city_id, account_id, event_id)
        SELECT e.city_id, :me, e.id FROM notification_event e WHERE {mine}
        ON CONFLICT DO NOTHING"""),
            params | {"me": actor.account_id},
        )
    )


# -- preferences ----------------------------------------------------------------------------------------------
def get_preferences(session: Session, actor: Actor) -> dict[str, Any]:
    row = session.execute(
        text("""
        SELECT a.email, p.email_enabled, p.email_mode, p.digest_hour, p.language
        FROM account a LEFT JOIN notification_preference p
          ON p.city_id = current_city_id() AND p.account_id = a.id
        WHERE a.id = :me"""),
        {"me": actor.account_id},
    ).one()
    defaults = PreferencesIn().model_dump()
    return {k: (defaults[k] if getattr(row, k) is None else getattr(row, k)) for k in defaults} | {"email": row.email}


def set_preferences(session: Session, actor: Actor, data: PreferencesIn) -> dict[str, Any]:
    """Write the account's preferences (one row, audited). Does not commit."""
    session.execute(
        text("""
        INSERT INTO notification_preference (account_id, email_enabled, email_mode, digest_hour, language)
        VALUES (:me, :email_enabled, :email_mode, :digest_hour, :language)
        ON CONFLICT (city_id, account_id) DO UPDATE SET email_enabled = EXCLUDED.email_enabled,
            email_mode = EXCLUDED.email_mode, digest_hour = EXCLUDED.digest_hour, language = EXCLUDED.language,
            updated_at = clock_timestamp()
        WHERE (notification_preference.email_enabled, notification_preference.email_mode,
               notification_preference.digest_hour, notification_preference.language)
              IS DISTINCT FROM (EXCLUDED.email_enabled, EXCLUDED.email_mode, EXCLUDED.digest_hour, EXCLUDED.language)"""),
        {"me": actor.account_id, **data.model_dump(mode="json")},
    )
    return get_preferences(session, actor)
