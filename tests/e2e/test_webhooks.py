"""Webhooks: every run end (completed, failed, cancelled) posted to a receiver on 127.0.0.1, signed
as docs/api.md says (checked with the standardwebhooks library and with hmac alone), carrying the
run's status body; a receiver that fails twice gets the event on the third try, the three
attempts listed; private addresses refused by default; another organization's webhook not found.

Time is a setting: the service here polls every 0.1 s and retries after 0.3 s, so a retry takes
a fraction of a second, never a sleep."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook as Verifier
from typer.testing import CliRunner

from hubspot_deals.cli import app as cli_app
from hubspot_deals.config import Settings
from hubspot_deals.jobs.webhook_delivery import DeliveryLoop, Outcome
from hubspot_deals.jobs.webhooks import new_secret
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking
from tests.conftest import LATEST_ONLY, NO_LIMITS
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess, new_service, service_env
from tests.e2e.test_api_contract import assert_envelope

FAST_WEBHOOKS = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on 127.0.0.1
    "WEBHOOK_POLL_SECONDS": "0.1",
    "WEBHOOK_RETRY_SECONDS": "0.3",
    "WEBHOOK_RETRY_MAX_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "START_TOKEN_CHECK_SECONDS": "0",  # a refused token makes a failed run, not a refused start
}
RUN_ENDS = ["scan.completed", "scan.failed", "scan.cancelled"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST by path and answers 200, or 500 for
    the next ``fail(path, n)`` requests to a path."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def fail(self, path: str, times: int) -> None:
        with self.lock:
            self.failing[f"/{path}"] = times

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == f"/{path}"]

    def wait(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.at(path)) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.at(path))} requests, not {count}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            me = holder[0]
            with me.lock:
                me.received.append(Received(self.path, dict(self.headers), body, time.time()))
                left = me.failing.get(self.path, 0)
                me.failing[self.path] = max(left - 1, 0)
            self.send_response(500 if left else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def small_portal() -> Iterator[SandboxProcess]:
    running = SandboxProcess.start("--deals", "120", *NO_LIMITS, *LATEST_ONLY)
    yield running
    running.stop()


@dataclass(frozen=True)
class Tenants:
    alice: ServiceProcess
    bob: ServiceProcess


@pytest.fixture(scope="module")
def tenants(
    small_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenants]:
    """One service with fast webhook timings, under two organizations' API keys."""
    backings: list[DistributedBacking] = []
    service = new_service(
        tmp_path_factory.mktemp("webhooks"),
        service_env(small_portal, **FAST_WEBHOOKS),
        backings,
        distributed=DISTRIBUTED,
    ).start()
    alice = replace(service, api_key=service.cli("keys", "create", "--org", "org_a"))
    bob = replace(service, api_key=service.cli("keys", "create", "--org", "org_b"))
    yield Tenants(alice, bob)
    service.stop()
    for backing in backings:
        backing.drop()


def register(service: ServiceProcess, url: str, events: list[str]) -> dict[str, Any]:
    made = service.post("/api/v1/webhooks", {"url": url, "events": events})
    assert made.status_code == 201, made.text
    return dict(made.json())


def verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """docs/api.md's receiver without the library: HMAC-SHA256 over id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.removeprefix("v1,") for s in headers["webhook-signature"].split()]
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, s) for s in given)


def checked_event(secret: str, request: Received) -> dict[str, Any]:
    """The event a request carries, once both ways of checking its signature accept it."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    event = Verifier(secret).verify(request.body, headers)
    assert verify_by_hand(secret, headers, request.body)
    assert not verify_by_hand(secret, headers, request.body + b" ")  # the body is what is signed
    assert headers["content-type"] == "application/json"
    assert event["id"] == headers["webhook-id"]
    return dict(event)


def test_every_run_end_is_posted_signed_with_the_runs_status(
    tenants: Tenants, receiver: Receiver, small_portal: SandboxProcess
) -> None:
    alice = tenants.alice
    hook = register(alice, receiver.url("ends"), RUN_ENDS)
    assert hook["webhookId"].startswith("wh_") and hook["secret"].startswith("whsec_")
    assert hook["organizationId"] == "org_a" and hook["events"] == RUN_ENDS
    assert alice.start_scan("wh-done", small_portal.token).status_code == 202
    assert alice.start_scan("wh-refused", "pat-na1-unknown").status_code == 202
    finals = {scan_id: alice.wait(scan_id) for scan_id in ("wh-done", "wh-refused")}
    small_portal.set_faults(1.0, ["stall"])  # every call held 5 s: the run is cancelled first
    try:
        assert alice.start_scan("wh-cancelled", small_portal.token).status_code == 202
        assert alice.post("/api/v1/scan/cancel/wh-cancelled").status_code == 200
    finally:
        small_portal.set_faults(0.0)
    finals["wh-cancelled"] = alice.wait("wh-cancelled")
    assert [s["status"] for s in finals.values()] == ["completed", "failed", "cancelled"]
    events = {
        event["data"]["scanId"]: event
        for event in (checked_event(hook["secret"], r) for r in receiver.wait("ends", 3))
    }
    assert sorted(events) == sorted(finals)
    for scan_id, status in finals.items():
        event = events[scan_id]
        assert event["type"] == f"scan.{status['status']}"
        assert event["data"] == status  # exactly what GET /scan/status answers for the run
        assert event["id"].startswith("evt_") and event["createdAt"] == status["completed_at"]
    assert events["wh-refused"]["data"]["error_code"] == "HUBSPOT_AUTH_FAILED"
    time.sleep(0.5)  # a few more rounds of every process's loop: still one delivery an event
    assert len(receiver.at("ends")) == 3
    listed = alice.get(f"/api/v1/webhooks/{hook['webhookId']}/deliveries").json()
    assert {d["status"] for d in listed["deliveries"]} == {"delivered"}
    assert listed["pagination"]["total_items"] == 3


def test_a_failing_receiver_gets_the_event_on_the_third_try(
    tenants: Tenants, receiver: Receiver, small_portal: SandboxProcess
) -> None:
    alice = tenants.alice
    hook = register(alice, receiver.url("flaky"), ["scan.completed"])
    receiver.fail("flaky", 2)
    alice.start_scan("wh-flaky", small_portal.token)
    assert alice.wait("wh-flaky")["status"] == "completed"
    tries = receiver.wait("flaky", 3)
    assert len({checked_event(hook["secret"], t)["id"] for t in tries}) == 1  # one event, 3 tries
    assert [t.headers["webhook-id"] for t in tries] == [tries[0].headers["webhook-id"]] * 3
    assert tries[1].at - tries[0].at > 0.25 and tries[2].at - tries[1].at > 0.55  # backoff, doubled
    deadline = time.monotonic() + 10
    while True:
        page = alice.get(f"/api/v1/webhooks/{hook['webhookId']}/deliveries").json()
        (delivery,) = page["deliveries"]
        if delivery["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert delivery["status"] == "delivered" and delivery["nextAttemptAt"] is None
    assert len(receiver.at("flaky")) == 3  # nothing sent twice, by any of the processes
    assert delivery["event"] == "scan.completed" and delivery["eventKey"].startswith("job_")
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 200]
    assert all(a["error"] is None and a["durationMs"] >= 0 for a in delivery["attempts"])
    assert all(a["at"].endswith("Z") for a in delivery["attempts"])


def test_webhooks_belong_to_their_organization(tenants: Tenants, receiver: Receiver) -> None:
    """Another organization's webhook answers as one that never existed, on every endpoint."""
    alice, bob = tenants.alice, tenants.bob
    theirs = register(alice, receiver.url("private-to-a"), ["scan.failed"])
    assert "secret" not in alice.get(f"/api/v1/webhooks/{theirs['webhookId']}").json()
    assert all("secret" not in w for w in alice.get("/api/v1/webhooks").json()["webhooks"])
    assert bob.get("/api/v1/webhooks").json() == {"webhooks": []}
    for webhook_id in (theirs["webhookId"], "wh_0123456789abcdef"):
        for reply in (
            bob.get(f"/api/v1/webhooks/{webhook_id}"),
            bob.get(f"/api/v1/webhooks/{webhook_id}/deliveries"),
            bob.request("DELETE", f"/api/v1/webhooks/{webhook_id}"),
        ):
            body = assert_envelope(reply, 404, "WEBHOOK_NOT_FOUND")
            assert body["details"] == {"webhookId": webhook_id}
    forged = bob.post(
        "/api/v1/webhooks",
        {"url": receiver.url("x"), "events": ["scan.failed"], "organizationId": "org_a"},
    )
    assert assert_envelope(forged, 403, "FORBIDDEN")["errors"] == {
        "organizationId": "Must be the organization of your API key"
    }
    gone = alice.request("DELETE", f"/api/v1/webhooks/{theirs['webhookId']}")
    assert gone.json() == {"message": "Webhook deleted", "webhookId": theirs["webhookId"]}
    assert_envelope(alice.get(f"/api/v1/webhooks/{theirs['webhookId']}"), 404, "WEBHOOK_NOT_FOUND")


def test_the_secret_is_shown_once_and_stored_encrypted(
    tenants: Tenants, receiver: Receiver
) -> None:
    made = register(tenants.alice, receiver.url("sealed"), ["scan.completed"])
    secret = made["secret"]
    needles = [secret.encode(), secret.removeprefix("whsec_").encode()]
    service = tenants.alice
    haystacks = {"database": service.database_dump(), "logs": service.logs().encode()}
    assert not [name for name, hay in haystacks.items() if any(n in hay for n in needles)]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "ftp://example.com/x", "events": ["scan.failed"]}, "url", "http or https"),
        ({"url": "http://u:p@127.0.0.1/", "events": ["scan.failed"]}, "url", "password"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events", "empty"),
        ({"url": "http://127.0.0.1/x", "events": ["scan.done"]}, "events[0]", "scan.completed"),
        ({"url": "http://127.0.0.1/x", "events": ["scan.failed"] * 2}, "events", "repeat"),
        ({"url": "http://127.0.0.1/x", "events": ["scan.failed"], "secret": "x"}, "secret", "Unknown"),
        ({"events": ["scan.failed"]}, "url", "required"),
    ],
)  # fmt: skip
def test_bad_registrations_are_400_by_field(
    tenants: Tenants, body: dict[str, Any], field: str, says: str
) -> None:
    reply = tenants.alice.post("/api/v1/webhooks", body)
    errors = assert_envelope(reply, 400, "VALIDATION_ERROR")["errors"]
    assert field in errors and says in errors[field], errors


@pytest.mark.mode_independent
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "https://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_addresses_are_refused_by_default(service: ServiceProcess, url: str) -> None:
    reply = service.post("/api/v1/webhooks", {"url": url, "events": ["scan.completed"]})
    errors = assert_envelope(reply, 400, "VALIDATION_ERROR")["errors"]
    assert list(errors) == ["url"] and "public" in errors["url"], errors


@pytest.mark.mode_independent
def test_unresolvable_hosts_are_refused(service: ServiceProcess) -> None:
    reply = service.post(
        "/api/v1/webhooks", {"url": "https://nowhere.invalid/hook", "events": ["scan.failed"]}
    )
    errors = assert_envelope(reply, 400, "VALIDATION_ERROR")["errors"]
    assert "does not resolve" in errors["url"]


def attempt(url: str, **settings: Any) -> Outcome:
    """One attempt of the delivery loop's, as a process sends it (no database needed)."""

    async def once() -> Outcome:
        loop = DeliveryLoop(None, None, Settings(**settings))  # type: ignore[arg-type]
        try:
            return await loop.send(url, new_secret(), {"type": "scan.failed", "id": "evt_1"})
        finally:
            await loop.close()

    return asyncio.run(once())


@pytest.mark.mode_independent
def test_an_attempt_checks_where_the_name_resolves_now(receiver: Receiver) -> None:
    """A name registered while it resolved publicly may resolve privately later: each attempt
    resolves it again, refuses a private answer without connecting, and otherwise connects to
    the address it checked, the name kept in Host."""
    url = receiver.url("rebound").replace("127.0.0.1", "localhost")
    refused = attempt(url)
    assert refused.status_code is None and refused.error is not None
    assert refused.error.startswith("refused: Must resolve to public addresses only: 127.0.0.1")
    assert receiver.at("rebound") == []
    allowed = attempt(url, webhook_allow_private_urls=True)
    assert allowed.delivered and allowed.error is None
    (request,) = receiver.at("rebound")
    assert request.headers["Host"] == url.split("/")[2]  # localhost:PORT, not the address


@pytest.mark.mode_independent
def test_docs_receiver_example_is_the_one_tested() -> None:
    """docs/api.md's stdlib receiver is verify_by_hand's logic: its key lines appear there."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    for line in (
        'base64.b64decode(secret.removeprefix("whsec_"))',
        "hmac.new(key, signed, hashlib.sha256).digest()",
        "hmac.compare_digest(",
    ):
        assert line in doc, line


@pytest.mark.mode_independent
def test_the_cli_registers_lists_shows_and_deletes(tenants: Tenants, receiver: Receiver) -> None:
    """``hubspot-deals webhook ...`` (in process): the secret printed once, on standard output."""
    alice = tenants.alice
    env = {"HUBSPOT_DEALS_URL": alice.url, "HUBSPOT_DEALS_API_KEY": alice.api_key or ""}

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli_app, ["webhook", *args], env=env | {"COLUMNS": "200"})

    made = run("create", receiver.url("cli"), "--event", "scan.failed", "--event", "scan.completed")
    assert made.exit_code == 0, made.output
    found = re.search(r"wh_[0-9a-f]{16}", made.stdout)
    assert found is not None and made.stdout.split()[-1].startswith("whsec_")
    webhook_id, secret = found.group(0), made.stdout.split()[-1]
    shown = json.loads(run("show", webhook_id, "--json").stdout)
    assert shown["events"] == ["scan.completed", "scan.failed"] and "secret" not in shown
    listed = run("list", "--json").stdout
    assert webhook_id in listed and secret not in listed and "no webhooks" not in run("list").stderr
    none = json.loads(run("deliveries", webhook_id, "--json").stdout)
    assert none["deliveries"] == [] and none["pagination"]["total_items"] == 0
    assert run("create", receiver.url("cli"), "--event", "scan.done").exit_code == 2
    assert run("delete", webhook_id).exit_code == 0
    gone = run("show", webhook_id)
    assert gone.exit_code == 5 and "WEBHOOK_NOT_FOUND" in gone.stderr
