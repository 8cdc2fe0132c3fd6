"""Who may call: API keys as the HTTP layer asks about them (the key's organization, whether keys
are in use). The keys themselves, hashed, are the store's (store/keys.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.keys import KeyRepository


class UnknownKey(Exception):
    """The key is not one of ours, or was revoked."""


async def key_organization(session: AsyncSession, key: str) -> str:
    """The organization an active key acts for."""
    record = await KeyRepository(session).find(key)
    if record is None:
        raise UnknownKey
    return record.organization_id


async def keys_in_use(session: AsyncSession, *, required: bool) -> bool:
    """Keys are in use once one is active, or from the start with ``REQUIRE_API_KEY``."""
    return required or await KeyRepository(session).active_count() > 0
