"""Settings, grouped by concern and validated at start-up (pydantic-settings).

Each group reads its own environment prefix. `DATABASE_URL` and `MIGRATION_DATABASE_URL` are read as named.
When no `DATABASE_URL` is given, the project-local cluster under `.local/pg` is used (see `ducting.localdb`).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    migration_url: str | None = Field(default=None, validation_alias=AliasChoices("MIGRATION_DATABASE_URL"))
    local_dir: Path = Field(default=PROJECT_ROOT / ".local" / "pg", validation_alias=AliasChoices("DUCTING_PG_DIR"))
    local_port: int = Field(default=55432, validation_alias=AliasChoices("DUCTING_PG_PORT"))
    local_dbname: str = Field(default="ducting", validation_alias=AliasChoices("DUCTING_PG_DB"))
    # connections kept per process (and up to half as many again in a burst); a request beyond what the pool keeps
    # opens and closes a connection of its own, so size it for the requests one process has in flight at once
    pool_size: int = Field(default=20, ge=1, le=200, validation_alias=AliasChoices("DUCTING_POOL_SIZE"))
    statement_timeout_ms: int = Field(
        default=30_000, ge=100, validation_alias=AliasChoices("DUCTING_STATEMENT_TIMEOUT_MS")
    )
    # A read replica (any streaming standby) for map items, tiles, OGC collections, reports and exports. Unset with
    # the local cluster: the local replica of `ducting db replica up`, when there is one (README, "Production").
    replica_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_REPLICA_URL"))
    replica_max_lag_s: float = Field(default=5.0, gt=0, validation_alias=AliasChoices("DUCTING_REPLICA_MAX_LAG_S"))
    replica_check_interval_s: float = Field(
        default=2.0, gt=0, le=60, validation_alias=AliasChoices("DUCTING_REPLICA_CHECK_INTERVAL_S")
    )
    local_replica_port: int = Field(default=55433, validation_alias=AliasChoices("DUCTING_PG_REPLICA_PORT"))
    # `transaction`: the URLs point at a pooler in transaction mode (PgBouncer before 1.21 keeps no prepared
    # statements there), so psycopg never prepares and no session settings travel in the startup packet
    pooler: Literal["none", "transaction"] = Field(default="none", validation_alias=AliasChoices("DUCTING_DB_POOLER"))
    # how long a request waits for a connection from a pool before its 503; a database that is down fails at once
    pool_timeout_s: float = Field(default=5.0, gt=0, le=60, validation_alias=AliasChoices("DUCTING_POOL_TIMEOUT_S"))
    connect_timeout_s: int = Field(default=3, ge=1, le=60, validation_alias=AliasChoices("DUCTING_CONNECT_TIMEOUT_S"))
    # WAL archive folder for point-in-time recovery; `ducting db up` applies it to the local cluster
    wal_archive_dir: Path | None = Field(default=None, validation_alias=AliasChoices("DUCTING_WAL_ARCHIVE_DIR"))


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_AUTH_", extra="ignore")

    secret_key: str = DEV_SECRET
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 365)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)


class OidcSettings(BaseSettings):
    """Sign-in through an OpenID Connect provider (Batam's "akun tunggal"), as an option beside passwords.

    Off unless issuer, client id and secret are all set. The provider's identity is mapped to an existing account
    by `username_claim` (`preferred_username` matches the username, `email` a verified e-mail); nobody is created."""

    model_config = SettingsConfigDict(env_prefix="DUCTING_OIDC_", extra="ignore")

    issuer: str | None = Field(
        default=None, description="issuer URL; discovery is <issuer>/.well-known/openid-configuration"
    )
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = "openid profile email"
    username_claim: Literal["preferred_username", "email"] = "preferred_username"
    redirect_url: str | None = Field(
        default=None,
        description="the callback URL registered at the provider; "
        "default: this service's /auth/oidc/callback as the request reached it",
    )
    leeway_s: int = Field(default=60, ge=0, le=600, description="clock skew allowed on exp/iat")
    http_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id and self.client_secret)

    @model_validator(mode="after")
    def _all_or_nothing(self) -> OidcSettings:
        given = [bool(self.issuer), bool(self.client_id), bool(self.client_secret)]
        if any(given) and not all(given):
            raise ValueError(
                "OIDC needs DUCTING_OIDC_ISSUER, DUCTING_OIDC_CLIENT_ID and DUCTING_OIDC_CLIENT_SECRET together"
            )
        return self


class TopologySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_TOPOLOGY_", extra="ignore")

    snap_tolerance_m: float = Field(default=1.0, gt=0, le=50)
    split_tolerance_m: float = Field(default=1.0, gt=0, le=50)
    min_segment_length_m: float = Field(default=0.5, gt=0)
    service_area_buffer_m: float = Field(default=1000.0, ge=0, le=20_000)
    max_vertices: int = Field(default=10_000, ge=2)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_API_", extra="ignore")

    page_limit_default: int = Field(default=100, ge=1)
    page_limit_max: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_import_features: int = Field(default=200_000, ge=1)
    # How long a thread may hold Python's GIL while others wait (CPython's default is 5 ms). A route search or a
    # quote is a few tens of ms of pure Python; with 5 ms slices every map read queued behind one waits 5 ms at
    # each hand-over between the event loop and a worker thread. 1 ms measured +15 % req/s under bench load.
    gil_switch_interval_ms: float = Field(default=1.0, gt=0, le=100)


class OpsSettings(BaseSettings):
    """Running behind a proxy and being watched: trusted proxies, metrics, logs, background jobs."""

    model_config = SettingsConfigDict(env_prefix="DUCTING_", extra="ignore")

    # addresses or CIDRs of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed; comma-separated
    trusted_proxies: str = ""
    # who may read /metrics: clients from these addresses/CIDRs, or anyone with `Authorization: Bearer <token>`
    metrics_allow: str = "127.0.0.1/32,::1/128"
    metrics_token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # background jobs (the leasing sweeper, later the notification worker) in each service process; production runs
    # them in `ducting worker` instead and sets this to false
    jobs_in_service: bool = True
    worker_metrics_port: int = Field(default=0, ge=0, le=65535, description="`ducting worker` serves /metrics here")

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        from ducting.ops.proxy import parse_networks

        parse_networks(value)  # a typo refuses to start, rather than trusting nobody (or everybody) by surprise
        return value


class LeasingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_LEASING_", extra="ignore")

    hold_days: int = Field(default=14, ge=1, le=90)
    decision_working_days: int = Field(default=10, ge=1, le=90)
    acceptance_working_days: int = Field(default=10, ge=1, le=90)
    termination_notice_days: int = Field(default=30, ge=0, le=365)
    start_grace_days: int = Field(default=7, ge=0, le=365)
    near_full_share: float = Field(
        default=0.2, ge=0, le=1, description="free share left below which a segment costs more"
    )
    near_full_penalty: float = Field(default=0.5, ge=0, le=10, description="extra cost factor on nearly full segments")
    fill_limit_three_cables: float = Field(default=0.40, gt=0, le=1)
    fill_limit_subdivision: float = Field(default=0.55, gt=0, le=1)
    fill_limit_blown_microduct: float = Field(default=0.65, gt=0, le=1)
    sweep_interval_s: int = Field(default=60, ge=0, description="seconds between sweeps of lapsed holds; 0: off")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 8000
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    topology: TopologySettings = Field(default_factory=TopologySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    leasing: LeasingSettings = Field(default_factory=LeasingSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env == Environment.PRODUCTION:
            if self.auth.secret_key == DEV_SECRET or len(self.auth.secret_key) < 32:
                raise ValueError(
                    "DUCTING_AUTH_SECRET_KEY must be set to a random value of at least 32 characters outside development"
                )
            if self.oidc.issuer and not self.oidc.issuer.startswith("https://"):
                raise ValueError("DUCTING_OIDC_ISSUER must be an https:// URL outside development")
            if not self.db.url:
                raise ValueError("DATABASE_URL must be set in production: the project-local cluster is for development")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
