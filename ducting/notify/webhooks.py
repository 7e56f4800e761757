"""Webhook endpoints of operator organisations, and the deliveries made to them (and to e-mail).

An operator registers, changes and removes its own organisation's endpoints; an admin does so for any operator
(naming it by code). Every URL passes the SSRF guard (`ducting.notify.ssrf`) when registered or changed, and again
at every send. The secret is made here, returned once, and afterwards only its fingerprint is shown. None of this
commits; row-level security scopes every statement as well (migration 0042).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.vocab import Role
from ducting.db import Actor
from ducting.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from ducting.notify.schemas import WebhookIn, WebhookPatch
from ducting.notify.signing import new_secret
from ducting.notify.ssrf import Guard


class DeliveryInFlight(Conflict):
    code = "delivery_in_flight"


_ENDPOINT = """SELECT w.id, w.operator_id, o.code AS operator, w.url, w.event_types, w.description, w.active,
       w.created_at, w.updated_at, left(w.secret_sha256, 8) AS secret_fingerprint
FROM webhook_endpoint w JOIN organisation o ON o.id = w.operator_id
WHERE w.city_id = current_city_id() AND w.removed_at IS NULL"""


def _operator_id(session: Session, actor: Actor, code: str | None) -> int:
    if actor.role == Role.OPERATOR:
        own = session.execute(
            text("SELECT code FROM organisation WHERE id = :o"), {"o": actor.organisation_id}
        ).scalar()
        if code is not None and code != own:
            raise Forbidden(code="operator_not_own", operator=code)
        return actor.organisation_id  # type: ignore[return-value]
    found = None
    if code is not None:
        found = session.execute(
            text("SELECT id FROM organisation WHERE code = :c AND kind = 'operator'"), {"c": code}
        ).scalar()
    if found is None:
        if code is None:
            raise InvalidInput(errors=[FieldError("operator", "value_missing", column="operator")])
        raise InvalidInput(errors=[FieldError("operator", "not_found", what="operator", ref=code)])
    return found


def get_endpoint(session: Session, endpoint_id: int) -> dict[str, Any]:
    row = session.execute(text(f"{_ENDPOINT} AND w.id = :id"), {"id": endpoint_id}).first()
    if row is None:
        raise NotFound(what="webhook", ref=endpoint_id)
    return dict(row._mapping)


def list_endpoints(session: Session) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in session.execute(text(f"{_ENDPOINT} ORDER BY o.code, w.id"))]


def create_endpoint(session: Session, *, actor: Actor, data: WebhookIn, guard: Guard) -> tuple[dict[str, Any], str]:
    """Register an endpoint; returns it and its secret (shown once). Raises the guard's 422s."""
    operator_id = _operator_id(session, actor, data.operator)
    guard.check(data.url)
    secret = new_secret()
    endpoint_id = session.execute(
        text("""
        INSERT INTO webhook_endpoint (operator_id, url, event_types, secret, description, created_by)
        VALUES (:o, :url, CAST(:types AS text[]), :secret, :description, :by) RETURNING id"""),
        {
            "o": operator_id,
            "url": data.url,
            "types": [t.value for t in data.event_types],
            "secret": secret,
            "description": data.description,
            "by": actor.account_id,
        },
    ).scalar_one()
    return get_endpoint(session, endpoint_id), secret


def update_endpoint(session: Session, *, endpoint_id: int, data: WebhookPatch, guard: Guard) -> dict[str, Any]:
    get_endpoint(session, endpoint_id)
    if data.url is not None:
        guard.check(data.url)
    values = data.model_dump(exclude_unset=True, mode="json")
    if not values:
        return get_endpoint(session, endpoint_id)
    sets = ", ".join(f"{k} = CAST(:{k} AS text[])" if k == "event_types" else f"{k} = :{k}" for k in values)
    session.execute(
        text(
            f"UPDATE webhook_endpoint SET {sets}, updated_at = clock_timestamp() WHERE city_id = current_city_id() AND id = :id"
        ),
        values | {"id": endpoint_id},
    )
    return get_endpoint(session, endpoint_id)


def remove_endpoint(session: Session, *, endpoint_id: int) -> None:
    """Switch the endpoint off for good; its deliveries stay listed."""
    get_endpoint(session, endpoint_id)
    session.execute(
        text("""UPDATE webhook_endpoint SET active = false, removed_at = clock_timestamp(),
                updated_at = clock_timestamp() WHERE city_id = current_city_id() AND id = :id"""),
        {"id": endpoint_id},
    )


def rotate_secret(session: Session, *, endpoint_id: int) -> tuple[dict[str, Any], str]:
    get_endpoint(session, endpoint_id)
    secret = new_secret()
    session.execute(
        text("""UPDATE webhook_endpoint SET secret = :s, updated_at = clock_timestamp()
                WHERE city_id = current_city_id() AND id = :id"""),
        {"s": secret, "id": endpoint_id},
    )
    return get_endpoint(session, endpoint_id), secret


# -- deliveries -------------------------------------------------------------------------------------------------
_DELIVERY = """SELECT d.id, d.event_id, e.type AS event_type, e.occurred_at, d.channel,
       coalesce(w.url, a.email, '') AS target, d.endpoint_id, d.account_id, d.operator_id, d.digest, d.state,
       d.attempts, CASE WHEN d.state IN ('pending', 'sending') THEN d.next_attempt_at END AS next_attempt_at,
       d.last_attempt_at, d.delivered_at, d.last_status, d.last_response, d.last_error
FROM notification_delivery d
JOIN notification_event e ON e.city_id = d.city_id AND e.id = d.event_id
LEFT JOIN webhook_endpoint w ON w.city_id = d.city_id AND w.id = d.endpoint_id
LEFT JOIN account a ON a.id = d.account_id
WHERE d.city_id = current_city_id()"""


def list_deliveries(
    session: Session,
    *,
    endpoint_id: int | None,
    state: str | None,
    channel: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, one page, and the next page's keyset."""
    rows = session.execute(
        text(f"""{_DELIVERY}
          AND (CAST(:endpoint AS bigint) IS NULL OR d.endpoint_id = :endpoint)
          AND (CAST(:state AS text) IS NULL OR d.state = :state)
          AND (CAST(:channel AS text) IS NULL OR d.channel = :channel)
          AND (CAST(:before AS bigint) IS NULL OR d.id < :before)
        ORDER BY d.id DESC LIMIT :limit"""),
        {"endpoint": endpoint_id, "state": state, "channel": channel, "before": before_id, "limit": limit + 1},
    ).all()
    items = [dict(r._mapping) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


def get_delivery(session: Session, delivery_id: int) -> dict[str, Any]:
    row = session.execute(text(f"{_DELIVERY} AND d.id = :id"), {"id": delivery_id}).first()
    if row is None:
        raise NotFound(what="delivery", ref=delivery_id)
    return dict(row._mapping)


def redeliver(session: Session, *, delivery_id: int) -> dict[str, Any]:
    """ "Kirim ulang": queue the delivery again now, with a fresh count of attempts; the same event id goes out.
    Refused (409) while a worker holds it."""
    current = get_delivery(session, delivery_id)
    if current["state"] == "sending":
        raise DeliveryInFlight(delivery=delivery_id, state="sending")
    session.execute(
        text("""UPDATE notification_delivery SET state = 'pending', attempts = 0, claimed_by = NULL,
                next_attempt_at = clock_timestamp() WHERE city_id = current_city_id() AND id = :id"""),
        {"id": delivery_id},
    )
    session.execute(text("SELECT pg_notify('notification_delivery', '')"))
    return get_delivery(session, delivery_id)
