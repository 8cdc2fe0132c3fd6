"""The HubSpot client's one error family, built from HubSpot's replies.

    HubSpotError
    ├── HubSpotAuthError           401: unknown, revoked or expired token (never retried)
    │   └── HubSpotGrantRefused    the token endpoint refused an OAuth grant: reconnect the portal
    ├── HubSpotMissingScopesError  403 MISSING_SCOPES, with the scopes HubSpot named (never retried)
    ├── HubSpotRateLimitError      429, with its policy; DAILY is never retried before the reset
    ├── HubSpotServerError         5xx, retried
    ├── HubSpotConnectionError     timeouts, refused and dropped connections, retried
    ├── HubSpotBadResponse         a body that is not the JSON HubSpot documents, retried
    └── HubSpotRequestError        any other 4xx (400 validation, 404, 414): our request is wrong
        └── HubSpotSearchCapError  a search asked to page past HubSpot's 10,000-result cap

Messages carry the endpoint, status and HubSpot's own message, never the token: the client redacts
it from anything HubSpot echoes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class HubSpotError(Exception):
    """Base of every error the HubSpot client raises."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status_code: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.status_code = status_code
        self.category = category
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        where = f"{self.endpoint}: " if self.endpoint else ""
        status = f"HTTP {self.status_code} " if self.status_code else ""
        category = f"{self.category} " if self.category else ""
        return f"{where}{status}{category}{self.message}".strip()


class HubSpotAuthError(HubSpotError):
    """HubSpot did not accept the token."""


class HubSpotGrantRefused(HubSpotAuthError):
    """The token endpoint refused an OAuth grant (revoked, or the app's credentials are wrong):
    no retry helps; the portal must be connected again."""


class HubSpotMissingScopesError(HubSpotError):
    """The token lacks scopes this call needs; ``scopes`` names them as HubSpot did."""

    def __init__(self, message: str, *, scopes: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scopes = scopes

    def __str__(self) -> str:
        named = f" (missing: {', '.join(self.scopes)})" if self.scopes else ""
        return super().__str__() + named


class HubSpotRateLimitError(HubSpotError):
    """429. ``policy`` is TEN_SECONDLY_ROLLING, SECONDLY or DAILY (None when unstated)."""

    def __init__(self, message: str, *, policy: str | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.policy = policy
        self.retryable = policy != "DAILY"


class HubSpotServerError(HubSpotError):
    """HubSpot failed (5xx) or asked us to come back (423 locked, 477 migrating); transient."""

    retryable = True


class HubSpotConnectionError(HubSpotError):
    """No complete reply: a timeout, a refused or a dropped connection."""

    retryable = True


class HubSpotBadResponse(HubSpotError):
    """The reply was not the JSON HubSpot documents (truncated, HTML, wrong shape)."""

    retryable = True


class HubSpotRequestError(HubSpotError):
    """HubSpot rejected the request itself (400, 404, 414, ...); retrying will not help."""


class HubSpotSearchCapError(HubSpotRequestError):
    """A search matched more than HubSpot lets one query page through (10,000)."""

    def __init__(self, message: str, *, total: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.total = total


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as read off the wire, whichever HTTP library read it."""

    status: int
    reason: str | None
    headers: Mapping[str, str]  # case-insensitive lookups (both libraries' header types are)
    content: bytes


def _body(response: Reply) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _scopes(body: dict[str, Any]) -> list[str]:
    """Scope names from any of the keys HubSpot has used over the years."""
    found: list[str] = []
    contexts = [body.get("context") or {}] + [
        (e.get("context") or {}) for e in body.get("errors") or [] if isinstance(e, dict)
    ]
    for context in contexts:
        for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
            for scope in context.get(key) or []:
                if isinstance(scope, str) and scope not in found:
                    found.append(scope)
    return found


def _retry_after(response: Reply) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:
        return None


def error_from_response(response: Reply, endpoint: str, secret: str) -> HubSpotError:
    """The typed error for a non-2xx reply, with anything echoing the token redacted."""
    body = _body(response)
    status = response.status
    raw_message = body.get("message") or response.reason or "no message"
    message = str(raw_message).replace(secret, "[redacted]") if secret else str(raw_message)
    common: dict[str, Any] = {
        "endpoint": endpoint,
        "status_code": status,
        "category": body.get("category") or body.get("errorType"),
        "correlation_id": body.get("correlationId")
        or response.headers.get("x-hubspot-correlation-id"),
        "retry_after": _retry_after(response),
    }
    if status == 401:
        return HubSpotAuthError(message, **common)
    if status == 403 and (body.get("category") == "MISSING_SCOPES" or _scopes(body)):
        return HubSpotMissingScopesError(message, scopes=_scopes(body), **common)
    if status == 403:
        return HubSpotAuthError(message, **common)
    if status == 429:
        policy = body.get("policyName")
        return HubSpotRateLimitError(
            message, policy=policy if isinstance(policy, str) else None, **common
        )
    if status == 423 and common["retry_after"] is None:
        common["retry_after"] = 2.0  # HubSpot: "wait at least 2 seconds" while a record is locked
    if status >= 500 or status in (423, 477):
        return HubSpotServerError(message, **common)
    return HubSpotRequestError(message, **common)
