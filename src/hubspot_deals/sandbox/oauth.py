"""HubSpot's OAuth as the sandbox plays it: the authorization page (it approves at once), the
token endpoint of every edition, access tokens that expire, refresh tokens that can rotate or be
revoked, and the counts tests read back.

What is HubSpot's and what is ours (docs/sandbox.md, "OAuth"): the token endpoint's form fields,
its answer ``{access_token, refresh_token, expires_in, token_type}`` and the 401 body of an expired
token are the fact sheet's (sections 7, 9, 13); the 400 bodies of the token endpoint
(``BAD_REFRESH_TOKEN`` and its kin, "missing or unknown refresh token") are observed in the wild;
the lifetime (1,800 s) is HubSpot's and shortened by tests.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hubspot_deals.sandbox.params import dated
from hubspot_deals.sandbox.responses import JSONResponse

#: The demo OAuth app (public, sandbox only): the sandbox knows it from the start.
DEMO_CLIENT_ID = "5a4db0c5-0000-4000-8000-00000000c11d"
DEMO_CLIENT_SECRET = "5a4db0c5-0000-4000-8000-0000005ec2e7"  # noqa: S105 - public, sandbox only
#: A refresh token of the demo app that every sandbox starts with (with every scope).
DEMO_REFRESH_TOKEN = "na1-5a4d-b0c5-0000-4000-8000-0000000de3f0"  # noqa: S105 - public, sandbox only
#: HubSpot's access tokens live 30 minutes.
DEFAULT_LIFETIME_S = 1800.0


class Expired:
    """An access token that was valid and is no more: HubSpot answers EXPIRED_AUTHENTICATION."""

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms


@dataclass
class _Grant:
    """What a refresh token stands for: an app's access to the portal with these scopes."""

    client_id: str
    scopes: frozenset[str]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    expires_at: float


@dataclass
class OAuthServer:
    """The portal's OAuth state: apps, live refresh tokens, issued access tokens, pending codes."""

    apps: dict[str, str]
    all_scopes: frozenset[str]
    lifetime_s: float = DEFAULT_LIFETIME_S
    rotate: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _access: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)

    # -- what the gateway asks ------------------------------------------------------------------

    def scopes_of(self, token: str) -> frozenset[str] | Expired | None:
        """An issued access token's scopes, ``Expired`` past its lifetime, None if not issued."""
        issued = self._access.get(token)
        if issued is None:
            return None
        scopes, expires_at = issued
        if time.time() >= expires_at:
            return Expired(int(expires_at * 1000))
        return scopes

    # -- the harness's side door ----------------------------------------------------------------

    def grant(
        self, client_id: str, scopes: frozenset[str] | None = None, token: str | None = None
    ) -> str:
        """A refresh token for ``client_id``, as a user installing the app would give it."""
        token = token or f"na1-{uuid.uuid4().hex[:4]}-{uuid.uuid4()}"
        self._grants[token] = _Grant(client_id, scopes or self.all_scopes)
        return token

    def revoke(self, refresh_token: str) -> bool:
        """The user uninstalled the app (or an admin revoked it): the refresh token dies."""
        return self._grants.pop(refresh_token, None) is not None

    def json(self) -> dict[str, Any]:
        return dict(self.counts) | {"live_refresh_tokens": len(self._grants)}

    # -- HubSpot's endpoints --------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        """``GET /oauth/authorize``: the user approves at once; back to ``redirect_uri`` with a
        code (and the ``state`` as given). PKCE's S256 challenge is kept for the exchange."""
        query = request.query_params
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id not in self.apps or not urlsplit(redirect_uri).scheme.startswith("http"):
            return _token_error(
                400, "BAD_CLIENT_ID", "missing or unknown client id or redirect_uri"
            )
        method = query.get("code_challenge_method")
        if query.get("code_challenge") and method not in (None, "S256"):
            return _token_error(400, "BAD_REQUEST", "code_challenge_method must be S256")
        wanted = frozenset(query.get("scope", "").split()) | frozenset(
            query.get("optional_scope", "").split()
        )
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            client_id,
            redirect_uri,
            (wanted & self.all_scopes) or self.all_scopes,
            query.get("code_challenge"),
            time.time() + 600,
        )
        self.counts["authorizations"] += 1
        back = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(back)}", status_code=302)

    async def token(self, request: Request) -> Response:
        """``POST /oauth/{edition}/token``: form-encoded (the dated editions take nothing else; v1
        also reads the query string), ``grant_type`` refresh_token or authorization_code."""
        body = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if not dated(request):
            form = dict(request.query_params) | form
        client_id = form.get("client_id", "")
        if self.apps.get(client_id) is None:
            return self._refused("BAD_CLIENT_ID", "missing or unknown client id")
        if not secrets.compare_digest(self.apps[client_id], form.get("client_secret", "")):
            return self._refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(client_id, form.get("refresh_token", ""))
        if grant_type == "authorization_code":
            return self._exchange(client_id, form)
        return self._refused(
            "BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token"
        )

    def _refresh(self, client_id: str, refresh_token: str) -> Response:
        grant = self._grants.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            return self._refused("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        if self.rotate:
            del self._grants[refresh_token]
            refresh_token = self.grant(client_id, grant.scopes)
        self.counts["refreshes"] += 1
        return self._tokens(refresh_token, grant.scopes)

    def _exchange(self, client_id: str, form: dict[str, str]) -> Response:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.client_id != client_id or time.time() > code.expires_at:
            return self._refused("BAD_AUTH_CODE", "missing or unknown auth code")
        if form.get("redirect_uri") != code.redirect_uri:
            return self._refused(
                "BAD_REDIRECT_URI", "redirect_uri does not match the authorization"
            )
        if code.challenge is not None and _s256(form.get("code_verifier", "")) != code.challenge:
            return self._refused("BAD_AUTH_CODE", "code_verifier does not match the code_challenge")
        self.counts["code_exchanges"] += 1
        return self._tokens(self.grant(client_id, code.scopes), code.scopes)

    def _tokens(self, refresh_token: str, scopes: frozenset[str]) -> Response:
        access = "C" + secrets.token_urlsafe(120)  # opaque, about 160 characters
        self._access[access] = (scopes, time.time() + self.lifetime_s)
        now = time.time()
        self._access = {t: v for t, v in self._access.items() if v[1] > now - 3600}
        return JSONResponse(
            {
                "token_type": "bearer",
                "refresh_token": refresh_token,
                "access_token": access,
                "expires_in": int(self.lifetime_s) if self.lifetime_s >= 1 else 1,
            }
        )

    def _refused(self, status: str, message: str) -> Response:
        self.counts["refused"] += 1
        return _token_error(400, status, message)


def _token_error(code: int, status: str, message: str) -> Response:
    """The token endpoint's error, as observed: ``status`` names it (the spec's Error schema
    also wants ``category``, which carries the same name)."""
    return JSONResponse(
        {
            "status": status,
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": status,
        },
        status_code=code,
    )


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
