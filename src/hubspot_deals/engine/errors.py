"""HubSpot failures as the job error codes of the API spec, in words a user can act on."""

from __future__ import annotations

from dataclasses import dataclass

from hubspot_deals.hubspot import (
    HubSpotAuthError,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotGrantRefused,
    HubSpotMissingScopesError,
    HubSpotRateLimitError,
)


@dataclass(frozen=True)
class ScanFailure:
    code: str  # the spec's error code
    cause: str  # auth, rate_limit, network, hubspot or internal (for /stats)
    message: str


def describe(exc: BaseException) -> ScanFailure:
    if isinstance(exc, HubSpotMissingScopesError):
        scopes = ", ".join(exc.scopes) or "unknown"
        return ScanFailure(
            "HUBSPOT_AUTH_FAILED",
            "auth",
            f"HubSpot API authorization failed: the access token lacks required scopes ({scopes}). "
            "Grant them to the app and start the scan again.",
        )
    if isinstance(exc, HubSpotGrantRefused):
        return ScanFailure("HUBSPOT_AUTH_FAILED", "auth", exc.message)
    if isinstance(exc, HubSpotAuthError):
        return ScanFailure(
            "HUBSPOT_AUTH_FAILED",
            "auth",
            "HubSpot API authentication failed: Invalid access token (rejected as unknown, revoked "
            "or expired). Use a valid token and start the scan again.",
        )
    if isinstance(exc, HubSpotRateLimitError):
        if exc.policy == "DAILY":
            message = (
                "HubSpot's daily API limit for this account is spent; the scan can be started "
                "again after the daily reset."
            )
        else:
            message = f"HubSpot kept refusing requests for its rate limit ({exc.policy or 'unknown policy'})."
        return ScanFailure("RATE_LIMIT_EXCEEDED", "rate_limit", message)
    if isinstance(exc, HubSpotConnectionError):
        return ScanFailure(
            "HUBSPOT_API_ERROR",
            "network",
            f"HubSpot could not be reached after repeated attempts ({exc}). Check HubSpot's status "
            "and start the scan again.",
        )
    if isinstance(exc, HubSpotError):
        return ScanFailure(
            "HUBSPOT_API_ERROR",
            "hubspot",
            f"HubSpot API returned an error after repeated attempts: {exc}",
        )
    return ScanFailure(
        "INTERNAL_ERROR", "internal", "The scan stopped on an unexpected internal error."
    )
