"""Raising an event from Python: `emit()` writes it into the outbox in the caller's transaction.

Most events need no call at all: triggers on the domain tables write them with the change (migration 0043). This is
for what no table row says by itself: a letter issued, a dispute opened or resolved, and the clock's time-driven
events (`ducting.notify.clock`). Nothing here commits; the event exists if and only if the caller commits.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.notify import links
from ducting.notify.vocab import EventType

_EMIT = text("SELECT notify_emit(:type, :operator_id, :subject, CAST(:payload AS jsonb), :dedupe_key)")


def emit(
    session: Session,
    *,
    type: EventType,
    operator_id: int | None,
    subject: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> uuid.UUID | None:
    """Write one event in the caller's transaction; its deliveries (webhooks, e-mail) are queued with it.

    `operator_id` is the organisation the event concerns (None for the BUMD's own, such as a citizen report);
    `subject` names the object (`invoice:42`); `payload` is small and JSON-able, with `links` (relative URLs: `api`,
    `page` for the operator, `staff_page` for the BUMD). With a `dedupe_key` the event is written once per key and
    city: a second call returns None. An operator may only raise events about its own organisation (the database
    refuses otherwise). Does not commit."""
    body = orjson.dumps(payload, default=_json_default).decode()
    params = {"type": type.value, "operator_id": operator_id, "subject": subject, "payload": body}
    return session.execute(_EMIT, params | {"dedupe_key": dedupe_key}).scalar()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


# -- for issue 13 (disputes): the finance engineer calls these where a dispute is opened and decided -------------
def emit_dispute_opened(
    session: Session,
    *,
    dispute_id: int,
    invoice_id: int,
    invoice_number: str,
    operator_id: int,
    reason: str,
    amount_idr: Decimal | None = None,
    line_id: int | None = None,
    due_on: date | None = None,
) -> uuid.UUID | None:
    """An operator disputed (part of) an invoice: tells finance and admins, and the operator (as a receipt).

    Call it in the transaction that files the dispute; `due_on` is the day finance must answer by. Once per
    dispute. Does not commit."""
    return emit(
        session,
        type=EventType.INVOICE_DISPUTE_OPENED,
        operator_id=operator_id,
        subject=f"dispute:{dispute_id}",
        payload={
            "dispute_id": dispute_id,
            "invoice_id": invoice_id,
            "number": invoice_number,
            "line_id": line_id,
            "amount_idr": amount_idr,
            "reason": reason[:500],
            "due_on": due_on,
            "links": links.dispute(dispute_id, invoice_id),
        },
        dedupe_key=f"{EventType.INVOICE_DISPUTE_OPENED}:{dispute_id}",
    )


def emit_dispute_resolved(
    session: Session,
    *,
    dispute_id: int,
    invoice_id: int,
    invoice_number: str,
    operator_id: int,
    outcome: Literal["accepted", "rejected"],
    reason: str,
    credit_note_id: int | None = None,
    credit_note_number: str | None = None,
) -> uuid.UUID | None:
    """Finance decided a dispute: accepted (with the credit note it issued) or rejected, with the reason. Tells the
    operator. Call it in the deciding transaction; once per dispute. Does not commit."""
    return emit(
        session,
        type=EventType.INVOICE_DISPUTE_RESOLVED,
        operator_id=operator_id,
        subject=f"dispute:{dispute_id}",
        payload={
            "dispute_id": dispute_id,
            "invoice_id": invoice_id,
            "number": invoice_number,
            "outcome": outcome,
            "reason": reason[:500],
            "credit_note_id": credit_note_id,
            "credit_note_number": credit_note_number,
            "links": links.dispute(dispute_id, invoice_id),
        },
        dedupe_key=f"{EventType.INVOICE_DISPUTE_RESOLVED}:{dispute_id}",
    )
