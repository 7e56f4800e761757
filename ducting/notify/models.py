"""Tables of the notifications (migrations 0041-0043): the outbox, read marks, preferences, webhooks, deliveries.

Every row carries its city (`city_id`, leading each key); the triggers that write events and fan them out to
deliveries live in the migrations, not here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ducting.db import Base

_NOW = text("clock_timestamp()")
_CITY = text("current_city_id()")


def _city() -> Mapped[int]:
    return mapped_column(BigInteger, ForeignKey("city.id"), primary_key=True, server_default=_CITY)


class NotificationEventType(Base):
    """The vocabulary with each type's audience (`ducting.notify.vocab.AUDIENCE` says the same)."""

    __tablename__ = "notification_event_type"
    __table_args__ = (
        CheckConstraint(r"code ~ '^[a-z_]+\.[a-z_]+$'", name="notification_event_type_code_check"),
        CheckConstraint("cardinality(audience) > 0", name="notification_event_type_audience_check"),
        {
            "comment": "The notification vocabulary: each event type and who reads it (the operator concerned, BUMD staff roles)"
        },
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    audience: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)


class NotificationEvent(Base):
    """The outbox: one event, written in the transaction of its change."""

    __tablename__ = "notification_event"
    __table_args__ = (
        UniqueConstraint("city_id", "dedupe_key", name="uq_notification_event_dedupe"),
        CheckConstraint(
            "operator_id IS NOT NULL OR NOT audience @> '{operator}'", name="ck_notification_event_operator"
        ),
        Index("ix_notification_event_operator", "city_id", "operator_id", "seq"),
        Index("ix_notification_event_seq", "city_id", "seq"),
        Index("ix_notification_event_audience", "audience", postgresql_using="gin"),
        {"comment": "The outbox: one row per event, written in the transaction of the change that causes it"},
    )

    city_id: Mapped[int] = _city()
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False)
    type: Mapped[str] = mapped_column(Text, ForeignKey("notification_event_type.code"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id", ondelete="CASCADE"))
    audience: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    dedupe_key: Mapped[str | None] = mapped_column(
        Text, comment="Subject and occurrence of a time-driven event: the same key is never written twice in a city"
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id", ondelete="SET NULL"))


class NotificationRead(Base):
    __tablename__ = "notification_read"
    __table_args__ = (
        ForeignKeyConstraint(
            ["city_id", "event_id"], ["notification_event.city_id", "notification_event.id"], ondelete="CASCADE"
        ),
        {"comment": "In-app read marks: an event an account has read"},
    )

    city_id: Mapped[int] = _city()
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)


class NotificationPreference(Base):
    __tablename__ = "notification_preference"
    __table_args__ = (
        UniqueConstraint("city_id", "account_id", name="uq_notification_preference_account"),
        CheckConstraint("email_mode IN ('immediate', 'digest')", name="notification_preference_email_mode_check"),
        CheckConstraint("digest_hour BETWEEN 0 AND 23", name="notification_preference_digest_hour_check"),
        CheckConstraint("language IN ('id', 'en')", name="notification_preference_language_check"),
        {"comment": "How an account is told: e-mail on/off, immediate or a daily digest at an hour, language"},
    )

    city_id: Mapped[int] = _city()
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    email_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    email_mode: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'immediate'"))
    digest_hour: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("7"))
    language: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'id'"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"
    __table_args__ = (
        CheckConstraint("url ~ '^https?://' AND length(url) <= 2000", name="webhook_endpoint_url_check"),
        CheckConstraint("cardinality(event_types) > 0", name="webhook_endpoint_event_types_check"),
        CheckConstraint("length(secret) >= 32 AND secret ~ '^[A-Za-z0-9_-]+$'", name="webhook_endpoint_secret_check"),
        CheckConstraint("length(description) <= 500", name="webhook_endpoint_description_check"),
        CheckConstraint("removed_at IS NULL OR NOT active", name="ck_webhook_endpoint_removed_inactive"),
        Index("ix_webhook_endpoint_operator", "city_id", "operator_id", postgresql_where=text("active")),
        {"comment": "An operator's webhook: URL, event types, and the secret that signs each POST"},
    )

    city_id: Mapped[int] = _city()
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # the signing key: read only by the worker that signs, never shown after creation
    secret: Mapped[str] = deferred(
        mapped_column(
            Text, nullable=False, comment="HMAC-SHA256 key; shown once at creation, left out of audit records"
        )
    )
    secret_sha256: Mapped[str | None] = mapped_column(
        Text, Computed("encode(sha256(secret::bytea), 'hex')", persisted=True)
    )
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationDelivery(Base):
    __tablename__ = "notification_delivery"
    __table_args__ = (
        ForeignKeyConstraint(
            ["city_id", "event_id"], ["notification_event.city_id", "notification_event.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["city_id", "endpoint_id"], ["webhook_endpoint.city_id", "webhook_endpoint.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("city_id", "event_id", "account_id", name="uq_notification_delivery_email"),
        UniqueConstraint("city_id", "event_id", "endpoint_id", name="uq_notification_delivery_webhook"),
        CheckConstraint("channel IN ('email', 'webhook')", name="notification_delivery_channel_check"),
        CheckConstraint(
            "state IN ('pending', 'sending', 'delivered', 'dead')", name="notification_delivery_state_check"
        ),
        CheckConstraint("attempts >= 0", name="notification_delivery_attempts_check"),
        CheckConstraint(
            "(channel = 'email' AND account_id IS NOT NULL AND endpoint_id IS NULL) OR (channel = 'webhook' "
            "AND endpoint_id IS NOT NULL AND account_id IS NULL AND NOT digest)",
            name="ck_notification_delivery_target",
        ),
        Index(
            "ix_notification_delivery_due", "next_attempt_at", postgresql_where=text("state IN ('pending', 'sending')")
        ),
        Index("ix_notification_delivery_operator", "city_id", "operator_id", "id"),
        Index("ix_notification_delivery_endpoint", "city_id", "endpoint_id", "id"),
        {
            "comment": "One event to one target (an account's e-mail, a webhook endpoint): state, attempts, next attempt, last response"
        },
    )

    city_id: Mapped[int] = _city()
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("account.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(BigInteger)
    operator_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id", ondelete="CASCADE"))
    digest: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=_NOW,
        comment="pending: when to try (retry backoff, digest hour); sending: when the claim times out",
    )
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_response: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=_NOW)
