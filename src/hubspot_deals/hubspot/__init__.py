"""The async HubSpot client: deals, search, associations and metadata, paced and retried.

It knows nothing of the service's database or HTTP API; the scan engine drives it.
"""

from hubspot_deals.hubspot._client import HubSpotClient
from hubspot_deals.hubspot._editions import EDITIONS, LATEST, Edition, Paths, paths_for
from hubspot_deals.hubspot._errors import (
    HubSpotAuthError,
    HubSpotBadResponse,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotGrantRefused,
    HubSpotMissingScopesError,
    HubSpotRateLimitError,
    HubSpotRequestError,
    HubSpotSearchCapError,
    HubSpotServerError,
)
from hubspot_deals.hubspot._models import (
    AccountDetails,
    AssociatedObject,
    Deal,
    DealPage,
    HistoryEntry,
    Owner,
    Pipeline,
    PipelineStage,
    PropertyDefinition,
    SearchPage,
)
from hubspot_deals.hubspot._oauth import (
    AccessGrant,
    OAuthCredentials,
    StaticToken,
    TokenSource,
    exchange_code,
    refresh_access_token,
)
from hubspot_deals.hubspot._pacing import BURST, SEARCH, LocalRateLimiter, Permit, RateLimiter
from hubspot_deals.hubspot._redis_pacing import RedisRateLimiter
from hubspot_deals.hubspot._transport import CallRecord, ClientConfig, RetryPolicy

__all__ = [
    "BURST",
    "EDITIONS",
    "LATEST",
    "SEARCH",
    "AccessGrant",
    "AccountDetails",
    "AssociatedObject",
    "CallRecord",
    "ClientConfig",
    "Deal",
    "DealPage",
    "Edition",
    "HistoryEntry",
    "HubSpotAuthError",
    "HubSpotBadResponse",
    "HubSpotClient",
    "HubSpotConnectionError",
    "HubSpotError",
    "HubSpotGrantRefused",
    "HubSpotMissingScopesError",
    "HubSpotRateLimitError",
    "HubSpotRequestError",
    "HubSpotSearchCapError",
    "HubSpotServerError",
    "LocalRateLimiter",
    "OAuthCredentials",
    "Owner",
    "Paths",
    "Permit",
    "Pipeline",
    "PipelineStage",
    "PropertyDefinition",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryPolicy",
    "SearchPage",
    "StaticToken",
    "TokenSource",
    "exchange_code",
    "paths_for",
    "refresh_access_token",
]
