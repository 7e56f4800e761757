"""Request and response shapes of the notification API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ducting.notify.vocab import OPERATOR_TYPES, Channel, DeliveryState, EmailMode, EventType, Language


class NotificationOut(BaseModel):
    id: uuid.UUID
    type: EventType
    occurred_at: datetime
    operator_id: int | None
    subject: str
    title: str = Field(description="What happened, in the language asked for")
    detail: str
    payload: dict[str, Any]
    links: dict[str, str]
    page: str | None = Field(description="The page this reader opens for it")
    read: bool


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    unread: int
    next_before_seq: int | None = Field(description="Keyset: pass as before_seq for the next page")


class UnreadCountOut(BaseModel):
    unread: int


class ReadOut(BaseModel):
    id: uuid.UUID
    read_at: datetime
    unread: int


class ReadAllOut(BaseModel):
    marked: int
    unread: int


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_enabled: bool = True
    email_mode: EmailMode = EmailMode.IMMEDIATE
    digest_hour: int = Field(default=7, ge=0, le=23, description="Hour of the city's clock (WIB) for the digest")
    language: Language = Language.ID


class PreferencesOut(PreferencesIn):
    model_config = ConfigDict(extra="ignore")

    email: str | None = Field(description="Where e-mail goes (the account's address; admins change it)")


class EventTypeOut(BaseModel):
    code: EventType
    audience: list[str]
    title_id: str
    title_en: str


def _only_operator_types(value: list[EventType]) -> list[EventType]:
    wrong = [t.value for t in value if t not in OPERATOR_TYPES]
    if wrong:
        raise ValueError(f"not an operator's event type: {', '.join(wrong)}")
    return list(dict.fromkeys(value))


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, description="https:// (http:// outside production)")
    event_types: list[EventType] = Field(
        default_factory=lambda: list(OPERATOR_TYPES), min_length=1, max_length=len(EventType)
    )
    description: str | None = Field(default=None, max_length=500)
    operator: str | None = Field(
        default=None, max_length=16, description="Admins: the operator's code. Operators: omit (their own)."
    )

    @field_validator("event_types")
    @classmethod
    def _operator_types(cls, value: list[EventType]) -> list[EventType]:
        return _only_operator_types(value)


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EventType))
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _operator_types(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _only_operator_types(value)


class WebhookOut(BaseModel):
    id: int
    operator_id: int
    operator: str
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    secret_fingerprint: str = Field(description="The first 8 hex digits of the secret's SHA-256, to tell secrets apart")


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret: shown only now")


class DeliveryOut(BaseModel):
    id: int
    event_id: uuid.UUID
    event_type: EventType
    occurred_at: datetime
    channel: Channel
    target: str = Field(description="The webhook URL or the e-mail address")
    endpoint_id: int | None
    account_id: int | None
    operator_id: int | None
    digest: bool
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_response: str | None
    last_error: str | None


class DeliveryPageOut(BaseModel):
    items: list[DeliveryOut]
    next_before_id: int | None
