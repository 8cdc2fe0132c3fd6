"""The async HubSpot client: one call = pacing, an HTTP round trip, typed errors, bounded retries."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx
import orjson
import stamina
from pydantic import SecretStr, ValidationError

from hubspot_deals.hubspot._errors import (
    HubSpotBadResponse,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotRequestError,
    HubSpotSearchCapError,
    error_from_response,
)
from hubspot_deals.hubspot._models import (
    ASSOCIATION_TYPES,
    AccountDetails,
    AssociatedObject,
    AssociationResult,
    BatchDeals,
    Deal,
    DealPage,
    Owner,
    OwnerPage,
    Pipeline,
    PipelineList,
    PropertyDefinition,
    PropertyList,
    SearchPage,
    parse_associations,
)
from hubspot_deals.hubspot._pacing import BURST, SEARCH, LocalRateLimiter, RateLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")

LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
BATCH_READ_MAX = 100
#: Deals a page (list) or a batch read holds when property history is asked for.
HISTORY_PAGE_MAX = 50
ASSOCIATION_BATCH_MAX = 1_000
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


class _BearerAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token=SecretStr('**********'))"


def _association_reply(content: bytes) -> list[AssociationResult]:
    """v4 batch replies are the bulk of a scan's bytes: orjson parses them several times faster."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    return parse_associations(data)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


class HubSpotClient:
    """Async client for the HubSpot endpoints a deal extraction needs.

    Share one instance between tasks: they share its connection pool and its pacing.

    ``on_call`` is called with a ``CallRecord`` after every attempt that was sent, answered or
    not, retries included: the one place a caller learns about traffic (metrics, health). It runs
    inline, so it must be quick and must not raise.
    """

    def __init__(
        self,
        token: str,
        config: ClientConfig = ClientConfig(),
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        """``limiter``: the pacing to share (one per token across a process's scans, or Redis's
        across processes); by default the client paces itself alone."""
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise ValueError("a HubSpot token is a non-empty string without whitespace")
        self._token = SecretStr(token)
        self.base_url = config.base_url.rstrip("/")
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
            auth=_BearerAuth(self._token),
            transport=transport,
            timeout=config.timeout_seconds,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers={"Accept": "application/json", "User-Agent": "hubspot-deals"},
        )

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.base_url!r})"

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
            raise HubSpotConnectionError(
                f"{what} ({type(exc).__name__})", endpoint=endpoint
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
            error = error_from_response(response, endpoint, self._token.get_secret_value())
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
        except ValueError as exc:  # a parser of our own (json, parse_associations)
            problem = str(exc)[:200]
        raise HubSpotBadResponse(
            f"reply is not the documented JSON ({problem})",
            endpoint=endpoint,
            status_code=response.status_code,
        )

    # -- deals ------------------------------------------------------------------------------------

    async def iter_deal_pages(
        self,
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
        limit: int = LIST_PAGE_MAX,
        after: str | None = None,
    ) -> AsyncIterator[DealPage]:
        """The list endpoint's cursor chain, page by page, from ``after`` (the next record's id).

        HubSpot serves at most 50 deals a page with property history. A property list too long
        for a URI (HubSpot answers 414) is moved to request bodies: each page is listed by id and
        its deals are read with ``batch/read``, which takes the properties in its body.
        """
        top = HISTORY_PAGE_MAX if properties_with_history else LIST_PAGE_MAX
        params: dict[str, Any] = {"limit": min(limit, top), "archived": str(archived).lower()}
        if associations:
            params["associations"] = ",".join(associations)
        wanted = {"properties": properties, "propertiesWithHistory": properties_with_history}
        named = params | {k: ",".join(v) for k, v in wanted.items() if v}
        in_body = (
            self._uri_chars("/crm/v3/objects/deals", named | {"after": "9" * 20}) > MAX_URI_CHARS
        )
        if in_body:
            if associations:
                raise ValueError(
                    "inline associations cannot be combined with a property list this long"
                )
            named = params | {"properties": "hs_object_id"}
        while True:
            page = await self._call(
                "GET",
                "/crm/v3/objects/deals",
                DealPage.model_validate_json,
                params=named | ({"after": after} if after else {}),
            )
            if in_body:
                page = await self._with_properties(
                    page, properties, properties_with_history, archived
                )
            yield page
            after = page.next_after
            if after is None:
                return

    def _uri_chars(self, path: str, params: dict[str, Any]) -> int:
        return len(self._http.build_request("GET", path, params=params).url.raw_path)

    async def _with_properties(
        self,
        page: DealPage,
        properties: Sequence[str],
        properties_with_history: Sequence[str],
        archived: bool,
    ) -> DealPage:
        """The page's deals, read again by id with every property (deals deleted meanwhile drop)."""
        found, _ = await self.batch_read_deals(
            [d.id for d in page.results],
            properties=properties,
            properties_with_history=properties_with_history,
            archived=archived,
        )
        by_id = {d.id: d for d in found}
        deals = [by_id[d.id] for d in page.results if d.id in by_id]
        return page.model_copy(update={"results": deals})

    async def iter_deals(self, **kwargs: Any) -> AsyncIterator[Deal]:
        async for page in self.iter_deal_pages(**kwargs):
            for deal in page.results:
                yield deal

    async def get_deal(
        self,
        deal_id: str,
        *,
        properties: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
    ) -> Deal:
        params: dict[str, Any] = {"archived": str(archived).lower()}
        if properties:
            params["properties"] = ",".join(properties)
        if associations:
            params["associations"] = ",".join(associations)
        return await self._call(
            "GET",
            f"/crm/v3/objects/deals/{deal_id}",
            Deal.model_validate_json,
            params=params,
            endpoint="GET /crm/v3/objects/deals/{deal_id}",
        )

    async def batch_read_deals(
        self,
        ids: Sequence[str],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        archived: bool = False,
    ) -> tuple[list[Deal], list[str]]:
        """(deals found, ids HubSpot reported missing), in batches of 100 (50 with history)."""
        found: list[Deal] = []
        missing: list[str] = []
        size = HISTORY_PAGE_MAX if properties_with_history else BATCH_READ_MAX
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            reply = await self._call(
                "POST",
                "/crm/v3/objects/deals/batch/read",
                BatchDeals.model_validate_json,
                params={"archived": str(archived).lower()},
                body={
                    "inputs": [{"id": i} for i in chunk],
                    "properties": list(properties),
                    "propertiesWithHistory": list(properties_with_history),
                },
            )
            found.extend(reply.results)
            for error in reply.errors:
                missing.extend(error.context.get("ids", []))
        return found, missing

    async def search_deals(self, request: dict[str, Any]) -> SearchPage:
        """One search call; ``request`` is HubSpot's PublicObjectSearchRequest."""
        return await self._call(
            "POST",
            "/crm/v3/objects/deals/search",
            SearchPage.model_validate_json,
            bucket=SEARCH,
            body=request,
        )

    async def iter_search_pages(self, request: dict[str, Any]) -> AsyncIterator[SearchPage]:
        """Pages of one search; raises HubSpotSearchCapError instead of paging past 10,000."""
        body = {"limit": SEARCH_PAGE_MAX} | request
        while True:
            page = await self.search_deals(body)
            yield page
            after = page.next_after
            if after is None:
                return
            if int(after) >= SEARCH_RESULT_CAP:
                raise HubSpotSearchCapError(
                    f"search matched {page.total} deals; one query pages through at most "
                    f"{SEARCH_RESULT_CAP}: split it (e.g. by hs_object_id ranges)",
                    total=page.total,
                    endpoint="POST /crm/v3/objects/deals/search",
                )
            body = body | {"after": after}

    # -- associations ------------------------------------------------------------------------------

    async def read_associations(
        self, to_type: str, deal_ids: Sequence[str]
    ) -> dict[str, list[AssociatedObject]]:
        """Every association of each deal with ``to_type``, following each deal's own paging.

        Deals with none come back with an empty list (HubSpot's 207 NO_ASSOCIATIONS_FOUND).
        """
        if to_type not in ASSOCIATION_TYPES:
            raise ValueError(f"association type must be one of {ASSOCIATION_TYPES}")
        found: dict[str, list[AssociatedObject]] = {deal_id: [] for deal_id in deal_ids}
        pending: list[dict[str, str]] = [{"id": deal_id} for deal_id in deal_ids]
        path = f"/crm/v4/associations/deals/{to_type}/batch/read"
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH_MAX], pending[ASSOCIATION_BATCH_MAX:]
            results = await self._call(
                "POST", path, _association_reply, bucket=None, body={"inputs": chunk}
            )
            for result in results:
                found.setdefault(result.from_id, []).extend(result.to)
                if result.next_after:
                    pending.append({"id": result.from_id, "after": result.next_after})
        return found

    # -- metadata -----------------------------------------------------------------------------------

    async def get_account_details(self) -> AccountDetails:
        return await self._call(
            "GET", "/account-info/v3/details", AccountDetails.model_validate_json
        )

    async def get_properties(self, *, archived: bool = False) -> list[PropertyDefinition]:
        reply = await self._call(
            "GET",
            "/crm/v3/properties/deals",
            PropertyList.model_validate_json,
            params={"archived": str(archived).lower()},
        )
        return reply.results

    async def get_pipelines(self) -> list[Pipeline]:
        return (
            await self._call("GET", "/crm/v3/pipelines/deals", PipelineList.model_validate_json)
        ).results

    async def iter_owners(
        self, *, archived: bool = False, limit: int = 100
    ) -> AsyncIterator[Owner]:
        params: dict[str, Any] = {"limit": limit, "archived": str(archived).lower()}
        while True:
            page = await self._call(
                "GET", "/crm/v3/owners", OwnerPage.model_validate_json, params=params
            )
            for owner in page.results:
                yield owner
            if page.paging is None or page.paging.next is None:
                return
            params = params | {"after": page.paging.next.after}
