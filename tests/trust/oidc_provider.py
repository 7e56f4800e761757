"""A small OpenID Connect provider for tests, served by uvicorn in a thread on a free loopback port.

It does what a real provider does for the authorization code flow: discovery, JWKS, an authorize endpoint that
signs in whoever the test names (no login form), and a token endpoint that checks the client's secret, the
redirect URI and the PKCE verifier (S256) before it signs an RS256 id_token carrying the nonce. `mischief` lets
a test make the next id_token expired, forged, for another audience or issuer, or with another nonce.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from tests.live import free_port

CLIENT_ID = "bedelau-test"
CLIENT_SECRET = "rahasia-klien-uji"


@dataclass
class Provider:
    issuer: str
    redirect_uris: set[str]
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    user: dict[str, Any] = field(default_factory=dict)  # the claims of whoever "signs in" next
    mischief: str | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    # -- endpoints -----------------------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> JSONResponse | RedirectResponse:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in self.redirect_uris:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "PKCE S256 required"}, status_code=400
            )
        if "openid" not in (q.get("scope") or "").split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "redirect_uri": q["redirect_uri"],
            "user": dict(self.user),
        }
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302)

    async def token(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        self.token_requests.append(form)
        if _basic(request.headers.get("authorization", "")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, status_code=400)
        access = secrets.token_urlsafe(24)
        return JSONResponse(
            {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": self.id_token(grant)}
        )

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "akun-" + str(grant["user"].get("preferred_username", "x")),
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
        } | grant["user"]
        key: Any = self.key
        header = {"alg": "RS256", "kid": "k1"}
        match self.mischief:
            case "expired":
                claims |= {"iat": now - 3600, "exp": now - 1800}
            case "other_audience":
                claims["aud"] = "someone-else"
            case "other_issuer":
                claims["iss"] = "https://evil.example"
            case "other_nonce":
                claims["nonce"] = "not-the-one-you-sent"
            case "forged":  # same kid, a key the provider never published
                key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
            case "hs256_with_client_secret":
                key, header = OctKey.import_key(CLIENT_SECRET), {"alg": "HS256", "kid": "k1"}
        return jwt.encode(header, claims, key, algorithms=[header["alg"]])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    from urllib.parse import unquote

    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)


@contextmanager
def running_provider(redirect_uris: set[str]) -> Iterator[Provider]:
    port = free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}", redirect_uris=redirect_uris)
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test OIDC provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(5)
