"""Single sign-on ("akun tunggal") against a local OIDC provider the test starts on loopback: discovery, JWKS,
the code flow with PKCE, state and nonce, and every id_token a careful client must refuse."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from ducting.accounts.models import Account, ApiToken
from ducting.auth import SESSION_COOKIE
from ducting.settings import get_settings
from tests.trust.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

CALLBACK = "http://testserver/auth/oidc/callback"


@pytest.fixture(scope="module")
def provider_server() -> Iterator[Provider]:
    with running_provider({CALLBACK}) as provider:
        yield provider


@pytest.fixture()
def provider(provider_server: Provider, monkeypatch) -> Iterator[Provider]:
    monkeypatch.setenv("DUCTING_OIDC_ISSUER", provider_server.issuer)
    monkeypatch.setenv("DUCTING_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DUCTING_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    get_settings.cache_clear()
    provider_server.mischief, provider_server.user = None, {}
    provider_server.token_requests.clear()
    yield provider_server
    monkeypatch.undo()
    get_settings.cache_clear()


def sign_on(client, provider: Provider, **user) -> httpx.Response:
    """Click the button, let the provider sign `user` in, and follow its redirect back to us."""
    provider.user = user
    start = client.get("/auth/oidc/login", params={"next": "/keuangan"}, follow_redirects=False)
    assert start.status_code == 303, start.text
    answer = httpx.get(start.headers["location"], follow_redirects=False)  # the browser at the provider
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_login_page_offers_single_sign_on_only_when_configured(client, provider, monkeypatch):
    page = client.get("/masuk?next=/peta")
    assert "Masuk dengan akun tunggal" in page.text and 'href="/auth/oidc/login?next=/peta"' in page.text
    monkeypatch.delenv("DUCTING_OIDC_ISSUER")
    monkeypatch.delenv("DUCTING_OIDC_CLIENT_ID")
    monkeypatch.delenv("DUCTING_OIDC_CLIENT_SECRET")
    get_settings.cache_clear()
    assert 'id="oidc-login"' not in client.get("/masuk").text
    assert client.get("/auth/oidc/login", follow_redirects=False).status_code == 404


def test_authorization_request_uses_pkce_s256_state_and_nonce(client, provider):
    start = client.get("/auth/oidc/login", follow_redirects=False)
    q = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(f"{provider.issuer}/authorize?")
    assert q["response_type"] == ["code"] and q["client_id"] == [CLIENT_ID] and q["redirect_uri"] == [CALLBACK]
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32 and "openid" in q["scope"][0].split()
    cookie = start.headers["set-cookie"]
    assert "bedelau_oidc=" in cookie and "HttpOnly" in cookie and "Path=/auth/oidc" in cookie
    assert q["code_challenge"][0] not in cookie  # the verifier travels signed; the challenge is derived from it


def test_single_sign_on_signs_in_the_existing_account_with_a_session_cookie(client, provider, people):
    done = sign_on(client, provider, preferred_username="t_finance", name="Test finance")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/keuangan"
    assert client.cookies.get(SESSION_COOKIE)
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "t_finance"
    exchange = provider.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43
    assert exchange["redirect_uri"] == CALLBACK


def test_mapping_by_verified_email_finds_the_account(client, provider, people, session, monkeypatch):
    people.accounts["planner"].email = "Perencana.Uji@batam.go.id"
    session.commit()  # the test's savepoint: a refused request's rollback must not take the e-mail with it
    monkeypatch.setenv("DUCTING_OIDC_USERNAME_CLAIM", "email")
    get_settings.cache_clear()
    refused = sign_on(client, provider, email="perencana.uji@batam.go.id", email_verified=False)
    assert refused.status_code == 401 and SESSION_COOKIE not in refused.cookies
    done = sign_on(client, provider, email="perencana.uji@batam.go.id", email_verified=True)
    assert done.status_code == 303 and client.get("/api/v1/auth/me").json()["username"] == "t_planner"


@pytest.mark.parametrize(
    ("mischief", "why"),
    [
        ("expired", "expired"),
        ("forged", "bad_signature"),
        ("other_audience", "'aud'"),
        ("other_issuer", "'iss'"),
        ("other_nonce", "'nonce'"),
        ("hs256_with_client_secret", "'HS256' is not allowed"),
    ],
)
def test_id_token_that_fails_a_check_is_refused_and_signs_nobody_in(
    client, provider, people, session, caplog, mischief, why
):
    provider.mischief = mischief
    tokens_before = session.scalar(select(func.count()).select_from(ApiToken))
    refused = sign_on(client, provider, preferred_username="t_admin")
    assert refused.status_code == 401
    assert why in caplog.text  # refused for the reason under test, not by accident
    assert "akun tunggal gagal" in refused.text
    assert SESSION_COOKIE not in refused.cookies and client.get("/api/v1/auth/me").status_code == 401
    assert session.scalar(select(func.count()).select_from(ApiToken)) == tokens_before


def test_unknown_or_disabled_identity_is_refused_and_no_account_is_created(client, provider, people, session):
    accounts_before = session.scalar(select(func.count()).select_from(Account))
    assert sign_on(client, provider, preferred_username="admin-baru").status_code == 401
    people.accounts["auditor"].is_active = False
    session.commit()
    assert sign_on(client, provider, preferred_username="t_auditor").status_code == 401
    assert session.scalar(select(func.count()).select_from(Account)) == accounts_before


def test_callback_with_another_state_or_without_the_flow_cookie_is_refused(client, provider, people):
    provider.user = {"preferred_username": "t_planner"}
    start = client.get("/auth/oidc/login", follow_redirects=False)
    answer = urlsplit(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
    code = parse_qs(answer.query)["code"][0]
    other_state = client.get("/auth/oidc/callback", params={"code": code, "state": "aaaa"}, follow_redirects=False)
    assert other_state.status_code == 401 and provider.token_requests == []  # refused before the code is spent
    client.cookies.clear()
    no_cookie = client.get(f"{answer.path}?{answer.query}", follow_redirects=False)
    assert no_cookie.status_code == 401 and provider.token_requests == []


def test_a_provider_that_is_down_is_an_error_page_not_a_crash(client, monkeypatch):
    from tests.live import free_port

    monkeypatch.setenv("DUCTING_OIDC_ISSUER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DUCTING_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DUCTING_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    get_settings.cache_clear()
    try:
        down = client.get("/auth/oidc/login", follow_redirects=False)
        assert down.status_code == 502 and "akun tunggal gagal" in down.text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_partial_oidc_configuration_is_refused_at_start_up(monkeypatch):
    from pydantic import ValidationError

    from ducting.settings import OidcSettings

    monkeypatch.setenv("DUCTING_OIDC_ISSUER", "https://akun.batam.go.id")
    with pytest.raises(ValidationError, match="together"):
        OidcSettings()


def test_first_sign_on_binds_the_account_to_the_providers_sub_and_another_sub_is_refused(
    client, provider, people, session
):
    finance = people.accounts["finance"]
    assert sign_on(client, provider, preferred_username="t_finance").status_code == 303
    session.refresh(finance)
    assert (finance.oidc_issuer, finance.oidc_subject) == (provider.issuer, "akun-t_finance")
    # someone else at the provider now carries the username: refused, and the binding stays
    client.cookies.clear()
    refused = sign_on(client, provider, preferred_username="t_finance", sub="akun-orang-lain")
    assert refused.status_code == 401 and SESSION_COOKIE not in refused.cookies
    # the bound identity is found by its sub, whatever username the provider shows today
    done = sign_on(client, provider, preferred_username="keuangan-baru", sub="akun-t_finance")
    assert done.status_code == 303 and client.get("/api/v1/auth/me").json()["username"] == "t_finance"
    # an admin unlinks the account; the next sign-on by username binds afresh
    unlinked = client.patch(
        f"/api/v1/accounts/{finance.id}", json={"unlink_sso": True}, headers=people.headers("admin")
    )
    assert unlinked.status_code == 200 and unlinked.json()["sso_linked"] is False
    client.cookies.clear()
    assert sign_on(client, provider, preferred_username="t_finance", sub="akun-orang-lain").status_code == 303
    session.refresh(finance)
    assert finance.oidc_subject == "akun-orang-lain"
