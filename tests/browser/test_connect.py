"""Connect HubSpot in a browser: the connections page's button, HubSpot's authorization page (the
sandbox's, which approves at once), back to the service with a connection, and a scan started
from the form with that connection instead of a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from hubspot_deals.sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from hubspot_deals.sandbox.process import SandboxProcess, free_port
from hubspot_deals.service_process import ServiceProcess

from .conftest import service_env, shoot

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def connecting(
    slow_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A service whose OAuth app is the sandbox's demo app, called back on its own address."""
    port = free_port()
    env = service_env(slow_portal) | {
        "HUBSPOT_CLIENT_ID": DEMO_CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "HUBSPOT_REDIRECT_URI": f"http://127.0.0.1:{port}/connect/callback",
        "HUBSPOT_AUTHORIZE_URL": f"{slow_portal.url}/oauth/authorize",
    }
    running = ServiceProcess(tmp_path_factory.mktemp("connect"), env, port=port).start()
    yield running
    running.stop()


def test_connect_a_portal_and_scan_with_it(page: Page, connecting: ServiceProcess) -> None:
    service = connecting
    page.goto(f"{service.url}/connections")
    expect(page.locator("[data-connections=none]")).to_be_visible()
    page.locator("[data-connect-hubspot]").click()  # to HubSpot's page, which sends us back
    page.wait_for_url(f"{service.url}/connections?notice=connected")
    expect(page.locator("[data-notice]")).to_contain_text("The portal is connected")
    row = page.locator("tr[data-connection]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("HubSpot portal 48151623")
    connection = row.get_attribute("data-connection")
    assert connection is not None and connection.startswith("conn_")
    shoot(page, "connections")
    assert not [c for c in page.context.cookies() if c["name"] == "hsd_connect"]  # flow over

    page.goto(f"{service.url}/start")
    page.fill("[name='config.scanId']", "by-connection")
    page.locator("[name='config.connectionId']").select_option(connection)
    page.get_by_role("button", name="Start scan").click()
    page.wait_for_url("**/scans/by-connection?notice=started")
    expect(page.locator("#scan-live")).to_have_attribute("data-status", "completed", timeout=60_000)
    assert service.status("by-connection")["status"] == "completed"
