"""The error envelope, and the one place every failure becomes it (never a bare 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs.schedules import ScheduleExists, ScheduleNotFound
from hubspot_deals.jobs.service import (
    ConnectionInUse,
    ConnectionNotFound,
    HubSpotUnreachable,
    InvalidCancellation,
    ScanError,
    ScanInProgress,
    ScanNotFound,
    ScanNotReady,
)
from hubspot_deals.store.outages import is_outage

log = structlog.get_logger(__name__)

STATUS = {
    ConnectionNotFound: 404,
    ConnectionInUse: 409,
    HubSpotUnreachable: 502,
    ScanInProgress: 409,
    ScanNotFound: 404,
    ScanNotReady: 404,
    InvalidCancellation: 400,
    ScheduleNotFound: 404,
    ScheduleExists: 409,
}


class ApiError(Exception):
    """An expected failure with its HTTP status and the spec's error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.errors, self.headers = details or {}, errors, headers


class ValidationFailed(ApiError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(400, "VALIDATION_ERROR", "Input validation failed", errors=errors)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    request: Request,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "error_code": code,
        "message": message,
        "details": details or {},
    }
    if errors is not None:
        body["errors"] = errors
    body["timestamp"] = timestamp()
    body["request_id"] = getattr(request.state, "request_id", None)
    return body


RETRY_AFTER_UNAVAILABLE = 5


def failure_response(request: Request, exc: Exception) -> JSONResponse:
    """A request that raised: 503 when the database or Redis is out of reach, else 500. Messages
    stay generic (the log has the type and trace, never the request's secrets)."""
    if is_outage(exc):
        log.warning("request.unavailable", error_type=type(exc).__name__)
        return JSONResponse(
            envelope(
                request,
                "SERVICE_UNAVAILABLE",
                "The service's database or Redis does not answer; retry later",
                {"retry_after_seconds": RETRY_AFTER_UNAVAILABLE},
            ),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    log.exception("request.crashed", error_type=type(exc).__name__)
    return JSONResponse(
        envelope(request, "INTERNAL_ERROR", "Unexpected server error"), status_code=500
    )


#: The methods a route of this API may have.
_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str:
    """Every method some route at this path takes: Starlette names only the first route's, and
    a path may have several (``GET`` and ``POST /connections``)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    )


def install(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(
            envelope(request, exc.code, exc.message, exc.details, exc.errors),
            status_code=exc.status,
            headers=exc.headers,
        )

    async def scan_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ScanError)
        return JSONResponse(
            envelope(request, exc.code, exc.message, exc.details),
            status_code=STATUS.get(type(exc), 400),
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc.errors(), strip_first=True)
        return JSONResponse(
            envelope(request, "VALIDATION_ERROR", "Input validation failed", errors=errors),
            status_code=400,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request) or headers.get("Allow", "")
        return JSONResponse(
            envelope(request, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=headers or None,
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ScanError, scan_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, failure_response)
