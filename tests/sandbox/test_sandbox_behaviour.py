"""The sandbox behaves as the fact sheet says HubSpot does, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hubspot_deals.sandbox import DEMO_TOKEN, ground_truth
from hubspot_deals.sandbox.process import SandboxProcess

SandboxFactory = Callable[..., SandboxProcess]
SEARCH = "/crm/v3/objects/deals/search"


def search(sandbox: SandboxProcess, *filters: dict[str, Any], **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"filterGroups": [{"filters": list(filters)}] if filters else []}
    return sandbox.post(SEARCH, body | extra)


def walk_list(sandbox: SandboxProcess, query: str) -> list[dict[str, Any]]:
    deals: list[dict[str, Any]] = []
    after = None
    while True:
        reply = sandbox.get(
            f"/crm/v3/objects/deals?limit=100&{query}" + (f"&after={after}" if after else "")
        )
        assert reply.status_code == 200
        body = reply.json()
        deals.extend(body["results"])
        if "paging" not in body:
            return deals
        after = body["paging"]["next"]["after"]


class TestList:
    def test_walks_every_live_deal_once(self, sandbox: SandboxProcess) -> None:
        """The cursor chain yields each live deal once, in id order; the last page has no paging."""
        truth = [d for d in ground_truth(deals=1500) if not d["archived"]]
        listed = walk_list(sandbox, "")
        assert [d["id"] for d in listed] == [d["id"] for d in truth]

    def test_archived_true_returns_only_archived(self, sandbox: SandboxProcess) -> None:
        """archived=true lists only recycle-bin deals, each with archivedAt."""
        truth = [d["id"] for d in ground_truth(deals=1500) if d["archived"]]
        listed = walk_list(sandbox, "archived=true")
        assert [d["id"] for d in listed] == truth
        assert all(d["archived"] and d["archivedAt"] for d in listed)

    def test_object_type_id_path(self, sandbox: SandboxProcess) -> None:
        """/crm/v3/objects/0-3 is the same endpoint as /crm/v3/objects/deals."""
        a = sandbox.get("/crm/v3/objects/0-3?limit=5").json()
        b = sandbox.get("/crm/v3/objects/deals?limit=5").json()
        assert [d["id"] for d in a["results"]] == [d["id"] for d in b["results"]]

    def test_cursor_is_next_record_id(self, sandbox: SandboxProcess) -> None:
        """paging.next.after is the id of the first deal of the next page."""
        first = sandbox.get("/crm/v3/objects/deals?limit=3").json()
        after = first["paging"]["next"]["after"]
        second = sandbox.get(f"/crm/v3/objects/deals?limit=3&after={after}").json()
        assert second["results"][0]["id"] == after

    def test_default_and_unknown_properties(self, sandbox: SandboxProcess) -> None:
        """No properties asked: HubSpot's defaults; unknown names are silently ignored."""
        default = sandbox.get("/crm/v3/objects/deals?limit=1").json()["results"][0]["properties"]
        assert set(default) == {
            "dealname",
            "amount",
            "closedate",
            "pipeline",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        }
        asked = sandbox.get("/crm/v3/objects/deals?limit=1&properties=dealtype,no_such_prop").json()
        assert set(asked["results"][0]["properties"]) == {
            "dealtype",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        }

    def test_values_are_strings_or_null(self, sandbox: SandboxProcess) -> None:
        """Every property value is a string or null, never a number or a boolean."""
        props = ",".join(next(ground_truth(deals=1))["properties"])
        for deal in sandbox.get(f"/crm/v3/objects/deals?limit=100&properties={props}").json()[
            "results"
        ]:
            assert all(v is None or isinstance(v, str) for v in deal["properties"].values())

    def test_limit_over_100_is_rejected(self, sandbox: SandboxProcess) -> None:
        """limit is capped at 100."""
        reply = sandbox.get("/crm/v3/objects/deals?limit=101")
        assert reply.status_code == 400
        assert reply.json()["category"] == "VALIDATION_ERROR"


class TestInlineAssociations:
    def test_line_items_key_and_doubled_companies(self, sandbox: SandboxProcess) -> None:
        """Line items come under "line items"; a primary company appears twice, labelled and not."""
        deals = sandbox.get(
            "/crm/v3/objects/deals?limit=100&associations=companies,line_items"
        ).json()["results"]
        keys = {k for d in deals for k in d.get("associations", {})}
        assert keys == {"companies", "line items"}
        ignored = sandbox.get(
            "/crm/v3/objects/deals?limit=100&associations=companies,no_such_type"
        ).json()
        assert {k for d in ignored["results"] for k in d.get("associations", {})} == {"companies"}
        companies = next(
            d["associations"]["companies"]["results"]
            for d in deals
            if "companies" in d.get("associations", {})
        )
        assert [c["type"] for c in companies][:2] == [
            "deal_to_company",
            "deal_to_company_unlabeled",
        ]
        assert companies[0]["id"] == companies[1]["id"]

    def test_at_most_100_per_type_with_paging(self, sandbox: SandboxProcess) -> None:
        """A deal with hundreds of contacts shows 100 inline and a paging cursor for that type."""
        deal = sandbox.get("/crm/v3/objects/deals/10000000021?associations=contacts").json()
        block = deal["associations"]["contacts"]
        assert len(block["results"]) == 100
        assert block["paging"]["next"]["after"]
        assert "/associations/contacts" in block["paging"]["next"]["link"]

    def test_inline_paging_link_reads_the_rest(self, sandbox: SandboxProcess) -> None:
        """Following the inline cursor reaches every contact the ground truth lists."""
        truth = next(d for d in ground_truth(deals=1500) if d["id"] == "10000000021")[
            "associations"
        ]["contacts"]
        deal = sandbox.get("/crm/v3/objects/deals/10000000021?associations=contacts").json()
        seen = [a["id"] for a in deal["associations"]["contacts"]["results"]]
        after = deal["associations"]["contacts"]["paging"]["next"]["after"]
        while after:
            page = sandbox.get(
                f"/crm/v3/objects/deals/10000000021/associations/contacts?after={after}"
            ).json()
            seen += [a["id"] for a in page["results"]]
            after = page.get("paging", {}).get("next", {}).get("after")
        assert seen == truth


class TestReads:
    def test_read_one_and_missing(self, sandbox: SandboxProcess) -> None:
        """A deal reads by id; an unknown id is a 404 OBJECT_NOT_FOUND."""
        assert sandbox.get("/crm/v3/objects/deals/10000000007").json()["id"] == "10000000007"
        missing = sandbox.get("/crm/v3/objects/deals/10000000008")
        assert missing.status_code == 404
        assert missing.json()["category"] == "OBJECT_NOT_FOUND"

    def test_batch_read_limits(self, sandbox: SandboxProcess) -> None:
        """Batch read takes at most 100 inputs."""
        inputs = [{"id": str(10_000_000_000 + 7 * i)} for i in range(101)]
        assert (
            sandbox.post("/crm/v3/objects/deals/batch/read", {"inputs": inputs}).status_code == 400
        )
        assert sandbox.post(
            "/crm/v3/objects/deals/batch/read", {"inputs": inputs[:100]}
        ).status_code in (200, 207)

    def test_batch_read_archived_parameter(self, sandbox: SandboxProcess) -> None:
        """archived=true reads recycle-bin deals; without it they are reported missing."""
        archived_id = next(d["id"] for d in ground_truth(deals=1500) if d["archived"])
        live = sandbox.post("/crm/v3/objects/deals/batch/read", {"inputs": [{"id": archived_id}]})
        assert live.status_code == 207
        assert live.json()["errors"][0]["context"]["ids"] == [archived_id]
        binned = sandbox.post(
            "/crm/v3/objects/deals/batch/read?archived=true", {"inputs": [{"id": archived_id}]}
        )
        assert binned.status_code == 200
        assert binned.json()["results"][0]["archived"] is True


class TestSearch:
    def test_and_inside_or_across(self, sandbox: SandboxProcess) -> None:
        """Filters AND within a group and groups OR, matching the ground truth."""
        truth = [d for d in ground_truth(deals=1500) if not d["archived"]]
        expected = {
            d["id"]
            for d in truth
            if (
                d["properties"]["pipeline"] == "default"
                and d["properties"]["dealstage"] == "closedwon"
            )
            or d["properties"]["pipeline"] == "75432201"
        }
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "pipeline", "operator": "EQ", "value": "default"},
                        {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                    ]
                },
                {"filters": [{"propertyName": "pipeline", "operator": "EQ", "value": "75432201"}]},
            ],
            "limit": 200,
        }
        found: set[str] = set()
        while True:
            page = sandbox.post(SEARCH, body).json()
            assert page["total"] == len(expected)
            found |= {d["id"] for d in page["results"]}
            if "paging" not in page:
                break
            body["after"] = page["paging"]["next"]["after"]
        assert found == expected

    @pytest.mark.parametrize(
        ("flt", "check"),
        [
            (
                {"operator": "NEQ", "propertyName": "dealtype", "value": "newbusiness"},
                lambda p: p["dealtype"] != "newbusiness",
            ),
            (
                {"operator": "IN", "propertyName": "contract_tier", "values": ["gold", "platinum"]},
                lambda p: p["contract_tier"] in ("gold", "platinum"),
            ),
            (
                {"operator": "NOT_IN", "propertyName": "contract_tier", "values": ["gold"]},
                lambda p: p["contract_tier"] != "gold",
            ),
            (
                {"operator": "HAS_PROPERTY", "propertyName": "closedate"},
                lambda p: p["closedate"] is not None,
            ),
            ({"operator": "NOT_HAS_PROPERTY", "propertyName": "amount"}, lambda p: not p["amount"]),
            (
                {
                    "operator": "BETWEEN",
                    "propertyName": "amount",
                    "value": "1000",
                    "highValue": "5000",
                },
                lambda p: bool(p["amount"]) and 1000 <= float(p["amount"]) <= 5000,
            ),
            (
                {"operator": "LT", "propertyName": "seats", "value": "10"},
                lambda p: p["seats"] is not None and float(p["seats"]) < 10,
            ),
            (
                {"operator": "GTE", "propertyName": "createdate", "value": "1700000000000"},
                lambda p: p["createdate"] >= "2023-11-14T22:13:20.000Z",
            ),
            (
                {
                    "operator": "LTE",
                    "propertyName": "hs_lastmodifieddate",
                    "value": "1600000000000",
                },
                lambda p: p["hs_lastmodifieddate"] <= "2020-09-13T12:26:40.000Z",
            ),
            (
                {"operator": "GT", "propertyName": "hs_object_id", "value": "10000009000"},
                lambda p: int(p["hs_object_id"]) > 10_000_009_000,
            ),
            (
                {"operator": "EQ", "propertyName": "hs_is_closed", "value": "true"},
                lambda p: p["hs_is_closed"] == "true",
            ),
        ],
    )
    def test_operator(
        self, sandbox: SandboxProcess, flt: dict[str, Any], check: Callable[[dict[str, Any]], bool]
    ) -> None:
        """Each operator selects exactly the deals the ground truth says it should."""
        expected = {
            d["id"]
            for d in ground_truth(deals=1500)
            if not d["archived"] and check(d["properties"])
        }
        body = {"filterGroups": [{"filters": [flt]}], "limit": 200, "properties": ["hs_object_id"]}
        found: set[str] = set()
        while True:
            page = sandbox.post(SEARCH, body).json()
            found |= {d["id"] for d in page["results"]}
            if "paging" not in page:
                break
            body["after"] = page["paging"]["next"]["after"]
        assert page["total"] == len(expected)
        assert found == expected

    def test_sort_and_offset_cursor(self, sandbox: SandboxProcess) -> None:
        """One sort applies; after is an integer offset; archived deals never appear."""
        body = {
            "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
            "limit": 5,
            "properties": ["amount"],
        }
        page = sandbox.post(SEARCH, body).json()
        amounts = [float(d["properties"]["amount"]) for d in page["results"]]
        assert amounts == sorted(amounts, reverse=True)
        assert page["paging"]["next"]["after"] == "5"
        assert page["total"] == sum(1 for d in ground_truth(deals=1500) if not d["archived"])
        assert "associations" not in page["results"][0]

    @pytest.mark.parametrize(
        "body",
        [
            {"filterGroups": [{"filters": []}] * 6},
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 7}
                ]
            },
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 5}
                ]
                * 4
            },
            {"limit": 201},
            {"after": "10000"},
            {"after": "abc"},
            {"sorts": ["amount", "dealname"]},
            {"query": "x" * 3001},
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}
                ]
            },
        ],
    )
    def test_caps_are_400(self, sandbox: SandboxProcess, body: dict[str, Any]) -> None:
        """5 groups, 6 filters a group, 18 in all, limit 200, offset under 10,000, one sort."""
        reply = sandbox.post(SEARCH, body)
        assert reply.status_code == 400
        assert reply.json()["category"] == "VALIDATION_ERROR"

    def test_ten_thousand_cap(self, make_sandbox: SandboxFactory) -> None:
        """A query matching more than 10,000 offers a next page it then refuses with 400."""
        big = make_sandbox("--deals", "12000", "--search-rate", "1000")
        page = search(big, limit=200, after="9800").json()
        assert page["total"] > 10_000
        assert page["paging"]["next"]["after"] == "10000"
        assert search(big, limit=200, after="10000").status_code == 400


class TestAssociationBatches:
    def test_complete_with_per_record_paging(self, sandbox: SandboxProcess) -> None:
        """Following each record's own cursor reads every association, matching the ground truth."""
        truth = {d["id"]: d["associations"] for d in ground_truth(deals=1500)}
        ids = list(truth)[:1000]
        for kind in ("contacts", "companies", "line_items"):
            found: dict[str, list[str]] = {i: [] for i in ids}
            inputs: list[dict[str, str]] = [{"id": i} for i in ids]
            while inputs:
                reply = sandbox.post(
                    f"/crm/v4/associations/deals/{kind}/batch/read", {"inputs": inputs}
                )
                body = reply.json()
                inputs = []
                for result in body["results"]:
                    assert all(isinstance(t["toObjectId"], int) for t in result["to"])
                    found[result["from"]["id"]] += [str(t["toObjectId"]) for t in result["to"]]
                    if "paging" in result:
                        inputs.append(
                            {"id": result["from"]["id"], "after": result["paging"]["next"]["after"]}
                        )
                for error in body.get("errors", []):
                    assert reply.status_code == 207
                    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
            assert found == {i: truth[i][kind] for i in ids}

    def test_batch_of_1001_is_rejected(self, sandbox: SandboxProcess) -> None:
        """v4 batch reads take at most 1,000 inputs."""
        inputs = [{"id": str(10_000_000_000 + 7 * i)} for i in range(1001)]
        assert (
            sandbox.post(
                "/crm/v4/associations/deals/contacts/batch/read", {"inputs": inputs}
            ).status_code
            == 400
        )


class TestMetadata:
    def test_owners_paging_and_archived(self, sandbox: SandboxProcess) -> None:
        """Owners page with after; archived=true returns only archived owners."""
        seen, after = [], None
        while True:
            body = sandbox.get(
                "/crm/v3/owners?limit=7" + (f"&after={after}" if after else "")
            ).json()
            seen += body["results"]
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        assert len(seen) == len({o["id"] for o in seen}) > 7
        assert not any(o["archived"] for o in seen)
        archived = sandbox.get("/crm/v3/owners?archived=true").json()["results"]
        assert archived and all(o["archived"] for o in archived)

    def test_every_owner_referenced_by_deals_exists(self, sandbox: SandboxProcess) -> None:
        """Deals reference active and archived owners, all of which the owners API knows."""
        owners = {
            o["id"]
            for a in ("false", "true")
            for o in sandbox.get(f"/crm/v3/owners?archived={a}").json()["results"]
        }
        referenced = {d["properties"]["hubspot_owner_id"] for d in ground_truth(deals=1500)} - {
            None
        }
        assert referenced <= owners
        archived_ids = {
            o["id"] for o in sandbox.get("/crm/v3/owners?archived=true").json()["results"]
        }
        assert referenced & archived_ids

    def test_pipelines_and_stage_metadata(self, sandbox: SandboxProcess) -> None:
        """The default pipeline exists; stage metadata are strings; every deal's stage is known."""
        pipelines = sandbox.get("/crm/v3/pipelines/deals").json()["results"]
        assert "default" in {p["id"] for p in pipelines}
        stages = {(p["id"], s["id"]) for p in pipelines for s in p["stages"]}
        assert all(
            isinstance(v, str)
            for p in pipelines
            for s in p["stages"]
            for v in s["metadata"].values()
        )
        used = {
            (d["properties"]["pipeline"], d["properties"]["dealstage"])
            for d in ground_truth(deals=1500)
        }
        assert used <= stages

    def test_property_types(self, sandbox: SandboxProcess) -> None:
        """Standard and custom properties carry HubSpot's types; owners reference OWNER."""
        props = {p["name"]: p for p in sandbox.get("/crm/v3/properties/deals").json()["results"]}
        assert props["amount"]["type"] == "number"
        assert props["closedate"]["type"] == "datetime"
        assert props["dealstage"]["type"] == "enumeration" and props["dealstage"]["options"]
        assert props["hubspot_owner_id"]["referencedObjectType"] == "OWNER"
        assert (
            props["renewal_date"]["type"] == "date" and not props["renewal_date"]["hubspotDefined"]
        )

    def test_account_details_follow_ui_domain(self, make_sandbox: SandboxFactory) -> None:
        """An EU sandbox reports the EU UI domain and hosting location."""
        eu = make_sandbox(
            "--deals", "10", "--ui-domain", "app-eu1.hubspot.com", "--portal-id", "777"
        )
        body = eu.get("/account-info/v3/details").json()
        assert (body["portalId"], body["uiDomain"], body["dataHostingLocation"]) == (
            777,
            "app-eu1.hubspot.com",
            "eu1",
        )


class TestAuth:
    def test_unknown_token(self, sandbox: SandboxProcess) -> None:
        """An unknown token gets HubSpot's 401 INVALID_AUTHENTICATION body."""
        reply = sandbox.get(
            "/crm/v3/objects/deals", token="pat-na1-00000000-0000-0000-0000-000000000000"
        )
        assert reply.status_code == 401
        assert reply.json()["category"] == "INVALID_AUTHENTICATION"

    def test_missing_header(self, sandbox: SandboxProcess) -> None:
        """No Authorization header is a 401 too."""
        assert httpx.get(f"{sandbox.url}/crm/v3/objects/deals").status_code == 401

    def test_token_in_query_string_is_refused(self, sandbox: SandboxProcess) -> None:
        """Credentials in the URL are refused even when valid."""
        assert (
            httpx.get(f"{sandbox.url}/crm/v3/objects/deals?hapikey={DEMO_TOKEN}").status_code == 401
        )
        assert sandbox.get(f"/crm/v3/objects/deals?access_token={DEMO_TOKEN}").status_code == 401

    def test_missing_scope_names_it(self, make_sandbox: SandboxFactory) -> None:
        """A token without contacts scope gets 403 MISSING_SCOPES naming the scope."""
        limited = make_sandbox("--deals", "10", "--token", "pat-na1-limited=crm.objects.deals.read")
        ok = limited.get("/crm/v3/objects/deals", token="pat-na1-limited")
        assert ok.status_code == 200
        denied = limited.get("/crm/v3/objects/deals?associations=contacts", token="pat-na1-limited")
        assert denied.status_code == 403
        body = denied.json()
        assert body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [
            "crm.objects.contacts.read"
        ]

    def test_uri_too_long(self, sandbox: SandboxProcess) -> None:
        """Hundreds of properties on a GET pass 16,000 characters and get 414."""
        props = ",".join(f"custom_property_number_{n}" for n in range(800))
        assert sandbox.get(f"/crm/v3/objects/deals?properties={props}").status_code == 414


class TestRateLimits:
    def test_burst_window_headers_and_429(self, make_sandbox: SandboxFactory) -> None:
        """The 10-second window counts down in headers, then answers TEN_SECONDLY_ROLLING 429s."""
        limited = make_sandbox("--deals", "10", "--rate-limit", "5")
        remaining = []
        for _ in range(5):
            reply = limited.get("/crm/v3/objects/deals?limit=1")
            assert reply.headers["X-HubSpot-RateLimit-Max"] == "5"
            assert reply.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
            remaining.append(int(reply.headers["X-HubSpot-RateLimit-Remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        refused = limited.get("/crm/v3/objects/deals?limit=1")
        assert refused.status_code == 429
        assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert limited.stats()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}

    def test_burst_window_length_is_a_parameter(self, make_sandbox: SandboxFactory) -> None:
        """--rate-window-ms shortens the window and announces it, as HubSpot announces its own."""
        limited = make_sandbox("--deals", "10", "--rate-limit", "2", "--rate-window-ms", "400")
        replies = [limited.get("/crm/v3/objects/deals?limit=1") for _ in range(3)]
        assert [r.status_code for r in replies] == [200, 200, 429]
        assert replies[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "400"
        assert replies[0].headers["X-HubSpot-RateLimit-Secondly"] == "5"
        time.sleep(0.4)  # the window itself: its length is what this test is about
        assert limited.get("/crm/v3/objects/deals?limit=1").status_code == 200

    def test_search_has_its_own_window_and_no_headers(self, make_sandbox: SandboxFactory) -> None:
        """Search is outside the burst window, carries no rate-limit headers, and 429s SECONDLY."""
        limited = make_sandbox("--deals", "10", "--rate-limit", "2", "--search-rate", "3")
        replies = [search(limited) for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in replies[0].headers)
        assert replies[3].json()["policyName"] == "SECONDLY"
        assert replies[3].json()["message"] == "You have reached your secondly limit."
        assert (
            limited.get("/crm/v3/objects/deals").status_code == 200
        )  # the burst window is untouched

    def test_association_batches_are_exempt(self, make_sandbox: SandboxFactory) -> None:
        """v4 association batch reads do not count against the 10-second window."""
        limited = make_sandbox("--deals", "10", "--rate-limit", "2")
        body = {"inputs": [{"id": "10000000000"}]}
        codes = [
            limited.post("/crm/v4/associations/deals/companies/batch/read", body).status_code
            for _ in range(6)
        ]
        assert 429 not in codes
        assert limited.get("/crm/v3/objects/deals").status_code == 200

    def test_daily_limit(self, make_sandbox: SandboxFactory) -> None:
        """The daily counter covers every endpoint and answers DAILY once spent."""
        limited = make_sandbox("--deals", "10", "--daily-limit", "3")
        limited.get("/crm/v3/objects/deals")
        search(limited)
        limited.post(
            "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": "10000000000"}]}
        )
        refused = limited.get("/crm/v3/objects/deals")
        assert refused.status_code == 429
        assert refused.json()["policyName"] == "DAILY"


class TestFaultsAndChurn:
    def test_fault_kinds_are_injected(self, make_sandbox: SandboxFactory) -> None:
        """At rate 1 every call fails in one of the configured ways, and the counters say which."""
        faulty = make_sandbox(
            "--deals", "10", "--fault-rate", "1", "--fault-kinds", "503,429,truncate,drop"
        )
        outcomes = set()
        for _ in range(40):
            try:
                reply = faulty.get("/crm/v3/objects/deals?limit=5")
            except httpx.RemoteProtocolError:
                outcomes.add("drop")
                continue
            if reply.status_code == 429:
                assert reply.headers["Retry-After"] == "1"
            if reply.status_code == 200:
                with pytest.raises(ValueError):  # noqa: PT011 - json's own error type
                    reply.json()
                outcomes.add("truncate")
            else:
                outcomes.add(str(reply.status_code))
        assert outcomes == {"503", "429", "truncate", "drop"}
        assert faulty.stats()["faults_total"] == 40

    def test_faults_switch_at_runtime(self, make_sandbox: SandboxFactory) -> None:
        """POST /_sandbox/faults changes the fault rate of a running sandbox."""
        faulty = make_sandbox("--deals", "10")
        faulty.set_faults(1.0, ["500"])
        assert faulty.get("/crm/v3/objects/deals").status_code == 500
        faulty.set_faults(0.0)
        assert faulty.get("/crm/v3/objects/deals").status_code == 200

    def test_latency(self, make_sandbox: SandboxFactory) -> None:
        """--latency-ms delays every API reply."""
        slow = make_sandbox("--deals", "10", "--latency-ms", "300")
        started = time.monotonic()
        slow.get("/crm/v3/objects/deals")
        assert time.monotonic() - started >= 0.3

    def test_churn_creates_updates_and_archives(self, make_sandbox: SandboxFactory) -> None:
        """With churn on, deals are created, modified and archived; the truth follows."""
        moving = make_sandbox("--deals", "200", "--churn", "100")
        deadline = time.monotonic() + 30
        while moving.stats()["version"] <= 100 and time.monotonic() < deadline:
            time.sleep(0.05)  # a poll for the event: a hundred changes drawn
        truth = moving.truth()
        assert len(truth) > 200
        assert any(d["properties"]["hs_lastmodifieddate"] > "2026" for d in truth[:200])
        archived_now = [d for d in truth if d["archived"] and d["archivedAt"] > "2026"]
        assert archived_now
        assert moving.stats()["version"] > 100


class TestGroundTruth:
    def test_http_truth_equals_python_truth(self, sandbox: SandboxProcess) -> None:
        """/_sandbox/deals streams what ground_truth() computes, archived deals included."""
        over_http = sandbox.truth()
        assert over_http == list(ground_truth(deals=1500))
        assert any(d["archived"] for d in over_http)
        assert set(over_http[0]["associations"]) == {"contacts", "companies", "line_items"}

    def test_data_is_realistic(self, sandbox: SandboxProcess) -> None:
        """Nulls, empty amounts, unicode names, several currencies, heavy deals."""
        truth = list(ground_truth(deals=1500))
        props = [d["properties"] for d in truth]
        assert any(p["amount"] is None for p in props) and any(p["amount"] == "" for p in props)
        assert any(not p["dealname"].isascii() for p in props)
        assert len({p["deal_currency_code"] for p in props}) >= 4
        assert any(len(d["associations"]["contacts"]) > 500 for d in truth)
        assert any("." in (p["amount"] or "") for p in props)
