"""Every path, status code, error code and envelope of api-spec.md, over real HTTP."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hubspot_deals.engine import DEFAULT_PROPERTIES
from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess

ENVELOPE_KEYS = {"status", "error_code", "message", "details", "timestamp", "request_id"}


def valid_config(**overrides: Any) -> dict[str, Any]:
    return {
        "scanId": "valid-scan",
        "type": ["hubspot_deals"],
        "auth": {"hubspot_access_token": "pat-na1-00000000-0000-0000-0000-000000000000"},
    } | overrides


def assert_envelope(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = dict(reply.json())
    assert set(body) >= ENVELOPE_KEYS
    assert body["status"] == "error" and body["error_code"] == code
    assert body["timestamp"].endswith("Z") and body["request_id"] == reply.headers["X-Request-ID"]
    return body


@pytest.fixture(scope="module")
def finished(service: ServiceProcess, portal: SandboxProcess) -> str:
    """One completed scan shared by the read-only tests."""
    service.start_scan("contract-done", portal.token, includeAssociations=True)
    assert service.wait("contract-done")["status"] == "completed"
    return "contract-done"


class TestStartValidation:
    @pytest.mark.parametrize(
        ("config", "field", "message"),
        [
            ({"auth": {}}, "config.auth.hubspot_access_token", "Field is required"),
            (
                {"auth": {"hubspot_access_token": ""}},
                "config.auth.hubspot_access_token",
                "Field is required",
            ),
            (
                {"scanId": "bad id!"},
                "config.scanId",
                "Must be alphanumeric with hyphens/underscores only",
            ),
            ({"scanId": "x" * 256}, "config.scanId", "Must be at most 255 characters"),
            ({"type": ["salesforce"]}, "config.type", 'Must include "hubspot_deals"'),
            ({"batchSize": 0}, "config.batchSize", "Must be greater than or equal to 1"),
            ({"batchSize": 101}, "config.batchSize", "Must be less than or equal to 100"),
            ({"batchSize": "100"}, "config.batchSize", "Must be an integer"),
            ({"includeAssociations": "yes"}, "config.includeAssociations", "Must be true or false"),
            (
                {"associationTypes": ["tickets"]},
                "config.associationTypes[0]",
                "Must be 'contacts', 'companies' or 'line_items'",
            ),
            (
                {"associationTypes": ["contacts"]},
                "config.associationTypes",
                "Needs includeAssociations: true (no associations are read without it)",
            ),
            (
                {"properties": ["dealname", "Deal Name"]},
                "config.properties[1]",
                "'Deal Name' is not a HubSpot property name (lowercase letters, digits and "
                "underscores, starting with a letter, at most 100 characters)",
            ),
            (
                {"properties": ["amount", "amount"]},
                "config.properties",
                "Must not repeat a property",
            ),
            (
                {"filters": {"dateFilter": {"startDate": "2025-13-01"}}},
                "config.filters.dateFilter.startDate",
                None,
            ),
            (
                {"filters": {"dateFilter": {"startDate": "2025-02-01", "endDate": "2025-01-01"}}},
                "config.filters.dateFilter",
                "endDate must not be before startDate",
            ),
            ({"filters": {"pipelineId": ""}}, "config.filters.pipelineId", "Must not be empty"),
            ({"surprise": 1}, "config.surprise", "Unknown field"),
            (
                {"filters": {"includeArchived": True, "extra": 1}},
                "config.filters.extra",
                "Unknown field",
            ),
        ],
    )
    def test_field_errors(
        self, service: ServiceProcess, config: dict[str, Any], field: str, message: str | None
    ) -> None:
        """Each invalid field is reported under its path, in the envelope, with a 400."""
        base = valid_config()
        if config.get("auth") == {}:
            base["auth"] = {}
            config = {}
        body = assert_envelope(
            service.post("/api/v1/scan/start", {"config": base | config}), 400, "VALIDATION_ERROR"
        )
        assert body["message"] == "Input validation failed"
        assert field in body["errors"], body["errors"]
        if message:
            assert body["errors"][field] == message

    def test_null_is_not_given(self, service: ServiceProcess, portal: SandboxProcess) -> None:
        """The spec's own example sends nulls: every optional field takes null as "not given",
        and its default applies."""
        nulls = {
            "organizationId": None,
            "properties": None,
            "includeAssociations": None,
            "associationTypes": None,
            "batchSize": None,
            "mode": None,
            "refreshAssociations": None,
            "includeStageHistory": None,
            "filters": {
                "includeArchived": None,
                "pipelineId": None,
                "dealstage": None,
                "dateFilter": {"property": None, "startDate": "2020-01-01", "endDate": None},
            },
        }
        reply = service.start_scan("contract-nulls", portal.token, **nulls)
        assert reply.status_code == 202, reply.text
        status = service.wait("contract-nulls")
        assert status["status"] == "completed" and status["results"]["deals_extracted"] > 0
        deals = service.get("/api/v1/scan/results/contract-nulls?page_size=1").json()["deals"]
        assert set(deals[0]["properties"]) >= {"dealname", "amount", "createdate"}  # defaults
        assert deals[0]["associations"] == {}  # includeAssociations: null is false

    @pytest.mark.parametrize("organization", ["acme/eu", "Org 12", "ÄÖ-Ü.tenant#7"])
    def test_existing_tenant_ids_are_organizations(
        self, service: ServiceProcess, portal: SandboxProcess, organization: str
    ) -> None:
        """organizationId has no format in the spec: any visible tenant id, listed by it."""
        scan_id = f"contract-org-{len(organization)}"
        reply = service.start_scan(scan_id, portal.token, organizationId=organization)
        assert reply.status_code == 202, reply.text
        service.wait(scan_id)
        listed = service.get("/api/v1/scan/list", params={"organization_id": organization})
        assert [s["scanId"] for s in listed.json()["scans"]] == [scan_id]

    @pytest.mark.parametrize("organization", ["", " acme", "acme ", "a\nb", "a\u0001b", "x" * 256])
    def test_organization_ids_that_are_not(
        self, service: ServiceProcess, organization: str
    ) -> None:
        reply = service.post(
            "/api/v1/scan/start", {"config": valid_config(organizationId=organization)}
        )
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert "config.organizationId" in body["errors"]

    def test_missing_everything(self, service: ServiceProcess) -> None:
        """An empty config names each required field."""
        body = assert_envelope(
            service.post("/api/v1/scan/start", {"config": {}}), 400, "VALIDATION_ERROR"
        )
        assert {"config.scanId", "config.type", "config.auth"} <= set(body["errors"])

    @pytest.mark.parametrize(
        ("content", "headers", "field"),
        [
            (b'{"config": ', {"Content-Type": "application/json"}, "body"),
            (b"", {"Content-Type": "application/json"}, "body"),
            (b'{"config": {}}', {"Content-Type": "text/plain"}, "body"),
            (b"[1, 2]", {"Content-Type": "application/json"}, "body"),
        ],
    )
    def test_malformed_bodies(
        self, service: ServiceProcess, content: bytes, headers: dict[str, str], field: str
    ) -> None:
        """Malformed JSON, an empty body, a wrong content type and a non-object are 400s, never 500s."""
        reply = httpx.post(f"{service.url}/api/v1/scan/start", content=content, headers=headers)
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert field in body["errors"]


class TestStartAndConflicts:
    def test_conflict_while_running_then_rerun(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """409 while a run is active; a finished scan id runs again and old results stay readable."""
        slow = make_sandbox("--deals", "600", "--rate-limit", "100000", "--latency-ms", "30")
        svc = make_service(slow)
        assert svc.start_scan("rerun", slow.token, batchSize=10).status_code == 202
        conflict = assert_envelope(svc.start_scan("rerun", slow.token), 409, "SCAN_IN_PROGRESS")
        assert conflict["message"] == "Extraction already in progress"
        assert conflict["details"]["scanId"] == "rerun"
        assert conflict["details"]["currentStatus"] in ("pending", "running")
        assert conflict["details"]["startedAt"].endswith("Z")
        first = svc.wait("rerun")
        assert first["status"] == "completed"
        second = svc.start_scan("rerun", slow.token, batchSize=10)
        assert second.status_code == 202 and second.json()["jobId"] != first["id"]
        assert second.json()["estimatedDuration"]
        during = svc.get("/api/v1/scan/results/rerun?page_size=5")
        assert during.status_code == 200 and during.json()["status"] == "completed"
        done = svc.wait("rerun")
        assert done["id"] == second.json()["jobId"] and done["status"] == "completed"
        listed = svc.get("/api/v1/scan/list?page_size=100").json()["scans"]
        assert [s["id"] for s in listed if s["scanId"] == "rerun"] == [done["id"], first["id"]]


class TestStatus:
    def test_not_found_shape(self, service: ServiceProcess) -> None:
        """An unknown scan is a 200 with status not_found and the spec's null fields."""
        reply = service.get("/api/v1/scan/status/never-started")
        assert reply.status_code == 200
        assert reply.json() == {
            "id": None,
            "scanId": None,
            "status": "not_found",
            "started_at": None,
            "completed_at": None,
            "error_message": None,
            "created_at": None,
            "updated_at": None,
        }

    def test_malformed_id(self, service: ServiceProcess) -> None:
        """A scan id with characters the pattern forbids is a 400."""
        assert_envelope(service.get("/api/v1/scan/status/bad%20id%21"), 400, "VALIDATION_ERROR")
        assert_envelope(service.get(f"/api/v1/scan/status/{'x' * 300}"), 400, "VALIDATION_ERROR")

    def test_completed_shape(self, service: ServiceProcess, finished: str) -> None:
        """A completed scan reports progress with duration and the results block."""
        body = service.status(finished)
        assert set(body) >= {
            "id",
            "scanId",
            "status",
            "scanType",
            "organizationId",
            "started_at",
            "completed_at",
            "error_message",
            "created_at",
            "updated_at",
            "progress",
            "results",
        }
        assert body["scanType"] == "hubspot_deals" and body["error_message"] is None
        assert set(body["progress"]) == {
            "total_items",
            "processed_items",
            "failed_items",
            "success_rate",
            "duration_seconds",
        }
        assert body["progress"]["success_rate"] == "100%"
        assert set(body["results"]) == {
            "deals_extracted",
            "with_associations",
            "archived_deals",
            "data_size_mb",
            "deals_held",  # ours: the size of the result set (a full run's deals extracted)
            "untyped_values",  # ours: property values that do not fit their type
        }
        assert body["results"]["deals_held"] == body["results"]["deals_extracted"]
        assert body["sync"]["requested_mode"] == body["sync"]["mode"] == "full"

    def test_running_shape(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """A running scan reports live progress, batches, time remaining and its config."""
        # a tight budget keeps the scan running long enough to look at (30 per 10 s, 1 search/s)
        slow = make_sandbox(
            "--deals", "4000", "--rate-limit", "30", "--search-rate", "1", "--latency-ms", "20"
        )
        svc = make_service(slow)
        svc.start_scan("running-shape", slow.token, batchSize=20)
        body = svc.wait("running-shape", until=lambda s: s["progress"]["processed_items"] >= 100)
        not_ready = assert_envelope(
            svc.get("/api/v1/scan/results/running-shape"), 404, "SCAN_NOT_READY"
        )
        assert not_ready["details"]["currentStatus"] == "running"
        assert not_ready["details"]["progress"].endswith("%")
        assert body["status"] == "running"
        progress = body["progress"]
        assert progress["total_items"] == sum(1 for d in slow.truth() if not d["archived"])
        assert progress["current_batch"] >= 5
        assert progress["total_batches"] == -(-progress["total_items"] // 20)
        assert progress["estimated_time_remaining"]
        assert body["config"] == {  # what the scan uses: the defaults filled in
            "properties": list(DEFAULT_PROPERTIES),
            "includeAssociations": False,
            "batchSize": 20,
        }
        listed = svc.get("/api/v1/scan/list?status=running").json()["scans"]
        assert [s["total_items"] for s in listed] == [progress["total_items"]]
        svc.post("/api/v1/scan/cancel/running-shape")

    def test_token_checked_at_start(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """A token HubSpot rejects is a 401 and one without the deals scope a 403, answered to
        the start itself (the spec's HUBSPOT_AUTH_FAILED) before any job exists; when HubSpot
        cannot answer in time the scan is accepted and runs."""
        portal = make_sandbox(
            "--deals", "50", "--token", "pat-na1-nodeals=crm.objects.contacts.read"
        )
        svc = make_service(portal, START_TOKEN_CHECK_SECONDS="2")
        rejected = svc.start_scan("auth-rejected", "pat-na1-ffffffff-0000-0000-0000-000000000000")
        body = assert_envelope(rejected, 401, "HUBSPOT_AUTH_FAILED")
        assert body["details"]["status_code"] == 401 and body["details"]["hubspot_error"]
        no_scope = assert_envelope(
            svc.start_scan("auth-scope", "pat-na1-nodeals"), 403, "HUBSPOT_AUTH_FAILED"
        )
        assert no_scope["details"]["status_code"] == 403
        assert no_scope["details"]["missing_scopes"] == ["crm.objects.deals.read"]
        assert "crm.objects.deals.read" in no_scope["message"]
        assert svc.get("/api/v1/scan/list").json()["scans"] == []  # no job for either
        portal.set_faults(1.0, ["503"])
        accepted = svc.start_scan("auth-unanswered", portal.token)
        portal.set_faults(0.0, ["503"])
        assert accepted.status_code == 202, accepted.text
        assert svc.wait("auth-unanswered")["status"] == "completed"

    def test_failed_auth(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """A scope only some of the scan needs (contacts, for associations) passes the start's
        check and fails the scan with HUBSPOT_AUTH_FAILED, in words."""
        portal = make_sandbox("--deals", "50", "--token", "pat-na1-narrow=crm.objects.deals.read")
        svc = make_service(portal)
        svc.start_scan("auth-fail", "pat-na1-narrow", includeAssociations=True)
        body = svc.wait("auth-fail")
        assert body["status"] == "failed"
        assert body["error_code"] == "HUBSPOT_AUTH_FAILED"
        assert "crm.objects.contacts.read" in body["error_message"]
        assert body["progress"]["processed_items"] == 0 and body["progress"]["success_rate"] == "0%"
        withheld = svc.get("/api/v1/scan/results/auth-fail")
        assert withheld.status_code == 404 and withheld.json()["error_code"] == "SCAN_NOT_READY"
        assert withheld.json()["details"] == {"scanId": "auth-fail", "currentStatus": "failed"}
        failed_results = svc.get("/api/v1/scan/results/auth-fail?partial=true").json()
        assert failed_results["partial"] is True and failed_results["deals"] == []
        stats = svc.get("/api/v1/stats").json()
        assert stats["error_analysis"]["authentication_failures"] == 1

    def test_hubspot_down(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """When HubSpot keeps failing, the scan fails with HUBSPOT_API_ERROR once retries are spent."""
        broken = make_sandbox("--deals", "50", "--fault-rate", "1", "--fault-kinds", "503")
        svc = make_service(broken, HUBSPOT_RETRY_ATTEMPTS="3")
        svc.start_scan("down", broken.token)
        body = svc.wait("down")
        assert body["status"] == "failed" and body["error_code"] == "HUBSPOT_API_ERROR"
        assert "HubSpot" in body["error_message"]
        # HubSpot failing degrades the service; it does not make it unhealthy (no restarts)
        health = svc.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["dependencies"]["hubspot_api"]["status"] == "degraded"


class TestCancel:
    def test_unknown_and_finished(self, service: ServiceProcess, finished: str) -> None:
        """404 SCAN_NOT_FOUND for an unknown scan; 400 INVALID_CANCELLATION for a finished one."""
        assert_envelope(service.post("/api/v1/scan/cancel/nope"), 404, "SCAN_NOT_FOUND")
        body = assert_envelope(
            service.post(f"/api/v1/scan/cancel/{finished}"), 400, "INVALID_CANCELLATION"
        )
        assert body["message"] == "Cannot cancel completed extraction"
        assert body["details"] == {"scanId": finished, "currentStatus": "completed"}

    def test_other_sites_pages_cannot_post(
        self, make_service: Callable[..., ServiceProcess]
    ) -> None:
        """An open service has no key to withhold: a form on another site that a browser posts
        (it says so in Sec-Fetch-Site, or older ones in Origin) changes nothing; scripts and
        our own pages still can."""
        slow = SandboxProcess.start("--deals", "2000", "--latency-ms", "300", *LATEST_ONLY)
        try:
            service = make_service(slow)
            assert service.start_scan("csrf-target", slow.token).status_code == 202
            cross = [
                {"Sec-Fetch-Site": "cross-site"},
                {"Sec-Fetch-Site": "same-site"},
                {"Origin": "https://attacker.example"},
            ]
            for headers in cross:
                reply = service.request("POST", "/api/v1/scan/cancel/csrf-target", headers=headers)
                assert_envelope(reply, 403, "FORBIDDEN")
                start = service.request(
                    "POST",
                    "/api/v1/scan/start",
                    headers=headers,
                    json={"config": valid_config(scanId="csrf-other")},
                )
                assert_envelope(start, 403, "FORBIDDEN")
            assert service.status("csrf-target")["status"] in ("pending", "running")
            assert service.status("csrf-other")["status"] == "not_found"
            own = {"Sec-Fetch-Site": "same-origin", "Origin": service.url}
            reply = service.request("POST", "/api/v1/scan/cancel/csrf-target", headers=own)
            assert reply.status_code == 200 and reply.json()["status"] == "cancelled"
        finally:
            slow.stop()


class TestResults:
    def test_pages_at_both_ends(self, service: ServiceProcess, finished: str) -> None:
        """The pagination object at the first, last and past-the-last page."""
        first = service.get(f"/api/v1/scan/results/{finished}?page=1&page_size=100").json()
        pag = first["pagination"]
        total = pag["total_items"]
        assert pag == {
            "current_page": 1,
            "page_size": 100,
            "total_items": total,
            "total_pages": -(-total // 100),
            "has_next": True,
            "has_previous": False,
            "next_page": 2,
            "previous_page": None,
            "next_cursor": pag["next_cursor"],
        }
        assert (
            first["status"] == "completed"
            and first["partial"] is False
            and len(first["deals"]) == 100
        )
        last_page = pag["total_pages"]
        last = service.get(f"/api/v1/scan/results/{finished}?page={last_page}&page_size=100").json()
        assert last["pagination"]["has_next"] is False and last["pagination"]["next_page"] is None
        assert (
            last["pagination"]["previous_page"] == last_page - 1
            and last["pagination"]["next_cursor"] is None
        )
        assert len(last["deals"]) == total - 100 * (last_page - 1)
        beyond = service.get(
            f"/api/v1/scan/results/{finished}?page={last_page + 5}&page_size=100"
        ).json()
        assert beyond["deals"] == [] and beyond["pagination"]["has_next"] is False

    def test_pipelined_pages_on_a_closing_connection(
        self, service: ServiceProcess, finished: str
    ) -> None:
        """Two requests sent at once, the second asking to close: two whole answers, in order,
        then the end of the connection (each answer's head and body go out in one write)."""
        path = f"/api/v1/scan/results/{finished}?page_size=500&page="
        host, port = urlsplit(service.url).hostname, urlsplit(service.url).port
        with socket.create_connection((host, port), timeout=30) as raw:
            raw.sendall(
                f"GET {path}1 HTTP/1.1\r\nHost: x\r\n\r\n"
                f"GET {path}2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            )
            received = b"".join(iter(lambda: raw.recv(1 << 16), b""))
        pages = []
        while received:
            head, _, rest = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), head
            length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
            pages.append(json.loads(rest[:length])["pagination"]["current_page"])
            received = rest[length:]
        assert pages == [1, 2]

    def test_cursor_walk_equals_page_walk(self, service: ServiceProcess, finished: str) -> None:
        """next_cursor pages through the same rows as page numbers, and reports the page it is on."""
        by_page = []
        for page in range(1, 100):
            body = service.get(f"/api/v1/scan/results/{finished}?page={page}&page_size=250").json()
            by_page += [d["deal_id"] for d in body["deals"]]
            if not body["pagination"]["has_next"]:
                break
        by_cursor = [d["deal_id"] for d in service.all_deals(finished, page_size=250)]
        assert by_cursor == by_page and len(set(by_page)) == len(by_page)
        first = service.get(f"/api/v1/scan/results/{finished}?page_size=250").json()
        second = service.get(
            f"/api/v1/scan/results/{finished}",
            params={"page_size": 250, "cursor": first["pagination"]["next_cursor"]},
        ).json()
        assert (
            second["pagination"]["current_page"] == 2
            and second["pagination"]["has_previous"] is True
        )

    @pytest.mark.parametrize(
        "query",
        [
            "pipeline=default",
            "dealstage=closedwon",
            "owner_id=41000037",
            "pipeline=default&dealstage=closedwon",
        ],
    )
    def test_filters(self, service: ServiceProcess, finished: str, query: str) -> None:
        """Results filter by pipeline, stage and owner; totals follow the filter."""
        rows = service.all_deals(finished, **dict(p.split("=") for p in query.split("&")))
        everything = service.all_deals(finished)
        key = {"pipeline": "pipeline_id", "dealstage": "deal_stage", "owner_id": "owner_id"}
        wanted = dict(p.split("=") for p in query.split("&"))
        expected = [r for r in everything if all(r[key[k]] == v for k, v in wanted.items())]
        assert rows == expected and rows

    @pytest.mark.parametrize(
        "query",
        ["page=0", "page_size=501", "page_size=0", "page=abc", "cursor=%%%", "cursor=am9iX3g6MQ"],
    )
    def test_bad_parameters(self, service: ServiceProcess, finished: str, query: str) -> None:
        """Out-of-range pages, sizes and foreign or broken cursors are 400s."""
        assert_envelope(
            service.get(f"/api/v1/scan/results/{finished}?{query}"), 400, "VALIDATION_ERROR"
        )

    def test_unknown_scan(self, service: ServiceProcess) -> None:
        """Results of an unknown scan: 404 SCAN_NOT_FOUND."""
        assert_envelope(service.get("/api/v1/scan/results/never-started"), 404, "SCAN_NOT_FOUND")


class TestList:
    def test_filters_paging_sorting(
        self, service: ServiceProcess, portal: SandboxProcess, finished: str
    ) -> None:
        """status and organization_id filter; pages and both sort orders hold."""
        for n in range(3):
            service.start_scan(f"org-scan-{n}", portal.token, organizationId="org_listing")
        for n in range(3):
            service.wait(f"org-scan-{n}")
        body = service.get("/api/v1/scan/list?organization_id=org_listing&page_size=2").json()
        assert body["pagination"]["total_items"] == 3 and body["pagination"]["total_pages"] == 2
        assert "next_cursor" not in body["pagination"]
        assert [s["scanId"] for s in body["scans"]] == ["org-scan-2", "org-scan-1"]
        assert all(s["organizationId"] == "org_listing" for s in body["scans"])
        ascending = service.get(
            "/api/v1/scan/list?organization_id=org_listing&sort_order=asc"
        ).json()
        assert [s["scanId"] for s in ascending["scans"]] == [
            "org-scan-0",
            "org-scan-1",
            "org-scan-2",
        ]
        by_completion = service.get(
            "/api/v1/scan/list?organization_id=org_listing&sort_by=completed_at"
        ).json()
        assert len(by_completion["scans"]) == 3
        completed = service.get("/api/v1/scan/list?status=completed&page_size=100").json()["scans"]
        assert completed and all(s["status"] == "completed" for s in completed)
        item = completed[0]
        assert {
            "duration_seconds",
            "data_size_mb",
            "success_rate",
            "total_items",
            "processed_items",
        } <= set(item)

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            (
                "status=done",
                "Must be 'pending', 'running', 'completed', 'failed' or 'cancelled'",
            ),
            ("page_size=101", "Must be less than or equal to 100"),
            ("sort_by=name", "Must be 'created_at' or 'completed_at'"),
            ("sort_order=up", "Must be 'asc' or 'desc'"),
            ("page=-1", "Must be greater than or equal to 1"),
        ],
    )
    def test_bad_parameters(self, service: ServiceProcess, query: str, message: str) -> None:
        """Invalid filters and paging are 400s that say what is allowed, in words."""
        body = assert_envelope(service.get(f"/api/v1/scan/list?{query}"), 400, "VALIDATION_ERROR")
        assert body["errors"] == {query.split("=")[0]: message}


class TestServiceEndpoints:
    def test_health_at_both_paths(self, service: ServiceProcess, finished: str) -> None:
        """Health answers at the root and under /api/v1 with the spec's blocks."""
        for path in ("/health", "/api/v1/health"):
            body = service.get(path).json()
            assert body["status"] == "healthy" and body["version"]
            deps = body["dependencies"]
            assert (
                deps["database"]["status"] == "healthy"
                and deps["database"]["response_time_ms"] >= 0
            )
            assert deps["hubspot_api"]["status"] == "healthy"
            redis = deps["redis_cache"]
            if DISTRIBUTED:
                assert redis["status"] == "healthy" and redis["response_time_ms"] >= 0
            else:
                assert redis == {"status": "not_configured", "response_time_ms": None}
            assert body["metrics"]["completed_scans_today"] >= 1

    def test_stats(self, service: ServiceProcess, finished: str) -> None:
        """Stats carry every block of the spec, at the root too; a bad period is a 400."""
        body = service.get("/stats?period=7d").json()
        assert body["period"] == "7d"
        assert set(body) == {
            "period",
            "timestamp",
            "summary",
            "status_breakdown",
            "performance_metrics",
            "error_analysis",
        }
        assert (
            body["summary"]["successful_scans"] >= 1
            and body["summary"]["total_deals_extracted"] > 0
        )
        assert set(body["status_breakdown"]) == {
            "completed",
            "failed",
            "running",
            "pending",
            "cancelled",
        }
        assert body["performance_metrics"]["peak_concurrent_scans"] >= 1
        scoped = service.get("/api/v1/stats?organization_id=nobody").json()
        assert scoped["summary"]["total_scans"] == 0
        bad = assert_envelope(service.get("/api/v1/stats?period=1y"), 400, "VALIDATION_ERROR")
        assert bad["errors"] == {"period": "Must be '24h', '7d' or '30d'"}
        summary = body["summary"]
        assert summary["total_scans"] == summary["successful_scans"] + summary["failed_scans"]
        assert summary["cancelled_scans"] == body["status_breakdown"]["cancelled"]
        assert re.fullmatch(r"\d+(\.\d{1,2})?%", summary["success_rate"])
        durations = [summary["average_scan_duration_seconds"]] + [
            body["performance_metrics"][k] for k in ("fastest_scan_seconds", "slowest_scan_seconds")
        ]
        assert all(type(d) is int for d in durations), durations

    def test_headers_on_every_response(self, service: ServiceProcess) -> None:
        """X-Request-ID and the X-RateLimit headers come with successes and errors alike."""
        for reply in (
            service.get("/health"),
            service.get("/api/v1/scan/status/nope"),
            service.post("/api/v1/scan/cancel/nope"),
            service.get("/api/v1/unknown"),
        ):
            assert reply.headers["X-Request-ID"]
            assert reply.headers["X-RateLimit-Limit"] == "1000"
            assert int(reply.headers["X-RateLimit-Remaining"]) < 1000
            assert int(reply.headers["X-RateLimit-Reset"]) > 1_700_000_000

    def test_unknown_route_is_an_envelope(self, service: ServiceProcess) -> None:
        """404 and 405 come in the envelope too."""
        assert_envelope(service.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
        assert_envelope(service.get("/api/v1/scan/start"), 405, "METHOD_NOT_ALLOWED")

    def test_docs(self, service: ServiceProcess) -> None:
        """Swagger UI at /docs and the OpenAPI document with the start body's schema."""
        assert "swagger" in service.get("/docs").text.lower()
        spec = service.get("/openapi.json").json()
        assert (
            "/api/v1/scan/start" in spec["paths"]
            and "StartScanRequest" in spec["components"]["schemas"]
        )

    def test_service_rate_limit(
        self, portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
    ) -> None:
        """Past the per-minute limit: 429 RATE_LIMIT_EXCEEDED with Retry-After."""
        svc = make_service(portal, API_RATE_LIMIT_PER_MINUTE="5")
        codes = [svc.get("/api/v1/scan/status/x").status_code for _ in range(5)]
        assert codes == [200] * 5
        refused = assert_envelope(svc.get("/api/v1/scan/status/x"), 429, "RATE_LIMIT_EXCEEDED")
        assert refused["details"]["limit"] == 5
        assert int(svc.get("/api/v1/scan/list").headers["Retry-After"]) >= 1
        health = svc.get("/health")  # probes are never refused
        assert health.status_code == 200 and health.headers["X-RateLimit-Remaining"] == "0"


class TestSecrets:
    def test_token_is_nowhere(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """The token is in no response, log line (DEBUG) or database byte, during or after scans."""
        token = "pat-na1-5ec2e700-1111-4222-8333-444455556666"
        portal = make_sandbox(
            "--deals",
            "300",
            "--fault-rate",
            "0.2",
            "--retry-after",
            "0",
            "--token",
            f"{token}=crm.objects.deals.read,crm.objects.contacts.read",
        )
        svc = make_service(portal, LOG_LEVEL="DEBUG")
        texts = [
            svc.start_scan(
                "secret", token, includeAssociations=True, associationTypes=["contacts"]
            ).text
        ]
        texts.append(svc.get("/api/v1/scan/status/secret").text)
        svc.wait("secret")
        texts += [
            svc.get(p).text
            for p in (
                "/api/v1/scan/status/secret",
                "/api/v1/scan/results/secret",
                "/api/v1/scan/list",
                "/health",
                "/stats",
            )
        ]
        texts.append(
            svc.start_scan("secret-2", token, includeAssociations=True).text
        )  # 403: lacks companies
        svc.wait("secret-2")
        texts.append(svc.get("/api/v1/scan/status/secret-2").text)
        svc.stop()
        texts.append(svc.logs())
        raw = svc.database_dump()
        assert token.encode() not in raw and token.encode().hex().encode() not in raw
        assert svc.scalar("select count(*) from scan_jobs where token_encrypted is not null") == "0"
        assert not [t for t in texts if token in t]
        svc.start()
