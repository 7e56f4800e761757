"""Account and organisation shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ducting.accounts.vocab import OrganisationKind, OrganisationStatus, Role


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: Role
    organisation_id: int | None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    email: str | None
    role: Role
    organisation_id: int | None
    is_active: bool
    sso_linked: bool = Field(default=False, description="bound to a single sign-on identity (issuer + sub)")


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: OrganisationKind
    npwp: str | None
    status: OrganisationStatus


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[A-Za-z0-9._-]{3,64}$")
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    role: Role
    organisation: str | None = Field(default=None, description="Organisation code; required for operators")
    password: str | None = Field(
        default=None, min_length=12, max_length=1024, description="Omit to have a one-time password generated"
    )


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    organisation: str | None = None
    is_active: bool | None = None
    unlink_sso: bool | None = Field(
        default=None,
        description="true: forget the bound single sign-on identity, so the next sign-on by username binds afresh",
    )


class AccountCreated(AccountOut):
    one_time_password: str | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=90, ge=1, le=366)
    scopes: list[str] = Field(default_factory=lambda: ["read"], max_length=10)


class ApiTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str


class OneTimePasswordOut(BaseModel):
    one_time_password: str = Field(description="Shown once; the account must change it at its next sign-on")
