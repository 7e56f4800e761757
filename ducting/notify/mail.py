"""E-mail: one message per event, or one daily digest per account, in the account's language; sent over SMTP.

Plain text, UTF-8, with the page's link made absolute from `DUCTING_NOTIFY_PUBLIC_URL`. Every sentence comes from
the catalogue (`ducting.notify.texts`). One SMTP connection carries all the messages of a worker's batch.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ducting import formats
from ducting.notify import texts
from ducting.notify.settings import SmtpSettings
from ducting.web import i18n


@dataclass(frozen=True)
class Item:
    """One event as an e-mail shows it."""

    event_id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    language: str
    staff: bool  # BUMD staff read the BUMD's page, an operator its own


def page_url(public_url: str, payload: dict[str, Any], *, staff: bool) -> str:
    links = payload.get("links") or {}
    path = (links.get("staff_page") if staff else None) or links.get("page") or "/notifikasi"
    return public_url.rstrip("/") + path


def _message(smtp: SmtpSettings, to: Recipient, subject: str, body: str, event_ids: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to.email
    msg["Subject"] = f"[BEDELAU] {subject}"
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="bedelau.batam.go.id")
    msg["X-Bedelau-Event-Id"] = ", ".join(event_ids)
    msg.set_content(body, charset="utf-8")
    msg["Content-Language"] = to.language  # after set_content, which replaces the Content-* headers
    return msg


def compose(smtp: SmtpSettings, public_url: str, to: Recipient, item: Item) -> EmailMessage:
    t = lambda key, **kw: i18n.translate(to.language, key, **kw)  # noqa: E731
    title = texts.title(to.language, item.type, item.payload)
    lines = [t("notif.email.greeting", name=to.name), "", title]
    if detail := texts.detail(to.language, item.type, item.payload):
        lines.append(detail)
    lines += [
        "",
        t("notif.email.open", url=page_url(public_url, item.payload, staff=to.staff)),
        "",
        formats.date_time(item.occurred_at),
        "--",
        t("notif.email.footer", url=public_url.rstrip("/") + "/notifikasi"),
    ]
    return _message(smtp, to, title, "\n".join(lines) + "\n", [item.event_id])


def compose_digest(smtp: SmtpSettings, public_url: str, to: Recipient, items: list[Item]) -> EmailMessage:
    t = lambda key, **kw: i18n.translate(to.language, key, **kw)  # noqa: E731
    items = sorted(items, key=lambda i: i.occurred_at)
    lines = [t("notif.email.greeting", name=to.name), "", t("notif.email.digest_intro"), ""]
    for item in items:
        lines.append(f"- {formats.date_time(item.occurred_at)}  {texts.title(to.language, item.type, item.payload)}")
        if detail := texts.detail(to.language, item.type, item.payload):
            lines.append(f"  {detail}")
        lines += [f"  {page_url(public_url, item.payload, staff=to.staff)}", ""]
    lines += ["--", t("notif.email.footer", url=public_url.rstrip("/") + "/notifikasi")]
    subject = t("notif.email.digest_subject", n=len(items))
    return _message(smtp, to, subject, "\n".join(lines) + "\n", [i.event_id for i in items])


@dataclass(frozen=True)
class Sent:
    ok: bool
    response: str | None = None
    error: str | None = None


def send_all(smtp: SmtpSettings, messages: list[EmailMessage]) -> list[Sent]:
    """Send the messages over one connection; one result per message, in order. A server that cannot be reached
    fails them all (each is retried on its own schedule)."""
    if not messages:
        return []
    try:
        conn = _connect(smtp)
    except (OSError, smtplib.SMTPException) as exc:
        return [Sent(False, error=f"SMTP {smtp.host}:{smtp.port}: {exc}")] * len(messages)
    results = []
    try:
        for msg in messages:
            try:
                refused = conn.send_message(msg)
                results.append(Sent(not refused, "250 accepted", f"refused: {refused}" if refused else None))
            except smtplib.SMTPResponseException as exc:
                said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
                results.append(Sent(False, f"{exc.smtp_code} {said}", str(exc)))
            except (OSError, smtplib.SMTPException) as exc:
                results.append(Sent(False, error=str(exc)))
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
    return results + [Sent(False, error="the SMTP connection closed")] * (len(messages) - len(results))


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    assert smtp.host
    if smtp.tls == "tls":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout_s, context=ssl.create_default_context()
        )
    else:
        conn = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        if smtp.tls == "starttls":
            conn.starttls(context=ssl.create_default_context())
    if smtp.username:
        conn.login(smtp.username, smtp.password.get_secret_value() if smtp.password else "")
    return conn
