"""Notification vocabulary: the event types, who each one is for, the channels and the delivery states.

The audience of each type is data in the database (`notification_event_type`, migration 0041): the triggers that
write events and the row-level security policies read it there. `AUDIENCE` below is the same table for Python
(schemas, the pages, the webhook subscription check); tests/notify/test_vocabulary.py keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # leasing: the request workflow (written by a trigger on request_event, whoever moves the request)
    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_OFFERED = "request.offered"
    REQUEST_ACCEPTED = "request.accepted"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_HOLD_EXPIRING = "request.hold_expiring"  # clock: the hold lapses within 3 working days
    REQUEST_EXPIRED = "request.expired"
    LEASE_STARTED = "lease.started"
    LEASE_TERMINATION_NOTICE = "lease.termination_notice"
    LEASE_ENDED = "lease.ended"  # clock: the lease's last day has passed
    # billing
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAYMENT_RECEIVED = "invoice.payment_received"
    INVOICE_OVERDUE = "invoice.overdue"  # clock: unpaid after its due day
    INVOICE_DISPUTE_OPENED = "invoice.dispute_opened"  # issue 13 emits it (ducting.notify.events.emit_dispute_*)
    INVOICE_DISPUTE_RESOLVED = "invoice.dispute_resolved"
    # compliance
    COMPLIANCE_FLAG_OPENED = "compliance.flag_opened"
    COMPLIANCE_LETTER_ISSUED = "compliance.letter_issued"
    COMPLIANCE_MIGRATION_DUE = "compliance.migration_case_due"  # clock: the letter's deadline has come
    CITIZEN_REPORT_RECEIVED = "citizen_report.received"


OPERATOR = "operator"
"""In an audience: the operator organisation the event concerns (its accounts, its webhooks)."""

# type -> who reads it: "operator" (the organisation concerned) and the BUMD staff roles it is for
AUDIENCE: dict[EventType, frozenset[str]] = {
    EventType.REQUEST_SUBMITTED: frozenset({OPERATOR, "planner", "admin"}),
    EventType.REQUEST_OFFERED: frozenset({OPERATOR}),
    EventType.REQUEST_ACCEPTED: frozenset({OPERATOR}),
    EventType.REQUEST_REJECTED: frozenset({OPERATOR}),
    EventType.REQUEST_CANCELLED: frozenset({OPERATOR}),
    EventType.REQUEST_HOLD_EXPIRING: frozenset({OPERATOR}),
    EventType.REQUEST_EXPIRED: frozenset({OPERATOR}),
    EventType.LEASE_STARTED: frozenset({OPERATOR}),
    EventType.LEASE_TERMINATION_NOTICE: frozenset({OPERATOR}),
    EventType.LEASE_ENDED: frozenset({OPERATOR}),
    EventType.INVOICE_ISSUED: frozenset({OPERATOR}),
    EventType.INVOICE_PAYMENT_RECEIVED: frozenset({OPERATOR}),
    EventType.INVOICE_OVERDUE: frozenset({OPERATOR, "finance"}),
    EventType.INVOICE_DISPUTE_OPENED: frozenset({OPERATOR, "finance", "admin"}),
    EventType.INVOICE_DISPUTE_RESOLVED: frozenset({OPERATOR}),
    EventType.COMPLIANCE_FLAG_OPENED: frozenset({OPERATOR}),
    EventType.COMPLIANCE_LETTER_ISSUED: frozenset({OPERATOR}),
    EventType.COMPLIANCE_MIGRATION_DUE: frozenset({OPERATOR, "planner"}),
    EventType.CITIZEN_REPORT_RECEIVED: frozenset({"planner", "admin"}),
}

OPERATOR_TYPES = tuple(t for t in EventType if OPERATOR in AUDIENCE[t])
"""What an operator's webhook may subscribe to."""


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for `next_attempt_at` (a first try, a retry, or the account's digest hour)
    SENDING = "sending"  # claimed by a worker until `next_attempt_at`; after that any worker may take it again
    DELIVERED = "delivered"
    DEAD = "dead"  # given up after the last attempt; "Kirim ulang" sends it again


class EmailMode(StrEnum):
    IMMEDIATE = "immediate"  # one email per event
    DIGEST = "digest"  # one email a day, at the account's digest hour, with everything since the last


class Language(StrEnum):
    ID = "id"
    EN = "en"
