"""Scans end to end: the stored deals equal the sandbox's ground truth, field by field, once each."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess

DEFAULT_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
    "dealtype",
]
KINDS = ("contacts", "companies", "line_items")


def utc(value: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}Z" if millis else "Z")


class Expectation:
    """What a row must hold for a ground-truth deal, computed independently of the engine."""

    def __init__(self, portal: SandboxProcess, edition: str = "2026-09") -> None:
        """``edition``: the one the portal serves (its metadata is read through it)."""
        legacy = edition == "legacy"

        def path(api: str) -> str:
            return f"/crm/v3/{api}" if legacy else f"/crm/{api}/{edition}"

        self.truth = {d["id"]: d for d in portal.truth()}
        pipelines = portal.get(path("pipelines") + "/deals").json()["results"]
        self.pipelines = {p["id"]: p["label"] for p in pipelines}
        self.stages = {(p["id"], s["id"]): s["label"] for p in pipelines for s in p["stages"]}
        self.owners = {
            o["id"]: o["email"]
            for a in ("false", "true")
            for o in portal.get(f"{path('owners')}?archived={a}&limit=500").json()["results"]
        }
        account = "/account-info/v3" if legacy else f"/account-info/{edition}"
        self.account = portal.get(f"{account}/details").json()

    def row(
        self, deal_id: str, requested: list[str], kinds: tuple[str, ...] | None
    ) -> dict[str, Any]:
        deal = self.truth[deal_id]
        p = deal["properties"]
        amount = float(p["amount"]) if p["amount"] else None
        return {
            "deal_id": deal_id,
            "deal_name": p["dealname"],
            "amount": amount,
            "currency": p["deal_currency_code"] or self.account["companyCurrency"],
            "deal_stage": p["dealstage"],
            "deal_stage_label": self.stages[(p["pipeline"], p["dealstage"])],
            "pipeline_id": p["pipeline"],
            "pipeline_label": self.pipelines[p["pipeline"]],
            "close_date": utc(p["closedate"]),
            "deal_created_at": utc(deal["createdAt"]),
            "deal_updated_at": utc(deal["updatedAt"]),
            "owner_id": p["hubspot_owner_id"],
            "owner_email": self.owners.get(p["hubspot_owner_id"])
            if p["hubspot_owner_id"]
            else None,
            "deal_type": p["dealtype"],
            "is_archived": deal["archived"],
            "deal_url": f"https://{self.account['uiDomain']}/contacts/{self.account['portalId']}/record/0-3/{deal_id}",
            "properties": {name: p.get(name) for name in requested},
            "associations": {}
            if kinds is None
            else {k: sorted(deal["associations"][k]) for k in kinds},
            "merged_from": [i for i in (p.get("hs_merged_object_ids") or "").split(";") if i],
        }


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "id"}
    if out["associations"]:
        out["associations"] = {
            k: sorted(a["id"] for a in v) for k, v in out["associations"].items()
        }
    return out


@pytest.fixture(scope="module")
def expect(portal: SandboxProcess) -> Expectation:
    return Expectation(portal)


def typed_amount(row: dict[str, Any]) -> dict[str, Any]:
    """A row as a typed export holds it: the ``amount`` property (a number property) a number,
    nothing but the results entry's fields (exports add ``properties_typed`` or
    ``properties_untyped``)."""
    out = {k: v for k, v in row.items() if k not in ("properties_typed", "properties_untyped")}
    amount = row["properties"].get("amount")
    if isinstance(amount, str):
        out["properties"] = row["properties"] | {"amount": float(amount) if amount else None}
    return out


def assert_rows_match(
    rows: list[dict[str, Any]],
    expect: Expectation,
    ids: set[str],
    requested: list[str],
    kinds: tuple[str, ...] | None,
    *,
    typed: bool = False,
) -> None:
    """Each row the ground truth's; ``typed``: rows of an export, numbers as numbers."""
    counts = Counter(r["deal_id"] for r in rows)
    assert max(counts.values(), default=1) == 1, "a deal was stored twice"
    assert set(counts) == ids
    for row in rows:
        got, wanted = comparable(row), expect.row(row["deal_id"], requested, kinds)
        if typed:
            got, wanted = typed_amount(got), typed_amount(wanted)
        assert got == wanted, row["deal_id"]


class TestFullScans:
    def test_default_config(
        self, service: ServiceProcess, portal: SandboxProcess, expect: Expectation
    ) -> None:
        """Defaults: live deals, the nine standard properties, no associations."""
        reply = service.start_scan("e2e-default", portal.token)
        assert reply.status_code == 202
        body = reply.json()
        assert (
            body["status"] == "started"
            and body["scanId"] == "e2e-default"
            and body["jobId"].startswith("job_")
        )
        status = service.wait("e2e-default")
        assert status["status"] == "completed", status
        live = {i for i, d in expect.truth.items() if not d["archived"]}
        rows = service.all_deals("e2e-default")
        assert_rows_match(rows, expect, live, DEFAULT_PROPERTIES, None)
        assert status["results"]["deals_extracted"] == len(live)
        assert (
            status["progress"]["processed_items"] == len(live) == status["progress"]["total_items"]
        )
        assert status["results"]["archived_deals"] == 0 and status["results"]["data_size_mb"] > 0

    def test_everything(
        self, service: ServiceProcess, portal: SandboxProcess, expect: Expectation
    ) -> None:
        """Archived deals, custom properties and every association, complete past inline limits."""
        props = [
            "dealname",
            "amount",
            "deal_currency_code",
            "contract_tier",
            "renewal_date",
            "region_notes",
        ]
        service.start_scan(
            "e2e-everything",
            portal.token,
            properties=props,
            includeAssociations=True,
            associationTypes=list(KINDS),
            filters={"includeArchived": True},
            batchSize=37,
        )
        status = service.wait("e2e-everything")
        assert status["status"] == "completed", status
        rows = service.all_deals("e2e-everything", page_size=333)
        assert_rows_match(rows, expect, set(expect.truth), props, KINDS)
        archived = sum(1 for d in expect.truth.values() if d["archived"])
        assert status["results"]["archived_deals"] == archived > 0
        heavy = next(
            r for r in rows if r["deal_id"] == "10000003514"
        )  # index 502: hundreds of contacts
        assert len(heavy["associations"]["contacts"]) > 500
        company_types = {a["type"] for r in rows for a in r["associations"]["companies"]}
        assert company_types == {"deal_to_company", "deal_to_company_unlabeled"}

    @pytest.mark.mode_independent  # the client's reading; stored the same in both modes
    def test_hundreds_of_properties_never_hit_the_uri_limit(
        self,
        make_service: Callable[..., ServiceProcess],
        make_sandbox: Callable[..., SandboxProcess],
    ) -> None:
        """700 property names (about 30,000 characters as a query string; HubSpot answers 414
        past 16,000): the list walk moves them to batch/read bodies, and every row is right."""
        sandbox = make_sandbox("--deals", "600", "--rate-limit", "100000", "--search-rate", "1000")
        service = make_service(sandbox)
        props = [*DEFAULT_PROPERTIES, *(f"custom_field_number_{n:04d}_x" for n in range(700))]
        reply = service.start_scan(
            "e2e-wide", sandbox.token, properties=props, filters={"includeArchived": True}
        )
        assert reply.status_code == 202, reply.text
        status = service.wait("e2e-wide")
        assert status["status"] == "completed", status
        wide = Expectation(sandbox)
        assert_rows_match(service.all_deals("e2e-wide"), wide, set(wide.truth), props, None)
        requests = sandbox.stats()["requests"]
        assert "414" not in str(requests)
        assert sum(requests["POST /crm/objects/2026-09/{object_type}/batch/read"].values()) > 0

    @pytest.mark.mode_independent  # the client's reading; stored the same in both modes
    @pytest.mark.parametrize("edition", ["2026-03", "legacy"])
    def test_each_api_edition(
        self,
        make_service: Callable[..., ServiceProcess],
        make_sandbox: Callable[..., SandboxProcess],
        edition: str,
    ) -> None:
        """HUBSPOT_API_VERSION picks the edition every call uses: a portal that serves only that
        one is read whole (archived deals, every association, a heavy deal's paged contacts),
        and an incremental run (search) after churn lands on the truth. (The rest of the suite
        runs on 2026-09, the default, against portals serving only it.)"""
        sandbox = make_sandbox(
            "--deals", "600", "--rate-limit", "100000", "--search-rate", "1000",
            "--editions", edition,
        )  # fmt: skip
        service = make_service(sandbox, HUBSPOT_API_VERSION=edition)
        config: dict[str, Any] = {
            "includeAssociations": True,
            "associationTypes": list(KINDS),
            "filters": {"includeArchived": True},
        }
        service.start_scan("e2e-edition", sandbox.token, **config)
        assert service.wait("e2e-edition")["status"] == "completed"
        expect = Expectation(sandbox, edition)
        rows = service.all_deals("e2e-edition")
        assert_rows_match(rows, expect, set(expect.truth), DEFAULT_PROPERTIES, KINDS)
        assert (
            len(next(r for r in rows if r["deal_id"] == "10000003514")["associations"]["contacts"])
            > 500
        )
        sandbox.churn(create=5, update=20, archive=3)
        service.start_scan("e2e-edition", sandbox.token, mode="incremental", **config)
        status = service.wait("e2e-edition")
        assert status["status"] == "completed" and status["sync"]["mode"] == "incremental"
        expect = Expectation(sandbox, edition)
        rows = service.all_deals("e2e-edition")
        assert_rows_match(rows, expect, set(expect.truth), DEFAULT_PROPERTIES, KINDS)
        served = sandbox.stats()["requests"]
        assert any("search" in route for route in served), served

    def test_association_subset(
        self, service: ServiceProcess, portal: SandboxProcess, expect: Expectation
    ) -> None:
        """Only the asked association types are read and stored."""
        service.start_scan(
            "e2e-companies", portal.token, includeAssociations=True, associationTypes=["companies"]
        )
        assert service.wait("e2e-companies")["status"] == "completed"
        rows = service.all_deals("e2e-companies")
        assert all(set(r["associations"]) == {"companies"} for r in rows)
        with_any = sum(1 for r in rows if r["associations"]["companies"])
        assert service.status("e2e-companies")["results"]["with_associations"] == with_any


class TestWarnings:
    def test_typos_are_reported_and_the_scan_runs(
        self, service: ServiceProcess, portal: SandboxProcess
    ) -> None:
        """Names the portal does not have are warnings in the status, with the closest name."""
        service.start_scan(
            "e2e-typos",
            portal.token,
            properties=["dealname", "amout"],
            filters={"pipelineId": "defualt", "dealstage": "closedwonn"},
        )
        status = service.wait("e2e-typos")
        assert status["status"] == "completed"
        amount, pipeline, stage = status["warnings"]
        assert amount.startswith("Property 'amout' does not exist") and "'amount'?" in amount
        assert "'defualt'" in pipeline and "did you mean 'default'?" in pipeline
        assert "'closedwonn'" in stage and "did you mean 'closedwon'?" in stage
        service.start_scan("e2e-no-typos", portal.token, properties=["dealname", "amount"])
        assert service.wait("e2e-no-typos")["warnings"] == []


class TestFilters:
    @pytest.mark.parametrize(
        ("filters", "keep"),
        [
            ({"pipelineId": "75432101"}, lambda d: d["properties"]["pipeline"] == "75432101"),
            ({"dealstage": "closedwon"}, lambda d: d["properties"]["dealstage"] == "closedwon"),
            (
                {"pipelineId": "default", "dealstage": "closedlost"},
                lambda d: (
                    d["properties"]["pipeline"] == "default"
                    and d["properties"]["dealstage"] == "closedlost"
                ),
            ),
            (
                {
                    "dateFilter": {
                        "property": "createdate",
                        "startDate": "2021-01-01",
                        "endDate": "2022-06-30",
                    }
                },
                lambda d: "2021-01-01" <= d["properties"]["createdate"][:10] <= "2022-06-30",
            ),
            (
                {"dateFilter": {"property": "closedate", "startDate": "2023-03-01"}},
                lambda d: (d["properties"]["closedate"] or "") >= "2023-03-01",
            ),
            (
                {"includeArchived": True, "pipelineId": "75432201"},
                lambda d: d["properties"]["pipeline"] == "75432201",
            ),
        ],
    )
    def test_filter(
        self,
        service: ServiceProcess,
        portal: SandboxProcess,
        expect: Expectation,
        filters: dict[str, Any],
        keep: Callable[[dict[str, Any]], bool],
    ) -> None:
        """Each filter keeps exactly the deals the ground truth says it should."""
        scan_id = f"e2e-filter-{abs(hash(str(filters))) % 10**8}"
        service.start_scan(scan_id, portal.token, filters=filters)
        status = service.wait(scan_id)
        assert status["status"] == "completed", status
        include_archived = filters.get("includeArchived", False)
        ids = {
            i
            for i, d in expect.truth.items()
            if keep(d) and (include_archived or not d["archived"])
        }
        assert ids
        assert_rows_match(service.all_deals(scan_id), expect, ids, DEFAULT_PROPERTIES, None)

    @pytest.mark.slow
    @pytest.mark.mode_independent  # the client's reading; stored the same in both modes
    def test_search_cap_loses_nothing(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """A filter matching over 10,000 deals is walked past HubSpot's search cap."""
        big = make_sandbox("--deals", "12000", "--rate-limit", "100000", "--search-rate", "1000")
        svc = make_service(big)
        svc.start_scan(
            "e2e-big",
            big.token,
            batchSize=100,
            filters={"dateFilter": {"property": "createdate", "startDate": "2018-01-01"}},
        )
        status = svc.wait("e2e-big", timeout=240)
        assert status["status"] == "completed", status
        expected = sum(1 for d in big.truth() if not d["archived"])
        assert expected > 10_000
        rows = svc.all_deals("e2e-big")
        assert len(rows) == len({r["deal_id"] for r in rows}) == expected


class TestResilience:
    @pytest.mark.mode_independent  # the client's reading; stored the same in both modes
    def test_faults_change_nothing(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """At a 20% fault rate of every kind, the stored deals still equal the ground truth."""
        faulty = make_sandbox(
            "--deals",
            "1200",
            "--rate-limit",
            "100000",
            "--search-rate",
            "1000",
            "--retry-after",
            "0",
        )
        expect = Expectation(faulty)  # read the truth before the faults start
        faulty.set_faults(0.2)
        svc = make_service(faulty)
        svc.start_scan(
            "e2e-faults", faulty.token, includeAssociations=True, filters={"includeArchived": True}
        )
        status = svc.wait("e2e-faults", timeout=240)
        assert status["status"] == "completed", status
        assert_rows_match(
            svc.all_deals("e2e-faults"), expect, set(expect.truth), DEFAULT_PROPERTIES, KINDS
        )
        assert faulty.stats()["faults_total"] > 0

    @pytest.mark.slow  # about 20 s: `make test` runs it, the edit loop (test-fast) does not
    def test_portal_changing_during_the_scan(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """With deals created, edited and archived during the scan: each deal once, none lost.

        Every deal that existed before the scan and is still live after it is stored; every stored
        deal exists; deals created during the scan may or may not be included (README).
        """
        moving = make_sandbox(
            "--deals",
            "3000",
            "--rate-limit",
            "60",
            "--search-rate",
            "2",
            "--latency-ms",
            "20",
            "--churn",
            "40",
        )
        before = {d["id"] for d in moving.truth() if not d["archived"]}
        svc = make_service(moving)
        svc.start_scan("e2e-churn", moving.token, batchSize=50)
        status = svc.wait("e2e-churn", timeout=240)
        assert status["status"] == "completed", status
        after = {d["id"]: d for d in moving.truth()}
        rows = svc.all_deals("e2e-churn")
        stored = Counter(r["deal_id"] for r in rows)
        assert max(stored.values()) == 1
        assert set(stored) <= set(after)
        still_live = {i for i in before if not after[i]["archived"]}
        assert still_live <= set(stored)
        assert moving.stats()["version"] > 0

    @pytest.mark.slow
    def test_restart_mid_scan_resumes(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """A service killed mid-scan resumes from its checkpoint on start: no gap, no duplicate."""
        # a tight budget (40 per 10 s, one search a second) keeps the scan going for several seconds
        slow = make_sandbox(
            "--deals", "3000", "--rate-limit", "40", "--search-rate", "1", "--latency-ms", "20"
        )
        expect = Expectation(slow)  # read before the scan spends the tight budget
        svc = make_service(slow)
        svc.start_scan("e2e-restart", slow.token, batchSize=50)
        before = svc.wait("e2e-restart", until=lambda s: s["progress"]["processed_items"] >= 500)
        svc.stop(kill=True)
        assert before["status"] == "running"
        svc.start()
        status = svc.wait("e2e-restart", timeout=240)
        assert status["status"] == "completed", status
        live = {i for i, d in expect.truth.items() if not d["archived"]}
        assert_rows_match(svc.all_deals("e2e-restart"), expect, live, DEFAULT_PROPERTIES, None)
        assert status["results"]["deals_extracted"] == len(live)

    def test_cancel_mid_scan(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """Cancelling stops the scan within a page; what was stored is served, marked partial."""
        slow = make_sandbox(
            "--deals", "3000", "--rate-limit", "30", "--search-rate", "1", "--latency-ms", "20"
        )
        svc = make_service(slow)
        svc.start_scan("e2e-cancel", slow.token, batchSize=20)
        svc.wait("e2e-cancel", until=lambda s: s["progress"]["processed_items"] >= 100)
        reply = svc.post("/api/v1/scan/cancel/e2e-cancel")
        assert reply.status_code == 200
        body = reply.json()
        assert (
            body["status"] == "cancelled" and body["message"] == "Extraction cancelled successfully"
        )
        assert body["itemsProcessed"] >= 100 and body["cancelledAt"].endswith("Z")
        time.sleep(1)  # a page in flight when the cancel landed must not be stored
        status = svc.status("e2e-cancel")
        assert status["status"] == "cancelled"
        assert status["progress"]["processed_items"] == body["itemsProcessed"]
        assert status["results"]["deals_held"] == body["itemsProcessed"]
        # the spec's 404 unless the stored deals are asked for by name, then marked partial
        for path in ("/api/v1/scan/results/e2e-cancel", "/api/v1/scan/results/e2e-cancel/export"):
            withheld = svc.get(path)
            assert withheld.status_code == 404, path
            assert withheld.json()["error_code"] == "SCAN_NOT_READY"
            assert withheld.json()["details"]["currentStatus"] == "cancelled"
        results = svc.get("/api/v1/scan/results/e2e-cancel?page_size=500&partial=true").json()
        assert results["partial"] is True and results["status"] == "cancelled"
        assert results["pagination"]["total_items"] == body["itemsProcessed"] < 2900
        exported = svc.get("/api/v1/scan/results/e2e-cancel/export?format=ndjson&partial=true")
        assert exported.headers["X-Scan-Status"] == "cancelled"
        assert len(exported.content.splitlines()) == body["itemsProcessed"]
        again = svc.post("/api/v1/scan/cancel/e2e-cancel")
        assert again.status_code == 400 and again.json()["error_code"] == "INVALID_CANCELLATION"
        assert again.json()["details"] == {"scanId": "e2e-cancel", "currentStatus": "cancelled"}
