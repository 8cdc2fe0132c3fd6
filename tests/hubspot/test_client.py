"""The HubSpot client over real HTTP against sandboxes: completeness under faults, typed errors,
pacing without self-inflicted 429s, retries that honour HubSpot, and no token anywhere."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hubspot_deals.hubspot import (
    BURST,
    CallRecord,
    ClientConfig,
    HubSpotAuthError,
    HubSpotBadResponse,
    HubSpotClient,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotRateLimitError,
    HubSpotRequestError,
    HubSpotSearchCapError,
    HubSpotServerError,
    LocalRateLimiter,
    Permit,
    RateLimiter,
    RetryPolicy,
)
from hubspot_deals.sandbox import ground_truth
from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import FAST_RETRY

SandboxFactory = Callable[..., SandboxProcess]


def client_for(
    sandbox: SandboxProcess,
    token: str | None = None,
    *,
    retry: RetryPolicy = FAST_RETRY,
    limiter: RateLimiter | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
) -> HubSpotClient:
    config = ClientConfig(base_url=sandbox.url, search_rate=1000, burst_limit=100, retry=retry)
    return HubSpotClient(token or sandbox.token, config, limiter=limiter, on_call=on_call)


class TestCompleteness:
    async def test_every_deal_once_despite_faults(self, make_sandbox: SandboxFactory) -> None:
        """At a 20% fault rate of every kind, each live deal arrives exactly once, intact."""
        faulty = make_sandbox("--deals", "3000", "--fault-rate", "0.2", "--retry-after", "0")
        async with client_for(faulty) as client:
            deals = [
                d async for d in client.iter_deals(properties=["dealname", "amount", "dealstage"])
            ]
        truth = {d["id"]: d for d in ground_truth(deals=3000) if not d["archived"]}
        counts = Counter(d.id for d in deals)
        assert set(counts) == set(truth) and max(counts.values()) == 1
        for deal in deals:
            assert deal.properties["amount"] == truth[deal.id]["properties"]["amount"]
        stats = faulty.stats()
        assert stats["faults_total"] > 0
        assert {"drop", "truncate", "500", "502"} & set(stats["faults"])

    async def test_archived_deals(self, sandbox: SandboxProcess) -> None:
        """archived=True walks the recycle bin, with archive times."""
        async with client_for(sandbox) as client:
            archived = [d async for d in client.iter_deals(archived=True)]
        assert [d.id for d in archived] == [
            d["id"] for d in ground_truth(deals=1500) if d["archived"]
        ]
        assert all(d.archived and d.archived_at for d in archived)

    async def test_associations_complete_despite_faults(self, make_sandbox: SandboxFactory) -> None:
        """v4 batch reads, chunked by 1,000 and paged per deal, give every association."""
        faulty = make_sandbox("--deals", "1500", "--fault-rate", "0.2", "--retry-after", "0")
        truth = {d["id"]: d["associations"] for d in ground_truth(deals=1500)}
        async with client_for(faulty) as client:
            for kind in ("contacts", "companies", "line_items"):
                found = await client.read_associations(kind, list(truth))
                assert {k: [a.to_object_id for a in v] for k, v in found.items()} == {
                    k: v[kind] for k, v in truth.items()
                }

    async def test_inline_associations_are_normalised(self, sandbox: SandboxProcess) -> None:
        """Inline "line items" becomes line_items, doubled companies collapse, truncation shows."""
        async with client_for(sandbox) as client:
            page = await anext(
                client.iter_deal_pages(associations=["companies", "line_items", "contacts"])
            )
            heavy = await client.get_deal("10000000021", associations=["contacts"])
        truth = {d["id"]: d["associations"] for d in ground_truth(deals=1500)}
        for deal in page.results:
            assert deal.inline_ids("companies") == truth[deal.id]["companies"]
            for kind in ("line_items", "contacts"):
                expected = truth[deal.id][kind]
                assert deal.inline_complete(kind) == (len(expected) <= 100)
                assert deal.inline_ids(kind) == expected[:100]
        assert not heavy.inline_complete("contacts")
        assert len(heavy.inline_ids("contacts")) == 100


class TestTypedErrors:
    async def test_unknown_token_fails_at_once(self, make_sandbox: SandboxFactory) -> None:
        """A 401 raises HubSpotAuthError after one request, without retries."""
        portal = make_sandbox("--deals", "10")
        async with client_for(portal, token="pat-na1-not-a-real-token") as client:
            with pytest.raises(HubSpotAuthError) as caught:
                await client.get_account_details()
        assert caught.value.status_code == 401
        assert portal.stats()["requests"] == {"GET /account-info/2026-09/details": {"401": 1}}

    async def test_connection_errors_name_the_host(self) -> None:
        """Nothing listens there: the error says where it tried (a wrong HUBSPOT_BASE_URL)."""
        retry = RetryPolicy(attempts=2, wait_initial=0, wait_max=0, wait_jitter=0, timeout=5)
        config = ClientConfig(base_url="http://127.0.0.1:9", retry=retry)
        async with HubSpotClient("pat-na1-x", config) as client:
            with pytest.raises(HubSpotConnectionError) as caught:
                await client.first_deal_page()
        assert "connection failed to http://127.0.0.1:9 " in str(caught.value)

    async def test_missing_scope_fails_at_once_naming_it(
        self, make_sandbox: SandboxFactory
    ) -> None:
        """A 403 raises HubSpotMissingScopesError with the scope, after one request."""
        portal = make_sandbox(
            "--deals", "10", "--token", "pat-na1-deals-only=crm.objects.deals.read"
        )
        async with client_for(portal, token="pat-na1-deals-only") as client:
            with pytest.raises(HubSpotMissingScopesError) as caught:
                await client.read_associations("contacts", ["10000000000"])
        assert caught.value.scopes == ["crm.objects.contacts.read"]
        assert "crm.objects.contacts.read" in str(caught.value)
        assert portal.stats()["total"] == 1

    async def test_daily_limit_is_not_retried(self, make_sandbox: SandboxFactory) -> None:
        """DAILY 429s surface at once: retrying before the reset cannot succeed."""
        portal = make_sandbox("--deals", "10", "--daily-limit", "1")
        async with client_for(portal) as client:
            await client.get_account_details()
            with pytest.raises(HubSpotRateLimitError) as caught:
                await client.get_account_details()
        assert caught.value.policy == "DAILY"
        assert portal.stats()["requests"]["GET /account-info/2026-09/details"] == {
            "200": 1,
            "429": 1,
        }

    @pytest.mark.parametrize(
        ("kind", "error"),
        [
            ("503", HubSpotServerError),
            ("502", HubSpotServerError),
            ("truncate", HubSpotBadResponse),
            ("drop", HubSpotConnectionError),
        ],
    )
    async def test_exhausted_retries_raise_the_last_error(
        self, make_sandbox: SandboxFactory, kind: str, error: type[Exception]
    ) -> None:
        """When every attempt fails, the bounded retries end with the typed error."""
        portal = make_sandbox("--deals", "10", "--fault-rate", "1", "--fault-kinds", kind)
        retry = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, wait_jitter=0, timeout=30)
        async with client_for(portal, retry=retry) as client:
            with pytest.raises(error):
                await client.get_pipelines()
        assert portal.stats()["faults_total"] == 3

    async def test_retry_after_is_honoured(self, make_sandbox: SandboxFactory) -> None:
        """A 429 with Retry-After: 1 is retried no sooner than a second later."""
        portal = make_sandbox(
            "--deals", "10", "--fault-rate", "1", "--fault-kinds", "429", "--retry-after", "1"
        )
        retry = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, wait_jitter=0, timeout=30)
        started = time.monotonic()
        async with client_for(portal, retry=retry) as client:
            with pytest.raises(HubSpotRateLimitError) as caught:
                await client.get_pipelines()
        assert time.monotonic() - started >= 2.0
        assert caught.value.retry_after == 1.0
        assert portal.stats()["faults"] == {"429": 3}

    async def test_search_cap(self, make_sandbox: SandboxFactory) -> None:
        """Paging a search past 10,000 raises HubSpotSearchCapError instead of sending a doomed call."""
        big = make_sandbox("--deals", "10600", "--search-rate", "1000")
        async with client_for(big) as client:
            pages: list[int] = []

            async def walk() -> None:
                async for page in client.iter_search_pages({"properties": ["dealname"]}):
                    pages.append(len(page.results))

            with pytest.raises(HubSpotSearchCapError) as caught:
                await walk()
        assert len(pages) == 50
        assert caught.value.total > 10_000
        assert (
            "400" not in big.stats()["requests"]["POST /crm/objects/2026-09/{object_type}/search"]
        )

    async def test_overlong_uri_is_refused_before_sending(self, sandbox: SandboxProcess) -> None:
        """Hundreds of properties on a single-deal GET raise HubSpotRequestError without a 414
        round trip."""
        props = [f"custom_property_{n:04d}" for n in range(900)]
        async with client_for(sandbox) as client:
            with pytest.raises(HubSpotRequestError, match="longer than HubSpot accepts"):
                await client.get_deal("10000000000", properties=props)

    @pytest.mark.parametrize("archived", [False, True])
    async def test_long_property_lists_move_to_request_bodies(
        self, make_sandbox: SandboxFactory, archived: bool
    ) -> None:
        """A list walk asking for 900 properties (far past the URI limit) pages by id and reads
        each page's properties with batch/read: the same deals and values as short lists give,
        history included, and never a 414."""
        sandbox = make_sandbox("--deals", "700")
        real = ["dealname", "amount", "dealstage", "pipeline", "closedate"]
        props = [*real, *(f"custom_property_{n:04d}" for n in range(900))]
        async with client_for(sandbox) as client:
            short = [
                p
                async for p in client.iter_deal_pages(
                    properties=real, properties_with_history=["dealstage"], archived=archived
                )
            ]
            long = [
                p
                async for p in client.iter_deal_pages(
                    properties=props, properties_with_history=["dealstage"], archived=archived
                )
            ]
        assert [p.next_after for p in long] == [p.next_after for p in short]
        assert [d for p in long for d in p.results] == [d for p in short for d in p.results]
        assert all(len(p.results) <= 50 for p in long)  # HubSpot's page size with history
        requests = sandbox.stats()["requests"]
        assert "414" not in str(requests)
        assert sum(requests["POST /crm/objects/2026-09/{object_type}/batch/read"].values()) == len(
            long
        )


class TestCallRecords:
    @pytest.mark.parametrize(
        ("kind", "status", "policy"),
        [("drop", None, None), ("503", 503, None), ("429", 429, "TEN_SECONDLY_ROLLING")],
    )
    async def test_every_attempt_reaches_on_call(
        self, make_sandbox: SandboxFactory, kind: str, status: int | None, policy: str | None
    ) -> None:
        """on_call sees each attempt, retries numbered, a missing answer as status None."""
        portal = make_sandbox(
            "--deals", "10", "--fault-rate", "1", "--fault-kinds", kind, "--retry-after", "0"
        )
        retry = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, wait_jitter=0, timeout=30)
        records: list[CallRecord] = []
        async with client_for(portal, retry=retry, on_call=records.append) as client:
            with pytest.raises(HubSpotError):
                await client.get_pipelines()
        assert [(r.endpoint, r.status_code, r.rate_limit_policy) for r in records] == [
            ("GET /crm/pipelines/2026-09/deals", status, policy)
        ] * 3
        assert [r.attempt for r in records] == [1, 2, 3]
        assert all(r.elapsed_ms > 0 for r in records)
        assert client.last_call == (records[-1] if status is not None else None)

    async def test_endpoint_names_hold_no_ids(self, sandbox: SandboxProcess) -> None:
        """A call whose path holds an id is recorded under its template (metrics label by it)."""
        records: list[CallRecord] = []
        async with client_for(sandbox, on_call=records.append) as client:
            await client.get_deal("10000000021")
        assert [(r.endpoint, r.status_code, r.attempt) for r in records] == [
            ("GET /crm/objects/2026-09/deals/{deal_id}", 200, 1)
        ]

    async def test_a_closed_client_sends_nothing_more(self, sandbox: SandboxProcess) -> None:
        """A call still running when its scan ended (and closed the client) is not sent again on
        a new connection: the call records stay exact (metrics count every attempt)."""
        records: list[CallRecord] = []
        async with client_for(sandbox, on_call=records.append) as client:
            await client.get_pipelines()
        with pytest.raises(RuntimeError, match="closed"):
            await client.get_pipelines()
        assert len(records) == 1


class TestPacing:
    async def test_no_429_of_its_own_making(self, make_sandbox: SandboxFactory) -> None:
        """Eight tasks sharing a client at 150 per window, plus searches at 20 per s: zero 429s.
        The window is 1 s instead of HubSpot's 10 (the client learns it from the headers), so the
        396 calls cross two windows in seconds, not a minute."""
        portal = make_sandbox(
            "--deals", "500", "--rate-limit", "150", "--rate-window-ms", "1000",
            "--search-rate", "20", "--latency-ms", "20",
        )  # fmt: skip
        limiter = LocalRateLimiter(burst_limit=100, search_rate=20)
        async with HubSpotClient(
            portal.token, ClientConfig(base_url=portal.url, retry=FAST_RETRY), limiter=limiter
        ) as client:

            async def lister(n: int) -> int:
                calls = 0
                for _ in range(n):
                    await anext(client.iter_deal_pages(limit=5))
                    calls += 1
                return calls

            async def searcher(n: int) -> int:
                for _ in range(n):
                    await client.search_deals({"limit": 1})
                return n

            done = await asyncio.gather(
                *(lister(45) for _ in range(8)), *(searcher(12) for _ in range(3))
            )
        assert sum(done) == 8 * 45 + 3 * 12
        stats = portal.stats()
        assert stats["rate_limited_total"] == 0, stats["rate_limited"]
        assert client.stats["retries"] == 0

    async def test_waiters_cancelled_as_their_slot_frees_leave_the_windows_exact(self) -> None:
        """Requests waiting for a slot are cancelled (a steal, a scan cancelled) at moments around
        the slot's expiry, when their own timers fire together: each ends cancelled or with its
        permit, nothing else, and the window counts exactly the permits still out."""
        limiter = LocalRateLimiter(burst_limit=1, search_rate=1, burst_window_s=0.004)

        async def outcome(waiter: asyncio.Task[Permit]) -> bool:
            try:
                permit = await waiter
            except asyncio.CancelledError:
                return False
            await limiter.release(permit)
            return True

        for attempt in range(40):
            await limiter.release(await limiter.acquire(BURST))  # the slot frees in 4 ms
            waiters = [asyncio.create_task(limiter.acquire(BURST)) for _ in range(8)]
            await asyncio.sleep(0.0035 + attempt * 0.0001)  # from before the timers to after
            for waiter in waiters[::2]:
                waiter.cancel()

            served = await asyncio.wait_for(asyncio.gather(*map(outcome, waiters)), 2)
            assert all(served[1::2])  # not one kept waiting: the cancelled gave their turns up
            permit = await asyncio.wait_for(limiter.acquire(BURST), 1)  # no slot was lost
            await limiter.release(permit)

    async def test_limit_is_learned_from_headers(self, make_sandbox: SandboxFactory) -> None:
        """A Professional portal's 190 per 10 s replaces the conservative starting limit."""
        portal = make_sandbox("--deals", "10", "--rate-limit", "190")
        limiter = LocalRateLimiter(burst_limit=100, search_rate=5)
        async with client_for(portal, limiter=limiter) as client:
            assert limiter.limit(BURST) == (100, 10.0)
            await client.get_pipelines()
        assert limiter.limit(BURST) == (190, 10.0)

    async def test_shared_token_is_respected(self, make_sandbox: SandboxFactory) -> None:
        """Requests made by someone else with the same token show in Remaining and are left room."""
        portal = make_sandbox("--deals", "10", "--rate-limit", "20")
        for _ in range(15):  # another app instance spends 15 of the 20
            assert portal.get("/crm/owners/2026-09").status_code == 200
        limiter = LocalRateLimiter(burst_limit=20, search_rate=5)
        async with client_for(portal, limiter=limiter) as client:
            await client.get_pipelines()
            started = time.monotonic()
            await asyncio.gather(*(client.get_pipelines() for _ in range(4)))
        assert portal.stats()["rate_limited_total"] == 0
        assert time.monotonic() - started < 1.0  # the 4 fit in what was left


class TestMetadata:
    async def test_account_pipelines_properties_owners(self, sandbox: SandboxProcess) -> None:
        """Metadata reads parse into typed models; owners page through active and archived."""
        async with client_for(sandbox) as client:
            account = await client.get_account_details()
            pipelines = await client.get_pipelines()
            properties = await client.get_properties()
            active = [o async for o in client.iter_owners(limit=7)]
            archived = [o async for o in client.iter_owners(archived=True, limit=7)]
        assert account.deal_url("10000000007") == (
            f"https://app.hubspot.com/contacts/{account.portal_id}/record/0-3/10000000007"
        )
        assert pipelines[0].id == "default" and pipelines[0].stages[0].metadata["probability"]
        assert {"amount", "dealstage", "hubspot_owner_id"} <= {p.name for p in properties}
        assert len(active) == 30 and len(archived) == 6 and all(o.archived for o in archived)


class TestSecrets:
    SECRET = "pat-na1-s3cr3t00-1111-4222-8333-444444444444"

    async def test_token_never_in_errors_reprs_or_logs(
        self,
        make_sandbox: SandboxFactory,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Nothing the client prints, raises or logs (at DEBUG) contains the token."""
        portal = make_sandbox(
            "--deals",
            "300",
            "--fault-rate",
            "0.3",
            "--retry-after",
            "0",
            "--token",
            f"{self.SECRET}=crm.objects.deals.read",
        )
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        async with client_for(portal, token=self.SECRET) as client:
            texts.append(repr(client))
            texts += [d.id async for d in client.iter_deals()]
            for call in (client.get_account_details(), client.read_associations("contacts", ["1"])):
                try:
                    await call
                except Exception as exc:
                    texts += [str(exc), repr(exc), repr(exc.__cause__)]
        texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
        printed = capsys.readouterr()  # httpx logged each request; aiohttp logs none
        texts += [printed.out, printed.err]
        assert not [t for t in texts if self.SECRET in t]

    async def test_token_echoed_by_server_is_redacted(self) -> None:
        """If an error body ever echoes the token, the raised error does not."""

        class Echo(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sent = self.headers["authorization"]
                body = json.dumps(
                    {
                        "status": "error",
                        "message": f"bad credentials {sent}",
                        "category": "INVALID_AUTHENTICATION",
                        "correlationId": "x",
                    }
                ).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = HubSpotClient(
            self.SECRET,
            ClientConfig(base_url=f"http://127.0.0.1:{server.server_port}", retry=FAST_RETRY),
        )
        try:
            async with client:
                with pytest.raises(HubSpotAuthError) as caught:
                    await client.get_account_details()
        finally:
            server.shutdown()
            server.server_close()
        assert self.SECRET not in str(caught.value) and "[redacted]" in str(caught.value)

    def test_token_validation_does_not_echo(self) -> None:
        """A malformed token is refused without repeating it."""
        with pytest.raises(ValueError, match="non-empty string") as caught:
            HubSpotClient("pat-na1 with spaces")
        assert "with spaces" not in str(caught.value)
