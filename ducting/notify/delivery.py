"""One round of delivery: claim due deliveries, send them, record what happened.

The contract that makes it safe with several workers and with workers that die:

1. **Claim, and commit the claim, before sending.** One statement picks due rows with `FOR UPDATE SKIP LOCKED`
   (so two workers never take the same row), marks them `sending`, counts the attempt and sets `next_attempt_at`
   to the end of the claim (`claim_timeout_s`). After the commit the row is this worker's until then; a worker
   killed mid-send leaves it to time out, and the next claim anywhere takes it again.
2. **Send.** A webhook gets the event as JSON with the event id as `Idempotency-Key` and a fresh signature; a
   repeat is the same body and the same id. An e-mail batch shares one SMTP connection.
3. **Record**, guarded by the claim token: delivered; or pending again after an exponential backoff with jitter;
   or dead after `max_attempts`. A worker whose claim has already been taken over records nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.db import rowcount
from ducting.notify import mail
from ducting.notify.settings import NotifySettings, SmtpSettings
from ducting.notify.signing import SIGNATURE_HEADER, signature
from ducting.notify.ssrf import Guard, guarded_resolver
from ducting.notify.vocab import DeliveryState

log = logging.getLogger("ducting.notify")
Sessions = Callable[[], AbstractContextManager[Session]]
USER_AGENT = "BEDELAU-Ducting-Webhook/1.0"

_CLAIM = text("""
WITH cand AS (
    SELECT city_id, id FROM (
        SELECT d.city_id, d.id, d.endpoint_id,
               row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
        FROM (SELECT city_id, id, endpoint_id, next_attempt_at FROM notification_delivery
              WHERE state IN ('pending', 'sending') AND next_attempt_at <= clock_timestamp()
                AND (endpoint_id IS NULL OR endpoint_id <> ALL (CAST(:busy AS bigint[])))
              ORDER BY next_attempt_at LIMIT :scan) d) r
    WHERE rn <= :per_endpoint),  -- e-mail (no endpoint) is one partition: a claim's SMTP batch stays bounded
picked AS (
    SELECT d.city_id, d.id FROM notification_delivery d JOIN cand c ON c.city_id = d.city_id AND c.id = d.id
    WHERE d.state IN ('pending', 'sending') AND d.next_attempt_at <= clock_timestamp()
    ORDER BY d.next_attempt_at, d.id LIMIT :n
    FOR UPDATE OF d SKIP LOCKED),
claimed AS (
    UPDATE notification_delivery d
    SET state = 'sending', attempts = d.attempts + 1, claimed_by = :token, last_attempt_at = clock_timestamp(),
        next_attempt_at = clock_timestamp() + make_interval(secs => :lease)
    FROM picked p WHERE d.city_id = p.city_id AND d.id = p.id
    RETURNING d.*)
SELECT d.city_id, d.id, d.channel, d.digest, d.attempts, d.account_id, d.endpoint_id,
       e.id AS event_id, e.type, e.occurred_at, e.operator_id, o.code AS operator_code, e.subject, e.payload,
       w.url, w.secret, w.active AS endpoint_active,
       a.email, a.full_name, a.role::text AS role, a.is_active AS account_active,
       coalesce(p.language, 'id') AS language
FROM claimed d
JOIN notification_event e ON e.city_id = d.city_id AND e.id = d.event_id
LEFT JOIN organisation o ON o.id = e.operator_id
LEFT JOIN webhook_endpoint w ON w.city_id = d.city_id AND w.id = d.endpoint_id
LEFT JOIN account a ON a.id = d.account_id
LEFT JOIN notification_preference p ON p.city_id = d.city_id AND p.account_id = d.account_id
ORDER BY d.next_attempt_at, d.id""")

_RECORD = text("""
UPDATE notification_delivery d
SET state = v.state,
    next_attempt_at = CASE WHEN v.state = 'pending' THEN clock_timestamp() + make_interval(secs => v.delay)
                           ELSE d.next_attempt_at END,
    delivered_at = CASE WHEN v.state = 'delivered' THEN clock_timestamp() ELSE d.delivered_at END,
    last_status = v.status, last_response = v.response, last_error = v.error, claimed_by = NULL
FROM unnest(CAST(:city AS bigint[]), CAST(:id AS bigint[]), CAST(:token AS uuid[]), CAST(:state AS text[]),
            CAST(:delay AS float8[]), CAST(:status AS integer[]), CAST(:response AS text[]), CAST(:error AS text[]))
     AS v(city_id, id, token, state, delay, status, response, error)
WHERE d.city_id = v.city_id AND d.id = v.id AND d.claimed_by = v.token""")


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    rows: list[Any]


@dataclass(frozen=True)
class Outcome:
    city_id: int
    id: int
    token: uuid.UUID
    attempts: int
    ok: bool
    status: int | None = None
    response: str | None = None
    error: str | None = None
    final: bool = False  # no point retrying (e-mail off, endpoint switched off): dead now


def claim(sessions: Sessions, settings: NotifySettings, *, limit: int, busy: list[int] | None = None) -> Claim:
    """Take up to `limit` due deliveries (no more than `per_endpoint_concurrency` per webhook, and as many e-mails,
    so that one claim's sends end well within its timeout; none for the endpoints in `busy`) and commit the claim."""
    token = uuid.uuid4()
    with sessions() as session:
        rows = session.execute(
            _CLAIM,
            {
                "token": token,
                "n": limit,
                "scan": limit * 4,
                "busy": busy or [],
                "per_endpoint": settings.per_endpoint_concurrency,
                "lease": settings.claim_timeout_s,
            },
        ).all()
        session.commit()
    return Claim(token, list(rows))


def backoff_s(settings: NotifySettings, attempts: int) -> float:
    """Exponential from `backoff_base_s`, capped, with jitter: half the delay fixed, half random."""
    delay = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def record(sessions: Sessions, settings: NotifySettings, outcomes: list[Outcome]) -> int:
    """Write what happened; returns how many rows this worker still held the claim of. Commits."""
    if not outcomes:
        return 0

    def state(o: Outcome) -> str:
        if o.ok:
            return DeliveryState.DELIVERED
        return DeliveryState.DEAD if o.final or o.attempts >= settings.max_attempts else DeliveryState.PENDING

    excerpt = settings.response_excerpt_chars
    params = {
        "city": [o.city_id for o in outcomes],
        "id": [o.id for o in outcomes],
        "token": [o.token for o in outcomes],
        "state": [state(o) for o in outcomes],
        "delay": [backoff_s(settings, o.attempts) for o in outcomes],
        "status": [o.status for o in outcomes],
        "response": [o.response[:excerpt] if o.response is not None else None for o in outcomes],
        "error": [o.error[:1000] if o.error else None for o in outcomes],
    }
    with sessions() as session:
        count = rowcount(session.execute(_RECORD, params))
        session.commit()
    return count


# -- webhooks ---------------------------------------------------------------------------------------------------
def webhook_body(row: Any) -> bytes:
    """The JSON document a webhook receives; the same bytes on every attempt."""
    payload = dict(row.payload)
    links = payload.pop("links", {})
    document = {
        "id": str(row.event_id),
        "type": row.type,
        "occurred_at": row.occurred_at.isoformat(),
        "operator": {"id": row.operator_id, "code": row.operator_code} if row.operator_id else None,
        "subject": row.subject,
        "data": payload,
        "links": links,
    }
    return orjson.dumps(document)


def webhook_headers(row: Any, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": str(row.event_id),
        "X-Bedelau-Event": row.type,
        "X-Bedelau-Event-Id": str(row.event_id),
        "X-Bedelau-Delivery": str(row.id),
        "X-Bedelau-Attempt": str(row.attempts),
        SIGNATURE_HEADER: signature(row.secret, body, int(time.time())),
    }


class WebhookSender:
    """An aiohttp session whose connections go only where the SSRF guard allows. Use within one event loop."""

    def __init__(self, settings: NotifySettings, guard: Guard) -> None:
        self.settings, self.guard = settings, guard
        self._session: Any = None

    async def __aenter__(self) -> WebhookSender:
        import aiohttp

        connector = aiohttp.TCPConnector(resolver=guarded_resolver(self.guard), limit=0, ttl_dns_cache=None)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def send(self, token: uuid.UUID, row: Any) -> Outcome:
        import aiohttp

        from ducting.errors import DomainError

        done = lambda **kw: Outcome(row.city_id, row.id, token, row.attempts, **kw)  # noqa: E731
        if not row.endpoint_active:
            return done(ok=False, error="the endpoint is switched off", final=True)
        body = webhook_body(row)
        try:
            self.guard.check(row.url, resolve=False)  # a name's addresses are checked as it connects
            timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
            async with self._session.post(
                row.url, data=body, headers=webhook_headers(row, body), timeout=timeout, allow_redirects=False
            ) as response:
                raw = await response.content.read(max(self.settings.response_excerpt_chars, 1) * 4)
                ok = 200 <= response.status < 300
                return done(
                    ok=ok,
                    status=response.status,
                    response=raw.decode("utf-8", "replace"),
                    error=None if ok else f"HTTP {response.status}",
                )
        except DomainError as exc:  # the guard refused the address now; DNS may change back, so it is retried
            return done(ok=False, error=exc.detail)
        except TimeoutError:
            return done(ok=False, error=f"no answer within {self.settings.webhook_timeout_s:g} s")
        except aiohttp.ClientError as exc:
            return done(ok=False, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # recorded as a failure, so it is retried and dead-lettered, never stuck
            log.exception("webhook delivery %s failed unexpectedly", row.id)
            return done(ok=False, error=f"{type(exc).__name__}: {exc}")


# -- e-mail -----------------------------------------------------------------------------------------------------
def send_emails(smtp: SmtpSettings, public_url: str, token: uuid.UUID, rows: list[Any]) -> list[Outcome]:
    """One message per immediate delivery, one digest per account for its digest deliveries; blocking (SMTP)."""
    done = lambda row, **kw: Outcome(row.city_id, row.id, token, row.attempts, **kw)  # noqa: E731
    if not smtp.enabled:
        return [done(r, ok=False, error="e-mail is not configured (DUCTING_SMTP_HOST)", final=True) for r in rows]
    outcomes: list[Outcome] = []
    groups: list[list[Any]] = []
    digests: dict[int, list[Any]] = {}
    for row in rows:
        if not row.account_active or not (row.email or "").strip():
            outcomes.append(done(row, ok=False, error="the account is inactive or has no e-mail address", final=True))
        elif row.digest:
            digests.setdefault(row.account_id, []).append(row)
        else:
            groups.append([row])
    groups += digests.values()
    messages, composed = [], []
    for group in groups:
        first = group[0]
        to = mail.Recipient(first.email.strip(), first.full_name, first.language, staff=first.role != "operator")
        items = [mail.Item(str(r.event_id), r.type, r.occurred_at, dict(r.payload)) for r in group]
        try:
            message = (
                mail.compose_digest(smtp, public_url, to, items)
                if first.digest
                else mail.compose(smtp, public_url, to, items[0])
            )
        except Exception as exc:  # a message that cannot be written is a failure to record, not a stuck claim
            log.exception("composing e-mail for deliveries %s failed", [r.id for r in group])
            outcomes += [done(r, ok=False, error=f"{type(exc).__name__}: {exc}") for r in group]
            continue
        messages.append(message)
        composed.append(group)
    for group, sent in zip(composed, mail.send_all(smtp, messages)):
        outcomes += [done(r, ok=sent.ok, response=sent.response, error=sent.error) for r in group]
    return outcomes


async def deliver(
    token: uuid.UUID, rows: list[Any], *, sender: WebhookSender, smtp: SmtpSettings, public_url: str
) -> list[Outcome]:
    """Send one claim's rows: webhooks concurrently, e-mails over one SMTP connection (in a thread)."""
    hooks = [r for r in rows if r.channel == "webhook"]
    mails = [r for r in rows if r.channel == "email"]
    tasks = [sender.send(token, r) for r in hooks]
    if mails:
        tasks.append(asyncio.to_thread(send_emails, smtp, public_url, token, mails))  # type: ignore[arg-type]
    results = await asyncio.gather(*tasks)
    out: list[Outcome] = []
    for r in results:
        out.extend(r if isinstance(r, list) else [r])
    return out
