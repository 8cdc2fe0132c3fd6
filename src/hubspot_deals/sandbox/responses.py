"""HubSpot's error bodies, word for word where the fact sheet quotes them."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from hubspot_deals.sandbox.clock import iso_ms

SCOPES_URL = "https://developers.hubspot.com/scopes"


class JSONResponse(_StarletteJSONResponse):
    """Compact UTF-8 JSON, as Starlette writes it, rendered by orjson: big pages cost less CPU."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def validation_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        error_body(
            "VALIDATION_ERROR",
            message,
            errors=[{"message": message, "code": "INVALID_INPUT", "context": {}}],
        ),
        status_code=status,
    )


def invalid_authentication() -> JSONResponse:
    message = (
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
        "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    )
    return JSONResponse(
        error_body("INVALID_AUTHENTICATION", message),
        status_code=401,
        headers={"x-hubspot-auth-failure": "401 Unauthorized"},
    )


def expired_authentication(expired_at_ms: int, now_ms: int) -> JSONResponse:
    """An OAuth access token past its lifetime (fact sheet section 9, observed)."""
    hours = max(now_ms - expired_at_ms, 0) // 3_600_000
    return JSONResponse(
        error_body(
            "EXPIRED_AUTHENTICATION",
            f"The OAuth token used to make this call expired {hours} hour(s) ago.",
            context={"expire time": [iso_ms(expired_at_ms)]},
        ),
        status_code=401,
        headers={"x-hubspot-auth-failure": "401 Unauthorized"},
    )


def missing_scopes(scopes: list[str]) -> JSONResponse:
    message = (
        "This app hasn't been granted all required scopes to make this call. "
        f"Read more about required scopes here: {SCOPES_URL}."
    )
    return JSONResponse(
        error_body(
            "MISSING_SCOPES",
            message,
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": scopes},
                }
            ],
            links={"scopes": SCOPES_URL},
        ),
        status_code=403,
    )


def not_found(object_id: str) -> JSONResponse:
    return JSONResponse(
        error_body(
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
            context={"id": [object_id]},
        ),
        status_code=404,
    )


def rate_limited(
    policy: str, portal_id: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    words = {
        "TEN_SECONDLY_ROLLING": "ten_secondly_rolling",
        "SECONDLY": "secondly",
        "DAILY": "daily",
    }
    group = {
        "TEN_SECONDLY_ROLLING": f"publicapi:private-app-api-calls-ten-secondly:{portal_id}",
        "SECONDLY": f"publicapi:search-secondly:{portal_id}",
        "DAILY": f"publicapi:private-app-api-calls-daily:{portal_id}",
    }[policy]
    body = {
        "status": "error",
        "message": f"You have reached your {words[policy]} limit.",
        "errorType": "RATE_LIMIT",
        "category": "RATE_LIMITS",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "groupName": group,
    }
    return JSONResponse(body, status_code=429, headers=headers)


def uri_too_long() -> Response:
    return Response(
        "<html><body><h1>414 Request-URI Too Large</h1></body></html>",
        status_code=414,
        media_type="text/html",
    )


def server_error(status: int) -> Response:
    """5xx as HubSpot's edge sends them: JSON from the API, HTML from the load balancer."""
    if status in (502, 504):
        text = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
        return Response(
            f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>",
            status_code=status,
            media_type="text/html",
        )
    message = "internal error" if status == 500 else "Service temporarily unavailable"
    return JSONResponse(
        error_body("INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE", message),
        status_code=status,
    )
