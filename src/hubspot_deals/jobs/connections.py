"""Connections: a HubSpot credential stored once (a token, or an OAuth grant the workers renew)
and named, so scans (and schedules) can use it by id without the caller handing a secret again.

A connection is checked against HubSpot when it is made and whenever it is tested: the account
it reaches (portal id, UI domain) and, one cheap call each, which of the reads a deal scan makes
it may do (deals, the three association types, owners). Those are its ``scopes``: what a scan
with it can read, whatever HubSpot calls the grant's scopes (a token's cannot be listed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.hubspot import (
    HubSpotAuthError,
    HubSpotClient,
    HubSpotError,
    HubSpotMissingScopesError,
    OAuthCredentials,
    exchange_code,
    paths_for,
)
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.service import ConnectionInUse, ConnectionNotFound, HubSpotUnreachable
from hubspot_deals.jobs.token_check import DEALS_SCOPE, TokenRefused
from hubspot_deals.store.credentials import CredentialRepository
from hubspot_deals.store.jobs import OrgScope
from hubspot_deals.store.models import Credential

log = structlog.get_logger(__name__)

#: The reads a deal scan makes, each with the scope it needs (docs/api.md, HubSpot credentials).
ASSOCIATION_SCOPES = {
    "contacts": "crm.objects.contacts.read",
    "companies": "crm.objects.companies.read",
    "line_items": "crm.objects.line_items.read",
}
OWNERS_SCOPE = "crm.objects.owners.read"
#: How long a check may take before it is given up (HubSpot slow or out of reach).
CHECK_SECONDS = 20.0


@dataclass(frozen=True)
class Checked:
    portal_id: int
    hub_domain: str
    scopes: list[str]


async def check(client: HubSpotClient) -> Checked:
    """The account and the scan's reads this credential may do; ``TokenRefused`` when HubSpot
    refuses it outright (or it may not read deals), ``HubSpotUnreachable`` when HubSpot fails."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            account = await client.get_account_details()
            first = await client.first_deal_page()
            scopes = [DEALS_SCOPE]
            probe = [d.id for d in first.results[:1]] or ["0"]
            for kind, scope in ASSOCIATION_SCOPES.items():
                if await _may(client.read_associations(kind, probe)):
                    scopes.append(scope)
            if await _may(anext(client.iter_owners(limit=1), None)):
                scopes.append(OWNERS_SCOPE)
    except HubSpotMissingScopesError as exc:  # the deals page: nothing a scan can do
        raise TokenRefused(403, exc.message, exc.scopes or [DEALS_SCOPE]) from None
    except HubSpotAuthError as exc:
        raise TokenRefused(401, exc.message, []) from None
    except (TimeoutError, HubSpotError) as exc:
        raise HubSpotUnreachable(f"HubSpot could not check the connection: {exc}") from None
    return Checked(account.portal_id, account.ui_domain, scopes)


async def _may(call: Awaitable[object]) -> bool:
    try:
        await call
    except HubSpotMissingScopesError:
        return False
    return True


async def create(
    session: AsyncSession,
    rt: Runtime,
    *,
    org: str | None,
    name: str,
    secret: str | OAuthCredentials,
) -> Credential:
    """Check the credential against HubSpot and store it (encrypted): the connection."""
    repository = CredentialRepository(session)
    row = repository.add_connection(rt.cipher, org, name, secret)
    await session.commit()  # the workers' source reads it from the database
    try:
        await _record_check(session, rt, row)
    except (TokenRefused, HubSpotUnreachable):
        await repository.delete(row.id)  # refused or unchecked: not kept
        raise
    return row


async def test(session: AsyncSession, rt: Runtime, row: Credential) -> Credential:
    """Check an existing connection again (its portal, its scopes); refusals raise."""
    await _record_check(session, rt, row)
    return row


async def _record_check(session: AsyncSession, rt: Runtime, row: Credential) -> None:
    source = rt.credential_source(row.id)
    try:
        async with rt.hubspot_client(source) as client:
            found = await check(client)
    finally:
        await session.refresh(row)  # a renewal (or a refusal) was written by the source
    row.portal_id, row.hub_domain, row.scopes = found.portal_id, found.hub_domain, found.scopes
    row.updated_at = datetime.now(UTC)
    await session.commit()


async def find(session: AsyncSession, connection_id: str, scope: OrgScope) -> Credential:
    row = await CredentialRepository(session).connection(connection_id, scope)
    if row is None:
        raise ConnectionNotFound("Connection not found", connectionId=connection_id)
    return row


async def delete(session: AsyncSession, rt: Runtime, connection_id: str, scope: OrgScope) -> None:
    """Forget a connection and its secrets; refused while a scan uses it. The row is locked
    while it is judged (and this process's starts with it wait), as ``service.start_scan``
    locks it to store a run: of a start and a deletion, one happens entirely first."""
    async with rt.credential_locks.of(in_use_key(connection_id)):
        repository = CredentialRepository(session)
        row = await repository.connection(connection_id, scope, lock=True)
        if row is None:
            raise ConnectionNotFound("Connection not found", connectionId=connection_id)
        if await repository.in_use(row.id):
            await session.rollback()
            raise ConnectionInUse(
                "A scan is using this connection: cancel it or wait for it to end",
                connectionId=connection_id,
            )
        await repository.delete(row.id)


def in_use_key(credential_id: str) -> str:
    """The process lock of a credential's starts and deletion (its renewals have their own)."""
    return f"use:{credential_id}"


async def listed(session: AsyncSession, scope: OrgScope) -> list[Credential]:
    return list(await CredentialRepository(session).connections(scope))


async def connect_with_code(
    session: AsyncSession, rt: Runtime, *, org: str | None, code: str, verifier: str
) -> Credential:
    """The authorization code flow's end: the code exchanged for the portal's grant, stored as
    a connection named after its portal."""
    settings = rt.settings
    assert settings.hubspot_client_id and settings.hubspot_client_secret  # the flow checked it
    assert settings.hubspot_redirect_uri
    try:
        answer = await exchange_code(
            client_id=settings.hubspot_client_id,
            client_secret=settings.hubspot_client_secret,
            code=code,
            redirect_uri=settings.hubspot_redirect_uri,
            code_verifier=verifier,
            base_url=rt.client_config.base_url,
            path=paths_for(rt.client_config.api_version).oauth,
            timeout_seconds=rt.client_config.timeout_seconds,
        )
    except HubSpotAuthError as exc:
        raise TokenRefused(401, exc.message, []) from None
    grant = OAuthCredentials(
        settings.hubspot_client_id, settings.hubspot_client_secret, answer.refresh_token
    )
    row = await create(session, rt, org=org, name="HubSpot portal", secret=grant)
    row.name = f"HubSpot portal {row.portal_id}"
    await session.commit()
    return row
