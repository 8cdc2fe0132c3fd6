"""The dashboard in a real browser: Debian's Chromium driven by Playwright (never a browser of
Playwright's own), against the service and a sandbox as real processes.

Each page is also photographed at desktop and phone width into docs/screenshots, for the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import QUIET_LOOPS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: Long pages are cut here: the README shows their top, not 50 table rows.
MAX_HEIGHT = 2000


@pytest.fixture(scope="module")  # not the session: Playwright's sync API keeps an event loop
def browser() -> Iterator[Browser]:  # running in this thread, and later tests run their own
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser session (no cookies) at desktop size that accepts downloads."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)  # the suite runs beside others: a slow page is not wrong
    yield opened
    context.close()


def service_env(portal: SandboxProcess) -> dict[str, str]:
    return {
        "HUBSPOT_BASE_URL": portal.url,
        "HUBSPOT_SEARCH_RATE": "1000",
        "HUBSPOT_BURST_LIMIT": "1000",
        "HUBSPOT_RETRY_WAIT_INITIAL": "0.01",
        "HUBSPOT_RETRY_WAIT_MAX": "0.2",
    } | QUIET_LOOPS


#: What a stalled call waits before its answer, while a test turns the stall fault on.
STALL_S = 1.5


@pytest.fixture(scope="session")
def slow_portal() -> Iterator[SandboxProcess]:
    """1,000 deals answered in 250 ms a call; with its stall fault on (``STALL_S`` more a call),
    a scan runs for several seconds, long enough to watch its progress bar move."""
    running = SandboxProcess.start(
        "--deals",
        "1000",
        "--rate-limit",
        "100000",
        "--search-rate",
        "1000",
        "--latency-ms",
        "250",
        "--stall-seconds",
        str(STALL_S),
        *LATEST_ONLY,
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def service(
    slow_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An open service (no API keys), shared by a module's tests."""
    running = ServiceProcess(tmp_path_factory.mktemp("service"), service_env(slow_portal)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def churning_service(
    churning_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An open service of its own in front of the churning portal."""
    running = ServiceProcess(
        tmp_path_factory.mktemp("churning"), service_env(churning_portal)
    ).start()
    yield running
    running.stop()


@pytest.fixture
def keyed_service(
    slow_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A service of its own, for a test that creates API keys in it."""
    running = ServiceProcess(tmp_path_factory.mktemp("keyed"), service_env(slow_portal)).start()
    yield running
    running.stop()


def shoot(page: Page, name: str) -> None:
    """Save the page at desktop and phone width (the whole page), and hold the phone layout to
    the page's width: nothing may need sideways scrolling but a wide table inside its frame."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)  # a layout pass
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} is {width} px wide at {size['width']} px"
        height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
        page.screenshot(
            path=str(SCREENSHOTS / f"{name}-{label}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": height},
        )
    page.set_viewport_size(DESKTOP)
