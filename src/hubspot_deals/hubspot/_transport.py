"""One call to HubSpot: its configuration, pacing, the round trip, typed errors, bounded retries
and the record of every attempt. The endpoints are ``HubSpotClient``'s (``_client.py``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import orjson
import stamina
from pydantic import ValidationError

from hubspot_deals.hubspot._editions import LATEST, Edition, paths_for
from hubspot_deals.hubspot._errors import (
    HubSpotBadResponse,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotRequestError,
    Reply,
    error_from_response,
)
from hubspot_deals.hubspot._oauth import StaticToken, TokenSource
from hubspot_deals.hubspot._pacing import BURST, SEARCH, LocalRateLimiter, Permit, RateLimiter

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


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def query_string(params: dict[str, Any] | None) -> str:
    """``params`` as a URI's query (commas kept as they are: HubSpot's lists are comma-joined)."""
    return urlencode(params, safe=",") if params else ""


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...), looked up
    once: aiohttp's ``trust_env`` would look it up (and read ~/.netrc) in a thread every call."""
    where = urlsplit(url)
    if where.hostname is None or proxy_bypass(where.hostname):
        return None
    return getproxies().get(where.scheme)


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
        self._source = token
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
        self._config = config
        self._http: aiohttp.ClientSession | None = None  # made in the loop that first calls
        self._closed = False
        #: the tasks whose call waits for a rate-limit slot
        self._queued: set[asyncio.Future[Any] | None] = set()

    def _session(self) -> aiohttp.ClientSession:
        """aiohttp rather than httpx here: its C parser and pool cost a fourth of httpx's CPU a
        call (docs/hubspot-client.md), and a scan makes a thousand calls per 100,000 deals. A
        closed client stays closed, as httpx's does: a call still running when its scan ended
        (a sibling of the call that failed it) is not sent again on a new session."""
        if self._closed:
            raise RuntimeError("the HubSpot client is closed")
        if self._http is None:
            seconds = self._config.timeout_seconds
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
                ),
                headers={"Accept": "application/json", "User-Agent": "hubspot-deals"},
                proxy=_proxy_for(self.base_url),
            )
            # aiohttp sends a GET again, unasked, when a kept-alive connection turns out closed:
            # a request past the pacing (HubSpot may count both) and past the call's records
            self._http._retry_connection = False
        return self._http

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The call's URI: ``path`` on the base URL, with ``params`` as its query."""
        query = query_string(params)
        return f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.close()
            self._http = None

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
        url = self.url(path, params)
        if len(url) - len(self.base_url) > MAX_URI_CHARS:
            raise HubSpotRequestError(
                f"request URI of {len(url) - len(self.base_url)} characters is longer than "
                "HubSpot accepts; ask for fewer properties per GET",
                endpoint=endpoint,
            )
        content = orjson.dumps(body) if body is not None else None
        task = asyncio.current_task()
        self._queued.add(task)
        try:
            permit = await self.limiter.acquire(bucket) if bucket else None
        finally:
            self._queued.discard(task)
        return await self._attempt(method, url, endpoint, parse, bucket, content, attempt, permit)

    def waiting_for_slot(self, task: asyncio.Future[Any]) -> bool:
        """Whether ``task`` is waiting for a rate-limit slot: nothing of its current call has been
        sent, so cancelling it sends HubSpot nothing more and leaves no answer unread. (With the
        Redis limiter, a cancel that meets the slot being taken leaves it counted until its hold
        ends: a slot lost for a window, never a request over the limit.)"""
        return task in self._queued

    async def _attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        parse: Callable[[bytes], T],
        bucket: str | None,
        content: bytes | None,
        attempt: int,
        permit: Permit | None,
    ) -> T:
        started = time.monotonic()
        self.stats[endpoint] += 1
        try:
            token = await self._source.token()  # this call's own: others run meanwhile
            reply = await self._send(method, url, content, token)
            if reply.status == 401:  # once more with the token the source gives for a stale one
                fresh = await self._source.token(stale=token)
                if fresh != token:
                    token = fresh
                    reply = await self._send(method, url, content, fresh)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._observe(
                CallRecord(endpoint, None, _ms_since(started), None, time.time(), attempt)
            )
            what = "timed out" if isinstance(exc, TimeoutError) else "connection failed"
            where = urlsplit(self.base_url)
            port = f":{where.port}" if where.port else ""  # no user:password@ that a URL may hold
            raise HubSpotConnectionError(  # the host named: a wrong HUBSPOT_BASE_URL shows at once
                f"{what} to {where.scheme}://{where.hostname}{port} ({type(exc).__name__})",
                endpoint=endpoint,
            ) from exc
        finally:
            if permit is not None:
                await self.limiter.release(permit)
        return await self._read(reply, endpoint, parse, bucket, started, attempt, token)

    async def _send(self, method: str, url: str, content: bytes | None, token: str) -> Reply:
        headers = {"Authorization": f"Bearer {token}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        async with self._session().request(method, url, data=content, headers=headers) as response:
            return Reply(response.status, response.reason, response.headers, await response.read())

    def _observe(self, record: CallRecord) -> None:
        if record.status_code is not None:
            self.last_call = record
        if self.on_call is not None:
            self.on_call(record)

    async def _read(
        self,
        response: Reply,
        endpoint: str,
        parse: Callable[[bytes], T],
        bucket: str | None,
        started: float,
        attempt: int,
        token: str,
    ) -> T:
        """``token``: the one the call sent, redacted from anything HubSpot echoes back."""
        headers = response.headers
        limit = _int_header(headers, "x-hubspot-ratelimit-max")
        interval = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds")
        remaining = _int_header(headers, "x-hubspot-ratelimit-remaining")
        if bucket == BURST and limit and interval:
            await self.limiter.learn(BURST, limit, interval / 1000, remaining)
        elapsed_ms = _ms_since(started)
        status = response.status
        if status >= 400 or status < 200:
            error = error_from_response(response, endpoint, token)
            self.stats[f"http_{status}"] += 1
            policy = error.policy if isinstance(error, HubSpotRateLimitError) else None
            self._observe(
                CallRecord(
                    endpoint,
                    status,
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
        self._observe(CallRecord(endpoint, status, elapsed_ms, remaining, time.time(), attempt))
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
            status_code=status,
        )
