"""Notification endpoints: the in-app list (`/api/v1/notifications`), preferences, and webhooks with their
deliveries (`/api/v1/webhooks`). Every signed-in role has a list; webhooks are for operators (their own) and
admins (any operator's), and auditors read them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ducting.accounts.vocab import Role
from ducting.auth import CurrentActor, require_roles
from ducting.db import Actor, SessionDep
from ducting.notify import inbox, webhooks
from ducting.notify.schemas import (
    DeliveryOut,
    DeliveryPageOut,
    EventTypeOut,
    NotificationPageOut,
    PreferencesIn,
    PreferencesOut,
    ReadAllOut,
    ReadOut,
    UnreadCountOut,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from ducting.notify.settings import get_notify_settings
from ducting.notify.ssrf import Guard
from ducting.notify.vocab import AUDIENCE, Channel, DeliveryState, EventType, Language
from ducting.web import i18n

router = APIRouter()
notes = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
hooks = APIRouter(prefix="/api/v1/webhooks", tags=["notifications"])
HookReaderDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.AUDITOR, Role.OPERATOR))]
HookWriterDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.OPERATOR))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def current_guard() -> Guard:
    return Guard(get_notify_settings())


GuardDep = Annotated[Guard, Depends(current_guard)]


# -- the in-app list --------------------------------------------------------------------------------------------
@notes.get("", response_model=NotificationPageOut, summary="My notifications, newest first")
def list_notifications(
    session: SessionDep,
    actor: CurrentActor,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_seq: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    lang: Annotated[Language | None, Query(description="Language of title and detail; default: my preference")] = None,
) -> NotificationPageOut:
    language = lang.value if lang else _language(session, actor)
    items, next_seq = inbox.list_notifications(
        session, actor, lang=language, unread_only=unread_only, limit=limit, before_seq=before_seq
    )
    return NotificationPageOut(items=items, unread=inbox.unread_count(session, actor), next_before_seq=next_seq)


def _language(session: SessionDep, actor: Actor) -> str:
    return str(inbox.get_preferences(session, actor)["language"])


@notes.get("/unread-count", response_model=UnreadCountOut, summary="How many of my notifications are unread (the bell)")
def unread_count(session: SessionDep, actor: CurrentActor) -> UnreadCountOut:
    return UnreadCountOut(unread=inbox.unread_count(session, actor))


@notes.post("/read-all", response_model=ReadAllOut, summary="Mark all my notifications as read")
def read_all(session: SessionDep, actor: CurrentActor) -> ReadAllOut:
    marked = inbox.mark_all_read(session, actor)
    session.commit()
    return ReadAllOut(marked=marked, unread=inbox.unread_count(session, actor))


@notes.post("/{event_id}/read", response_model=ReadOut, summary="Mark one notification as read")
def read_one(event_id: uuid.UUID, session: SessionDep, actor: CurrentActor) -> ReadOut:
    read_at = inbox.mark_read(session, actor, event_id)
    session.commit()
    return ReadOut(id=event_id, read_at=read_at, unread=inbox.unread_count(session, actor))


@notes.get("/preferences", response_model=PreferencesOut, summary="How I am told: e-mail, digest, language")
def get_preferences(session: SessionDep, actor: CurrentActor) -> PreferencesOut:
    return PreferencesOut(**inbox.get_preferences(session, actor))


@notes.put("/preferences", response_model=PreferencesOut, summary="Choose e-mail on/off, immediate or digest, language")
def put_preferences(body: PreferencesIn, session: SessionDep, actor: CurrentActor) -> PreferencesOut:
    out = PreferencesOut(**inbox.set_preferences(session, actor, body))
    session.commit()
    return out


@notes.get("/event-types", response_model=list[EventTypeOut], summary="The event types and who each is for")
def event_types(actor: CurrentActor) -> list[EventTypeOut]:
    return [
        EventTypeOut(
            code=t,
            audience=sorted(AUDIENCE[t]),
            title_id=i18n.translate("id", f"notif.type.{t.value}"),
            title_en=i18n.translate("en", f"notif.type.{t.value}"),
        )
        for t in EventType
    ]


# -- webhooks ---------------------------------------------------------------------------------------------------
@hooks.get("", response_model=list[WebhookOut], summary="Webhook endpoints (operators: their own)")
def list_webhooks(session: SessionDep, actor: HookReaderDep) -> list[WebhookOut]:
    return [WebhookOut(**row) for row in webhooks.list_endpoints(session)]


@hooks.post(
    "", status_code=201, response_model=WebhookCreatedOut, summary="Register a webhook; its secret is shown once"
)
def create_webhook(body: WebhookIn, session: SessionDep, actor: HookWriterDep, guard: GuardDep) -> WebhookCreatedOut:
    row, secret = webhooks.create_endpoint(session, actor=actor, data=body, guard=guard)
    session.commit()
    return WebhookCreatedOut(**row, secret=secret)


@hooks.patch("/{endpoint_id}", response_model=WebhookOut, summary="Change a webhook's URL, event types, or switch it")
def patch_webhook(
    endpoint_id: Id, body: WebhookPatch, session: SessionDep, actor: HookWriterDep, guard: GuardDep
) -> WebhookOut:
    out = WebhookOut(**webhooks.update_endpoint(session, endpoint_id=endpoint_id, data=body, guard=guard))
    session.commit()
    return out


@hooks.delete("/{endpoint_id}", status_code=204, summary="Remove a webhook (its deliveries stay listed)")
def delete_webhook(endpoint_id: Id, session: SessionDep, actor: HookWriterDep) -> Response:
    webhooks.remove_endpoint(session, endpoint_id=endpoint_id)
    session.commit()
    return Response(status_code=204)


@hooks.post(
    "/{endpoint_id}/rotate-secret", response_model=WebhookCreatedOut, summary="A new signing secret, shown once"
)
def rotate_webhook_secret(endpoint_id: Id, session: SessionDep, actor: HookWriterDep) -> WebhookCreatedOut:
    row, secret = webhooks.rotate_secret(session, endpoint_id=endpoint_id)
    session.commit()
    return WebhookCreatedOut(**row, secret=secret)


@hooks.get("/deliveries", response_model=DeliveryPageOut, summary="Deliveries with their last responses, newest first")
def list_deliveries(
    session: SessionDep,
    actor: HookReaderDep,
    endpoint_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    state: DeliveryState | None = None,
    channel: Channel | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> DeliveryPageOut:
    items, next_id = webhooks.list_deliveries(
        session,
        endpoint_id=endpoint_id,
        state=state.value if state else None,
        channel=channel.value if channel else None,
        limit=limit,
        before_id=before_id,
    )
    return DeliveryPageOut(items=[DeliveryOut(**r) for r in items], next_before_id=next_id)


@hooks.post(
    "/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut, summary='"Kirim ulang": send a delivery again'
)
def redeliver(delivery_id: Id, session: SessionDep, actor: HookWriterDep) -> DeliveryOut:
    out = DeliveryOut(**webhooks.redeliver(session, delivery_id=delivery_id))
    session.commit()
    return out


router.include_router(notes)
router.include_router(hooks)
