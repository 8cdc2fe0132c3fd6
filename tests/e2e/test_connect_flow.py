"""Connect HubSpot: the dashboard's authorization code flow (state bound to the browser by a
sealed cookie, PKCE) against the sandbox's authorization page, ending in a connection a scan
uses; and the callbacks it refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hubspot_deals.sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from hubspot_deals.sandbox.process import SandboxProcess, free_port
from tests.e2e.conftest import ServiceProcess, service_env

pytestmark = pytest.mark.mode_independent  # the dashboard's flow; the same in both modes


@pytest.fixture
def connecting(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> Iterator[tuple[ServiceProcess, SandboxProcess]]:
    """An embedded service whose OAuth app is the sandbox's demo app."""
    portal = make_sandbox("--deals", "200", "--rate-limit", "100000", "--search-rate", "1000")
    port = free_port()
    env = service_env(portal) | {
        "HUBSPOT_CLIENT_ID": DEMO_CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "HUBSPOT_REDIRECT_URI": f"http://127.0.0.1:{port}/connect/callback",
        "HUBSPOT_AUTHORIZE_URL": f"{portal.url}/oauth/authorize",
        "HUBSPOT_OAUTH_SCOPES": "crm.objects.deals.read crm.objects.owners.read",
    }
    service = ServiceProcess(tmp_path, env, port=port).start()
    yield service, portal
    service.stop()


def test_connect_hubspot_makes_a_connection_a_scan_uses(
    connecting: tuple[ServiceProcess, SandboxProcess],
) -> None:
    service, portal = connecting
    with httpx.Client(timeout=30) as browser:  # keeps cookies, follows nothing by itself
        page = browser.get(f"{service.url}/connections")
        assert page.status_code == 200 and "data-connect-hubspot" in page.text
        start = browser.get(f"{service.url}/connect")
        assert start.status_code == 303 and "hsd_connect" in start.cookies
        authorize = urlsplit(start.headers["location"])
        asked = parse_qs(authorize.query)
        assert (
            f"{authorize.scheme}://{authorize.netloc}{authorize.path}"
            == f"{portal.url}/oauth/authorize"
        )
        assert asked["code_challenge_method"] == ["S256"] and asked["state"]
        assert asked["scope"] == ["crm.objects.deals.read crm.objects.owners.read"]
        approved = browser.get(start.headers["location"])  # the sandbox approves at once
        assert approved.status_code == 302
        back = browser.get(approved.headers["location"])
        assert (
            back.status_code == 303 and back.headers["location"] == "/connections?notice=connected"
        )
        listed = browser.get(f"{service.url}/connections?notice=connected")
        assert "The portal is connected" in listed.text
    made = service.get("/api/v1/connections").json()["connections"]
    assert len(made) == 1 and made[0]["authType"] == "oauth" and made[0]["portalId"] == 48151623
    assert made[0]["name"] == "HubSpot portal 48151623"
    assert made[0]["scopes"] == ["crm.objects.deals.read", "crm.objects.owners.read"]
    config = {
        "scanId": "connected",
        "type": ["hubspot_deals"],
        "connectionId": made[0]["connectionId"],
    }
    assert service.post("/api/v1/scan/start", {"config": config}).status_code == 202
    assert service.wait("connected")["status"] == "completed"
    assert portal.stats()["oauth"]["code_exchanges"] == 1


def test_callbacks_it_refuses(connecting: tuple[ServiceProcess, SandboxProcess]) -> None:
    """A code without this browser's state, with another state, an expired flow, or HubSpot's
    error: an error page, and no connection."""
    service, _ = connecting
    with httpx.Client(timeout=30) as browser:
        stranger = browser.get(f"{service.url}/connect/callback?code=abc&state=xyz")
        assert stranger.status_code == 400 and "start again" in stranger.text
        browser.get(f"{service.url}/connect")  # this browser's flow, then a forged state
        forged = browser.get(f"{service.url}/connect/callback?code=abc&state=forged")
        assert forged.status_code == 400
        denied = browser.get(f"{service.url}/connect/callback?error=access_denied")
        assert denied.status_code == 400 and "access_denied" in denied.text
    assert service.get("/api/v1/connections").json() == {"connections": []}


def test_without_an_oauth_app_there_is_no_button(service: ServiceProcess) -> None:
    page = service.get("/connections")
    assert page.status_code == 200 and "data-connect-hubspot" not in page.text
    assert "HUBSPOT_CLIENT_ID" in page.text
    assert service.get("/connect").status_code == 404
