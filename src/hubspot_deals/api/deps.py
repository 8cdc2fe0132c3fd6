"""FastAPI dependencies: the runtime, a session per request, the caller's organization scope."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.jobs import ANY_ORG, OrgScope


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as db:
        yield db


def org_scope(request: Request) -> OrgScope:
    """Unscoped until API keys bind callers to an organization (then: that organization)."""
    org: OrgScope = getattr(request.state, "organization_id", ANY_ORG)
    return org
