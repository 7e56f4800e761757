"""What notification tests deliver to: an SMTP server (aiosmtpd) and a webhook receiver, both started by the test on
127.0.0.1, never the network; and a worker that runs in the test's own transaction."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import text

from ducting.notify.settings import NotifySettings, SmtpSettings, get_notify_settings
from ducting.notify.worker import Worker
from tests.live import free_port

PUBLIC_URL = "https://bedelau.test"


class Mailbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture()
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1. `behave[path]` is a list of (status, delay_s) consumed one per request
    (then 200 at once)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    behave: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with rec.lock:
                rec.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                script = rec.behave.get(self.path) or []
                status, delay = script.pop(0) if script else (200, 0.0)
            if delay:
                time.sleep(delay)
            answer = f"status {status}".encode()
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture()
def notify_settings(monkeypatch) -> NotifySettings:
    """Loopback allowed (the receiver is local), short timeouts and backoffs, three attempts. The app's own
    settings object (used when a webhook is registered through the API) allows loopback too."""
    monkeypatch.setattr(get_notify_settings(), "webhook_allow_loopback", True)
    monkeypatch.setattr(get_notify_settings(), "public_url", PUBLIC_URL)
    return NotifySettings(
        public_url=PUBLIC_URL,
        webhook_allow_loopback=True,
        webhook_timeout_s=1.0,
        claim_timeout_s=3.0,
        max_attempts=3,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
        clock_interval_s=0,
    )


@pytest.fixture()
def smtp_settings(mailbox) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=mailbox[1], tls="none", sender="BEDELAU <noreply@bedelau.test>")


@pytest.fixture()
def worker(session, notify_settings, smtp_settings) -> Worker:
    """A worker claiming and recording in the test's transaction (its commits release the test's savepoint)."""
    return Worker(lambda: nullcontext(session), settings=notify_settings, smtp=smtp_settings)


@pytest.fixture()
def addresses(session, people) -> dict[str, str]:
    """Every test account gets an e-mail address: who -> address."""
    out = {}
    for who, acc in people.accounts.items():
        out[who] = f"{acc.username}@example.test"
        session.execute(text("UPDATE account SET email = :e WHERE id = :i"), {"e": out[who], "i": acc.id})
    session.commit()
    return out


def due_now(session) -> None:
    """Make every waiting delivery due (retries' backoff and digest hours included)."""
    session.execute(text("UPDATE notification_delivery SET next_attempt_at = now() WHERE state = 'pending'"))
    session.commit()
