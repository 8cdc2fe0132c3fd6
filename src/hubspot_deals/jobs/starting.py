"""A start as the spec orders it: a scan id already running is a 409 before anything else, the
token is then looked at (bounded in time), and only a token HubSpot did not refuse gets a job.

Both doors (the API and the dashboard's form) come through here; they only translate
``ScanInProgress`` and ``TokenRefused`` into their own answers.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.engine import ScanSpec
from hubspot_deals.hubspot import OAuthCredentials, TokenSource
from hubspot_deals.jobs import service
from hubspot_deals.jobs.connections import in_use_key
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.service import ConnectionNotFound
from hubspot_deals.jobs.token_check import TokenRefused, check_token
from hubspot_deals.store.credentials import CredentialRepository
from hubspot_deals.store.jobs import OrgScope


@dataclass(frozen=True)
class StoredConnection:
    """A config's ``connectionId``: the organization's stored credential, by id."""

    connection_id: str


async def start_checked(
    session: AsyncSession,
    rt: Runtime,
    *,
    config: dict[str, Any],
    spec: ScanSpec,
    credential: str | OAuthCredentials | StoredConnection,
    org: str | None,
    scope: OrgScope,
) -> service.Started:
    """Store and dispatch the scan after its credential passed (or HubSpot did not answer in
    time): a token, or an OAuth grant, stored (encrypted) as the organization's credential the
    first time it is given and renewed by the workers from then on (jobs/credentials.py).

    The early 409 spares the token check a call; ``start_scan`` still holds the promise. No
    transaction (nor pooled connection) is held while HubSpot answers."""
    await service.refuse_if_in_progress(session, spec.scan_id, scope)
    await session.commit()
    token: str | None = None
    credential_id: str | None = None
    source: str | TokenSource
    new = False
    if isinstance(credential, str):
        token = source = credential
    elif isinstance(credential, StoredConnection):
        row = await CredentialRepository(session).connection(credential.connection_id, scope)
        if row is None:
            raise ConnectionNotFound("Connection not found", connectionId=credential.connection_id)
        credential_id = row.id
        source = rt.credential_source(credential_id)
    else:
        stored = CredentialRepository(session)
        credential_id, new = await stored.inline_grant(rt.cipher, org, credential)
        source = rt.credential_source(credential_id)
    try:
        await check_token(
            rt.hubspot_client,
            rt.token_checks,
            source,
            within_seconds=rt.settings.start_token_check_seconds,
        )
    except TokenRefused:
        if credential_id is not None:
            stored = CredentialRepository(session)
            if new:  # a grant refused at once is not kept
                await stored.delete(credential_id)
            elif isinstance(credential, StoredConnection) and (
                await stored.connection(credential_id, scope) is None  # deleted meanwhile
            ):
                raise ConnectionNotFound(
                    "Connection not found", connectionId=credential_id
                ) from None
        raise
    # a stored credential's starts and its deletion take turns (jobs/connections.delete)
    held = rt.credential_locks.of(in_use_key(credential_id)) if credential_id else nullcontext()
    async with held:
        return await service.start_scan(
            session,
            rt.cipher,
            rt.dispatch,
            config=config,
            spec=replace(spec, hubspot_url=rt.settings.hubspot_base_url),
            token=token,
            org=org,
            scope=scope,
            credential_id=credential_id,
        )
