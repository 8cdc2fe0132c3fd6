"""API keys: required once any exists, binding each caller to its organization's scans only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess


@pytest.fixture
def keyed(
    portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
) -> tuple[ServiceProcess, str, str]:
    service = make_service(portal)
    return (
        service,
        service.cli("keys", "create", "--org", "org_a"),
        service.cli("keys", "create", "--org", "org_b"),
    )


def call(
    service: ServiceProcess, method: str, path: str, key: str | None, body: object = None
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return service.http.request(
        method, f"{service.url}{path}", json=body, headers=headers, timeout=30
    )


def start(
    service: ServiceProcess, key: str, scan_id: str, token: str, **config: object
) -> httpx.Response:
    return replace(service, api_key=key).start_scan(scan_id, token, **config)


class TestKeys:
    def test_key_required_once_keys_exist(self, keyed: tuple[ServiceProcess, str, str]) -> None:
        """Without a key, or with a wrong one: 401 in the envelope; the root health probe stays open."""
        service, key_a, _ = keyed
        assert key_a.startswith("hsd_")
        for key in (None, "hsd_not-a-key"):
            reply = call(service, "GET", "/api/v1/scan/list", key)
            assert reply.status_code == 401
            assert reply.json()["error_code"] == "UNAUTHORIZED"
        assert call(service, "GET", "/api/v1/health", None).status_code == 401
        assert call(service, "GET", "/health", None).status_code == 200
        for path in ("/stats", "/api/v1/stats"):  # an organization's figures, at either path
            for key in (None, "hsd_not-a-key"):
                refused = call(service, "GET", path, key)
                assert refused.status_code == 401, (path, refused.text)
                assert refused.json()["error_code"] == "UNAUTHORIZED"
        assert call(service, "GET", "/api/v1/scan/list", key_a).status_code == 200

    def test_keys_are_stored_hashed_and_revocable(
        self, keyed: tuple[ServiceProcess, str, str]
    ) -> None:
        """The database never holds a key; a revoked key is refused at once."""
        service, key_a, _ = keyed
        assert key_a.encode() not in service.database_dump()
        listing = service.cli("keys", "list")
        assert key_a not in listing and key_a[:12] in listing
        key_id = next(line.split("\t")[0] for line in listing.splitlines() if key_a[:12] in line)
        service.cli("keys", "revoke", key_id)
        assert call(service, "GET", "/api/v1/scan/list", key_a).status_code == 401


class TestIsolation:
    def test_other_organization_sees_nothing(
        self, keyed: tuple[ServiceProcess, str, str], portal: SandboxProcess
    ) -> None:
        """Status, results, cancel, list, stats and filters of another organization show nothing."""
        service, key_a, key_b = keyed
        assert start(service, key_a, "a-only", portal.token).status_code == 202
        assert start(service, key_a, "shared-id", portal.token).status_code == 202
        assert (
            start(service, key_b, "shared-id", portal.token).status_code == 202
        )  # unique per organization
        as_a, as_b = replace(service, api_key=key_a), replace(service, api_key=key_b)
        as_a.wait("a-only")
        as_a.wait("shared-id")
        as_b.wait("shared-id")

        assert (
            call(service, "GET", "/api/v1/scan/status/a-only", key_b).json()["status"]
            == "not_found"
        )
        assert call(service, "GET", "/api/v1/scan/results/a-only", key_b).status_code == 404
        assert call(service, "POST", "/api/v1/scan/cancel/a-only", key_b).status_code == 404
        listed = call(service, "GET", "/api/v1/scan/list", key_b).json()["scans"]
        assert {s["organizationId"] for s in listed} == {"org_b"} and len(listed) == 1
        foreign = call(service, "GET", "/api/v1/scan/list?organization_id=org_a", key_b).json()
        assert foreign["scans"] == [] and foreign["pagination"]["total_items"] == 0
        stats = call(service, "GET", "/api/v1/stats?organization_id=org_a", key_b).json()
        assert stats["summary"]["total_scans"] == 0
        for path in ("/stats", "/api/v1/stats"):
            own = call(service, "GET", path, key_b).json()
            assert own["summary"]["total_scans"] == 1, path
            at_root = call(service, "GET", f"{path}?organization_id=org_a", key_b).json()
            assert at_root["summary"]["total_scans"] == 0, path
        mine = call(service, "GET", "/api/v1/scan/status/shared-id", key_a).json()
        theirs = call(service, "GET", "/api/v1/scan/status/shared-id", key_b).json()
        assert mine["organizationId"] == "org_a" and theirs["organizationId"] == "org_b"
        assert mine["id"] != theirs["id"]

    def test_no_guess_reveals_the_other_organization(
        self, keyed: tuple[ServiceProcess, str, str], portal: SandboxProcess
    ) -> None:
        """Every endpoint, filter and id guess of org_b about org_a's scan answers exactly as for
        a scan that never existed: same codes, same bodies but for request ids and times."""
        service, key_a, key_b = keyed
        start(service, key_a, "guess-me", portal.token, includeAssociations=True)
        as_a = replace(service, api_key=key_a)
        done = as_a.wait("guess-me")
        first = call(service, "GET", "/api/v1/scan/results/guess-me?page_size=5", key_a).json()
        deal = first["deals"][0]
        their_cursor = first["pagination"]["next_cursor"]
        guesses = ["guess-me", done["id"], deal["id"], deal["deal_id"]]
        queries = [
            "",
            "?page=2&page_size=5",
            f"?cursor={their_cursor}",
            f"?pipeline={deal['pipeline_id']}",
            f"?dealstage={deal['deal_stage']}",
            f"?owner_id={deal['owner_id'] or '1'}",
        ]

        def normal(reply: httpx.Response) -> tuple[int, object]:
            body = reply.json()
            if isinstance(body, dict):
                for volatile in ("request_id", "timestamp"):
                    body.pop(volatile, None)
                if isinstance(body.get("details"), dict):
                    body["details"].pop("scanId", None)
            return reply.status_code, body

        checked = 0
        for scan_id in guesses:
            absent = "never-existed"
            for path in (
                "/api/v1/scan/status/{}",
                *[f"/api/v1/scan/results/{{}}{q}" for q in queries],
            ):
                theirs = normal(call(service, "GET", path.format(scan_id), key_b))
                nothing = normal(call(service, "GET", path.format(absent), key_b))
                assert theirs == nothing, (path, scan_id)
                checked += 1
            cancel = call(service, "POST", f"/api/v1/scan/cancel/{scan_id}", key_b)
            assert cancel.status_code == 404
        for query in (
            "",
            "?organization_id=org_a",
            "?status=completed",
            "?status=completed&organization_id=org_a",
            "?sort_by=completed_at&sort_order=asc",
        ):
            listed = call(service, "GET", f"/api/v1/scan/list{query}", key_b).json()
            assert all(s["organizationId"] == "org_b" for s in listed["scans"])
            assert "guess-me" not in {s["scanId"] for s in listed["scans"]}
        for period in ("24h", "7d", "30d"):
            foreign = call(
                service, "GET", f"/api/v1/stats?period={period}&organization_id=org_a", key_b
            ).json()
            assert foreign["summary"]["total_scans"] == 0
        # a job id of org_a's used as org_b's own scan id starts a new, separate scan
        assert start(service, key_b, done["id"], portal.token).status_code == 202
        assert as_a.status("guess-me")["status"] == "completed"
        assert checked >= 28

    def test_config_organization_must_match_the_key(
        self, keyed: tuple[ServiceProcess, str, str], portal: SandboxProcess
    ) -> None:
        """A key cannot start a scan for another organization."""
        service, key_a, _ = keyed
        reply = start(service, key_a, "wrong-org", portal.token, organizationId="org_b")
        assert reply.status_code == 403
        assert reply.json()["error_code"] == "FORBIDDEN"
        assert "config.organizationId" in reply.json()["errors"]
        assert (
            start(service, key_a, "right-org", portal.token, organizationId="org_a").status_code
            == 202
        )
