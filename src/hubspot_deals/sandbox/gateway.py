"""What stands in front of every sandbox API call, as HubSpot's edge does: the URI length check,
authentication and scopes, rate limits and their headers, latency, injected faults, and the counters
that tests read back from ``/_sandbox/stats``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hubspot_deals.sandbox import responses
from hubspot_deals.sandbox.clock import now_ms
from hubspot_deals.sandbox.limits import DailyCounter, RollingWindow
from hubspot_deals.sandbox.oauth import Expired, OAuthServer

#: Which window a route counts against: the burst window (10 s), search's own per-second
#: window, or neither (the v4 association batch reads the official spec marks exempt).
Policy = Literal["burst", "search", "exempt"]

#: Longest request target (path and query) HubSpot accepts before answering 414.
MAX_URI_CHARS = 16_000
#: HubSpot's burst window; a sandbox may announce a shorter one (tests: time as a parameter).
BURST_WINDOW_MS = 10_000
FAULT_KINDS = ("500", "502", "503", "504", "429", "drop", "truncate", "stall")
#: Drawn unless kinds are named: ``stall`` costs real time, so it is asked for explicitly.
DEFAULT_FAULT_KINDS = tuple(k for k in FAULT_KINDS if k != "stall")
_QUERY_TOKEN_PARAMS = ("hapikey", "access_token", "token", "api_key")

#: (scopes this request needs, each a tuple of alternatives) for one request.
ScopeRule = Callable[[Request], list[tuple[str, ...]]]
Handler = Callable[[Request], Awaitable[Response]]


class DroppedConnection(Exception):
    """Raised mid-response so the server closes the connection, as a dropped one looks."""


class _DroppedResponse(Response):
    """Sends headers and a piece of the body, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"results":[{"id":', "more_body": True})
        raise DroppedConnection


class _HideDroppedConnections(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())


@dataclass
class Stats:
    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    rate_limited: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def json(self) -> dict[str, Any]:
        return {
            "requests": {route: dict(codes) for route, codes in sorted(self.requests.items())},
            "total": sum(sum(c.values()) for c in self.requests.values()),
            "rate_limited": dict(self.rate_limited),
            "rate_limited_total": sum(self.rate_limited.values()),
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }


@dataclass
class GatewaySettings:
    portal_id: int
    tokens: dict[str, frozenset[str]]
    rate_limit: int
    search_rate: int
    burst_window_ms: int
    daily_limit: int
    latency_ms: float
    fault_rate: float
    fault_kinds: tuple[str, ...]
    stall_seconds: float
    retry_after_s: int
    seed: int


class Gateway:
    def __init__(self, settings: GatewaySettings, oauth: OAuthServer | None = None) -> None:
        self.settings = settings
        self.oauth = oauth  # OAuth access tokens it issued count as tokens too
        self.stats = Stats()
        self.burst = RollingWindow(settings.rate_limit, settings.burst_window_ms / 1000)
        self.search = RollingWindow(settings.search_rate, 1.0)
        self.daily = DailyCounter(settings.daily_limit)
        self._faults = random.Random(settings.seed ^ 0xFA17)

    def set_faults(self, rate: float, kinds: tuple[str, ...] | None = None) -> None:
        self.settings.fault_rate = rate
        if kinds is not None:
            self.settings.fault_kinds = kinds

    def guard(self, name: str, policy: Policy, scopes: ScopeRule, handler: Handler) -> Handler:
        """Wrap an endpoint with everything HubSpot checks before and around it."""

        async def guarded(request: Request) -> Response:
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            status = "dropped"
            try:
                response = await self._answer(request, policy, scopes, handler)
                status = str(response.status_code)
                response.headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())
                return response
            finally:
                self.stats.in_flight -= 1
                self.stats.requests[name][status] += 1

        return guarded

    async def _answer(
        self, request: Request, policy: Policy, scopes: ScopeRule, handler: Handler
    ) -> Response:
        early = self._admit(request, policy, scopes)
        if self.settings.latency_ms:
            await asyncio.sleep(self.settings.latency_ms / 1000)
        if early is not None:
            return early
        fault = self._fault()
        if fault in ("500", "502", "503", "504"):
            return responses.server_error(int(fault))
        if fault == "429":
            return responses.rate_limited(
                "TEN_SECONDLY_ROLLING",
                self.settings.portal_id,
                {"Retry-After": str(self.settings.retry_after_s)},
            )
        if fault == "drop":
            return _DroppedResponse()
        if fault == "stall":  # a latency spike: the answer comes, after the client gave up on it
            await asyncio.sleep(self.settings.stall_seconds)
        response = await handler(request)
        self._add_headers(response, policy, request)
        if fault == "truncate":
            cut = max(len(response.body) // 2, 1)
            response.body = bytes(response.body)[:cut]
            response.headers["content-length"] = str(cut)
        return response

    def _admit(self, request: Request, policy: Policy, scopes: ScopeRule) -> Response | None:
        """Everything decided on arrival; None lets the request through, counted."""
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        if len(target) > MAX_URI_CHARS:
            return responses.uri_too_long()
        if any(p in request.query_params for p in _QUERY_TOKEN_PARAMS):
            return responses.invalid_authentication()  # credentials belong in the header
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        granted = self.settings.tokens.get(bearer)
        if granted is None and bearer and self.oauth is not None:
            issued = self.oauth.scopes_of(bearer)
            if isinstance(issued, Expired):
                return responses.expired_authentication(issued.at_ms, now_ms())
            granted = issued
        if granted is None:
            return responses.invalid_authentication()
        missing = [s for need in scopes(request) if not granted.intersection(need) for s in need]
        if missing:
            return responses.missing_scopes(missing)
        if not self.daily.remaining():
            self.stats.rate_limited["DAILY"] += 1
            return responses.rate_limited("DAILY", self.settings.portal_id, self._daily_headers())
        if policy == "burst" and not self.burst.take(token):
            self.stats.rate_limited["TEN_SECONDLY_ROLLING"] += 1
            return responses.rate_limited(
                "TEN_SECONDLY_ROLLING", self.settings.portal_id, self._burst_headers(token)
            )
        if policy == "search" and not self.search.take("account"):
            self.stats.rate_limited["SECONDLY"] += 1
            return responses.rate_limited("SECONDLY", self.settings.portal_id)
        self.daily.take()
        return None

    def _fault(self) -> str | None:
        if self.settings.fault_rate <= 0 or self._faults.random() >= self.settings.fault_rate:
            return None
        kind = self._faults.choice(self.settings.fault_kinds)
        self.stats.faults[kind] += 1
        return kind

    def _daily_headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.settings.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining()),
        }

    def _burst_headers(self, token: str) -> dict[str, str]:
        limit = self.settings.rate_limit
        remaining = self.burst.remaining(token)
        secondly = max(limit * 1000 // self.settings.burst_window_ms, 1)
        return {
            **self._daily_headers(),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.settings.burst_window_ms),
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            # deprecated but still sent: the burst limit per second (a tenth of it, as observed)
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(min(secondly, remaining), 0)),
        }

    def _add_headers(self, response: Response, policy: Policy, request: Request) -> None:
        if policy == "burst":
            token = request.headers.get("authorization", "").partition(" ")[2].strip()
            response.headers.update(self._burst_headers(token))
        elif policy == "exempt":
            response.headers.update(self._daily_headers())
        # search replies carry no rate-limit headers at all
