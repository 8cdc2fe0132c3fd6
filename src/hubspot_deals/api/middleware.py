"""Per-request plumbing: the request id, the service's own rate limit and its headers, access logs."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from hubspot_deals.api.errors import envelope, failure_response
from hubspot_deals.api.quotas import requests_quota

log = structlog.get_logger("hubspot_deals.access")
HEALTH_PATHS = frozenset({"/health", "/api/v1/health"})


def _client_key(request: Request) -> str:
    """An API key when one is sent (hashed: keys never sit in memory as keys), else the client IP."""
    api_key = request.headers.get("x-api-key")
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]
    return "ip:" + (request.client.host if request.client else "unknown")


def _repeated_parameters(request: Request) -> list[str]:
    """``?page=1&page=2`` is ambiguous (which one did the caller mean?): refused, not guessed."""
    counts = Counter(name for name, _ in request.query_params.multi_items())
    return sorted(name for name, count in counts.items() if count > 1)


def install(app: FastAPI, per_minute: int) -> None:

    @app.middleware("http")
    async def plumbing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        if len(request_id) > 128 or not request_id.isprintable():
            request_id = f"req_{uuid.uuid4().hex}"
        request.state.request_id = request_id
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            # health probes (load balancers, orchestrators) are answered without spending the budget
            window = await requests_quota(request, per_minute).spend(
                _client_key(request), 0 if request.url.path in HEALTH_PATHS else 1
            )
            headers = {
                "X-RateLimit-Limit": str(per_minute),
                "X-RateLimit-Remaining": str(window.remaining),
                "X-RateLimit-Reset": str(int(window.reset_time)),
                "X-Request-ID": request_id,
            }
            repeated = _repeated_parameters(request)
            if repeated:
                response: Response = JSONResponse(
                    envelope(
                        request,
                        "VALIDATION_ERROR",
                        "Input validation failed",
                        errors=dict.fromkeys(repeated, "Given more than once"),
                    ),
                    status_code=400,
                )
            elif not window.allowed:
                retry_after = window.retry_after
                response = JSONResponse(
                    envelope(
                        request,
                        "RATE_LIMIT_EXCEEDED",
                        "API rate limit exceeded",
                        {
                            "limit": per_minute,
                            "window": "1 minute",
                            "retry_after_seconds": retry_after,
                        },
                    ),
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
            else:
                try:
                    response = await call_next(request)
                except Exception as exc:  # answered here, with our headers, and not raised on
                    response = failure_response(request, exc)
            response.headers.update(headers)
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return response
