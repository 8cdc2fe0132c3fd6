"""How fast a million-deal sandbox starts and how much memory it holds while serving."""

from __future__ import annotations

import time

from hubspot_deals.sandbox.process import SandboxProcess

DEALS = 1_000_000


def run() -> None:
    portal = SandboxProcess.start(
        "--deals", str(DEALS), "--rate-limit", "1000000", "--search-rate", "100000", ready_within=60
    )
    try:
        at_start = portal.rss_mb()
        timings: dict[str, float] = {}

        started = time.monotonic()
        after = None
        for _ in range(100):
            query = "/crm/v3/objects/deals?limit=100&associations=contacts,companies,line_items"
            body = portal.get(query + (f"&after={after}" if after else "")).json()
            after = body["paging"]["next"]["after"]
        timings["100 list pages with associations"] = time.monotonic() - started

        started = time.monotonic()
        portal.post(
            "/crm/v3/objects/deals/search",
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_object_id",
                                "operator": "GTE",
                                "value": "10003000000",
                            },
                            {
                                "propertyName": "hs_object_id",
                                "operator": "LT",
                                "value": "10003700000",
                            },
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200,
            },
        )
        timings["search over a 100,000-id range"] = time.monotonic() - started

        started = time.monotonic()
        portal.post(
            "/crm/v3/objects/deals/search",
            {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "pipeline", "operator": "EQ", "value": "default"}
                        ]
                    }
                ],
                "limit": 200,
            },
        )
        timings["search over all 1,000,000 (pipeline EQ)"] = time.monotonic() - started

        started = time.monotonic()
        portal.post(
            "/crm/v4/associations/deals/contacts/batch/read",
            {"inputs": [{"id": str(10_000_000_000 + 7 * i)} for i in range(1000)]},
        )
        timings["v4 association batch of 1,000"] = time.monotonic() - started
        peak = portal.rss_mb()
    finally:
        portal.stop()
    print(f"sandbox with {DEALS:,} deals")
    print(f"  first answer after start     {portal.started_in:.2f} s")
    print(f"  memory at start              {at_start:.0f} MB")
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds * 1000:.0f} ms")
    print(f"  memory after serving         {peak:.0f} MB")


if __name__ == "__main__":
    run()
