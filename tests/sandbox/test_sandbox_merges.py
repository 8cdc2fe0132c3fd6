"""Merges (churn kind ``merge``): the survivor keeps its id and lists the merged ids in
``hs_merged_object_ids``; the merged-away deal is gone as a hard-deleted one is. In process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hubspot_deals.sandbox.churn import Churner
from hubspot_deals.sandbox.portal import Portal
from tests.sandbox.inprocess import BATCH, LIST, InProcess


def ids_of(value: str | None) -> list[str]:
    return [i for i in (value or "").split(";") if i]


class TestMerges:
    def test_survivor_and_merged_away(self) -> None:
        """Pair by pair: the survivor lists the merged id, holds both deals' associations (its
        primary company first), is modified now; the merged id is gone from list, search, reads,
        batch reads, association reads and the ground truth."""
        portal = InProcess(deals=400)
        before = portal.truth()
        at = portal.portal.latest_ms + 5_000
        reply = portal.ok(portal.post("/_sandbox/churn", {"merge": 6, "at": at}))
        survivors, merged = reply["changed"]["merge"], reply["changed"]["merged"]
        assert len(survivors) == len(merged) == 6 and not set(survivors) & set(merged)
        after = portal.truth()
        for survivor, gone in zip(survivors, merged, strict=True):
            old, new, absorbed = before[survivor], after[survivor], before[gone]
            assert not old["archived"] and not absorbed["archived"]
            assert ids_of(new["properties"]["hs_merged_object_ids"]) == [gone]
            assert new["updatedAt"] == new["properties"]["hs_lastmodifieddate"]
            assert ms(new["updatedAt"]) == at
            for kind in ("contacts", "line_items"):
                union = set(old["associations"][kind]) | set(absorbed["associations"][kind])
                assert new["associations"][kind] == sorted(union, key=int)
            companies = new["associations"]["companies"]
            assert (
                companies[: len(old["associations"]["companies"])]
                == (old["associations"]["companies"])
            )
            assert set(companies) == set(old["associations"]["companies"]) | set(
                absorbed["associations"]["companies"]
            )
            assert new["properties"]["num_associated_contacts"] == str(
                len(new["associations"]["contacts"])
            )
            for name in ("dealname", "amount", "dealstage", "createdate"):
                assert new["properties"][name] == old["properties"][name]
            history = portal.ok(
                portal.get(f"{LIST}/{survivor}?propertiesWithHistory=hs_merged_object_ids")
            )["propertiesWithHistory"]["hs_merged_object_ids"]
            assert [(e["value"], ms(e["timestamp"])) for e in history] == [(gone, at)]
        assert set(after) == set(before) - set(merged)
        listed = walk(portal, "") + walk(portal, "archived=true")
        assert not {d["id"] for d in listed} & set(merged)
        assert not set(portal.search_ids()) & set(merged)
        since = portal.search_ids(
            {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(at)}
        )
        assert since == sorted(survivors, key=int)
        for gone in merged:
            assert portal.get(f"{LIST}/{gone}").status_code == 404
            assert portal.get(f"{LIST}/{gone}/associations/contacts").status_code == 404
        batch = portal.post(BATCH, {"inputs": [{"id": i} for i in merged + survivors[:1]]})
        assert batch.status_code == 207
        assert [d["id"] for d in batch.json()["results"]] == survivors[:1]
        assert batch.json()["errors"][0]["context"]["ids"] == merged
        v4 = portal.ok(
            portal.post(
                "/crm/v4/associations/deals/contacts/batch/read",
                {"inputs": [{"id": i} for i in merged]},
            )
        )
        assert v4["results"] == [] and len(v4["errors"]) == 6
        stats = portal.ok(portal.get("/_sandbox/stats"))
        assert (stats["merged"], stats["deleted"], stats["deals"]) == (6, 0, 394)

    def test_merged_ids_carry_over(self) -> None:
        """A deal that had absorbed others, merged in turn: the survivor lists its id and theirs."""
        portal = Portal(deals=50, seed=9)
        at = portal.latest_ms + 1
        portal.merge(1, 2, at)
        portal.merge(3, 4, at)
        portal.merge(3, 1, at + 1)
        ids = [str(10_000_000_000 + 7 * i) for i in range(5)]
        assert ids_of(portal.value(3, "hs_merged_object_ids")) == [ids[4], ids[1], ids[2]]
        history = portal.property_history(3, "hs_merged_object_ids")
        assert [e["value"] for e in history] == [f"{ids[4]};{ids[1]};{ids[2]}", ids[4]]
        assert [d["id"] for d in portal.ground_truth()] == [
            str(10_000_000_000 + 7 * i) for i in range(50) if i not in (1, 2, 4)
        ]
        assert portal.held == 47 and portal.merged == 3 and portal.deleted == 0

    def test_background_merges_and_bad_counts(self) -> None:
        """Background churn merges only when the kind is on; more merges than live pairs is a 400
        that changes nothing."""
        portal = Portal(deals=100, seed=4)
        churner = Churner(portal, seed=4)
        for _ in range(200):
            churner.churn()
        assert portal.merged == 0
        churner.kinds = ("merge",)
        events = [churner.churn() for _ in range(10)]
        assert {e.kind for e in events} == {"merge"} and portal.merged == 10
        small = InProcess(deals=10)
        reply = small.post("/_sandbox/churn", {"merge": 6})
        assert reply.status_code == 400 and reply.json()["category"] == "VALIDATION_ERROR"
        assert small.ok(small.get("/_sandbox/stats"))["version"] == 0


def ms(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def walk(portal: InProcess, query: str) -> list[dict[str, Any]]:
    deals: list[dict[str, Any]] = []
    after = ""
    while True:
        body = portal.ok(
            portal.get(f"{LIST}?limit=100&{query}" + (f"&after={after}" if after else ""))
        )
        deals += body["results"]
        if "paging" not in body:
            return deals
        after = body["paging"]["next"]["after"]
