"""API keys: created once (the key is shown then, never again), stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.store.models import ApiKey
from hubspot_deals.store.sqlite_connection import quick_reads

KEY_PREFIX = "hsd_"


def key_hash(key: str) -> str:
    """Keys are 256 random bits: a plain SHA-256 is enough (no salt or slow hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


#: built once: SQLAlchemy keys a statement object's compiled form once, not every request; of
#: the table, not the mapped class, so that it skips the ORM's execution path (a third less)
_KEYS = ApiKey.__table__
_ACTIVE_COUNT = select(func.count()).select_from(_KEYS).where(_KEYS.c.revoked_at.is_(None))


class KeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def create(self, organization_id: str, name: str | None) -> tuple[ApiKey, str]:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            id=f"key_{secrets.token_hex(6)}",
            organization_id=organization_id,
            name=name,
            key_hash=key_hash(key),
            prefix=key[:12],
            created_at=datetime.now(UTC),
        )
        self.session.add(record)
        return record, key

    async def all(self) -> Sequence[ApiKey]:
        return (await self.session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()

    async def active_count(self) -> int:
        """Asked by every request of an open service: one statement, built once."""
        with quick_reads():
            return int(await self.session.scalar(_ACTIVE_COUNT) or 0)

    async def find(self, key: str) -> ApiKey | None:
        """The active key with this value, if any."""
        query = select(ApiKey).where(ApiKey.key_hash == key_hash(key), ApiKey.revoked_at.is_(None))
        with quick_reads():
            return (await self.session.scalars(query)).first()

    async def revoke(self, key_id: str) -> bool:
        record = await self.session.get(ApiKey, key_id)
        if record is None or record.revoked_at is not None:
            return False
        record.revoked_at = datetime.now(UTC)
        return True
