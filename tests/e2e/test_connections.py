"""Connections: a credential checked and stored once, used by scans by id, tested, deleted (not
while a scan uses it), and an organization's own: another's looks like one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess
from tests.e2e.test_api_contract import assert_envelope
from tests.e2e.test_oauth import grant

PORTAL_FLAGS = ("--deals", "300", "--rate-limit", "100000", "--search-rate", "1000")
NARROW = "pat-na1-narrow"
EVERY_READ = [
    "crm.objects.deals.read",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.line_items.read",
    "crm.objects.owners.read",
]


@pytest.fixture
def portal(make_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    return make_sandbox(*PORTAL_FLAGS, "--token", f"{NARROW}=crm.objects.deals.read")


def connect(service: ServiceProcess, name: str, auth: dict[str, str], **body: Any) -> Any:
    return service.post("/api/v1/connections", {"name": name, "auth": auth} | body)


def scan_with(service: ServiceProcess, scan_id: str, connection_id: str) -> Any:
    config = {"scanId": scan_id, "type": ["hubspot_deals"], "connectionId": connection_id}
    return service.post("/api/v1/scan/start", {"config": config})


def test_a_connection_lives_from_create_to_delete(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    portal = make_sandbox(  # 250 ms a call: the scan is still running when it is asked to delete
        *PORTAL_FLAGS, "--latency-ms", "250", "--token", f"{NARROW}=crm.objects.deals.read"
    )
    service = make_service(portal)
    oauth = connect(service, "Main portal", grant(portal))
    assert oauth.status_code == 201, oauth.text
    made = oauth.json()
    assert made["authType"] == "oauth" and made["portalId"] == 48151623
    assert made["hubDomain"] == "app.hubspot.com" and made["scopes"] == EVERY_READ
    assert made["connectionId"].startswith("conn_") and made["checkedAt"]
    narrow = connect(service, "Deals only", {"hubspot_access_token": NARROW}).json()
    assert narrow["authType"] == "token" and narrow["scopes"] == ["crm.objects.deals.read"]
    listed = service.get("/api/v1/connections").json()["connections"]
    assert [c["name"] for c in listed] == ["Deals only", "Main portal"]  # newest first
    assert service.get(f"/api/v1/connections/{made['connectionId']}").json() == made

    # a scan by connectionId, no secret in its config; the connection cannot go while it runs
    assert scan_with(service, "by-connection", made["connectionId"]).status_code == 202
    service.wait("by-connection", until=lambda s: s["status"] == "running")
    busy = service.request("DELETE", f"/api/v1/connections/{made['connectionId']}")
    assert assert_envelope(busy, 409, "CONNECTION_IN_USE")["details"] == {
        "connectionId": made["connectionId"]
    }
    status = service.wait("by-connection")
    assert status["status"] == "completed", status
    tested = service.post(f"/api/v1/connections/{made['connectionId']}/test")
    assert tested.status_code == 200 and tested.json()["checkedAt"] >= made["checkedAt"]
    gone = service.request("DELETE", f"/api/v1/connections/{made['connectionId']}")
    assert gone.json() == {"message": "Connection deleted", "connectionId": made["connectionId"]}
    for path in ("", "/test"):
        method = "POST" if path else "GET"
        reply = service.request(method, f"/api/v1/connections/{made['connectionId']}{path}")
        assert_envelope(reply, 404, "CONNECTION_NOT_FOUND")
    assert_envelope(scan_with(service, "after", made["connectionId"]), 404, "CONNECTION_NOT_FOUND")


def test_refused_credentials_are_not_stored(
    portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
) -> None:
    service = make_service(portal)
    unknown = connect(service, "typo", {"hubspot_access_token": "pat-na1-unknown"})
    assert assert_envelope(unknown, 401, "HUBSPOT_AUTH_FAILED")["details"]["status_code"] == 401
    wrong = connect(service, "wrong secret", grant(portal) | {"client_secret": "not-it"})
    assert (
        "reconnect"
        in assert_envelope(wrong, 401, "HUBSPOT_AUTH_FAILED")["details"]["hubspot_error"]
    )
    assert service.get("/api/v1/connections").json() == {"connections": []}
    assert service.scalar("select count(*) from hubspot_credentials") == "0"
    invalid = assert_envelope(
        connect(service, " ", {"hubspot_access_token": NARROW}), 400, "VALIDATION_ERROR"
    )
    assert "name" in invalid["errors"]
    both = assert_envelope(
        service.post(
            "/api/v1/scan/start",
            {"config": {"scanId": "x", "type": ["hubspot_deals"], "connectionId": "conn_0123456789abcdef",
                        "auth": {"hubspot_access_token": NARROW}}},
        ),
        400,
        "VALIDATION_ERROR",
    )  # fmt: skip
    assert "not both" in both["errors"]["config.auth"]


def test_connections_belong_to_their_organization(
    portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
) -> None:
    """Under API keys, another organization's connection answers as one that never existed, on
    every endpoint and as a scan's connectionId; a key cannot make one for another organization."""
    service = make_service(portal)
    key_a = service.cli("keys", "create", "--org", "org_a")
    key_b = service.cli("keys", "create", "--org", "org_b")
    alice, bob = replace(service, api_key=key_a), replace(service, api_key=key_b)
    theirs = connect(alice, "Alice's", {"hubspot_access_token": NARROW}).json()
    assert theirs["organizationId"] == "org_a"
    assert bob.get("/api/v1/connections").json() == {"connections": []}
    never = "conn_0123456789abcdef"
    for connection_id in (theirs["connectionId"], never):
        answers = [
            bob.get(f"/api/v1/connections/{connection_id}"),
            bob.post(f"/api/v1/connections/{connection_id}/test"),
            bob.request("DELETE", f"/api/v1/connections/{connection_id}"),
            scan_with(bob, "stolen", connection_id),
        ]
        for reply in answers:
            body = assert_envelope(reply, 404, "CONNECTION_NOT_FOUND")
            assert body["details"] == {"connectionId": connection_id}
    forged = connect(bob, "for alice", {"hubspot_access_token": NARROW}, organizationId="org_a")
    assert assert_envelope(forged, 403, "FORBIDDEN")["errors"] == {
        "organizationId": "Must be the organization of your API key"
    }
    assert alice.get(f"/api/v1/connections/{theirs['connectionId']}").status_code == 200


def test_a_deletion_racing_starts_leaves_no_scan_without_its_connection(
    portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
) -> None:
    """Starts with a connection and its deletion sent at once: each start is refused (404) or
    its scan runs to the end with the connection; the deletion is refused (409) or comes when
    no run holds it. Never a run whose credential vanished under it."""
    service = make_service(portal)
    started: list[str] = []
    for round_ in range(4):
        connection = connect(service, f"race {round_}", {"hubspot_access_token": NARROW}).json()
        connection_id = connection["connectionId"]
        with ThreadPoolExecutor(max_workers=7) as pool:
            starts = [
                pool.submit(scan_with, service, f"race-{round_}-{n}", connection_id)
                for n in range(6)
            ]
            deleted = pool.submit(
                service.request, "DELETE", f"/api/v1/connections/{connection_id}"
            ).result()
            answers = [s.result() for s in starts]
        assert deleted.status_code in (200, 409), deleted.text
        for n, reply in enumerate(answers):
            assert reply.status_code in (202, 404), reply.text
            if reply.status_code == 202:
                started.append(f"race-{round_}-{n}")
    for scan_id in started:
        status = service.wait(scan_id)
        assert status["status"] == "completed", status
