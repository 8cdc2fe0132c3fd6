"""The quick look at a HubSpot token that a start makes before any job exists.

The spec answers ``HUBSPOT_AUTH_FAILED`` to the start request itself, so a token HubSpot rejects
(401) or one without the deals scope (403) is refused there, not minutes later in a failed job.
One call answers both: the first page of one deal, which needs ``crm.objects.deals.read``
(the account details call would pass a token without it). It is paced with every scan of the
token, and bounded in time: when HubSpot cannot answer in time, or fails, the scan is accepted
and the job reports what it meets, as before. A token that passed is not asked about again for
a while, so starts of one token do not spend its budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import structlog

from hubspot_deals.hubspot import (
    HubSpotAuthError,
    HubSpotClient,
    HubSpotError,
    HubSpotGrantRefused,
    HubSpotMissingScopesError,
    TokenSource,
)

log = structlog.get_logger(__name__)

#: The scope a deal scan cannot do without.
DEALS_SCOPE = "crm.objects.deals.read"


class TokenRefused(Exception):
    """HubSpot refused the token: ``status_code`` 401 (rejected) or 403 (missing scopes)."""

    def __init__(self, status_code: int, hubspot_error: str, missing_scopes: list[str]) -> None:
        super().__init__(hubspot_error)
        self.status_code = status_code
        self.hubspot_error = hubspot_error
        self.missing_scopes = missing_scopes


@dataclass
class TokenChecks:
    """Tokens that passed lately, by digest (never the token), per process."""

    remember_seconds: float = 600.0
    _passed: dict[bytes, float] = field(default_factory=dict)

    def passed_lately(self, token: str) -> bool:
        at = self._passed.get(_digest(token))
        return at is not None and time.monotonic() - at < self.remember_seconds

    def remember(self, token: str) -> None:
        now = time.monotonic()
        self._passed = {k: t for k, t in self._passed.items() if now - t < self.remember_seconds}
        self._passed[_digest(token)] = now


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


async def check_token(
    client_for: Callable[[str | TokenSource], AbstractAsyncContextManager[HubSpotClient]],
    checks: TokenChecks,
    token: str | TokenSource,
    *,
    within_seconds: float,
) -> None:
    """Raise ``TokenRefused`` if HubSpot says no within ``within_seconds``; return otherwise.
    For an OAuth grant the check includes its first renewal (a refused refresh token is a 401)."""
    remembered = token if isinstance(token, str) else token.key
    if within_seconds <= 0:
        return
    if not isinstance(token, str):  # a stored grant HubSpot refused is refused at once
        try:
            async with asyncio.timeout(within_seconds):
                await token.token()
        except HubSpotGrantRefused as exc:
            raise TokenRefused(401, exc.message, []) from None
        except (TimeoutError, HubSpotError):
            return
    if checks.passed_lately(remembered):
        return
    try:
        async with asyncio.timeout(within_seconds), client_for(token) as client:
            await client.first_deal_page()
    except HubSpotAuthError as exc:
        raise TokenRefused(401, exc.message, []) from None
    except HubSpotMissingScopesError as exc:
        raise TokenRefused(403, exc.message, exc.scopes or [DEALS_SCOPE]) from None
    except (TimeoutError, HubSpotError) as exc:
        log.info("start.token_check_skipped", reason=type(exc).__name__)
        return
    checks.remember(remembered)
