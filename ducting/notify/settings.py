"""Notification settings: delivery (`DUCTING_NOTIFY_*`) and the SMTP server (`DUCTING_SMTP_*`).

Kept beside the code that reads them, as compliance does, so the domain stays in its own room.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseSettings):
    """Where e-mail goes. Without a host, e-mail deliveries are dead-lettered at once with a clear error (visible
    on the deliveries page and sent again with "Kirim ulang" once a server is set), not left to pile up."""

    model_config = SettingsConfigDict(env_prefix="DUCTING_SMTP_", extra="ignore")

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="none (plain, local relays only), starttls (usually 587), tls (implicit, 465)"
    )
    sender: str = "BEDELAU Ducting <noreply@bedelau.batam.go.id>"
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=15.0, gt=0, le=120)

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_NOTIFY_", extra="ignore")

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="this service as its users reach it: links in e-mails, and an address webhooks may not use",
    )
    worker_in_process: bool = Field(default=True, description="each service process runs a delivery worker")
    poll_interval_s: float = Field(default=1.0, gt=0, le=60, description="a worker's wake-up without a NOTIFY")
    clock_interval_s: int = Field(default=60, ge=0, description="seconds between clock runs (time-driven events)")
    batch_size: int = Field(default=200, ge=1, le=5000, description="deliveries claimed by one statement")
    concurrency: int = Field(default=256, ge=1, le=4096, description="sends in flight per worker")
    per_endpoint_concurrency: int = Field(default=64, ge=1, le=1024, description="sends in flight per webhook")
    claim_timeout_s: float = Field(default=60.0, ge=1, description="a claim's life; another worker then takes it")
    max_attempts: int = Field(default=8, ge=1, le=50, description="attempts before a delivery is dead-lettered")
    backoff_base_s: float = Field(default=10.0, gt=0, description="the first retry's delay; doubled each time")
    backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_allow_loopback: bool = Field(
        default=False,
        description="UNSAFE, for tests only: let webhooks reach 127.0.0.0/8 and ::1 (refused in production)",
    )
    response_excerpt_chars: int = Field(default=500, ge=0, le=10_000)
    hold_warning_working_days: int = Field(default=3, ge=1, le=30)
    migration_due_days: int = Field(default=30, ge=1, le=365, description="a case is due this long after opening")
    clock_catch_up_days: int = Field(
        default=7, ge=0, le=365, description="time-driven events older than this are not announced late"
    )
    inbox_days: int = Field(default=90, ge=1, le=3650, description="how far back the in-app list and bell look")

    @model_validator(mode="after")
    def _safe(self) -> NotifySettings:
        from ducting.settings import Environment, get_settings

        if self.webhook_allow_loopback and get_settings().env == Environment.PRODUCTION:
            raise ValueError("DUCTING_NOTIFY_WEBHOOK_ALLOW_LOOPBACK is for tests and must be off in production")
        if self.claim_timeout_s <= self.webhook_timeout_s:
            raise ValueError("DUCTING_NOTIFY_CLAIM_TIMEOUT_S must exceed DUCTING_NOTIFY_WEBHOOK_TIMEOUT_S")
        return self


@lru_cache(maxsize=1)
def get_notify_settings() -> NotifySettings:
    return NotifySettings()


@lru_cache(maxsize=1)
def get_smtp_settings() -> SmtpSettings:
    return SmtpSettings()
