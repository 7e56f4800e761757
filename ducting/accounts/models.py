"""Organisations (operators, the BUMD, utilities), accounts and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ducting.accounts.vocab import OrganisationKind, OrganisationStatus, Role
from ducting.db import Base
from ducting.models_base import IdMixin, UuidMixin, enum_column


class Organisation(IdMixin, UuidMixin, Base):
    __tablename__ = "organisation"
    __table_args__ = (
        # NPWP is stored as digits: 15 (legacy, formatted 01.234.567.8-215.000) or 16 (NIK-based, since 2024).
        CheckConstraint(r"npwp ~ '^[0-9]{15,16}$'", name="ck_organisation_npwp_digits"),
        CheckConstraint("kind <> 'operator' OR npwp IS NOT NULL", name="ck_organisation_operator_has_npwp"),
    )

    code: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[OrganisationKind] = mapped_column(enum_column(OrganisationKind, "organisation_kind"), nullable=False)
    npwp: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OrganisationStatus] = mapped_column(
        enum_column(OrganisationStatus, "organisation_status"), nullable=False, server_default="active"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Account(IdMixin, Base):
    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("role <> 'operator' OR organisation_id IS NOT NULL", name="ck_account_operator_has_org"),
        CheckConstraint("username = lower(username) AND username ~ '^[a-z0-9._-]{3,64}$'", name="ck_account_username"),
        UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_account_oidc"),
        CheckConstraint("(oidc_issuer IS NULL) = (oidc_subject IS NULL)", name="ck_account_oidc_pair"),
        CheckConstraint(
            "oidc_subject IS NULL OR length(oidc_subject) BETWEEN 1 AND 255", name="ck_account_oidc_subject"
        ),
    )

    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(Text, nullable=False)
    email: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)  # None: OIDC-only account
    role: Mapped[Role] = mapped_column(enum_column(Role, "account_role"), nullable=False)
    organisation_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("organisation.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # the single sign-on identity this account is bound to, from its first sign-on (migration 0033)
    oidc_issuer: Mapped[str | None] = mapped_column(Text)
    oidc_subject: Mapped[str | None] = mapped_column(Text)

    @property
    def sso_linked(self) -> bool:
        return self.oidc_subject is not None


class ApiToken(IdMixin, Base):
    """A bearer credential. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_token"

    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("account.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="api")  # api | session
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
