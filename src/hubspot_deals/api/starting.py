"""Starting a scan for the caller, shared by ``POST /api/v1/scan/start`` and the dashboard's form:
whichever door a config comes through, the organization rules and the service call are the same."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.deps import bound_organization, org_scope
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.requests import ScanConfig
from hubspot_deals.jobs import service
from hubspot_deals.jobs.runtime import Runtime


async def start_for_caller(
    request: Request, db: AsyncSession, rt: Runtime, config: ScanConfig
) -> service.Started:
    """Store and dispatch a validated config under the caller's organization: an API key's own, or
    the config's ``organizationId`` while the service runs open (403 for another one under a key)."""
    bound = bound_organization(request)
    if bound is not None and config.organizationId not in (None, bound):
        raise ApiError(
            403,
            "FORBIDDEN",
            "Your API key does not act for this organization",
            errors={"config.organizationId": "Must be the organization of your API key"},
        )
    org = bound or config.organizationId
    return await service.start_scan(
        db,
        rt.cipher,
        rt.dispatch,
        config=config.stored() | {"organizationId": org},
        spec=config.to_spec(),
        token=config.auth.hubspot_access_token.get_secret_value(),
        org=org,
        scope=org_scope(request),
    )
