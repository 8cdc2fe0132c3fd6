"""Where a client's access token comes from: a fixed token, or an OAuth grant renewed before it
expires.

HubSpot's OAuth access tokens live 30 minutes (``expires_in``); a refresh token renews them at the
token endpoint (form-encoded, ``grant_type=refresh_token``). HubSpot says a 401 is not a reliable
sign of expiry, so renewal follows ``expires_in``; the client's one retry after a 401 (with a token
asked for anew) is a safety net. Who keeps the grant, and makes sure one credential is renewed
once at a time, is the caller's: a ``TokenSource`` (the service's is backed by its database).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import stamina
from pydantic import SecretStr

from hubspot_deals.hubspot._errors import (
    HubSpotConnectionError,
    HubSpotError,
    HubSpotGrantRefused,
    HubSpotServerError,
    Reply,
    error_from_response,
)

#: The token endpoint's refusals that mean "this grant is dead": connect the portal again.
REFUSED_GRANT = frozenset(
    {
        "BAD_REFRESH_TOKEN",
        "BAD_CLIENT_ID",
        "BAD_CLIENT_SECRET",
        "BAD_AUTH_CODE",
        "BAD_REDIRECT_URI",
        "invalid_grant",
        "invalid_client",
    }
)


class TokenSource(Protocol):
    """A valid access token on demand. ``stale`` is a token HubSpot just answered 401 to: a
    source that can renew does so unless it already holds another one."""

    #: names the credential (pacing, logs); never a secret
    key: str

    async def token(self, *, stale: str | None = None) -> str: ...


class StaticToken:
    """A private-app token, a service key or a bare OAuth access token: nothing to renew."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.key = "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]

    async def token(self, *, stale: str | None = None) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken('**********')"


@dataclass(frozen=True)
class OAuthCredentials:
    """An OAuth app's grant to one portal."""

    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr


@dataclass(frozen=True)
class AccessGrant:
    """What the token endpoint gave: the access token, how long it lives, and the refresh token
    to keep (HubSpot's new one when it rotated it, else the one sent)."""

    access_token: SecretStr
    expires_in: float
    refresh_token: SecretStr


async def refresh_access_token(
    credentials: OAuthCredentials,
    *,
    base_url: str,
    path: str,
    timeout_seconds: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AccessGrant:
    """A new access token from ``path`` (the edition's token endpoint). A grant HubSpot refuses
    raises ``HubSpotGrantRefused`` saying to reconnect the portal; transient failures are retried
    a few times, then raised."""
    form = {
        "grant_type": "refresh_token",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret.get_secret_value(),
        "refresh_token": credentials.refresh_token.get_secret_value(),
    }
    return await _token_call(
        form, credentials.refresh_token, base_url, path, timeout_seconds, transport
    )


async def exchange_code(
    *,
    client_id: str,
    client_secret: SecretStr,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    base_url: str,
    path: str,
    timeout_seconds: float = 30.0,
) -> AccessGrant:
    """The authorization code flow's last step: the code (with its PKCE verifier) for the
    portal's first access token and its refresh token."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret.get_secret_value(),
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return await _token_call(form, SecretStr(""), base_url, path, timeout_seconds, None)


async def _token_call(
    form: dict[str, str],
    refresh_token: SecretStr,
    base_url: str,
    path: str,
    timeout_seconds: float,
    transport: httpx.AsyncBaseTransport | None,
) -> AccessGrant:
    secrets = tuple(form[k] for k in ("client_secret", "refresh_token", "code") if form.get(k))
    endpoint = f"POST {path}"
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), timeout=timeout_seconds, transport=transport
    ) as http:
        async for attempt in stamina.retry_context(
            on=(HubSpotServerError, HubSpotConnectionError), attempts=4, wait_initial=0.2
        ):
            with attempt:
                try:
                    response = await http.post(path, data=form)
                except httpx.TransportError as exc:
                    raise HubSpotConnectionError(
                        f"the token endpoint could not be reached ({type(exc).__name__})",
                        endpoint=endpoint,
                    ) from None
                return _grant(response, refresh_token, endpoint, secrets)
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def _grant(
    response: httpx.Response, refresh_token: SecretStr, endpoint: str, secrets: tuple[str, ...]
) -> AccessGrant:
    body = _json(response)
    if response.status_code >= 400:
        refusal = str(body.get("status") or body.get("category") or body.get("error") or "")
        if response.status_code in (401, 403) or refusal in REFUSED_GRANT:
            raise HubSpotGrantRefused(
                f"HubSpot refused the OAuth grant ({refusal or response.status_code}): the "
                "portal's access was revoked or the app's credentials are wrong; reconnect the "
                "portal (a new refresh token)",
                endpoint=endpoint,
                status_code=response.status_code,
                category=refusal or None,
            )
        reply = Reply(
            response.status_code, response.reason_phrase, response.headers, response.content
        )
        error: HubSpotError = error_from_response(reply, endpoint, "")
        for secret in secrets:
            error.message = error.message.replace(secret, "[redacted]")
        raise error
    access, expires_in = body.get("access_token"), body.get("expires_in")
    if not isinstance(access, str) or not access or not isinstance(expires_in, int | float):
        raise HubSpotServerError(
            "the token endpoint's answer has no access_token and expires_in",
            endpoint=endpoint,
            status_code=response.status_code,
        )
    refresh = body.get("refresh_token")
    kept = SecretStr(refresh) if isinstance(refresh, str) and refresh else refresh_token
    return AccessGrant(SecretStr(access), float(expires_in), kept)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
