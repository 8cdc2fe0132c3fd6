"""A million-deal sandbox starts at once and stays light (figures: ``make bench``)."""

from __future__ import annotations

from hubspot_deals.sandbox.process import SandboxProcess


def test_million_deals_start_fast_and_stay_small() -> None:
    """Answers within 10 s of start and stays under 500 MB while serving every kind of call."""
    portal = SandboxProcess.start(
        "--deals", "1000000", "--rate-limit", "100000", "--search-rate", "1000", ready_within=10
    )
    try:
        last = portal.get(
            "/crm/v3/objects/deals?limit=100&after=10006999300&associations=contacts,line_items"
        )
        assert last.status_code == 200 and "paging" not in last.json()
        ranged = portal.post(
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
        assert ranged.json()["total"] > 90_000
        batch = portal.post(
            "/crm/v4/associations/deals/contacts/batch/read",
            {"inputs": [{"id": str(10_000_000_000 + 7 * i)} for i in range(1000)]},
        )
        assert batch.status_code == 207
        assert portal.rss_mb() < 500
    finally:
        portal.stop()
