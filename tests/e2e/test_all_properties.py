"""Every property, typed by the portal's own schema; property history; merges. Against a portal
with 300 custom properties of every HubSpot type, each value is checked against the sandbox's
ground truth, and each export column's type against the portal's definitions (read back with
pyarrow), with an oracle of this file's own for what each type becomes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hubspot_deals.engine import DEFAULT_PROPERTIES
from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import LATEST_ONLY, NO_LIMITS
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess, new_service, service_env
from tests.e2e.test_extraction import Expectation, assert_rows_match

CUSTOM = 300
PROPERTIES = "/crm/properties/2026-09/deals"
FAST = (*NO_LIMITS, *LATEST_ONLY)


@pytest.fixture(scope="module")
def wide() -> Iterator[SandboxProcess]:
    running = SandboxProcess.start("--deals", "300", "--custom-properties", str(CUSTOM), *FAST)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def service(
    wide: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    backings: list[Any] = []
    running = new_service(
        tmp_path_factory.mktemp("wide"), service_env(wide), backings, distributed=DISTRIBUTED
    ).start()
    yield running
    running.stop()
    for backing in backings:
        backing.drop()


def definitions(portal: SandboxProcess) -> dict[str, dict[str, Any]]:
    reply = portal.get(PROPERTIES)
    assert reply.status_code == 200, reply.text
    return {d["name"]: d for d in reply.json()["results"]}


def scan(service: ServiceProcess, portal: SandboxProcess, scan_id: str, **config: Any) -> dict:
    reply = service.start_scan(scan_id, portal.token, **config)
    assert reply.status_code == 202, reply.text
    status = service.wait(scan_id)
    assert status["status"] == "completed", status
    return status


def export(service: ServiceProcess, scan_id: str, fmt: str, **params: Any) -> bytes:
    reply = service.get(f"/api/v1/scan/results/{scan_id}/export", params={"format": fmt} | params)
    assert reply.status_code == 200, reply.text
    return reply.content


# -- the oracle: what each HubSpot type becomes ------------------------------------------------


def arrow_type(definition: dict[str, Any]) -> pa.DataType:
    kind, field = definition["type"], definition["fieldType"]
    if kind == "enumeration" and field == "checkbox":
        return pa.list_(pa.string())
    return {
        "number": pa.float64(),
        "date": pa.date32(),
        "datetime": pa.timestamp("ms", tz="UTC"),
        "bool": pa.bool_(),
    }.get(kind, pa.string())


def expected(definition: dict[str, Any], raw: str | None) -> Any:
    """HubSpot's string as the type it declares (ValueError when it is not of it)."""
    kind, field = definition["type"], definition["fieldType"]
    if raw is None or (raw == "" and kind != "string"):
        return None
    if kind == "number":
        return float(raw)
    if kind == "date":
        return date.fromisoformat(raw[:10])
    if kind == "datetime":
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if kind == "bool":
        return {"true": True, "false": False}[raw]
    if kind == "enumeration" and field == "checkbox":
        return [v for v in raw.split(";") if v]
    return raw


def fits(definition: dict[str, Any], raw: str | None) -> bool:
    try:
        expected(definition, raw)
    except (ValueError, KeyError):
        return False
    return True


# -- every property --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def everything(service: ServiceProcess, wide: SandboxProcess) -> list[dict[str, Any]]:
    """One scan of every property, archived deals too: its rows."""
    scan(service, wide, "all-props", properties="all", filters={"includeArchived": True})
    return service.all_deals("all-props")


def test_every_property_of_every_deal(
    everything: list[dict[str, Any]], wide: SandboxProcess
) -> None:
    defined = definitions(wide)
    kinds = {(d["type"], d["fieldType"]) for d in defined.values() if not d["hubspotDefined"]}
    assert len([d for d in defined.values() if not d["hubspotDefined"]]) >= CUSTOM
    assert {("number", "calculation_equation"), ("enumeration", "checkbox")} <= kinds
    assert any(d["hidden"] for d in defined.values())
    truth = {d["id"]: d for d in wide.truth()}
    assert sorted(r["deal_id"] for r in everything) == sorted(truth)
    for row in everything:
        assert set(row["properties"]) == set(defined), row["deal_id"]
        wanted = truth[row["deal_id"]]["properties"]
        assert row["properties"] == {name: wanted.get(name) for name in defined}, row["deal_id"]
    # sparse, as real portals are: some custom properties are mostly empty, none always
    custom = [n for n, d in defined.items() if not d["hubspotDefined"]]
    filled = {n: sum(1 for r in everything if r["properties"][n] not in (None, "")) for n in custom}
    assert min(filled.values()) < len(everything) * 0.5 and max(filled.values()) < len(everything)


def test_schema_endpoint_answers_the_definitions(
    everything: list[dict[str, Any]], service: ServiceProcess, wide: SandboxProcess
) -> None:
    reply = service.get("/api/v1/scan/schema/all-props")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["scanId"] == "all-props" and body["status"] == "completed"
    got = {p["name"]: p for p in body["properties"]}
    defined = definitions(wide)
    assert set(got) == set(defined)
    for name, d in defined.items():
        assert got[name] == {
            "name": name,
            "label": d["label"],
            "type": d["type"],
            "fieldType": d["fieldType"],
            "group": d["groupName"],
            "options": [{"value": o["value"], "label": o["label"]} for o in d["options"]],
            "hidden": d.get("hidden", False),
            "calculated": d.get("calculated", False),
            "hubspotDefined": d.get("hubspotDefined", False),
        }, name
    assert service.get("/api/v1/scan/schema/no-such-scan").json()["error_code"] == "SCAN_NOT_FOUND"
    status = service.status("all-props")
    assert status["schema_changes"] is None  # a first run: nothing to compare with
    assert status["results"]["untyped_values"] == 0


def test_exports_are_typed_by_the_definitions(
    everything: list[dict[str, Any]], service: ServiceProcess, wide: SandboxProcess
) -> None:
    defined = definitions(wide)
    by_id = {r["deal_id"]: r["properties"] for r in everything}
    table = pq.read_table(io.BytesIO(export(service, "all-props", "parquet")))
    struct = table.schema.field("properties").type
    assert {struct.field(i).name for i in range(struct.num_fields)} == set(defined)
    for i in range(struct.num_fields):
        field = struct.field(i)
        assert field.type == arrow_type(defined[field.name]), field.name
    for record in table.to_pylist():
        raw = by_id[record["deal_id"]]
        for name, value in record["properties"].items():
            assert value == expected(defined[name], raw[name]), (record["deal_id"], name)
        assert record["properties_untyped"] is None
    # NDJSON: HubSpot's strings in properties, typed values beside them
    lines = [json.loads(line) for line in export(service, "all-props", "ndjson").splitlines()]
    for line in lines:
        assert line["properties"] == by_id[line["deal_id"]]
        for name, value in line["properties_typed"].items():
            want = expected(defined[name], line["properties"][name])
            assert parsed(value, want) == want, (line["deal_id"], name)
    # CSV: the same values in one text form each
    rows = list(csv.DictReader(io.StringIO(export(service, "all-props", "csv").decode())))
    for row in rows:
        for name, d in defined.items():
            text = row[f"properties.{name}"]
            want = expected(d, by_id[row["deal_id"]][name])
            if isinstance(want, bool):
                assert text == ("true" if want else "false")
            elif isinstance(want, float):
                assert float(text) == want
            elif isinstance(want, list):
                assert text == ";".join(want)
            elif isinstance(want, date):
                assert parsed(text, want) == want, (name, text, want)
            else:
                assert text == (want or ""), (name, text, want)


def parsed(value: Any, like: Any) -> Any:
    """An export's ISO text as the moment or date ``like`` is."""
    if isinstance(like, datetime):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(like, date):
        return date.fromisoformat(value)
    return value


def _same_moment(a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    parse = (
        date.fromisoformat
        if len(a) == 10
        else lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
    )
    return bool(parse(a) == parse(b))


# -- property history ------------------------------------------------------------------------


def test_history_of_five_properties_in_rows_and_exports(
    everything: list[dict[str, Any]], service: ServiceProcess, wide: SandboxProcess
) -> None:
    """(``everything``: the scan without history whose history export is refused below.)"""
    wide.churn(update=120)
    wide.churn(update=120)  # twice: some deals change twice, so histories run deeper
    defined = definitions(wide)
    number = next(
        n
        for n, d in defined.items()
        if d["type"] == "number" and not d["calculated"] and not d["hubspotDefined"]
    )
    checkbox = next(n for n, d in defined.items() if d["fieldType"] == "checkbox")
    watched = ["amount", "dealstage", "dealname", number, checkbox]
    scan(service, wide, "with-history", properties=watched, propertiesWithHistory=watched)
    rows = service.all_deals("with-history")
    truth = {d["id"]: d for d in wide.truth(history=watched)}
    deepest = 0
    for row in rows:
        kept = truth[row["deal_id"]]["propertiesWithHistory"]
        want = {
            name: [
                {
                    "value": e["value"],
                    "timestamp": e["timestamp"].replace(".000Z", "Z"),
                    "source": e["sourceType"],
                    "source_id": e.get("sourceId"),
                }
                for e in reversed(kept.get(name, []))  # HubSpot lists newest first
            ]
            for name in watched
        }
        got = {
            name: [v | {"timestamp": v["timestamp"].replace(".000Z", "Z")} for v in values]
            for name, values in row["property_history"].items()
        }
        assert got == want, row["deal_id"]
        deepest = max(deepest, *(len(v) for v in want.values()))
    assert deepest >= 3  # churn's changes are in it, not only the creation values
    lines = [
        (row["deal_id"], name, v["value"], v["timestamp"], v["source"], v["source_id"])
        for row in rows
        for name, values in row["property_history"].items()
        for v in values
    ]
    as_csv = list(
        csv.reader(
            io.StringIO(export(service, "with-history", "csv", table="property_history").decode())
        )
    )
    assert as_csv[0] == ["deal_id", "property", "value", "timestamp", "source", "source_id"]
    assert [tuple(c or None for c in line) for line in as_csv[1:]] == [
        tuple(c if c != "" else None for c in line) for line in lines
    ]
    ndjson = export(service, "with-history", "ndjson", table="property_history").splitlines()
    assert [tuple(json.loads(x).values()) for x in ndjson] == lines
    table = pq.read_table(
        io.BytesIO(export(service, "with-history", "parquet", table="property_history"))
    )
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    got_parquet = [
        (r["deal_id"], r["property"], r["value"], r["timestamp"], r["source"], r["source_id"])
        for r in table.to_pylist()
    ]
    assert len(got_parquet) == len(lines)
    for mine, theirs in zip(got_parquet, lines, strict=True):
        assert mine[:3] == theirs[:3] and mine[4:] == theirs[4:]
        assert _same_moment(mine[3].isoformat(), theirs[3])
    refused = service.get(
        "/api/v1/scan/results/all-props/export", params={"table": "property_history"}
    )
    assert refused.status_code == 400 and "table" in refused.json()["errors"], refused.text


# -- schema changes --------------------------------------------------------------------------


def test_schema_changes_are_reported_and_backfilled(
    service: ServiceProcess, wide: SandboxProcess
) -> None:
    scan(service, wide, "evolving", properties="all")
    defined = definitions(wide)
    text = next(
        n for n, d in defined.items() if d["fieldType"] == "text" and not d["hubspotDefined"]
    )
    wide.change_properties(
        create=[
            {
                "name": "added_score",
                "label": "Added score",
                "type": "number",
                "fieldType": "number",
                "groupName": "deal_custom",
            },
            {
                "name": "added_note",
                "label": "Added note",
                "type": "string",
                "fieldType": "text",
                "groupName": "deal_custom",
            },
        ],
        retype={text: {"type": "number", "fieldType": "number"}},
    )
    status = scan(service, wide, "evolving", properties="all", mode="incremental")
    assert sorted(status["schema_changes"]["added"]) == ["added_note", "added_score"]
    assert status["schema_changes"]["removed"] == []
    assert status["schema_changes"]["retyped"] == [
        {
            "name": text,
            "from": {"type": "string", "fieldType": "text"},
            "to": {"type": "number", "fieldType": "number"},
        }
    ]
    assert status["sync"]["mode"] == "full" and "properties changed" in status["sync"]["reason"]
    rows = service.all_deals("evolving")
    truth = {d["id"]: d["properties"] for d in wide.truth()}
    now_defined = definitions(wide)
    assert all(set(r["properties"]) == set(now_defined) for r in rows)
    assert all(
        r["properties"] == {n: truth[r["deal_id"]].get(n) for n in now_defined} for r in rows
    )
    misfits = [r for r in rows if not fits(now_defined[text], r["properties"][text])]
    assert misfits  # text values of a property now declared a number
    assert status["results"]["untyped_values"] >= len(misfits)
    table = pq.read_table(io.BytesIO(export(service, "evolving", "parquet")))
    by_id = {r["deal_id"]: r for r in table.to_pylist()}
    for row in misfits:
        record = by_id[row["deal_id"]]
        assert record["properties"][text] is None
        assert (text, row["properties"][text]) in record["properties_untyped"]
    metadata = pq.ParquetFile(io.BytesIO(export(service, "evolving", "parquet"))).metadata.metadata
    assert int(metadata[b"untyped_values"]) >= len(misfits)
    lines = {
        json.loads(x)["deal_id"]: json.loads(x)
        for x in export(service, "evolving", "ndjson").splitlines()
    }
    for row in misfits:  # kept as text beside the typed values
        assert lines[row["deal_id"]]["properties_typed"][text] == row["properties"][text]


# -- merges ----------------------------------------------------------------------------------


def test_merges_are_their_own_change(service: ServiceProcess, wide: SandboxProcess) -> None:
    kinds = ("contacts", "companies", "line_items")
    scan(service, wide, "merging", includeAssociations=True)
    merged = wide.churn(merge=5)["changed"]
    survivors, gone = merged["merge"], merged["merged"]
    assert len(survivors) == len(gone) == 5
    status = scan(service, wide, "merging", includeAssociations=True, mode="incremental")
    assert status["sync"]["mode"] == "incremental"
    changes = status["results"]["changes"]
    assert changes["merged"] == 5 and changes["removed"] == 0, changes
    rows = service.all_deals("merging")
    by_id = {r["deal_id"]: r for r in rows}
    assert not set(gone) & set(by_id)
    for survivor, absorbed in zip(survivors, gone, strict=True):
        assert absorbed in by_id[survivor]["merged_from"]
    expect = Expectation(wide)
    live = {i for i, d in expect.truth.items() if not d["archived"]}
    assert_rows_match(rows, expect, live, list(DEFAULT_PROPERTIES), kinds)


@pytest.mark.mode_independent  # the client's requests; stored the same in both modes
def test_a_thousand_properties_without_a_414(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    portal = SandboxProcess.start("--deals", "250", "--custom-properties", "1000", *FAST)
    backings: list[Any] = []
    service = new_service(
        tmp_path_factory.mktemp("thousand"), service_env(portal), backings, distributed=False
    ).start()
    try:
        scan(service, portal, "thousand", properties="all")
        rows = service.all_deals("thousand")
        truth = {d["id"]: d["properties"] for d in portal.truth()}
        defined = definitions(portal)
        assert len(defined) > 1000 and len(rows) == sum(
            1 for d in portal.truth() if not d["archived"]
        )
        for row in rows:
            assert row["properties"] == {n: truth[row["deal_id"]].get(n) for n in defined}
        statuses = {code for codes in portal.stats()["requests"].values() for code in codes}
        assert "414" not in statuses and 414 not in statuses
    finally:
        service.stop()
        portal.stop()
