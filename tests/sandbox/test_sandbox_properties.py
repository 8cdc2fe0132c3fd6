"""Custom properties of every type, the schema changed while the sandbox runs, and the history of
every property: in process (``inprocess.InProcess``), small portals, no sleeps."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from hubspot_deals.sandbox.churn import Churner
from hubspot_deals.sandbox.custom_properties import KINDS
from hubspot_deals.sandbox.portal import Portal
from tests.sandbox.inprocess import BATCH, LIST, InProcess

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PHONE = re.compile(r"^[+(]?[\d ()+-]{7,}$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def custom(definitions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: d for n, d in definitions.items() if not d["hubspotDefined"]}


def assert_fits(definition: dict[str, Any], value: str) -> None:
    """The value is in HubSpot's string format for the property's type and field type."""
    kind, field_type = definition["type"], definition["fieldType"]
    options = {o["value"] for o in definition["options"]}
    if kind == "number":
        Decimal(value)
        if definition.get("showCurrencySymbol") or field_type == "calculation_equation":
            assert re.match(r"^\d+\.\d\d$", value), value
    elif kind == "date":
        assert re.match(r"^\d{4}-\d\d-\d\d$", value) and date.fromisoformat(value), value
    elif kind == "datetime":
        assert DATETIME.match(value) and datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif kind == "bool":
        assert value in ("true", "false")
    elif kind == "enumeration" and field_type == "checkbox":
        picked = value.split(";")
        assert 1 <= len(picked) <= 3 and len(set(picked)) == len(picked)
        assert set(picked) <= options, value
    elif kind == "enumeration":
        assert value in options, value
    elif kind == "phone_number":
        assert PHONE.match(value), value
    else:
        assert kind == "string" and value


class TestCustomProperties:
    def test_every_type_listed_with_realistic_definitions(self) -> None:
        """Two turns of the cycle: every type/field type pair, unique lower-case names, human
        labels, custom groups, about one in ten hidden; the built-in custom ones still there."""
        portal = InProcess(deals=10, custom_properties=48)
        definitions = portal.definitions()
        generated = {n: d for n, d in custom(definitions).items() if re.search(r"_\d+$", n)}
        assert len(generated) == 48
        pairs = Counter(
            (d["type"], d["fieldType"], bool(d.get("showCurrencySymbol")), d["calculated"])
            for d in generated.values()
        )
        assert len(pairs) == len(KINDS) == 12 and set(pairs.values()) == {4}
        assert {
            ("number", "number", True, False),
            ("number", "calculation_equation", False, True),
            ("enumeration", "checkbox", False, False),
        } <= set(pairs)
        assert all(NAME.match(n) and d["label"] and d["label"] != n for n, d in generated.items())
        assert {d["groupName"] for d in generated.values()} >= {"deal_custom", "deal_revenue"}
        assert 3 <= sum(d["hidden"] for d in generated.values()) <= 7
        for d in generated.values():
            assert d["modificationMetadata"]["archivable"]
            assert d["modificationMetadata"]["readOnlyValue"] == d["calculated"]
            if d["type"] == "enumeration" or d["type"] == "bool":
                assert d["options"], d["name"]
        currency = [d for d in generated.values() if d.get("showCurrencySymbol")]
        assert all(d["numberDisplayHint"] == "currency" for d in currency)
        assert {"contract_tier", "renewal_date", "seats", "is_strategic"} <= set(
            custom(definitions)
        )
        merged = definitions["hs_merged_object_ids"]
        assert (merged["type"], merged["fieldType"], merged["hubspotDefined"]) == (
            "enumeration",
            "checkbox",
            True,
        )
        assert merged["modificationMetadata"]["readOnlyValue"]

    def test_values_parse_as_their_type_and_are_sparse(self) -> None:
        """Every value fits its type (before and after churn set some); each property has its own
        fill rate, between 15% and 95%."""
        portal = InProcess(deals=1500, custom_properties=36)
        definitions = custom(portal.definitions())
        portal.churn(update=300)
        deals = list(portal.truth().values())
        for name, definition in definitions.items():
            for deal in deals:
                value = deal["properties"][name]
                if value:
                    assert_fits(definition, value)
        rates = [
            sum(d["properties"][n] is not None for d in deals) / len(deals)
            for n in definitions
            if re.search(r"_\d+$", n)
        ]
        assert all(0.1 < r < 0.99 for r in rates), rates
        assert min(rates) < 0.45 and max(rates) > 0.7

    def test_values_are_a_pure_function_of_seed_and_index(self) -> None:
        """The same seed gives the same values; another seed other values."""
        a, b, c = (Portal(deals=50, seed=s, custom_properties=24) for s in (5, 5, 6))
        names = [n for n in a.catalog.names() if re.search(r"_\d+$", n)]
        values = [[p.value(i, n) for i in range(50) for n in names] for p in (a, b, c)]
        assert values[0] == values[1] != values[2]

    def test_a_thousand_properties_outgrow_the_uri_but_not_the_bodies(self) -> None:
        """A list naming all 1,000 is a 414, as HubSpot's edge answers; batch read and search
        take them in their bodies."""
        portal = InProcess(deals=30, custom_properties=1000)
        names = list(custom(portal.definitions()))
        assert len(names) >= 1000
        long = portal.get(f"{LIST}?limit=5&properties={','.join(names)}")
        assert long.status_code == 414
        ids = [str(10_000_000_000 + 7 * i) for i in range(5)]
        batch = portal.ok(
            portal.post(BATCH, {"inputs": [{"id": i} for i in ids], "properties": names})
        )
        assert len(batch["results"]) == 5
        assert all(set(names) <= set(d["properties"]) for d in batch["results"])
        found = portal.search(properties=names, limit=3)
        assert all(set(names) <= set(d["properties"]) for d in found["results"])
        truth = portal.truth()[ids[0]]["properties"]
        assert {n: truth[n] for n in names} == {
            n: batch["results"][0]["properties"][n] for n in names
        }


class TestSearchOnCustomProperties:
    def test_filters_and_sorts_by_type(self) -> None:
        """EQ, IN, GT, BETWEEN, HAS_PROPERTY and a sort on custom properties give what the ground
        truth says, each compared by its type."""
        portal = InProcess(deals=400, custom_properties=12)
        definitions = custom(portal.definitions())
        live = [d for d in portal.truth().values() if not d["archived"]]

        def named(kind: str, field_type: str) -> str:
            return next(
                n
                for n, d in definitions.items()
                if (d["type"], d["fieldType"]) == (kind, field_type) and re.search(r"_\d+$", n)
            )

        number, when = named("number", "number"), named("datetime", "date")
        region, phone = named("enumeration", "select"), named("phone_number", "phonenumber")
        day = named("date", "date")

        def expect(test: Any) -> list[str]:
            return [d["id"] for d in live if test(d["properties"])]

        def ms(value: str) -> int:
            return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)

        cases: list[tuple[dict[str, Any], Any]] = [
            (
                {"propertyName": number, "operator": "GT", "value": "100"},
                lambda p: p[number] and Decimal(p[number]) > 100,
            ),
            (
                {"propertyName": region, "operator": "EQ", "value": "emea"},
                lambda p: p[region] == "emea",
            ),
            (
                {"propertyName": region, "operator": "IN", "values": ["na", "apac"]},
                lambda p: p[region] in ("na", "apac"),
            ),
            (
                {"propertyName": phone, "operator": "HAS_PROPERTY"},
                lambda p: bool(p[phone]),
            ),
            (
                {
                    "propertyName": when,
                    "operator": "BETWEEN",
                    "value": "2020-01-01T00:00:00Z",
                    "highValue": "2022-01-01T00:00:00Z",
                },
                lambda p: (
                    p[when]
                    and ms("2020-01-01T00:00:00Z") <= ms(p[when]) <= ms("2022-01-01T00:00:00Z")
                ),
            ),
            (
                {"propertyName": day, "operator": "LT", "value": "2021-06-01"},
                lambda p: p[day] and p[day] < "2021-06-01",
            ),
        ]
        for flt, test in cases:
            wanted = expect(test)
            assert wanted, flt
            assert portal.search_ids(flt) == wanted, flt
        ordered = portal.search_ids(sorts=[{"propertyName": number, "direction": "DESCENDING"}])
        with_value = [d for d in live if d["properties"][number]]
        top = sorted(
            with_value, key=lambda d: (Decimal(d["properties"][number]), int(d["id"])), reverse=True
        )
        assert ordered[: len(top)] == [d["id"] for d in top]


class TestSchemaSideDoor:
    def test_create_archive_and_retype(self) -> None:
        """Created properties get values on every deal and are searchable; archived ones leave the
        list (archived=true has them) and are ignored like unknown names; a retyped one keeps its
        stored values, some no longer fitting the new type."""
        portal = InProcess(deals=300, custom_properties=12)
        before = portal.definitions()
        target = next(
            n for n, d in before.items() if d["type"] == "number" and re.search(r"_\d+$", n)
        )
        gone = next(
            n for n, d in before.items() if d["type"] == "string" and re.search(r"_\d+$", n)
        )
        values_before = {i: d["properties"][target] for i, d in portal.truth().items()}
        reply = portal.change(
            create=[
                {
                    "name": "buying_stage_x",
                    "label": "Buying stage",
                    "type": "enumeration",
                    "fieldType": "checkbox",
                    "groupName": "deal_operations",
                    "options": [
                        {"label": "Research", "value": "research"},
                        {"label": "Trial", "value": "trial"},
                        {"label": "Legal", "value": "legal"},
                    ],
                },
                {
                    "name": "signed_on",
                    "label": "Signed on",
                    "type": "date",
                    "fieldType": "date",
                    "description": "The day the contract was signed.",
                    "hidden": True,
                },
            ],
            archive=[gone],
            retype={target: {"type": "string", "fieldType": "text"}},
        )
        answer = portal.ok(reply)
        assert [d["name"] for d in answer["created"]] == ["buying_stage_x", "signed_on"]
        assert answer["retyped"][0]["type"] == "string" and answer["archived"][0]["archived"]
        after = portal.definitions()
        assert {"buying_stage_x", "signed_on"} <= set(after) and gone not in after
        assert gone in portal.definitions(archived=True)
        assert after[target]["type"] == "string" and after[target]["fieldType"] == "text"
        assert after["signed_on"]["description"] == "The day the contract was signed."
        assert after["signed_on"]["hidden"] and after["buying_stage_x"]["groupName"] == (
            "deal_operations"
        )

        truth = portal.truth()
        assert all(gone not in d["properties"] for d in truth.values())
        assert {i: d["properties"][target] for i, d in truth.items()} == values_before
        created = [d["properties"]["buying_stage_x"] for d in truth.values()]
        assert 0 < sum(v is not None for v in created) < len(created)
        for deal in truth.values():
            for name in ("buying_stage_x", "signed_on"):
                if deal["properties"][name]:
                    assert_fits(after[name], deal["properties"][name])
        first = next(iter(truth))
        listed = portal.ok(portal.get(f"{LIST}/{first}?properties={gone},signed_on"))
        assert gone not in listed["properties"] and "signed_on" in listed["properties"]
        assert portal.search({"propertyName": gone, "operator": "HAS_PROPERTY"})["total"] == 0
        legal = portal.search_ids(
            {"propertyName": "buying_stage_x", "operator": "CONTAINS_TOKEN", "value": "legal"}
        )
        assert legal == [
            i
            for i, d in truth.items()
            if "legal" in (d["properties"]["buying_stage_x"] or "") and not d["archived"]
        ]
        # retyped to string: a number filter on it now compares strings, as the new type says
        value = next(v for v in values_before.values() if v)
        assert (
            portal.search({"propertyName": target, "operator": "EQ", "value": value})["total"] >= 1
        )

    @pytest.mark.parametrize(
        "body",
        [
            {"create": [{"name": "x1", "label": "X", "type": "money", "fieldType": "number"}]},
            {"create": [{"name": "x1", "label": "X", "type": "number", "fieldType": "slider"}]},
            {"create": [{"name": "x1", "label": "X", "type": "date", "fieldType": "checkbox"}]},
            {
                "create": [
                    {"name": "x1", "label": "X", "type": "enumeration", "fieldType": "select"}
                ]
            },
            {"create": [{"name": "Bad Name", "label": "X", "type": "string", "fieldType": "text"}]},
            {"create": [{"name": "seats", "label": "X", "type": "string", "fieldType": "text"}]},
            {"create": [{"name": "x1", "type": "string", "fieldType": "text"}]},
            {
                "create": [
                    {"name": "x1", "label": "X", "type": "string", "fieldType": "text", "extra": 1}
                ]
            },
            {
                "create": [
                    {
                        "name": "x1",
                        "label": "X",
                        "type": "string",
                        "fieldType": "text",
                        "description": 5,
                    }
                ]
            },
            {"archive": ["dealname"]},
            {"archive": ["no_such_property"]},
            {"retype": {"amount": {"type": "string", "fieldType": "text"}}},
            {"retype": {"seats": {"type": "enumeration", "fieldType": "select"}}},
            {"retype": {"seats": {"type": "bool", "fieldType": "text"}}},
            {"archive": ["seats"], "retype": {"seats": {"type": "string", "fieldType": "text"}}},
            {"drop": ["seats"]},
            [],
            "not json",
        ],
    )
    def test_bad_changes_are_400_and_change_nothing(self, body: Any) -> None:
        """Unknown types and field types, pairs HubSpot does not make, an enumeration without
        options, bad or taken names, HubSpot-defined properties: 400 VALIDATION_ERROR."""
        portal = InProcess(deals=5)
        before = portal.definitions(), portal.definitions(archived=True)
        if isinstance(body, str):
            reply = portal.request("POST", "/_sandbox/properties", content=body)
        else:
            reply = portal.post("/_sandbox/properties", body)
        assert reply.status_code == 400, reply.text
        assert reply.json()["category"] == "VALIDATION_ERROR"
        assert (portal.definitions(), portal.definitions(archived=True)) == before


class TestHistoryOfEveryProperty:
    def test_creation_value_then_each_change(self) -> None:
        """After rounds of updates, each property's history is its creation value (sourced as the
        deal's creation) then each change, newest first, a cleared value as ""; the list, read and
        batch read answer what the ground truth says."""
        portal = InProcess(deals=120, custom_properties=24)
        names = [n for n in portal.portal.catalog.names() if n != "dealstage"]
        start = portal.truth()
        rounds: list[tuple[int, dict[str, dict[str, Any]]]] = []
        at = portal.portal.latest_ms
        for _ in range(3):
            at += 60_000
            portal.churn(update=80, at=at)
            rounds.append((at, portal.truth()))
        final = portal.truth(history=names)
        cleared = changed_custom = 0
        for deal_id, deal in final.items():
            for name in names:
                expected: list[tuple[str, int]] = []
                first = start[deal_id]["properties"][name]
                previous = first
                for when, snapshot in rounds:
                    value = snapshot[deal_id]["properties"][name]
                    if value != previous:
                        expected.append((value or "", when))
                        previous = value
                history = deal["propertiesWithHistory"][name]
                got = [(e["value"], ms_of(e["timestamp"])) for e in history]
                changes = got[: len(expected)]
                assert changes == expected[::-1], (deal_id, name)
                assert [e["value"] for e in history[len(expected) :]] == (
                    [] if first is None else [first]
                )
                for entry in history[: len(expected)]:
                    assert entry["sourceType"] == "CRM_UI" and entry["updatedByUserId"]
                cleared += sum(v == "" for v, _ in expected)
                changed_custom += bool(expected) and re.search(r"_\d+$", name) is not None
        assert cleared and changed_custom
        some = list(final)[:40]
        wanted = ["amount", "closedate", *names[-6:]]
        listed = portal.ok(portal.get(f"{LIST}?limit=40&propertiesWithHistory={','.join(wanted)}"))
        batch = portal.ok(
            portal.post(
                BATCH, {"inputs": [{"id": i} for i in some], "propertiesWithHistory": wanted}
            )
        )
        for deal in listed["results"] + batch["results"]:
            assert deal["propertiesWithHistory"] == {
                n: final[deal["id"]]["propertiesWithHistory"][n] for n in wanted
            }

    def test_created_deals_and_never_set_properties(self) -> None:
        """A deal churn created: its values dated at creation through the UI; a property without
        any value has an empty history."""
        portal = InProcess(deals=20, custom_properties=12)
        at = portal.portal.latest_ms + 1000
        created = portal.churn(create=3, at=at)["create"]
        names = list(portal.portal.catalog.names())
        truth = portal.truth(history=names)
        for deal_id in created:
            deal = truth[deal_id]
            for name, value in deal["properties"].items():
                history = deal["propertiesWithHistory"][name]
                if value is None:
                    assert history == []
                elif name != "dealstage":
                    assert [e["value"] for e in history] == [value]
                    assert history[0]["timestamp"] == deal["createdAt"]
                    assert history[0]["sourceType"] == "CRM_UI"

    def test_update_churn_stays_deterministic(self) -> None:
        """Two portals with one seed churn alike, custom properties included."""
        portals = [Portal(deals=200, seed=3, custom_properties=24) for _ in range(2)]
        for portal in portals:
            churner = Churner(portal, seed=3)
            for n in range(1, 4):
                churner.apply({"update": 50, "merge": 2}, portal.latest_ms + n)
        names = tuple(portals[0].catalog.names())
        a, b = (list(p.ground_truth(names)) for p in portals)
        assert a == b


def ms_of(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
