"""One call to HubSpot: its configuration, pacing, the round trip, typed errors, bounded retries
and the record of every attempt. The endpoints are ``HubSpotClient``'s (``_client.py``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx
import stamina
from pydantic import ValidationError

from hubspot_deals.hubspot._editions import LATEST, Edition, paths_for
from hubspot_deals.hubspot._errors import (
    HubSpotBadResponse,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotRequestError,
    error_from_response,
)
from hubspot_deals.hubspot._oauth import StaticToken, TokenSource
from hubspot_deals.hubspot._pacing import BURST, SEARCH, LocalRateLimiter, RateLimiter

T = TypeVar("T")

#: HubSpot answers 414 past about 16,000 characters; stay clear of it.
MAX_URI_CHARS = 15_000


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter (stamina), honouring Retry-After."""

    attempts: int = 8
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    timeout: float = 600.0


@dataclass(frozen=True)
class ClientConfig:
    """How a client reaches HubSpot: the caller builds it (the service from its settings), so the
    client reads no settings of its own. The limits are the defaults until HubSpot's rate-limit
    headers state the real ones."""

    base_url: str = "https://api.hubapi.com"
    #: which of HubSpot's API editions every call uses (``_editions.py``)
    api_version: Edition = LATEST
    timeout_seconds: float = 30.0
    max_connections: int = 100
    burst_limit: int = 100
    search_rate: int = 5
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class CallRecord:
    """One attempt at a call that reached the wire: what health reporting and metrics observe.

    ``status_code`` is None when no answer came (a timeout, a refused or dropped connection);
    ``attempt`` counts from 1, so a record with ``attempt > 1`` is a retry.
    """

    endpoint: str
    status_code: int | None
    elapsed_ms: float
    rate_limit_remaining: int | None
    at: float
    attempt: int = 1
    #: a 429's policy as HubSpot named it (TEN_SECONDLY_ROLLING, SECONDLY, DAILY), else None
    rate_limit_policy: str | None = None


class _SourceAuth(httpx.Auth):
    """``Authorization: Bearer`` with the source's token; after a 401, once, with the token the
    source gives when told that one is stale (an OAuth source renews it; a fixed one cannot)."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        #: the token last sent: redacted from anything HubSpot echoes back
        self.current = ""

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.current = await self._source.token()
        request.headers["Authorization"] = f"Bearer {self.current}"
        response = yield request
        if response.status_code == 401:
            fresh = await self._source.token(stale=self.current)
            if fresh != self.current:
                self.current = fresh
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request

    def __repr__(self) -> str:
        return "_SourceAuth(token='**********')"


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


class Transport:
    """One HubSpot call: pacing, the round trip, typed errors, bounded retries, and the record of
    every attempt (``on_call``). ``HubSpotClient`` adds the endpoints."""

    def __init__(
        self,
        token: str | TokenSource,
        config: ClientConfig = ClientConfig(),
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        """``limiter``: the pacing to share (one per token across a process's scans, or Redis's
        across processes); by default the client paces itself alone."""
        if isinstance(token, str):
            if not token.strip() or any(c.isspace() for c in token):
                raise ValueError("a HubSpot token is a non-empty string without whitespace")
            token = StaticToken(token)
        #: names the credential for pacing and logs (never a secret)
        self.credential_key = token.key
        self._auth = _SourceAuth(token)
        self.base_url = config.base_url.rstrip("/")
        self.paths = paths_for(config.api_version)
        self.limiter: RateLimiter = limiter or LocalRateLimiter(
            burst_limit=config.burst_limit, search_rate=config.search_rate
        )
        self.retry = config.retry
        self.stats: Counter[str] = Counter()
        #: the latest answered attempt
        self.last_call: CallRecord | None = None
        self.on_call = on_call
        pool = config.max_connections
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=self._auth,
            transport=transport,
            timeout=config.timeout_seconds,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers={"Accept": "application/json", "User-Agent": "hubspot-deals"},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- one call -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[bytes], T],
        *,
        bucket: str | None = BURST,
        params: dict[str, Any] | None = None,
        body: Any = None,
        endpoint: str | None = None,
    ) -> T:
        """``endpoint`` names the call in errors and records; give it when ``path`` holds an id,
        so that the name stays one per endpoint (metrics label by it)."""
        endpoint = endpoint or f"{method} {path}"
        async for attempt in stamina.retry_context(
            on=self._backoff,
            attempts=self.retry.attempts,
            timeout=self.retry.timeout,
            wait_initial=self.retry.wait_initial,
            wait_max=self.retry.wait_max,
            wait_jitter=self.retry.wait_jitter,
        ):
            with attempt:
                if attempt.num > 1:
                    self.stats["retries"] += 1
                return await self._once(
                    method, path, endpoint, parse, bucket, params, body, attempt.num
                )
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _backoff(self, exc: Exception) -> bool | float:
        """stamina's hook: retry transient failures, waiting as long as HubSpot asked."""
        if not isinstance(exc, HubSpotError) or not exc.retryable:
            return False
        if exc.retry_after is not None:
            return exc.retry_after
        if isinstance(exc, HubSpotRateLimitError) and exc.policy == "SECONDLY":
            return 1.0  # search's own window is a second long
        return True

    async def _once(
        self,
        method: str,
        path: str,
        endpoint: str,
        parse: Callable[[bytes], T],
        bucket: str | None,
        params: dict[str, Any] | None,
        body: Any,
        attempt: int,
    ) -> T:
        request = self._http.build_request(method, path, params=params, json=body)
        if len(request.url.raw_path) > MAX_URI_CHARS:
            raise HubSpotRequestError(
                f"request URI of {len(request.url.raw_path)} characters is longer than HubSpot "
                "accepts; ask for fewer properties per GET",
                endpoint=endpoint,
            )
        permit = await self.limiter.acquire(bucket) if bucket else None
        started = time.monotonic()
        self.stats[endpoint] += 1
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            self._observe(
                CallRecord(endpoint, None, _ms_since(started), None, time.time(), attempt)
            )
            what = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
            raise HubSpotConnectionError(  # the host named: a wrong HUBSPOT_BASE_URL shows at once
                f"{what} to {request.url.scheme}://{request.url.netloc.decode()} "
                f"({type(exc).__name__})",
                endpoint=endpoint,
            ) from exc
        finally:
            if permit is not None:
                await self.limiter.release(permit)
        return await self._read(response, endpoint, parse, bucket, started, attempt)

    def _observe(self, record: CallRecord) -> None:
        if record.status_code is not None:
            self.last_call = record
        if self.on_call is not None:
            self.on_call(record)

    async def _read(
        self,
        response: httpx.Response,
        endpoint: str,
        parse: Callable[[bytes], T],
        bucket: str | None,
        started: float,
        attempt: int,
    ) -> T:
        headers = response.headers
        limit = _int_header(headers, "x-hubspot-ratelimit-max")
        interval = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds")
        remaining = _int_header(headers, "x-hubspot-ratelimit-remaining")
        if bucket == BURST and limit and interval:
            await self.limiter.learn(BURST, limit, interval / 1000, remaining)
        elapsed_ms = _ms_since(started)
        if response.status_code >= 400 or response.status_code < 200:
            error = error_from_response(response, endpoint, self._auth.current)
            self.stats[f"http_{response.status_code}"] += 1
            policy = error.policy if isinstance(error, HubSpotRateLimitError) else None
            self._observe(
                CallRecord(
                    endpoint,
                    response.status_code,
                    elapsed_ms,
                    remaining,
                    time.time(),
                    attempt,
                    policy,
                )
            )
            if isinstance(error, HubSpotRateLimitError) and bucket and error.policy != "DAILY":
                await self.limiter.pause(
                    SEARCH if error.policy == "SECONDLY" else bucket,
                    error.retry_after if error.retry_after is not None else 1.0,
                )
            raise error
        self._observe(
            CallRecord(endpoint, response.status_code, elapsed_ms, remaining, time.time(), attempt)
        )
        try:
            return parse(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            problem = f"{exc.error_count()} problem(s), first at {where}: {first['type']}"
        except ValueError as exc:  # msgspec's decoders (json and shape alike)
            problem = str(exc)[:200]
        raise HubSpotBadResponse(
            f"reply is not the documented JSON ({problem})",
            endpoint=endpoint,
            status_code=response.status_code,
        )
