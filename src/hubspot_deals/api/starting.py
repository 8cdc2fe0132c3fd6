"""Starting a scan for the caller, shared by ``POST /api/v1/scan/start`` and the dashboard's form:
whichever door a config comes through, the organization rules and the service call are the same."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.deps import bound_organization, org_scope
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.requests import ScanConfig
from hubspot_deals.hubspot import OAuthCredentials
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.service import Started
from hubspot_deals.jobs.starting import StoredConnection, start_checked
from hubspot_deals.jobs.token_check import TokenRefused


async def start_for_caller(
    request: Request, db: AsyncSession, rt: Runtime, config: ScanConfig
) -> Started:
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
    try:
        return await start_checked(
            db,
            rt,
            config=config.stored() | {"organizationId": org},
            spec=config.to_spec(),
            credential=_credential(config),
            org=org,
            scope=org_scope(request),
        )
    except TokenRefused as refused:
        raise auth_failed(refused) from None


def _credential(config: ScanConfig) -> str | OAuthCredentials | StoredConnection:
    if config.connectionId is not None:
        return StoredConnection(config.connectionId)
    assert config.auth is not None  # ScanConfig's own check: auth or connectionId
    token = config.auth.hubspot_access_token
    if token is not None:
        return token.get_secret_value()
    grant = config.auth.oauth
    assert grant is not None  # Auth's own check: one kind or the other
    return grant


def auth_failed(refused: TokenRefused) -> ApiError:
    """The spec's ``HUBSPOT_AUTH_FAILED``: 401 for a rejected token, 403 for missing scopes."""
    details: dict[str, Any] = {
        "hubspot_error": refused.hubspot_error,
        "status_code": refused.status_code,
    }
    if refused.status_code == 401:
        message = "Failed to authenticate with HubSpot API: the access token was rejected"
    else:
        details["missing_scopes"] = refused.missing_scopes
        message = "The HubSpot access token lacks scopes a deal scan needs: " + ", ".join(
            refused.missing_scopes
        )
    return ApiError(refused.status_code, "HUBSPOT_AUTH_FAILED", message, details=details)
