"""Access tokens of stored OAuth grants, renewed before they expire, once per credential at a
time across every worker.

A scan's client asks its ``CredentialSource`` for a token before each call. The source keeps the
token it has until shortly before it expires (a fifth of its life, at most a minute), then takes
the credential's lock (this process's, then the row's: FOR UPDATE on PostgreSQL) and reads the
row again: a token another worker renewed meanwhile is adopted; otherwise this one calls HubSpot's
token endpoint, stores the new access token (and a rotated refresh token) and commits, which lets
the others through to adopt it. So each expiry costs one refresh, whatever the number of workers.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hubspot_deals.hubspot import (
    ClientConfig,
    HubSpotGrantRefused,
    OAuthCredentials,
    paths_for,
    refresh_access_token,
)
from hubspot_deals.store.credentials import CredentialRepository, seal, unseal
from hubspot_deals.store.crypto import TokenCipher

log = structlog.get_logger(__name__)

#: Renew when this share of a token's life is left (at most ``MAX_MARGIN_S`` before it expires).
MARGIN_SHARE, MAX_MARGIN_S = 0.2, 60.0


def _margin(lifetime_s: float) -> float:
    return min(MAX_MARGIN_S, MARGIN_SHARE * lifetime_s)


@dataclass
class CredentialLocks:
    """One lock per credential in this process (the row lock holds across processes)."""

    _locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    def of(self, credential_id: str) -> asyncio.Lock:
        return self._locks[credential_id]


class CredentialGone(HubSpotGrantRefused):
    """The credential a scan was started with is no longer stored."""


class CredentialSource:
    """A ``TokenSource`` over one stored credential (see the module's docstring)."""

    def __init__(
        self,
        credential_id: str,
        *,
        sessions: async_sessionmaker[AsyncSession],
        cipher: TokenCipher,
        config: ClientConfig,
        locks: CredentialLocks,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = f"credential:{credential_id}"
        self.credential_id = credential_id
        self._sessions, self._cipher, self._config = sessions, cipher, config
        self._locks, self._clock = locks, clock
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"CredentialSource({self.credential_id!r})"

    async def token(self, *, stale: str | None = None) -> str:
        if self._token is not None and self._token != stale and self._clock() < self._renew_at:
            return self._token
        async with self._locks.of(self.credential_id):
            if self._token is not None and self._token != stale and self._clock() < self._renew_at:
                return self._token  # renewed by another scan of this process while we waited
            try:
                await self._renew(stale)
            except HubSpotGrantRefused as refused:  # dead until reconnected: said at once
                await self._mark_refused(refused.message)
                raise
        assert self._token is not None
        return self._token

    async def _mark_refused(self, message: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await CredentialRepository(session).get(self.credential_id)
            if row is not None:
                row.refused, row.access_token_encrypted = message, None
                row.updated_at = datetime.now(UTC)
        log.warning("credential.refused", credential=self.credential_id)

    async def _renew(self, stale: str | None) -> None:
        async with self._sessions() as session, session.begin():
            row = await CredentialRepository(session).locked(self.credential_id)
            if row is None:
                raise CredentialGone(
                    "the scan's stored HubSpot credential was deleted; connect the portal again"
                )
            if row.refused is not None:
                raise HubSpotGrantRefused(row.refused)
            now = self._clock()
            if row.access_token_encrypted is not None and row.access_expires_at is not None:
                held = self._cipher.decrypt(row.access_token_encrypted)
                lifetime = row.access_lifetime_s or 0.0
                renew_at = row.access_expires_at.timestamp() - _margin(lifetime)
                if held != stale and now < renew_at:  # another worker renewed it: adopt it
                    self._token, self._renew_at = held, renew_at
                    return
            grant = unseal(self._cipher, row.secret_encrypted)
            if isinstance(grant, str):  # a token connection: nothing to renew
                self._token, self._renew_at = grant, float("inf")
                return
            answer = await refresh_access_token(
                grant,
                base_url=self._config.base_url,
                path=paths_for(self._config.api_version).oauth,
                timeout_seconds=self._config.timeout_seconds,
            )
            access = answer.access_token.get_secret_value()
            row.access_token_encrypted = self._cipher.encrypt(access)
            row.access_expires_at = datetime.fromtimestamp(now, UTC) + timedelta(
                seconds=answer.expires_in
            )
            row.access_lifetime_s = answer.expires_in
            row.refreshes += 1
            rotated = (
                answer.refresh_token.get_secret_value() != grant.refresh_token.get_secret_value()
            )
            if rotated:  # HubSpot issued a new refresh token: the old one is no more
                row.secret_encrypted = seal(
                    self._cipher,
                    OAuthCredentials(grant.client_id, grant.client_secret, answer.refresh_token),
                )
                row.rotations += 1
            row.updated_at = datetime.now(UTC)
            self._token = access
            self._renew_at = now + answer.expires_in - _margin(answer.expires_in)
        log.info(
            "credential.refreshed",
            credential=self.credential_id,
            expires_in=answer.expires_in,
            rotated=rotated,
        )
