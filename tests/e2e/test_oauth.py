"""Scans with an OAuth grant (client id, secret and refresh token): access tokens that live a
second are renewed before they expire, once per expiry whatever the number of workers; a rotated
refresh token is kept; a revoked one fails the scan saying to reconnect the portal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess
from tests.e2e.test_api_contract import assert_envelope
from tests.e2e.test_extraction import DEFAULT_PROPERTIES, KINDS, Expectation, assert_rows_match

#: Access tokens live a second here; a scan of this portal lasts several (400 ms a call).
SHORT_LIVED = ("--token-lifetime", "1", "--latency-ms", "400", "--search-rate", "2")
CONFIG: dict[str, Any] = {"includeAssociations": True, "associationTypes": list(KINDS)}


def grant(portal: SandboxProcess) -> dict[str, str]:
    """A fresh refresh token of the sandbox's demo app: the ``auth`` of a scan config."""
    reply = portal.http.post(f"{portal.url}/_sandbox/oauth/grant", json={})
    reply.raise_for_status()
    return dict(reply.json())


def start(service: ServiceProcess, scan_id: str, auth: dict[str, str], **config: Any) -> Any:
    body = {"config": {"scanId": scan_id, "type": ["hubspot_deals"], "auth": auth} | config}
    return service.post("/api/v1/scan/start", body)


def no_401(portal: SandboxProcess) -> None:
    refused = {
        route: codes for route, codes in portal.stats()["requests"].items() if "401" in codes
    }
    assert not refused, refused


@pytest.mark.mode_independent  # the client's renewal; stored the same in both modes
def test_a_scan_outlives_five_access_tokens(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    portal = make_sandbox("--deals", "2000", *SHORT_LIVED)
    service = make_service(portal)
    began = time.monotonic()
    assert start(service, "oauth-long", grant(portal), **CONFIG).status_code == 202
    status = service.wait("oauth-long", timeout=120)
    lasted = time.monotonic() - began
    assert status["status"] == "completed", status
    assert lasted > 5, f"the scan lasted {lasted:.1f} s: fewer than five token lifetimes"
    expect = Expectation(portal)
    live = {i for i, d in expect.truth.items() if not d["archived"]}
    rows = service.all_deals("oauth-long")
    assert len(rows) == len({r["deal_id"] for r in rows})  # every deal exactly once
    assert_rows_match(rows, expect, live, DEFAULT_PROPERTIES, KINDS)
    no_401(portal)  # renewed before each expiry: HubSpot never had to refuse one
    refreshes = portal.stats()["oauth"]["refreshes"]
    assert 5 <= refreshes <= lasted / 0.8 + 2, (refreshes, lasted)


@pytest.mark.slow
@pytest.mark.mode_independent  # it builds its own distributed deployment
def test_two_workers_renew_a_shared_grant_once_per_expiry(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    """Two scans of one grant on two workers (one scan each): each expiry is one refresh, the
    other worker adopts the token the first stored."""
    portal = make_sandbox("--deals", "2000", *SHORT_LIVED)
    service = make_service(portal, distributed=True, WORKER_CONCURRENCY="1")
    auth = grant(portal)
    began = time.monotonic()
    for scan_id in ("oauth-a", "oauth-b"):
        assert start(service, scan_id, auth, **CONFIG).status_code == 202
    statuses = [service.wait(s, timeout=120) for s in ("oauth-a", "oauth-b")]
    lasted = time.monotonic() - began
    assert [s["status"] for s in statuses] == ["completed", "completed"], statuses
    no_401(portal)
    refreshes = portal.stats()["oauth"]["refreshes"]
    # one refresh per expiry (a token is renewed with a fifth of its life left): two workers
    # renewing on their own would need twice as many
    assert refreshes <= lasted / 0.8 + 2, (refreshes, lasted)
    ran = [
        log for log in service.data_dir.glob("worker-*.log") if "scan.completed" in log.read_text()
    ]
    assert len(ran) == 2, "each worker ran one of the scans"


@pytest.mark.mode_independent
def test_a_rotated_refresh_token_is_kept(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    """HubSpot may answer a refresh with a new refresh token (the old one dies): the stored
    grant follows it, so the next run of the scan, given the first token again, still works."""
    portal = make_sandbox("--deals", "600", "--rotate-refresh-tokens", *SHORT_LIVED)
    service = make_service(portal)
    auth = grant(portal)
    for run in range(2):
        assert start(service, "oauth-rotating", auth, **CONFIG).status_code == 202
        assert service.wait("oauth-rotating", timeout=120)["status"] == "completed", run
    rotations = int(service.scalar("select rotations from hubspot_credentials"))
    assert rotations == portal.stats()["oauth"]["refreshes"] >= 2
    assert auth["refresh_token"].encode() not in service.database_dump()  # encrypted at rest
    no_401(portal)


@pytest.mark.mode_independent
def test_a_revoked_grant_fails_the_scan_saying_reconnect(
    make_sandbox: Callable[..., SandboxProcess], make_service: Callable[..., ServiceProcess]
) -> None:
    portal = make_sandbox("--deals", "2000", *SHORT_LIVED)
    service = make_service(portal)
    auth = grant(portal)
    assert start(service, "oauth-revoked", auth, **CONFIG).status_code == 202
    service.wait("oauth-revoked", until=lambda s: s["progress"]["processed_items"] > 0)
    revoked = portal.http.post(
        f"{portal.url}/_sandbox/oauth/revoke", json={"refresh_token": auth["refresh_token"]}
    )
    assert revoked.json() == {"revoked": True}
    status = service.wait("oauth-revoked", timeout=60)
    assert status["status"] == "failed" and status["error_code"] == "HUBSPOT_AUTH_FAILED"
    assert "reconnect the portal" in status["error_message"]
    assert auth["refresh_token"] not in status["error_message"]
    # the same grant at a new start: refused at once, before any job exists
    again = assert_envelope(start(service, "oauth-again", auth), 401, "HUBSPOT_AUTH_FAILED")
    assert "reconnect the portal" in again["message"] or "reconnect" in str(again["details"])
    assert auth["client_secret"] not in str(again)


@pytest.mark.mode_independent  # validation alone
@pytest.mark.parametrize(
    ("auth", "field", "says"),
    [
        ({"client_id": "a", "client_secret": "b"}, "config.auth.refresh_token", "go together"),
        ({"refresh_token": "r"}, "config.auth.client_id", "go together"),
        (
            {"hubspot_access_token": "t", "client_id": "a", "client_secret": "b", "refresh_token": "r"},
            "config.auth.client_id",
            "not both",
        ),
        ({}, "config.auth.hubspot_access_token", "Field is required"),
        ({"client_id": "a", "client_secret": " ", "refresh_token": "r"}, "config.auth.client_secret", "required"),
    ],
)  # fmt: skip
def test_auth_is_one_kind_or_the_other(
    service: ServiceProcess, auth: dict[str, str], field: str, says: str
) -> None:
    body = assert_envelope(start(service, "oauth-invalid", auth), 400, "VALIDATION_ERROR")
    assert says in body["errors"][field], body["errors"]
