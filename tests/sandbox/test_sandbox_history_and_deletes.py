"""Stage history, hard deletes, relinks and churn on demand: what incremental scans lean on.

Over real HTTP against sandbox processes, as ``test_sandbox_behaviour.py``; the one in-process test
compares the search's "modified since" shortcut with the full scan it replaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hubspot_deals.sandbox import ground_truth
from hubspot_deals.sandbox.churn import CHURN_KINDS, Churner
from hubspot_deals.sandbox.data import MODIFIED_TO_MS
from hubspot_deals.sandbox.portal import Portal
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.sandbox.search import SearchIndex
from hubspot_deals.sandbox.search_request import parse_request

SandboxFactory = Callable[..., SandboxProcess]
LIST = "/crm/v3/objects/deals"
BATCH = "/crm/v3/objects/deals/batch/read"
SEARCH = "/crm/v3/objects/deals/search"
HISTORY_CAP = "You can only request at most 50 objects with property history."
FAST = ("--rate-limit", "100000", "--search-rate", "1000")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


def ms(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def wait_for_changes(portal: SandboxProcess, changes: int) -> dict[str, Any]:
    """Background churn's stats once it has drawn ``changes`` more changes (the event a sleep
    would stand for)."""
    target = portal.stats()["version"] + changes
    deadline = time.monotonic() + 30
    while (stats := portal.stats())["version"] < target:
        assert time.monotonic() < deadline, f"churn drew {changes} changes in 30 s"
        time.sleep(0.05)
    return stats


def walk(portal: SandboxProcess, query: str = "") -> list[dict[str, Any]]:
    deals: list[dict[str, Any]] = []
    after = None
    while True:
        reply = portal.get(f"{LIST}?limit=100&{query}" + (f"&after={after}" if after else ""))
        assert reply.status_code == 200
        body = reply.json()
        deals += body["results"]
        if "paging" not in body:
            return deals
        after = body["paging"]["next"]["after"]


def session(portal: SandboxProcess) -> httpx.Client:
    """One connection for many calls (``SandboxProcess.post`` pays for a new client each time)."""
    return httpx.Client(
        base_url=portal.url, headers={"Authorization": f"Bearer {portal.token}"}, timeout=60
    )


def search_all(portal: SandboxProcess, *filters: dict[str, Any]) -> tuple[int, list[str]]:
    """(total, every id) of a search partitioned by hs_object_id, as incremental scans run it."""
    ids: list[str] = []
    last = "0"
    total = None
    with session(portal) as client:
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            *filters,
                            {"propertyName": "hs_object_id", "operator": "GT", "value": last},
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200,
                "properties": ["dealstage"],
            }
            reply = client.post(SEARCH, json=body)
            assert reply.status_code == 200, reply.text
            page = reply.json()
            total = page["total"] if total is None else total
            ids += [d["id"] for d in page["results"]]
            if "paging" not in page:
                return total, ids
            last = page["results"][-1]["id"]


def assert_history_consistent(deal: dict[str, Any]) -> None:
    """Newest first, the newest being the deal's stage since it entered it, none before creation."""
    history = deal["stageHistory"]
    props = deal["properties"]
    assert history[0]["value"] == props["dealstage"]
    assert history[0]["timestamp"] == props["hs_v2_date_entered_current_stage"]
    stamps = [ms(e["timestamp"]) for e in history]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[-1] >= ms(props["createdate"])
    assert stamps[0] <= ms(props["hs_lastmodifieddate"])
    assert all({"value", "timestamp", "sourceType"} <= set(e) for e in history)


class TestPropertiesWithHistory:
    def test_list_comma_and_repeated_forms(self, sandbox: SandboxProcess) -> None:
        """The list endpoint fills propertiesWithHistory for known names, in both query forms."""
        truth = {d["id"]: d for d in ground_truth(deals=1500)}
        comma = sandbox.get(f"{LIST}?limit=50&propertiesWithHistory=dealstage,amount,no_such")
        repeated = sandbox.get(
            f"{LIST}?limit=50&propertiesWithHistory=dealstage&propertiesWithHistory=amount"
        )
        assert comma.status_code == repeated.status_code == 200
        assert comma.json()["results"] == repeated.json()["results"]
        for deal in comma.json()["results"]:
            history = deal["propertiesWithHistory"]
            assert set(history) == {"dealstage", "amount"}
            assert history["dealstage"] == truth[deal["id"]]["stageHistory"]
            amount = truth[deal["id"]]["properties"]["amount"]
            assert [e["value"] for e in history["amount"]] == ([] if amount is None else [amount])
        # a property without a value has an empty history, not a missing key
        assert any(d["propertiesWithHistory"]["amount"] == [] for d in comma.json()["results"])
        plain = sandbox.get(f"{LIST}?limit=5").json()["results"]
        assert all("propertiesWithHistory" not in d for d in plain)

    def test_seeded_histories_are_consistent(self) -> None:
        """Every seeded deal's stage history ends at its stage, entered at the recorded time."""
        deals = list(ground_truth(deals=3000))
        for deal in deals:
            assert_history_consistent(deal)
        lengths = {len(d["stageHistory"]) for d in deals}
        assert lengths == {1, 2, 3, 4}

    def test_list_limit_over_50_with_history_is_400(self, sandbox: SandboxProcess) -> None:
        """With propertiesWithHistory, at most 50 a page: above it, HubSpot's 400."""
        over = sandbox.get(f"{LIST}?limit=51&propertiesWithHistory=dealstage")
        assert over.status_code == 400
        assert over.json()["category"] == "VALIDATION_ERROR"
        assert over.json()["message"] == HISTORY_CAP
        assert sandbox.get(f"{LIST}?limit=50&propertiesWithHistory=dealstage").status_code == 200
        assert sandbox.get(f"{LIST}?limit=100").status_code == 200

    def test_get_one(self, sandbox: SandboxProcess) -> None:
        """A read by id returns the history asked for."""
        truth = next(ground_truth(deals=1500))
        deal = sandbox.get(f"{LIST}/{truth['id']}?propertiesWithHistory=dealstage").json()
        assert deal["propertiesWithHistory"] == {"dealstage": truth["stageHistory"]}

    def test_batch_read_and_its_cap(self, sandbox: SandboxProcess) -> None:
        """batch/read takes propertiesWithHistory in its body; with it, at most 50 inputs."""
        truth = {d["id"]: d for d in ground_truth(deals=1500) if not d["archived"]}
        ids = list(truth)[:51]
        inputs = [{"id": i} for i in ids]
        body = {"inputs": inputs[:50], "properties": [], "propertiesWithHistory": ["dealstage"]}
        reply = sandbox.post(BATCH, body)
        assert reply.status_code == 200
        for deal in reply.json()["results"]:
            assert deal["propertiesWithHistory"]["dealstage"] == truth[deal["id"]]["stageHistory"]
        over = sandbox.post(BATCH, body | {"inputs": inputs})
        assert over.status_code == 400 and over.json()["message"] == HISTORY_CAP
        plain = sandbox.post(BATCH, {"inputs": [{"id": i} for i in list(truth)[:100]]})
        assert plain.status_code == 200
        assert all("propertiesWithHistory" not in d for d in plain.json()["results"])
        bad = sandbox.post(BATCH, {"inputs": inputs[:1], "propertiesWithHistory": "dealstage"})
        assert bad.status_code == 400

    def test_search_never_returns_history(self, sandbox: SandboxProcess) -> None:
        """Search results are SimplePublicObject without history, whatever the body says."""
        reply = sandbox.post(SEARCH, {"limit": 5, "propertiesWithHistory": ["dealstage"]})
        assert reply.status_code == 200
        assert all("propertiesWithHistory" not in d for d in reply.json()["results"])

    def test_history_follows_churn_updates(self, make_sandbox: SandboxFactory) -> None:
        """Each update that moves a deal's stage adds the newest entry; the others keep theirs."""
        portal = make_sandbox("--deals", "400", *FAST)
        before = {d["id"]: d for d in portal.truth()}
        at = now_ms()
        updated = portal.churn(update=150, at=at)["changed"]["update"]
        later = at + 60_000
        again = portal.churn(update=150, at=later)["changed"]["update"]
        after = {d["id"]: d for d in portal.truth()}
        moved = 0
        for deal_id in set(updated) | set(again):
            deal, old = after[deal_id], before[deal_id]
            assert_history_consistent(deal)
            new_entries = len(deal["stageHistory"]) - len(old["stageHistory"])
            assert deal["stageHistory"][new_entries:] == old["stageHistory"]
            assert all(
                e["timestamp"] in (iso(at), iso(later)) for e in deal["stageHistory"][:new_entries]
            )
            if deal["properties"]["dealstage"] != old["properties"]["dealstage"]:
                moved += 1
                assert deal["properties"]["hs_v2_date_entered_current_stage"] in (
                    iso(at),
                    iso(later),
                )
        assert moved > 100
        for deal in after.values():
            assert_history_consistent(deal)
        listed = portal.get(f"{LIST}/{updated[0]}?propertiesWithHistory=dealstage").json()
        assert listed["propertiesWithHistory"]["dealstage"] == after[updated[0]]["stageHistory"]

    def test_created_deals_have_one_entry(self, make_sandbox: SandboxFactory) -> None:
        """A deal created by churn has one stage entry, at its creation."""
        portal = make_sandbox("--deals", "50", *FAST)
        at = now_ms()
        created = portal.churn(create=5, at=at)["changed"]["create"]
        truth = {d["id"]: d for d in portal.truth()}
        for deal_id in created:
            deal = truth[deal_id]
            assert deal["createdAt"] == deal["updatedAt"] == iso(at)
            assert [e["timestamp"] for e in deal["stageHistory"]] == [iso(at)]
            assert_history_consistent(deal)


class TestHardDeletes:
    def test_deleted_deals_are_gone_everywhere(self, make_sandbox: SandboxFactory) -> None:
        """Hard-deleted deals, live or archived, leave every endpoint and the ground truth."""
        portal = make_sandbox("--deals", "600", *FAST)
        before = {d["id"]: d for d in portal.truth()}
        reply = portal.churn(delete=300)
        deleted = reply["changed"]["delete"]
        assert len(set(deleted)) == 300
        assert any(before[i]["archived"] for i in deleted)
        assert any(not before[i]["archived"] for i in deleted)
        gone = set(deleted)
        kept = [i for i in before if i not in gone]

        truth = portal.truth()
        assert [d["id"] for d in truth] == kept
        assert [d["id"] for d in walk(portal)] == [i for i in kept if not before[i]["archived"]]
        assert [d["id"] for d in walk(portal, "archived=true")] == [
            i for i in kept if before[i]["archived"]
        ]
        total, found = search_all(portal)
        assert total == len(found) == sum(1 for i in kept if not before[i]["archived"])
        assert not gone & set(found)
        for deal_id in deleted[:20]:
            for archived in ("false", "true"):
                assert portal.get(f"{LIST}/{deal_id}?archived={archived}").status_code == 404
            assert portal.get(f"{LIST}/{deal_id}/associations/contacts").status_code == 404
            assert (
                portal.get(f"/crm/v4/objects/deals/{deal_id}/associations/contacts").status_code
                == 404
            )
        for archived in ("false", "true"):
            batch = portal.post(
                f"{BATCH}?archived={archived}", {"inputs": [{"id": i} for i in deleted[:100]]}
            )
            assert batch.status_code == 207 and batch.json()["results"] == []
            assert batch.json()["errors"][0]["context"]["ids"] == deleted[:100]
        for kind in ("contacts", "companies", "line_items"):
            v4 = portal.post(
                f"/crm/v4/associations/deals/{kind}/batch/read",
                {"inputs": [{"id": i} for i in deleted[:100]]},
            ).json()
            assert v4["results"] == []
            assert {e["context"]["fromObjectId"][0] for e in v4["errors"]} == set(deleted[:100])
        stats = portal.stats()
        assert stats["deleted"] == 300 and stats["deals"] == 300

    def test_background_churn_deletes_and_relinks_when_asked(
        self, make_sandbox: SandboxFactory
    ) -> None:
        """--churn draws create, update and archive by default; delete and relink are opted in."""
        portal = make_sandbox("--deals", "500", "--churn", "200", *FAST)
        assert portal.stats()["churn_kinds"] == ["create", "update", "archive"]
        wait_for_changes(portal, 50)
        assert portal.stats()["deleted"] == 0
        portal.set_churn_kinds(list(CHURN_KINDS))
        stats = wait_for_changes(portal, 150)
        assert stats["deleted"] > 0 and stats["churn_kinds"] == list(CHURN_KINDS)
        portal.set_churn_kinds(["relink"])  # so the truth is read while no stage moves
        truth = portal.truth()
        assert len(truth) == portal.stats()["deals"]
        for deal in truth:
            assert_history_consistent(deal)
        bad = httpx.post(f"{portal.url}/_sandbox/churn/kinds", json={"kinds": ["explode"]})
        assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"


class TestRelink:
    def test_relink_changes_contacts_not_the_deal(self, make_sandbox: SandboxFactory) -> None:
        """A swapped contact shows on every association path; properties and dates stay."""
        portal = make_sandbox("--deals", "300", *FAST)
        before = {d["id"]: d for d in portal.truth()}
        version = portal.stats()["version"]
        relinked = portal.churn(relink=10)["changed"]["relink"]
        assert len(set(relinked)) == 10
        after = {d["id"]: d for d in portal.truth()}
        for deal_id in relinked:
            old, new = before[deal_id], after[deal_id]
            assert not old["archived"]
            assert new["properties"] == old["properties"]
            assert new["updatedAt"] == old["updatedAt"]
            assert new["stageHistory"] == old["stageHistory"]
            old_contacts, contacts = (
                old["associations"]["contacts"],
                new["associations"]["contacts"],
            )
            assert len(contacts) == len(old_contacts)
            assert len(set(contacts) - set(old_contacts)) == 1
            assert new["associations"]["companies"] == old["associations"]["companies"]

            inline = portal.get(f"{LIST}/{deal_id}?associations=contacts").json()
            ids = [a["id"] for a in inline["associations"]["contacts"]["results"]]
            assert ids == contacts[:100]
            record = portal.get(f"/crm/v4/objects/deals/{deal_id}/associations/contacts").json()
            assert [str(a["toObjectId"]) for a in record["results"]] == contacts[:500]
            v3 = portal.get(f"{LIST}/{deal_id}/associations/contacts").json()
            assert [a["id"] for a in v3["results"]] == contacts[:500]
        v4 = portal.post(
            "/crm/v4/associations/deals/contacts/batch/read",
            {"inputs": [{"id": i} for i in relinked]},
        ).json()
        for result in v4["results"]:
            assert [str(t["toObjectId"]) for t in result["to"]] == (
                after[result["from"]["id"]]["associations"]["contacts"][:500]
            )
        assert portal.stats()["version"] == version + 10
        unchanged = [i for i in before if i not in set(relinked)]
        assert all(after[i] == before[i] for i in unchanged)


class TestChurnSideDoor:
    def test_reply_shape_and_at(self, make_sandbox: SandboxFactory) -> None:
        """Exactly the changes asked for, on distinct deals, all dated ``at``."""
        portal = make_sandbox("--deals", "1000", *FAST)
        before = {d["id"]: d for d in portal.truth()}
        at = now_ms()
        counts = {"create": 3, "update": 20, "archive": 5, "delete": 4, "relink": 6, "merge": 2}
        reply = portal.churn(at=at, **counts)
        changed = reply["changed"]
        assert {k: len(v) for k, v in changed.items()} == counts | {"merged": 2}
        assert reply["version"] == portal.stats()["version"] == sum(counts.values())
        kinds = ("update", "archive", "delete", "relink", "merge", "merged")
        picked = [i for k in kinds for i in changed[k]]
        assert len(set(picked)) == len(picked) and set(picked) <= set(before)
        assert not set(changed["create"]) & set(before)
        assert all(not before[i]["archived"] for k in ("update", "archive") for i in changed[k])
        truth = {d["id"]: d for d in portal.truth()}
        for deal_id in changed["create"] + changed["update"] + changed["archive"]:
            assert truth[deal_id]["properties"]["hs_lastmodifieddate"] == iso(at)
            assert truth[deal_id]["updatedAt"] == iso(at)
        for deal_id in changed["create"]:
            assert truth[deal_id]["properties"]["createdate"] == iso(at)
        for deal_id in changed["archive"]:
            assert truth[deal_id]["archived"] and truth[deal_id]["archivedAt"] == iso(at)
        assert not set(changed["delete"]) & set(truth)

    def test_25000_updates_share_one_timestamp(self, make_sandbox: SandboxFactory) -> None:
        """25,000 updates at one instant, in one side-door call; a search for that instant finds
        them all. (How fast they apply is no test's business: timed here, it failed a CI run on a
        busy machine.)"""
        portal = make_sandbox("--deals", "30000", *FAST)
        at = now_ms()
        reply = portal.churn(update=25_000, at=at)
        updated = reply["changed"]["update"]
        assert len(set(updated)) == 25_000
        total, found = search_all(
            portal, {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": str(at)}
        )
        assert total == 25_000 and sorted(found) == sorted(updated)
        first = portal.post(
            SEARCH,
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_lastmodifieddate",
                                "operator": "EQ",
                                "value": str(at),
                            }
                        ]
                    }
                ],
                "limit": 10,
            },
        ).json()
        assert first["total"] == 25_000
        assert all(d["updatedAt"] == iso(at) for d in first["results"])

    @pytest.mark.parametrize(
        "body",
        [
            "not json",
            [1, 2],
            {"explode": 1},
            {"update": -1},
            {"update": True},
            {"update": "3"},
            {"create": 1.5},
            {"update": 2_000_000},
            {"at": "soon"},
            {"at": MODIFIED_TO_MS - 1},
            {"update": 700},
            {"relink": 600},
        ],
    )
    def test_bad_bodies_are_400(self, make_sandbox: SandboxFactory, body: Any) -> None:
        """Malformed bodies, an ``at`` before the portal's latest change and more deals than there
        are answer 400 VALIDATION_ERROR and change nothing."""
        portal = make_sandbox("--deals", "600", *FAST)
        if isinstance(body, str):
            reply = httpx.post(f"{portal.url}/_sandbox/churn", content=body)
        else:
            reply = httpx.post(f"{portal.url}/_sandbox/churn", json=body)
        assert reply.status_code == 400
        assert reply.json()["category"] == "VALIDATION_ERROR"
        assert portal.stats()["version"] == 0

    def test_at_cannot_go_back(self, make_sandbox: SandboxFactory) -> None:
        """After a change at ``at``, an earlier ``at`` is refused: the clock never runs backwards."""
        portal = make_sandbox("--deals", "100", *FAST)
        at = now_ms() + 3_600_000
        portal.churn(update=1, at=at)
        reply = httpx.post(f"{portal.url}/_sandbox/churn", json={"update": 1, "at": at - 1})
        assert reply.status_code == 400
        assert portal.churn(update=1, at=at)["version"] == 2


class TestModifiedSinceSearch:
    def test_search_equals_brute_force_over_http(self, make_sandbox: SandboxFactory) -> None:
        """Searches on hs_lastmodifieddate after churn find exactly what the ground truth says."""
        portal = make_sandbox("--deals", "3000", *FAST)
        t0 = now_ms()
        portal.churn(at=t0, create=50, update=300, archive=40, delete=30, relink=20)
        portal.churn(at=t0 + 1000, update=200, archive=20, delete=10)
        portal.churn(at=t0 + 2000, create=10, update=100)
        live = [d for d in portal.truth() if not d["archived"]]
        modified = {d["id"]: ms(d["properties"]["hs_lastmodifieddate"]) for d in live}
        for op, value, high, test in (
            ("GTE", t0, None, lambda m: m >= t0),
            ("GT", t0, None, lambda m: m > t0),
            ("GTE", t0 + 1000, None, lambda m: m >= t0 + 1000),
            ("EQ", t0 + 1000, None, lambda m: m == t0 + 1000),
            ("BETWEEN", t0, t0 + 1000, lambda m: t0 <= m <= t0 + 1000),
            ("GTE", MODIFIED_TO_MS, None, lambda m: m >= MODIFIED_TO_MS),
            ("GTE", MODIFIED_TO_MS - 86_400_000 * 30, None, lambda m: m >= 1756684800000),
            ("LT", t0 + 1000, None, lambda m: m < t0 + 1000),
        ):
            flt: dict[str, Any] = {
                "propertyName": "hs_lastmodifieddate",
                "operator": op,
                "value": str(value),
            }
            if high is not None:
                flt["highValue"] = str(high)
            total, found = search_all(portal, flt)
            expected = sorted((i for i, m in modified.items() if test(m)), key=int)
            assert found == expected, (op, value)
            assert total == len(expected)

    def test_shortcut_equals_full_scan(self) -> None:
        """In process: the "modified since" shortcuts (changed deals only, and id ranges of one
        cached list of them) give the full scan's totals and order, page after page."""
        portal = Portal(deals=2000, seed=7)
        churner = Churner(portal, seed=7, kinds=CHURN_KINDS)
        for _ in range(1500):
            churner.churn()
        at = portal.latest_ms + 10
        churner.apply({"create": 20, "update": 200, "archive": 20, "delete": 20, "relink": 20}, at)
        fast, brute = SearchIndex(portal), SearchIndex(portal, modified_index=False)
        lows = [MODIFIED_TO_MS - 1, MODIFIED_TO_MS, portal.latest_ms - 200, at, at + 1]
        mid = str(10_000_000_000 + 7 * 1000)

        def by_id(op: str, value: str, high: str | None = None) -> dict[str, str]:
            bound = {"propertyName": "hs_object_id", "operator": op, "value": value}
            return bound | ({"highValue": high} if high else {})

        ascending = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        for low in lows:
            for op in ("EQ", "GT", "GTE", "BETWEEN"):
                flt = {"propertyName": "hs_lastmodifieddate", "operator": op, "value": str(low)}
                if op == "BETWEEN":
                    flt["highValue"] = str(at)
                for extra, sorts in (
                    ([], []),
                    ([by_id("GTE", mid)], []),
                    ([by_id("GT", mid)], ascending),
                    ([by_id("GT", mid), by_id("LT", "10000013000")], ascending),
                    ([by_id("BETWEEN", "10000003000", mid)], ascending),
                    ([by_id("EQ", mid)], ascending),
                    ([by_id("GT", "not a number")], ascending),
                    (
                        [by_id("LTE", mid)],
                        [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
                    ),
                    (
                        [by_id("GT", "10000001000")],
                        [{"propertyName": "createdate", "direction": "ASCENDING"}],
                    ),
                    (
                        [by_id("GT", "10000001000")],
                        [{"propertyName": "amount", "direction": "ASCENDING"}],
                    ),
                    ([], [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]),
                    ([], [{"propertyName": "amount", "direction": "ASCENDING"}]),
                ):
                    body = {"filterGroups": [{"filters": [flt, *extra]}], "sorts": sorts}
                    request = parse_request(body)
                    assert fast._matches(request) == brute._matches(request), body
                two_groups = parse_request(
                    {
                        "filterGroups": [
                            {"filters": [flt, by_id("GT", mid)]},
                            {
                                "filters": [
                                    {
                                        "propertyName": "hs_lastmodifieddate",
                                        "operator": "GTE",
                                        "value": str(at),
                                    },
                                    {
                                        "propertyName": "pipeline",
                                        "operator": "EQ",
                                        "value": "default",
                                    },
                                ]
                            },
                        ]
                    }
                )
                assert fast._matches(two_groups) == brute._matches(two_groups)

    def test_incremental_search_is_fast_under_churn(self, make_sandbox: SandboxFactory) -> None:
        """On 100,000 deals with churn moving the version between requests, an incremental page
        (modified since, partitioned by id) answers in well under a second."""
        portal = make_sandbox("--deals", "100000", "--churn", "50", *FAST)
        since = now_ms() - 1
        portal.churn(update=2000)  # now: background churn may already have dated a change later
        slowest = 0.0
        last = "0"
        client = session(portal)
        for _ in range(15):
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_lastmodifieddate",
                                "operator": "GTE",
                                "value": str(since),
                            },
                            {"propertyName": "hs_object_id", "operator": "GT", "value": last},
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200,
                "properties": ["dealname", "dealstage", "amount"],
            }
            started = time.monotonic()
            reply = client.post(SEARCH, json=body)
            slowest = max(slowest, time.monotonic() - started)
            assert reply.status_code == 200
            page = reply.json()
            if "paging" not in page:
                break
            last = page["results"][-1]["id"]
        client.close()
        assert slowest < 0.5, slowest
