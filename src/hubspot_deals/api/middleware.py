"""Per-request plumbing: the request id, the service's own rate limit and its headers, access logs,
request latency for /metrics."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubspot_deals.api.errors import envelope, failure_response
from hubspot_deals.api.quotas import Window, requests_quota, window_text
from hubspot_deals.metrics import UNROUTED, Metrics

log = structlog.get_logger("hubspot_deals.access")
#: Probes (load balancers, orchestrators, Prometheus) are answered without spending the budget.
UNMETERED_PATHS = frozenset({"/health", "/api/v1/health", "/metrics"})


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


def route_template(scope: Scope) -> str:
    """The matched route's template with its routers' prefix (``/api/v1/scan/status/{scan_id}``),
    never the raw path: a label per scan id would grow without bound.

    The route in the scope knows its path relative to the router that included it; routers'
    prefixes are literal, so the prefix is what comes before the longest tail the route matches.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if not isinstance(template, str) or regex is None:
        return UNROUTED
    path: str = scope["path"]
    for start, char in enumerate(path):
        if char == "/" and regex.match(path[start:]):
            return path[:start] + template
    return template


class Plumbing:
    """Every request's request id, rate limit, headers, access log line and latency metric.

    A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` runs each request's app in a task group of its own and streams its body
    through a queue, which cost more CPU than a results page's own work. The latency recorded runs
    from the request's arrival to its response's headers (an export streams on after them).
    """

    def __init__(self, app: ASGIApp, per_minute: int, metrics: Metrics) -> None:
        self.app, self.per_minute, self.metrics = app, per_minute, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        if len(request_id) > 128 or not request_id.isprintable():
            request_id = f"req_{uuid.uuid4().hex}"
        request.state.request_id = request_id
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            status, answered = await self._answer(request, request_id, receive, send)
            seconds = (answered or time.perf_counter()) - started
            self.metrics.observe_request(request.method, route_template(scope), status, seconds)
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )

    async def _answer(
        self, request: Request, request_id: str, receive: Receive, send: Send
    ) -> tuple[int, float | None]:
        """Answer the request (or refuse it); the status sent and when its headers went."""
        per_minute = self.per_minute
        window = await requests_quota(request, per_minute).spend(
            _client_key(request), 0 if request.url.path in UNMETERED_PATHS else 1
        )
        headers = {
            "X-RateLimit-Limit": str(per_minute),
            "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Reset": str(int(window.reset_time)),
            "X-Request-ID": request_id,
        }
        sent: list[tuple[int, float]] = []

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append((message["status"], time.perf_counter()))
                MutableHeaders(scope=message).update(headers)
            await send(message)

        try:
            await (self._refusal(request, window) or self.app)(request.scope, receive, with_headers)
        except Exception as exc:  # answered here, with our headers, and not raised on
            if sent:  # the answer had begun: nothing more can be said to this client
                raise
            response = failure_response(request, exc)
            await response(request.scope, receive, with_headers)
        return sent[0] if sent else (500, None)

    def _refusal(self, request: Request, window: Window) -> Response | None:
        """The answer to a request refused before it reaches a route: a parameter given twice
        (ambiguous: refused, not guessed), or the rate limit spent."""
        repeated = _repeated_parameters(request)
        if repeated:
            return JSONResponse(
                envelope(
                    request,
                    "VALIDATION_ERROR",
                    "Input validation failed",
                    errors=dict.fromkeys(repeated, "Given more than once"),
                ),
                status_code=400,
            )
        if not window.allowed:
            retry_after = window.retry_after
            return JSONResponse(
                envelope(
                    request,
                    "RATE_LIMIT_EXCEEDED",
                    "API rate limit exceeded",
                    {
                        "limit": self.per_minute,
                        "window": window_text(request),
                        "retry_after_seconds": retry_after,
                    },
                ),
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        return None


def install(app: FastAPI, per_minute: int, metrics: Metrics) -> None:
    app.add_middleware(Plumbing, per_minute=per_minute, metrics=metrics)
