"""The fetch plan against a sandbox whose list budget comes in short bursts: search workers left
without a partition take what list walks have still to read, and every live deal still arrives
exactly once, each partition ending done."""

from __future__ import annotations

from collections.abc import Callable

from hubspot_deals.engine.filters import ScanFilters
from hubspot_deals.engine.plan import Partition, PartitionedPlan
from hubspot_deals.hubspot import ClientConfig, HubSpotClient
from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import FAST_RETRY

BURST = 6  # list requests a second: a list walk of 500 deals takes about a second


async def walk(plan: PartitionedPlan, positions: dict[int, Partition]) -> list[str]:
    """Every deal id the plan reads, positions kept as the engine keeps them."""
    seen: list[str] = []
    async for page in plan.pages(positions):
        seen += [deal.id for deal in page.deals]
        position = positions[page.partition]
        position.next, position.done = page.next, page.done
    return seen


async def test_search_takes_over_list_walks_and_reads_each_deal_once(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    portal = make_sandbox(
        "--deals",
        "3000",
        "--rate-limit",
        str(BURST),
        "--rate-window-ms",
        "1000",
        "--search-rate",
        "40",
    )
    config = ClientConfig(base_url=portal.url, burst_limit=BURST, search_rate=40, retry=FAST_RETRY)
    async with HubSpotClient(portal.token, config) as client:
        plan = PartitionedPlan(client, ["dealname"], 100, ScanFilters(), list_workers=BURST)
        _, partitions = await plan.prepare(None, BURST)
        positions = {p.id: p for p in partitions}
        planned = len(positions)
        seen = await walk(plan, positions)
    live = sorted(d["id"] for d in portal.truth() if not d["archived"])
    assert sorted(seen) == live  # none missed, none twice
    assert len(positions) > planned  # search took part of a list walk's range
    assert all(p.done for p in positions.values())
    # the partitions tile the id range: each ends where the next begins, the last open-ended
    ordered = sorted(positions.values(), key=lambda p: p.lo)
    assert [p.hi for p in ordered[:-1]] == [p.lo for p in ordered[1:]]
    assert ordered[-1].hi is None
    assert portal.stats()["rate_limited_total"] == 0
