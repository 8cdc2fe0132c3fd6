"""HubSpot's own Python SDK, pointed at the sandbox, reads every live deal: the shapes are HubSpot's."""

from __future__ import annotations

import warnings

from hubspot import HubSpot
from hubspot_deals.sandbox import ground_truth
from hubspot_deals.sandbox.process import SandboxProcess


def test_get_all_returns_every_live_deal(sandbox: SandboxProcess) -> None:
    """crm.deals.get_all() walks the list endpoint to the last page and gets every live deal."""
    client = HubSpot(access_token=sandbox.token, host=sandbox.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's own datetime.utcnow use
        deals = client.crm.deals.get_all(
            properties=["dealname", "amount", "dealstage"],
            associations=["contacts", "companies", "line_items"],
        )
    expected = [d for d in ground_truth(deals=1500) if not d["archived"]]
    assert [d.id for d in deals] == [d["id"] for d in expected]
    by_id = {d["id"]: d for d in expected}
    for deal in deals:
        assert deal.properties["dealname"] == by_id[deal.id]["properties"]["dealname"]
        assert deal.created_at is not None and deal.updated_at is not None


def test_search_api_parses(sandbox: SandboxProcess) -> None:
    """The SDK's search model accepts the sandbox's search reply."""
    from hubspot.crm.deals import Filter, FilterGroup, PublicObjectSearchRequest

    client = HubSpot(access_token=sandbox.token, host=sandbox.url)
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="pipeline", operator="EQ", value="default")])
        ],
        limit=50,
        properties=["dealname"],
        sorts=[],
        after="0",
    )
    page = client.crm.deals.search_api.do_search(public_object_search_request=request)
    assert page.total == sum(
        1
        for d in ground_truth(deals=1500)
        if not d["archived"] and d["properties"]["pipeline"] == "default"
    )
    assert len(page.results) == 50


def test_stage_history_parses(sandbox: SandboxProcess) -> None:
    """The SDK reads propertiesWithHistory into its ValueWithTimestamp model, dates parsed."""
    client = HubSpot(access_token=sandbox.token, host=sandbox.url)
    truth = next(ground_truth(deals=1500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        page = client.crm.deals.basic_api.get_page(limit=50, properties_with_history=["dealstage"])
        one = client.crm.deals.basic_api.get_by_id(
            truth["id"], properties_with_history=["dealstage"]
        )
    assert len(page.results) == 50
    history = one.properties_with_history["dealstage"]
    assert [h.value for h in history] == [h["value"] for h in truth["stageHistory"]]
    assert all(h.timestamp.tzinfo is not None and h.source_type for h in history)
