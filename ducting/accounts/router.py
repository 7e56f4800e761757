"""Sign-in (tokens) and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select, update

from ducting.accounts.models import Account, ApiToken, Organisation
from ducting.accounts.schemas import AccountOut, LoginIn, OrganisationOut, TokenOut
from ducting.auth import CurrentActor, issue_token, login, token_digest, _bearer
from ducting.db import SessionDep
from ducting.errors import DomainError
from ducting.network.vocab import Role

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/token", response_model=TokenOut, summary="Sign in with username and password; get a bearer token")
def get_token(body: LoginIn, session: SessionDep) -> TokenOut:
    try:
        account = login(session, username=body.username, password=body.password)
    except DomainError:
        session.commit()  # keep the failed-attempt count that throttles guessing
        raise
    secret, row = issue_token(session, account=account, name="login", kind="session")
    session.commit()
    return TokenOut(access_token=secret, expires_at=row.expires_at, role=account.role,
                    organisation_id=account.organisation_id)


@router.post("/auth/logout", status_code=204, summary="Revoke the token this request used")
def logout(request: Request, session: SessionDep, actor: CurrentActor) -> None:
    token = _bearer(request)
    session.execute(update(ApiToken).where(ApiToken.token_hash == token_digest(token or "")).values(revoked_at=_now()))
    session.commit()


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


@router.get("/auth/me", response_model=AccountOut)
def me(session: SessionDep, actor: CurrentActor) -> Account:
    return session.get(Account, actor.account_id)


@router.get("/organisations", response_model=list[OrganisationOut],
            summary="Organisations; an operator sees only its own")
def organisations(session: SessionDep, actor: CurrentActor) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.code)
    if actor.role == Role.OPERATOR:
        query = query.where(Organisation.id == actor.organisation_id)
    return list(session.scalars(query))
