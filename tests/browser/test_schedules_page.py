"""Schedules and webhooks in a browser: a schedule made through the API runs by itself and shows
its last run on the schedules page, which pauses and resumes it (the API agreeing each time); the
page's form makes one with the API's messages beside its fields; webhooks registered through the
API show on the webhooks page with their deliveries, one taken and one refused by the receiver.

Time is a parameter, as in tests/e2e/test_schedules.py: intervals of a second, the scheduler and
the delivery loop looking every 0.1 s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.conftest import LATEST_ONLY, NO_LIMITS

from .conftest import service_env, shoot

pytestmark = pytest.mark.timeout(120)

FAST_CLOCK = {
    "SCHEDULE_MIN_INTERVAL_SECONDS": "1",
    "SCHEDULER_POLL_SECONDS": "0.1",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on 127.0.0.1
    "WEBHOOK_POLL_SECONDS": "0.1",
    "WEBHOOK_RETRY_SECONDS": "60",  # a refused delivery stays pending, its next try a minute off
    "WEBHOOK_TIMEOUT_SECONDS": "2",
}


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 at /ok and 500 anywhere else, and says when
    a path was first posted to."""

    def __init__(self) -> None:
        self.posted: dict[str, threading.Event] = {
            "/ok": threading.Event(),
            "/fail": threading.Event(),
        }
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200 if self.path == "/ok" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if self.path in receiver.posted:
                    receiver.posted[self.path].set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def small_portal() -> Iterator[SandboxProcess]:
    """30 deals, no limits: a run takes a fraction of a second."""
    running = SandboxProcess.start("--deals", "30", *NO_LIMITS, *LATEST_ONLY)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def scheduling(
    small_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An open service whose schedules may run every second."""
    env = service_env(small_portal) | FAST_CLOCK
    running = ServiceProcess(tmp_path_factory.mktemp("schedules"), env).start()
    yield running
    running.stop()


def connection(service: ServiceProcess, portal: SandboxProcess) -> str:
    reply = service.post(
        "/api/v1/connections",
        {"name": "scheduled portal", "auth": {"hubspot_access_token": portal.token}},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["connectionId"])


def api_schedule(service: ServiceProcess, schedule_id: str) -> dict[str, Any]:
    reply = service.get(f"/api/v1/schedules/{schedule_id}")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_schedules_page_runs_pauses_and_resumes(
    page: Page, scheduling: ServiceProcess, small_portal: SandboxProcess
) -> None:
    service = scheduling
    page.goto(f"{service.url}/")
    page.get_by_role("link", name="Schedules").click()
    page.wait_for_url(f"{service.url}/schedules")
    expect(page.locator("[data-schedules=none]")).to_be_visible()
    expect(page.locator("[data-needs-connection]")).to_be_visible()  # no form without one

    conn = connection(service, small_portal)
    reply = service.post(
        "/api/v1/schedules",
        {"scanId": "every-second", "every": "1s", "config": {"connectionId": conn}},
    )
    assert reply.status_code == 201, reply.text
    sid = reply.json()["scheduleId"]

    # the form: the API's own message beside the field, then a schedule made
    page.reload()
    page.fill("[name=scanId]", "weekday-mornings")
    page.fill("[name=cron]", "0 6 * * 1-5")
    page.fill("[name=timezone]", "Mars/Olympus")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator("[data-form-errors]")).to_be_visible()
    refused = service.post(
        "/api/v1/schedules",
        {
            "scanId": "weekday-mornings",
            "cron": "0 6 * * 1-5",
            "timezone": "Mars/Olympus",
            "config": {"connectionId": conn},
        },
    )
    assert refused.status_code == 400
    expect(page.locator("[data-error-for=timezone]")).to_have_text(
        refused.json()["errors"]["timezone"]
    )
    expect(page.locator("[name=cron]")).to_have_value("0 6 * * 1-5")  # the values come back
    page.fill("[name=timezone]", "Europe/Paris")
    page.get_by_role("button", name="Create schedule").click()
    page.wait_for_url("**/schedules?notice=created")
    by_cron = page.locator("tr[data-scan=weekday-mornings]")
    expect(by_cron.locator("[data-timing]")).to_have_text("0 6 * * 1-5 Europe/Paris")
    expect(by_cron.locator("[data-last-run]")).to_have_text("none yet")

    # the interval's runs: the last one shows, ended, linking to its run's page
    row = page.locator(f"tr[data-schedule={sid}]")
    expect(row.locator("[data-timing]")).to_have_text("every 1s")
    expect(row.locator("a[href='/scans/every-second']")).to_be_visible()
    expect(row.locator("[data-last-run-status=completed]")).to_be_visible()
    body = api_schedule(service, sid)
    assert body["lastRun"] is not None and body["runsStarted"] >= 1
    expect(row.locator("[data-state]")).to_have_text("active")
    shoot(page, "schedules")

    # pause from the page: the API says paused, for the reason the page shows
    row.get_by_role("button", name="Pause").click()
    page.wait_for_url("**/schedules?notice=paused")
    expect(page.locator("[data-notice]")).to_contain_text("Schedule paused")
    expect(row).to_have_attribute("data-paused", "yes")
    expect(row.locator("[data-state]")).to_have_text("paused")
    paused = api_schedule(service, sid)
    assert paused["paused"] is True and paused["nextRunAt"] is None
    expect(row.locator("[data-pause-reason]")).to_have_text(paused["pauseReason"])
    expect(row.locator("[data-next-run]")).to_have_text("paused")
    expect(row.locator("[data-runs]")).to_have_text(f"{paused['runsStarted']:,}")
    expect(row.locator("[data-failures]")).to_have_text(f"{paused['consecutiveFailures']:,}")
    expect(row.locator("[data-skipped]")).to_have_text(f"{paused['ticksSkipped']:,}")
    shoot(page, "schedules-paused")

    # resume: active again, and runs start again (the page's live part shows them)
    row.get_by_role("button", name="Resume").click()
    page.wait_for_url("**/schedules?notice=resumed")
    expect(row).to_have_attribute("data-paused", "no")
    assert api_schedule(service, sid)["paused"] is False
    expect(row.locator("[data-runs]")).not_to_have_text(f"{paused['runsStarted']:,}")
    assert service.request("DELETE", f"/api/v1/schedules/{sid}").status_code == 200


def test_webhooks_page_shows_deliveries(
    page: Page, scheduling: ServiceProcess, small_portal: SandboxProcess, receiver: Receiver
) -> None:
    service = scheduling
    page.goto(f"{service.url}/webhooks")
    expect(page.locator("[data-webhooks=none]")).to_be_visible()
    hooks: dict[str, str] = {}
    for path, events in (("/ok", ["scan.completed"]), ("/fail", ["scan.completed", "scan.failed"])):
        reply = service.post("/api/v1/webhooks", {"url": receiver.url(path), "events": events})
        assert reply.status_code == 201, reply.text
        hooks[path] = reply.json()["webhookId"]
    assert service.start_scan("hooked", small_portal.token).status_code == 202
    job = service.wait("hooked")["id"]
    assert receiver.posted["/ok"].wait(30) and receiver.posted["/fail"].wait(30)

    page.reload()
    taken = page.locator(f"[data-webhook={hooks['/ok']}]")
    expect(taken.locator("[data-url]")).to_have_text(receiver.url("/ok"))
    expect(taken.locator("[data-subscribed]")).to_have_text(["scan.completed"])
    delivered = taken.locator(f"tr[data-event-key={job}]")
    expect(delivered).to_have_attribute("data-delivery-status", "delivered")  # live while pending
    expect(delivered.locator("[data-attempts]")).to_have_text("1")
    expect(delivered.locator("[data-outcome]")).to_contain_text("HTTP 200")

    refused = page.locator(f"[data-webhook={hooks['/fail']}]")
    expect(refused.locator("[data-subscribed]")).to_have_text(["scan.completed", "scan.failed"])
    failing = refused.locator(f"tr[data-event-key={job}]")
    expect(failing.locator("[data-outcome]")).to_contain_text("HTTP 500")
    expect(failing).to_have_attribute("data-delivery-status", "pending")
    expect(failing).to_contain_text("next try")

    for path, webhook_id in hooks.items():  # the page's rows are the API's
        api = service.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["deliveries"]
        mine = next(d for d in api if d["eventKey"] == job)
        row = page.locator(f"tr[data-delivery={mine['deliveryId']}]")
        expect(row).to_have_attribute("data-delivery-status", mine["status"])
        expect(row.locator("[data-attempts]")).to_have_text(str(len(mine["attempts"])))
        assert mine["attempts"][-1]["statusCode"] == (200 if path == "/ok" else 500)
    shoot(page, "webhooks")
