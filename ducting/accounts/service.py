"""Account and token management for admins. Nothing here commits."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, ApiToken, Organisation
from ducting.accounts.schemas import AccountIn, AccountPatch, TokenIn
from ducting.accounts.vocab import OrganisationKind, Role, TokenKind
from ducting.auth import hash_password, issue_token
from ducting.db import Actor
from ducting.errors import Conflict, FieldError, InvalidInput, NotFound


def _organisation_id(session: Session, role: Role, code: str | None) -> int | None:
    if code is None:
        if role == Role.OPERATOR:
            raise InvalidInput(errors=[FieldError("organisation", "organisation_required")])
        return None
    org = session.scalars(select(Organisation).where(Organisation.code == code)).first()
    if org is None:
        raise InvalidInput(errors=[FieldError("organisation", "organisation_not_found", value=code)])
    if role == Role.OPERATOR and org.kind != OrganisationKind.OPERATOR:
        raise InvalidInput(code="organisation_not_operator", organisation=code)
    return org.id


def create_account(session: Session, *, data: AccountIn) -> tuple[Account, str]:
    """A new account with a one-time password (returned once) unless one is given."""
    password = data.password or secrets.token_urlsafe(12)
    account = Account(
        username=data.username.lower(),
        full_name=data.full_name,
        email=data.email,
        role=data.role,
        organisation_id=_organisation_id(session, data.role, data.organisation),
        password_hash=hash_password(password),
    )
    session.add(account)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(code="username_taken", username=data.username) from exc
    return account, password


def _active_admins(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(Account).where(Account.role == Role.ADMIN, Account.is_active)
    ).scalar_one()


def update_account(session: Session, *, account_id: int, patch: AccountPatch) -> Account:
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFound(what="account", ref=account_id)
    losing_admin = (
        account.role == Role.ADMIN
        and account.is_active
        and (patch.is_active is False or (patch.role is not None and patch.role != Role.ADMIN))
    )
    if losing_admin:
        # serialise admin changes so two concurrent demotions cannot both pass the count
        session.execute(select(Account.id).where(Account.role == Role.ADMIN).with_for_update())
        if _active_admins(session) <= 1:
            raise Conflict(code="last_admin")
    if patch.role is not None:
        account.organisation_id = _organisation_id(session, patch.role, patch.organisation)
        account.role = patch.role
    if patch.full_name is not None:
        account.full_name = patch.full_name
    if patch.email is not None:
        account.email = patch.email
    if patch.is_active is not None:
        account.is_active = patch.is_active
        if not patch.is_active:
            revoke_tokens(session, account_id=account.id)
    if patch.unlink_sso:
        account.oidc_issuer = account.oidc_subject = None
    session.flush()
    return account


def reset_password(session: Session, *, account_id: int) -> str:
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFound(what="account", ref=account_id)
    password = secrets.token_urlsafe(12)
    account.password_hash = hash_password(password)
    account.failed_logins, account.locked_until = 0, None
    revoke_tokens(session, account_id=account.id)
    return password


def revoke_tokens(session: Session, *, account_id: int) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def create_api_token(session: Session, *, actor: Actor, data: TokenIn) -> tuple[str, ApiToken]:
    account = session.get_one(Account, actor.account_id)
    return issue_token(
        session, account=account, name=data.name, kind=TokenKind.API, ttl=timedelta(days=data.days), scopes=data.scopes
    )


def revoke_api_token(session: Session, *, actor: Actor, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or (token.account_id != actor.account_id and actor.role != Role.ADMIN):
        raise NotFound(what="token", ref=token_id)
    token.revoked_at = token.revoked_at or datetime.now(UTC)
