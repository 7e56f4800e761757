"""Sign-in (tokens) and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from ducting.accounts import service
from ducting.accounts.models import Account, ApiToken, Organisation
from ducting.accounts.schemas import (
    AccountCreated,
    AccountIn,
    AccountOut,
    AccountPatch,
    ApiTokenCreated,
    ApiTokenOut,
    LoginIn,
    OneTimePasswordOut,
    OrganisationOut,
    TokenIn,
    TokenOut,
)
from ducting.accounts.vocab import Role, TokenKind
from ducting.auth import AdminDep, CurrentActor, _bearer, issue_token, login, revoke_secret, sign_in_actor
from ducting.db import SessionDep, bind_actor
from ducting.errors import DomainError

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/token", response_model=TokenOut, summary="Sign in with username and password; get a bearer token")
def get_token(body: LoginIn, request: Request, session: SessionDep) -> TokenOut:
    bind_actor(session, sign_in_actor(request))
    try:
        account = login(session, username=body.username, password=body.password)
    except DomainError:
        session.commit()  # keep the failed-attempt count that throttles guessing
        raise
    secret, row = issue_token(session, account=account, name="login", kind=TokenKind.SESSION)
    session.commit()
    return TokenOut(
        access_token=secret, expires_at=row.expires_at, role=account.role, organisation_id=account.organisation_id
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the token this request used")
def logout(request: Request, session: SessionDep, actor: CurrentActor) -> None:
    revoke_secret(session, _bearer(request) or "")
    session.commit()


@router.get("/auth/me", response_model=AccountOut)
def me(session: SessionDep, actor: CurrentActor) -> Account:
    return session.get_one(Account, actor.account_id)


@router.get(
    "/organisations", response_model=list[OrganisationOut], summary="Organisations; an operator sees only its own"
)
def organisations(session: SessionDep, actor: CurrentActor) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.code)
    if actor.role == Role.OPERATOR:
        query = query.where(Organisation.id == actor.organisation_id)
    return list(session.scalars(query))


# -- admin: accounts ----------------------------------------------------------------------------------------------
@router.get("/accounts", response_model=list[AccountOut], tags=["admin"])
def list_accounts(session: SessionDep, actor: AdminDep) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.username)))


@router.post("/accounts", status_code=201, response_model=AccountCreated, tags=["admin"])
def create_account(body: AccountIn, session: SessionDep, actor: AdminDep) -> AccountCreated:
    account, password = service.create_account(session, data=body)
    session.commit()
    return AccountCreated(
        **AccountOut.model_validate(account).model_dump(), one_time_password=None if body.password else password
    )


@router.patch(
    "/accounts/{account_id}",
    response_model=AccountOut,
    tags=["admin"],
    summary="Disable, change role, rename; the last active admin cannot be disabled or demoted",
)
def patch_account(account_id: int, body: AccountPatch, session: SessionDep, actor: AdminDep) -> Account:
    account = service.update_account(session, account_id=account_id, patch=body)
    session.commit()
    return account


@router.post(
    "/accounts/{account_id}/reset-password",
    response_model=OneTimePasswordOut,
    tags=["admin"],
    summary="A new one-time password; the account's tokens are revoked",
)
def reset_password(account_id: int, session: SessionDep, actor: AdminDep) -> dict[str, str]:
    password = service.reset_password(session, account_id=account_id)
    session.commit()
    return {"one_time_password": password}


# -- API tokens for operators' own systems ---------------------------------------------------------------------------
@router.get("/tokens", response_model=list[ApiTokenOut], tags=["accounts"])
def list_tokens(session: SessionDep, actor: CurrentActor) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.account_id == actor.account_id, ApiToken.kind == "api")
            .order_by(ApiToken.id)
        )
    )


@router.post(
    "/tokens",
    status_code=201,
    response_model=ApiTokenCreated,
    tags=["accounts"],
    summary="A scoped, expiring API token; the secret is shown once and stored only as a hash",
)
def create_token(body: TokenIn, session: SessionDep, actor: CurrentActor) -> ApiTokenCreated:
    secret, row = service.create_api_token(session, actor=actor, data=body)
    session.commit()
    return ApiTokenCreated(**ApiTokenOut.model_validate(row).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, tags=["accounts"])
def revoke_token(token_id: int, session: SessionDep, actor: CurrentActor) -> None:
    service.revoke_api_token(session, actor=actor, token_id=token_id)
    session.commit()
