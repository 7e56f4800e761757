"""The vocabulary of identity: who an organisation is, who an account is, and what a token is for. Shared by
models, schemas, the auth dependency, row-level security's role names and the UI."""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    BUMD = "bumd"
    OPERATOR = "operator"
    UTILITY = "utility"  # e.g. PLN Batam, who owns most poles
    OTHER = "other"


class OrganisationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"


class Role(StrEnum):
    ADMIN = "admin"
    PLANNER = "planner"
    OPERATOR = "operator"
    FINANCE = "finance"
    AUDITOR = "auditor"


class TokenKind(StrEnum):
    """A browser or password sign-in's token (`session`), or one an account made for a script (`api`)."""

    SESSION = "session"
    API = "api"


class TokenScope(StrEnum):
    """What an API token may do: read only, or write too."""

    READ = "read"
    WRITE = "write"
