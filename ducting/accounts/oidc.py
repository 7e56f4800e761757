"""Sign-in through an OpenID Connect provider: authorization code flow with PKCE, state and nonce.

The provider is found by discovery (`<issuer>/.well-known/openid-configuration`); its keys come from `jwks_uri`.
Authlib builds the authorization URL and the S256 code challenge and validates the ID token's claims (its
httpx client integration is not used: it now wants `httpx2`). The id_token is checked before anyone is signed in: signature against the provider's JWKS (asymmetric algorithms only),
`iss` equal to the configured issuer, `aud` holding our client id (and `azp` when there are several), `exp`/`iat`
within `leeway_s`, and `nonce` equal to the one this browser was given.

The flow's secrets (state, nonce, PKCE verifier) travel in a short-lived cookie signed with the service's secret
key, so nothing is stored server-side and a flow started in one browser cannot be finished in another.
The identity is mapped to an **existing, active** account; nothing is created. Nothing here commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ducting.accounts.models import Account
from ducting.errors import DomainError
from ducting.settings import OidcSettings

log = logging.getLogger("ducting.oidc")
FLOW_COOKIE = "bedelau_oidc"
FLOW_TTL_S = 600
METADATA_TTL_S = 3600
# Asymmetric only: an HS256 token would be signed with the client secret, which is not the provider's word.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class OidcFailed(DomainError):
    status, code = 401, "oidc_failed"


class OidcUnavailable(DomainError):
    status, code = 502, "oidc_unavailable"


class OidcNotConfigured(DomainError):
    status, code = 404, "oidc_not_configured"


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Flow:
    """What one browser's sign-in attempt must present again at the callback."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    expires: float


_lock = threading.Lock()
_providers: dict[str, tuple[float, Provider]] = {}
_keys: dict[str, KeySet] = {}


def _get_json(url: str, settings: OidcSettings) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=settings.http_timeout_s, follow_redirects=False)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcUnavailable(url=url, error=str(exc)[:200]) from exc
    if not isinstance(body, dict):
        raise OidcUnavailable(not_json_object=url)
    return body


def discover(settings: OidcSettings) -> Provider:
    """The provider's endpoints, from discovery; cached for an hour. The document must name our issuer."""
    issuer = settings.issuer or ""
    with _lock:
        cached = _providers.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", settings)
    if doc.get("issuer") != issuer:
        raise OidcUnavailable(issuer=issuer, named=str(doc.get("issuer"))[:200])
    try:
        provider = Provider(issuer, doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"])
    except KeyError as exc:
        raise OidcUnavailable(lacks=exc.args[0]) from exc
    with _lock:
        _providers[issuer] = (time.monotonic() + METADATA_TTL_S, provider)
    return provider


def _key_set(provider: Provider, settings: OidcSettings, *, refresh: bool = False) -> KeySet:
    with _lock:
        keys = None if refresh else _keys.get(provider.jwks_uri)
    if keys is None:
        try:
            keys = KeySet.import_key_set(_get_json(provider.jwks_uri, settings))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcUnavailable(jwks_error=str(exc)[:200]) from exc
        with _lock:
            _keys[provider.jwks_uri] = keys
    return keys


def begin(settings: OidcSettings, *, redirect_uri: str, next_path: str) -> tuple[str, Flow]:
    """The provider's authorization URL to send the browser to, and the flow to remember (see `seal`)."""
    if not settings.enabled:
        raise OidcNotConfigured()
    provider = discover(settings)
    flow = Flow(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        redirect_uri=redirect_uri,
        next=next_path,
        expires=time.time() + FLOW_TTL_S,
    )
    url = prepare_grant_uri(
        provider.authorization_endpoint,
        settings.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=settings.scopes,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=create_s256_code_challenge(flow.verifier),
        code_challenge_method="S256",
    )
    return url, flow


def _mac(key: str, payload: bytes) -> str:
    return hmac.new(key.encode(), b"oidc-flow|" + payload, hashlib.sha256).hexdigest()


def seal(flow: Flow, *, key: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(asdict(flow)).encode())
    return payload.decode() + "." + _mac(key, payload)


def unseal(value: str | None, *, key: str) -> Flow:
    """The flow from the cookie; refused when missing, altered or older than ten minutes."""
    payload, _, mac = (value or "").encode().rpartition(b".")
    if not payload or not hmac.compare_digest(_mac(key, payload), mac.decode(errors="replace")):
        raise OidcFailed(code="oidc_flow_missing")
    flow = Flow(**json.loads(base64.urlsafe_b64decode(payload)))
    if flow.expires < time.time():
        raise OidcFailed(code="oidc_flow_expired", minutes=FLOW_TTL_S // 60)
    return flow


def finish(settings: OidcSettings, *, flow: Flow, code: str, state: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) and return the id_token's checked claims."""
    if not hmac.compare_digest(flow.state, state):
        raise OidcFailed(code="oidc_state")
    provider = discover(settings)
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    try:  # client_secret_basic: id and secret form-encoded, then Basic (RFC 6749 section 2.3.1)
        response = httpx.post(
            provider.token_endpoint,
            data=form,
            timeout=settings.http_timeout_s,
            auth=(quote(settings.client_id or "", safe=""), quote(secret, safe="")),
            headers={"Accept": "application/json"},
        )
        token = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcUnavailable(token_error=str(exc)[:200]) from exc
    if not isinstance(token, dict) or response.status_code >= 500:
        raise OidcUnavailable(answered=response.status_code)
    if response.status_code != 200 or "error" in token:
        raise OidcFailed(code="oidc_code_refused", error=str(token.get("error", response.status_code))[:200])
    if not token.get("id_token"):
        raise OidcFailed(code="oidc_token_invalid", missing="id_token")
    return verify_id_token(
        settings, provider, token["id_token"], nonce=flow.nonce, access_token=token.get("access_token")
    )


def verify_id_token(
    settings: OidcSettings, provider: Provider, id_token: str, *, nonce: str, access_token: str | None = None
) -> dict[str, Any]:
    try:
        try:
            decoded = jwt.decode(id_token, _key_set(provider, settings), algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:  # the provider rotated its keys since we cached them
            decoded = jwt.decode(id_token, _key_set(provider, settings, refresh=True), algorithms=list(ALGORITHMS))
        options = {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": settings.client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        params = {"nonce": nonce, "client_id": settings.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        claims.validate(leeway=settings.leeway_s)
    except (JoseError, ValueError) as exc:
        raise OidcFailed(code="oidc_token_invalid", error=str(exc)[:200]) from exc
    return dict(claims)


def account_for(session: Session, settings: OidcSettings, claims: dict[str, Any]) -> Account:
    """The existing, active account the identity names. Does not create one, and does not commit.

    An account is bound to the provider's (issuer, `sub`) at its first sign-on: `sub` is the identity the provider
    never reuses, while a username or an e-mail may be handed to someone else. A bound account is found by that
    pair alone; another `sub` presenting its username is refused until an admin unlinks it (`unlink_sso`)."""
    issuer, subject = str(claims.get("iss") or settings.issuer), claims.get("sub")
    if not isinstance(subject, str) or not 1 <= len(subject) <= 255:
        raise OidcFailed(code="oidc_no_account", claim="sub")
    bound = session.scalar(select(Account).where(Account.oidc_issuer == issuer, Account.oidc_subject == subject))
    if bound is not None:
        if not bound.is_active:
            raise OidcFailed(code="oidc_no_account")
        return bound
    account = _account_by_claim(session, settings, claims)
    if account.oidc_subject is not None:
        # the same message as for no account: the provider's user learns nothing about who holds this one
        log.warning(
            "single sign-on: %s (sub %s) presented the username of %s, which is bound to another identity",
            issuer,
            subject,
            account.username,
        )
        raise OidcFailed(code="oidc_no_account")
    account.oidc_issuer, account.oidc_subject = issuer, subject
    return account


def _account_by_claim(session: Session, settings: OidcSettings, claims: dict[str, Any]) -> Account:
    claim = settings.username_claim
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise OidcFailed(code="oidc_no_account", claim=claim)
    if claim == "email":
        if claims.get("email_verified") is False:
            raise OidcFailed(code="oidc_no_account", unverified="email")
        query = select(Account).where(func.lower(Account.email) == value.strip().lower())
    else:
        query = select(Account).where(Account.username == value.strip().lower())
    found = list(session.scalars(query.limit(2)))
    if len(found) != 1 or not found[0].is_active:
        # one message for absent, ambiguous and disabled: the provider's user learns nothing about our accounts
        raise OidcFailed(code="oidc_no_account")
    return found[0]
