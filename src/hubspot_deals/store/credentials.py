"""Stored HubSpot credentials: an OAuth grant found again by its origin, read under a row lock
while its access token is renewed, and its secrets encrypted as one JSON document."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.hubspot import OAuthCredentials
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.jobs import ACTIVE, OrgScope, scoped
from hubspot_deals.store.models import Credential, ScanJob


def origin_of(org: str | None, grant: OAuthCredentials) -> str:
    """What an inline grant is found again by: a digest of the organization and the whole grant
    as first given (a wrong client secret is another grant, refused on its own), so the table
    holds no secret in clear."""
    secret, refresh = grant.client_secret.get_secret_value(), grant.refresh_token.get_secret_value()
    material = f"{org or ''}\0{grant.client_id}\0{secret}\0{refresh}".encode()
    return hashlib.sha256(material).hexdigest()


#: What a credential holds: an OAuth grant, or a bearer token.
Secret = OAuthCredentials | str


def seal(cipher: TokenCipher, secret: Secret) -> bytes:
    if isinstance(secret, str):
        return cipher.encrypt(orjson.dumps({"token": secret}).decode())
    return cipher.encrypt(
        orjson.dumps(
            {
                "client_id": secret.client_id,
                "client_secret": secret.client_secret.get_secret_value(),
                "refresh_token": secret.refresh_token.get_secret_value(),
            }
        ).decode()
    )


def unseal(cipher: TokenCipher, blob: bytes) -> Secret:
    data = orjson.loads(cipher.decrypt(blob))
    if "token" in data:
        return str(data["token"])
    return OAuthCredentials(
        data["client_id"], SecretStr(data["client_secret"]), SecretStr(data["refresh_token"])
    )


class CredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, credential_id: str) -> Credential | None:
        return await self.session.get(Credential, credential_id)

    async def locked(self, credential_id: str) -> Credential | None:
        """The row, locked until the transaction ends (PostgreSQL's FOR UPDATE; SQLite serves
        one process, whose own lock the caller holds)."""
        return (
            await self.session.execute(
                select(Credential)
                .where(Credential.id == credential_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def inline_grant(
        self, cipher: TokenCipher, org: str | None, grant: OAuthCredentials
    ) -> tuple[str, bool]:
        """The id of the stored credential for a scan config's inline grant, and whether it is
        new: the one stored the first time this organization gave it (its refresh token may
        have rotated since), else a new one. Commits."""
        origin = origin_of(org, grant)
        for _ in range(2):  # a concurrent start may insert it first
            found = await self.session.scalar(
                select(Credential.id).where(Credential.origin == origin)
            )
            if found is not None:
                return found, False
            moment = datetime.now(UTC)
            row = Credential(
                id=f"cred_{secrets.token_hex(8)}",
                organization_id=org,
                name=None,
                kind="oauth",
                secret_encrypted=seal(cipher, grant),
                origin=origin,
                created_at=moment,
                updated_at=moment,
            )
            self.session.add(row)
            try:
                await self.session.commit()
            except IntegrityError:
                await self.session.rollback()
                continue
            return row.id, True
        raise RuntimeError("the inline grant's credential could not be stored")

    def add_connection(
        self, cipher: TokenCipher, org: str | None, name: str, secret: Secret
    ) -> Credential:
        """A named credential (a connection), its secret sealed; the caller commits."""
        moment = datetime.now(UTC)
        row = Credential(
            id=f"conn_{secrets.token_hex(8)}",
            organization_id=org,
            name=name,
            kind="token" if isinstance(secret, str) else "oauth",
            secret_encrypted=seal(cipher, secret),
            created_at=moment,
            updated_at=moment,
        )
        self.session.add(row)
        return row

    async def connections(self, org: OrgScope) -> Sequence[Credential]:
        """The organization's connections (named credentials), newest first."""
        query = select(Credential).where(Credential.name.is_not(None))
        query = scoped(query, org, Credential.organization_id)
        return (await self.session.scalars(query.order_by(Credential.created_at.desc()))).all()

    async def connection(
        self, connection_id: str, org: OrgScope, *, lock: bool = False
    ) -> Credential | None:
        """The organization's connection; ``lock``: its row locked until the transaction ends
        (FOR UPDATE on PostgreSQL), so a start that uses it and its deletion serialize."""
        query = select(Credential).where(
            Credential.id == connection_id, Credential.name.is_not(None)
        )
        if lock:
            query = query.with_for_update()
        return (
            await self.session.scalars(scoped(query, org, Credential.organization_id))
        ).one_or_none()

    async def in_use(self, credential_id: str) -> bool:
        """Whether a pending or running run scans with it."""
        found = await self.session.scalar(
            select(ScanJob.id)
            .where(ScanJob.credential_id == credential_id, ScanJob.status.in_(ACTIVE))
            .limit(1)
        )
        return found is not None

    async def delete(self, credential_id: str) -> None:
        """Forget a credential (a grant refused the first time it was given). Commits."""
        row = await self.get(credential_id)
        if row is not None:
            await self.session.delete(row)
            await self.session.commit()

    async def rotate(self, rotate: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every stored credential's secrets with ``rotate`` (the first key)."""
        rows = (await self.session.scalars(select(Credential))).all()
        for row in rows:
            row.secret_encrypted = rotate(row.secret_encrypted)
            if row.access_token_encrypted is not None:
                row.access_token_encrypted = rotate(row.access_token_encrypted)
        return len(rows)
