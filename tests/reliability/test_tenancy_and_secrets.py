"""Tenancy and secrets, in both modes.

- OWASP API1 (object level) and API5 (function level): over a thousand requests by another
  organization, by callers without a key, with a wrong or revoked key, with every kind of the first
  organization's identifiers, on every endpoint (the exports in each format included) and method,
  and on the dashboard's routes that take a scan id under its key cookie: each answer is the one
  for an id that never existed, and none carries anything of the first organization.
- A canary token, used for scans that complete, are cancelled, fail, conflict or are refused (by
  the API and by the dashboard's form), is searched for in every response (exports of each format,
  Parquet decoded; dashboard pages; /metrics), the logs at debug level (exceptions included), the
  database's bytes and every Redis key and value: zero hits.
- Encryption keys rotate (MultiFernet) under running scans, which complete; then the old key goes.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import redis
from cryptography.fernet import Fernet

from hubspot_deals.api.exports import MEDIA_TYPES, ExportFormat
from hubspot_deals.api.routes.dashboard import KEY_COOKIE, TOKEN_FIELD
from hubspot_deals.sandbox.catalog import ALL_SCOPES
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.distributed.test_distributed import exactly_once, live_ids, wait_for
from tests.reliability.conftest import MODES
from tests.reliability.test_crashes import SLOW_PORTAL

PATHS = ("/api/v1/scan/status/{}", "/api/v1/scan/results/{}", "/api/v1/scan/cancel/{}")
EXPORT = "/api/v1/scan/results/{}/export"
FORMATS = tuple(f.value for f in ExportFormat)
#: Each format, and a CSV with its byte order mark under a filter.
EXPORT_QUERIES = (*(f"?format={f}" for f in FORMATS), "?format=csv&bom=true&pipeline=default")
#: The dashboard's routes that take a scan id, each with its variants (docs/dashboard.md).
DASHBOARD: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/scans/{}"): ("", "?page=2&page_size=50", "?pipeline=default&notice=started"),
    ("GET", "/fragments/scans/{}"): ("", "?dealstage=closedwon"),
    ("GET", "/scans/{}/export"): tuple(f"?format={f}&bom=true" for f in FORMATS),
    ("POST", "/scans/{}/cancel"): ("",),
}


def normalized(reply: httpx.Response, scan_id: str) -> tuple[int, str]:
    """The answer without what differs from call to call (time, request id) or names the id."""
    text = re.sub(r'"(timestamp|request_id)":"[^"]*"', "", reply.text)
    return reply.status_code, text.replace(json.dumps(scan_id)[1:-1], "<id>")


def call(
    svc: ServiceProcess,
    method: str,
    path: str,
    key: str | None,
    *,
    cookie: str | None = None,
    **kw: Any,
) -> httpx.Response:
    """``key`` as X-API-Key; ``cookie`` as the dashboard's key cookie, as a browser sends it."""
    headers = {"X-API-Key": key} if key else {}
    if cookie:
        headers["Cookie"] = f"{KEY_COOKIE}={cookie}"
    return httpx.request(method, f"{svc.url}{path}", headers=headers, timeout=60, **kw)


def dashboard_cookie(svc: ServiceProcess, key: str) -> str:
    """The dashboard's key cookie, got as a browser gets it: the key form's answer sets it."""
    reply = httpx.post(f"{svc.url}/key", data={"api_key": key}, timeout=30)
    assert reply.status_code == 303, reply.text
    cookie = SimpleCookie(reply.headers["set-cookie"])[KEY_COOKIE]
    assert cookie["httponly"] and cookie["samesite"].lower() == "strict"
    return cookie.value


def readable(reply: httpx.Response) -> str:
    """What a reply tells its reader: its headers and body, a Parquet file's schema and rows
    decoded (its pages are compressed, so its bytes would hide a value)."""
    body = reply.text
    parquet = MEDIA_TYPES[ExportFormat.PARQUET]
    if reply.status_code == 200 and reply.headers.get("content-type") == parquet:
        table = pq.read_table(io.BytesIO(reply.content))
        body = f"{table.schema}\n{json.dumps(table.to_pylist(), default=str)}"
    return f"{reply.headers}\n{body}"


def exported(reply: httpx.Response) -> Any:
    """An export's content, comparable across routes: Parquet's rows, the bytes of the others."""
    assert reply.status_code == 200, reply.text
    if reply.headers["content-type"] == MEDIA_TYPES[ExportFormat.PARQUET]:
        return pq.read_table(io.BytesIO(reply.content)).to_pylist()
    return reply.content


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_thousand_requests_across_organizations(
    mode: str, portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
) -> None:
    svc = make_service(
        portal, distributed=mode == "distributed", API_RATE_LIMIT_PER_MINUTE="100000"
    )
    key_a = svc.cli("keys", "create", "--org", "org_a")
    key_b = svc.cli("keys", "create", "--org", "org_b")
    key_gone = svc.cli("keys", "create", "--org", "org_a")
    gone_id = next(
        line.split("\t")[0]
        for line in svc.cli("keys", "list").splitlines()
        if key_gone[:12] in line
    )
    cookie_a, cookie_b = dashboard_cookie(svc, key_a), dashboard_cookie(svc, key_b)
    svc.cli("keys", "revoke", gone_id)
    alice, bob = replace(svc, api_key=key_a), replace(svc, api_key=key_b)

    # the first organization's scans, and every identifier they expose
    for scan_id in ("alpha-only", "shared-name"):
        alice.start_scan(scan_id, portal.token, includeAssociations=True)
        assert alice.wait(scan_id)["status"] == "completed"
    bob.start_scan("shared-name", portal.token)  # same scan id, another organization
    assert bob.wait("shared-name")["status"] == "completed"
    page = alice.get("/api/v1/scan/results/alpha-only?page_size=5").json()
    secrets = {
        "job ids": [alice.status(s)["id"] for s in ("alpha-only", "shared-name")],
        "result ids": [d["id"] for d in page["deals"]],
        "cursor": [page["pagination"]["next_cursor"]],
        "scan id": ["alpha-only"],
    }
    guesses = [g for values in secrets.values() for g in values] + [
        d["deal_id"] for d in page["deals"]
    ]
    cursor = page["pagination"]["next_cursor"]
    queries = ("", "?page=2&page_size=1", "?pipeline=default", f"?cursor={cursor}")
    variants = {PATHS[1]: queries, EXPORT: EXPORT_QUERIES}
    replies: list[httpx.Response] = []

    def never(method: str, path: str, key: str | None, **kw: Any) -> tuple[int, str]:
        reply = call(svc, method, path.format("never-existed"), key, **kw)
        return normalized(reply, "never-existed")

    # API1: object level, every identifier on every endpoint, as another organization
    for guess in guesses:
        for template in (*PATHS, EXPORT):
            method = "POST" if "cancel" in template else "GET"
            for query in variants.get(template, ("",)):
                reply = call(svc, method, template.format(guess) + query, key_b)
                replies.append(reply)
                if reply.status_code != 400:  # not a malformed id: as if it never existed
                    expected = never(method, template + query, key_b)
                    assert normalized(reply, guess) == expected, (template, guess)
    # ... and on the dashboard, with the second organization's key in its cookie: "not found"
    # pages, the very pages of a scan that never existed
    for guess in guesses:
        for (method, template), dashboard_queries in DASHBOARD.items():
            for query in dashboard_queries:
                path = template.format(guess) + query
                reply = call(svc, method, path, None, cookie=cookie_b)
                replies.append(reply)
                assert reply.status_code in (400, 404), (path, reply.status_code)
                if reply.status_code == 404:
                    expected = never(method, template + query, None, cookie=cookie_b)
                    assert normalized(reply, guess) == expected, (template, guess)
    # bob's own "shared-name" with alice's cursor: refused like any made-up cursor
    reply = call(svc, "GET", f"/api/v1/scan/results/shared-name?cursor={cursor}", key_b)
    replies.append(reply)
    assert reply.status_code == 400
    for status in ("", "completed", "running", "cancelled"):
        for listed_page in range(1, 6):
            for org in ("org_a", ""):
                query = f"?page={listed_page}&organization_id={org}" + (
                    f"&status={status}" if status else ""
                )
                reply = call(svc, "GET", "/api/v1/scan/list" + query.replace("=&", "=x&"), key_b)
                replies.append(reply)
                assert reply.status_code == 200
                assert {s["organizationId"] for s in reply.json()["scans"]} <= {"org_b"}
    for period in ("24h", "7d", "30d"):
        for org in ("org_a", "org_b"):
            reply = call(svc, "GET", f"/api/v1/stats?period={period}&organization_id={org}", key_b)
            replies.append(reply)
            assert reply.json()["summary"]["total_scans"] == (1 if org == "org_b" else 0)
    # a key cannot act for another organization
    body = {"config": {"scanId": "x", "type": ["hubspot_deals"], "organizationId": "org_a",
                       "auth": {"hubspot_access_token": portal.token}}}  # fmt: skip
    reply = call(svc, "POST", "/api/v1/scan/start", key_b, json=body)
    replies.append(reply)
    assert reply.status_code == 403
    # no key, a made-up key, a revoked key: 401 everywhere under /api/v1, and the dashboard
    # sends the browser to its key form
    keyed = (*PATHS, EXPORT, "/api/v1/scan/list", "/api/v1/stats", "/api/v1/health")
    for key in (None, "hsd_made-up", key_gone):
        for guess in guesses[:4]:
            for template in keyed:
                method = "POST" if "cancel" in template else "GET"
                reply = call(svc, method, template.format(guess), key)
                replies.append(reply)
                assert reply.status_code == 401, (key, template)
            for method, template in DASHBOARD:
                reply = call(svc, method, template.format(guess), None, cookie=key)
                replies.append(reply)
                assert reply.status_code == 303, (key, template, reply.status_code)
                reason = "invalid" if key else "required"
                assert reply.headers["location"] == f"/key?reason={reason}"
    # the cookie is the dashboard's: it is no key to the API (a page of another site could make
    # a browser send it)
    for template in (*PATHS, EXPORT):
        method = "POST" if "cancel" in template else "GET"
        reply = call(svc, method, template.format("alpha-only"), None, cookie=cookie_a)
        replies.append(reply)
        assert reply.status_code == 401, template
    # API5: function level: methods and routes that are not there
    for template in (*PATHS, EXPORT, "/api/v1/scan/start", "/api/v1/scan/list", "/api/v1/stats"):
        for method in ("DELETE", "PUT", "PATCH"):
            reply = call(svc, method, template.format("alpha-only"), key_b)
            replies.append(reply)
            assert reply.status_code == 405
    for allowed, template in DASHBOARD:
        for method in {"GET", "POST", "DELETE", "PUT", "PATCH"} - {allowed}:
            reply = call(svc, method, template.format("alpha-only"), None, cookie=cookie_b)
            replies.append(reply)
            assert reply.status_code == 405, (method, template)
    for path in ("/api/v1/keys", "/api/v1/admin", "/api/v1/scan/all", "/_sandbox/truth", "/api"):
        for method in ("GET", "POST"):
            reply = call(svc, method, path, key_b)
            replies.append(reply)
            assert reply.status_code == 404
    asked = len(replies)
    while len(replies) < 1000:  # the same questions again: answers do not drift
        for guess in guesses:
            reply = call(svc, "GET", f"/api/v1/scan/status/{guess}", key_b)
            replies.append(reply)
            assert reply.json()["status"] in ("not_found",) or reply.status_code == 400

    # controls: each cookie opens its own organization's scans (so "not found" above is the
    # scope at work, not a cookie that failed), and bob's exports of his "shared-name" are his:
    # his rows (alice's run has associations, his has none), the same by the API and the dashboard
    assert call(svc, "GET", "/scans/alpha-only", None, cookie=cookie_a).status_code == 200
    own: list[httpx.Response] = [
        call(svc, "GET", path, None, cookie=cookie_b)
        for path in ("/", "/fragments/scans", "/scans/shared-name", "/fragments/scans/shared-name")
    ]
    bobs = bob.all_deals("shared-name")
    for fmt in FORMATS:
        by_api = call(svc, "GET", EXPORT.format("shared-name") + f"?format={fmt}", key_b)
        by_page = call(svc, "GET", f"/scans/shared-name/export?format={fmt}", None, cookie=cookie_b)
        own += [by_api, by_page]
        assert exported(by_api) == exported(by_page), fmt
        assert by_api.headers["x-total-count"] == str(len(bobs))
        if fmt == "ndjson":
            assert [json.loads(line) for line in by_api.text.splitlines()] == bobs
            continue
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(by_api.text, newline="")))
            ids, columns = [r["deal_id"] for r in rows], list(rows[0])
        else:
            table = pq.read_table(io.BytesIO(by_api.content))
            ids, columns = table.column("deal_id").to_pylist(), table.schema.names
        assert ids == [d["deal_id"] for d in bobs], fmt
        assert not [c for c in columns if c.startswith("associations")], fmt
    assert all(r.status_code == 200 for r in own)

    def leaked(reply: httpx.Response, kinds: set[str]) -> list[tuple[str, str, str]]:
        """An id the caller sent may come back to it (an echo); nothing else of org_a may."""
        sent = str(reply.request.url) + str(reply.request.content)
        text = readable(reply)
        return [
            (kind, value, str(reply.request.url))
            for kind in kinds
            for value in secrets[kind]
            if value in text and value not in sent
        ]

    # result ids number a run's rows (result_001, ...): bob's run has the same ones as alice's
    leaks = [leak for r in replies for leak in leaked(r, set(secrets))] + [
        leak for r in own for leak in leaked(r, set(secrets) - {"result ids"})
    ]
    assert not leaks, leaks[:5]
    assert all(r.status_code < 500 for r in replies + own)
    surfaces = Counter(
        "export" if path.startswith("/api/") and path.endswith("/export")
        else "API" if path.startswith("/api/")
        else "dashboard" if path.startswith(("/scans/", "/fragments/"))
        else "other"
        for path in (r.url.path for r in replies)
    )  # fmt: skip
    print(
        f"\ncross-organization ({mode}): {len(replies)} requests {dict(surfaces)} ({asked} before"
        f" the repeats), and {len(own)} of the second organization's own views: 0 leaks, 0 server"
        " errors"
    )


def redis_haystack(svc: ServiceProcess) -> bytes:
    """Every key of the deployment's namespace and every value under it."""
    client = redis.Redis.from_url(svc.env["REDIS_URL"])
    found = []
    for key in client.scan_iter(match=f"{svc.env['REDIS_NAMESPACE']}*", count=1000):
        kind = client.type(key).decode()
        value: Any = {
            "string": lambda k: client.get(k),
            "hash": lambda k: client.hgetall(k),
            "list": lambda k: client.lrange(k, 0, -1),
            "set": lambda k: client.smembers(k),
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            "stream": lambda k: client.xrange(k),
        }.get(kind, lambda k: b"")(key)
        found.append(key + b"=" + repr(value).encode())
    client.close()
    return b"\n".join(found)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_canary_token_is_nowhere(
    mode: str,
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    canary = f"pat-na1-c4na7y00-{uuid.uuid4().hex[:4]}-4000-8000-{uuid.uuid4().hex[:12]}"
    refused = f"pat-na1-c4na7y99-{uuid.uuid4().hex[:4]}-4000-8000-{uuid.uuid4().hex[:12]}"
    portal = make_sandbox(
        "--deals", "2000", "--rate-limit", "200", "--latency-ms", "20",
        "--token", f"{canary}={','.join(ALL_SCOPES)}",
    )  # fmt: skip
    distributed = mode == "distributed"
    svc = make_service(
        portal,
        distributed=distributed,
        HUBSPOT_BURST_LIMIT="200",
        LOG_LEVEL="DEBUG",  # the most a log can hold: the token must be in none of it
        **({"WORKER_METRICS_PORT": "1"} if distributed else {}),  # each worker's /metrics too
    )
    form = {"config.scanId": "canary-form", TOKEN_FIELD: canary, "config.batchSize": "100"}
    replies = [
        svc.start_scan("canary-done", canary, includeAssociations=True),
        svc.start_scan("canary-cancelled", canary),
        svc.start_scan("canary-cancelled", canary),  # 409 while it runs
        svc.post("/api/v1/scan/cancel/canary-cancelled"),
        svc.start_scan("canary-refused", refused),  # HubSpot answers 401
        svc.start_scan("canary-invalid", canary, batchSize=0),  # 400
        svc.start_scan("canary-spaced", f"{canary} x"),  # 400, the token itself invalid
        svc.start_scan("canary-long", canary * 20),  # 400
        # the dashboard's start form: a start, the same again (409 beside the scan id while it
        # runs), and forms shown again with their errors (their values back, the token not)
        svc.request("POST", "/start", data=form),
        svc.request("POST", "/start", data=form),
        svc.request("POST", "/start", data=form | {"config.scanId": "canary-form-bad", "config.batchSize": "0"}),
        svc.request("POST", "/start", data=form | {"config.scanId": "canary-form-x", TOKEN_FIELD: f"{canary} x"}),
    ]  # fmt: skip
    assert [r.status_code for r in replies[-4:]] in ([303, 409, 400, 400], [303, 303, 400, 400])
    finished = ("canary-done", "canary-cancelled", "canary-refused", "canary-form")
    for scan_id in finished:
        svc.wait(scan_id, timeout=180)
    assert svc.status("canary-refused")["error_code"] == "HUBSPOT_AUTH_FAILED"
    for scan_id in (*finished, "canary-invalid"):
        replies += [
            svc.get(f"/api/v1/scan/status/{scan_id}"),
            svc.get(f"/api/v1/scan/results/{scan_id}?page_size=500"),
            *(svc.get(EXPORT.format(scan_id) + query) for query in EXPORT_QUERIES),
            svc.get(f"/scans/{scan_id}"),
            svc.get(f"/fragments/scans/{scan_id}"),
            *(svc.get(f"/scans/{scan_id}/export?format={fmt}&bom=true") for fmt in FORMATS),
        ]
    replies += [svc.get("/api/v1/scan/list"), svc.get("/api/v1/stats"), svc.get("/health")]
    replies += [svc.get(path) for path in ("/", "/fragments/scans", "/start", "/key")]
    scrapes = [svc.get("/metrics")] + [httpx.get(url) for url in svc.worker_metrics_urls()]
    assert len(scrapes) == (3 if distributed else 1)
    assert all(r.status_code == 200 and "hubspot_deals_" in r.text for r in scrapes)
    replies += scrapes
    exports = [r for r in replies if r.url.path.endswith("/export")]
    assert len(exports) == 7 * 5
    # every export of a run there is answers its file (canary-invalid never ran: 404)
    assert {r.status_code for r in exports if "canary-invalid" not in r.url.path} == {200}
    assert all(r.status_code < 500 for r in replies)
    haystacks = {
        "responses": "\n".join(map(readable, replies)).encode()
        + b"\n".join(r.content for r in replies),  # Parquet's bytes too, besides its rows
        "logs": svc.logs().encode(),
        "database": svc.database_dump(),
    }
    if mode == "distributed":
        haystacks["redis"] = redis_haystack(svc)
    needles = [
        form
        for token in (canary, refused)
        for form in (
            token.encode(),
            token.split("-", 2)[2].encode(),  # the token's own part, without its prefix
            base64.b64encode(token.encode()),
            base64.urlsafe_b64encode(token.encode()),
        )
    ]
    hits = {name: [n for n in needles if n in hay] for name, hay in haystacks.items()}
    sizes = {name: f"{len(hay) / 1000:.0f} kB" for name, hay in haystacks.items()}
    pages = sum(r.headers.get("content-type", "").startswith("text/html") for r in replies)
    print(
        f"\ncanary ({mode}): {len(replies)} responses ({len(exports)} exports, {pages} dashboard"
        f" pages, {len(scrapes)} /metrics); searched {sizes}; hits {sum(map(len, hits.values()))}"
    )
    assert not any(hits.values()), hits
    assert "DEBUG" in haystacks["logs"].decode() or '"level": "debug"' in haystacks["logs"].decode()
    assert len(haystacks["database"]) > 100_000  # the deals are there: the dump is real


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_encryption_keys_rotate_under_running_scans(
    mode: str,
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    """Old key K1, new key K2. Restarted with K2 alone too soon, a running scan waits (it is not
    failed); with "K2,K1" it resumes, decrypting with K1, and a new one is encrypted with K2;
    `db rotate-tokens`; restarted with K2 alone: both complete, every deal once."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    # three times the crash suites' portal: both scans must outlast two restarts and the rotation
    # (with 3,000 deals, the resumed scan finished before the rotation in two CI runs)
    slow_portal = make_sandbox(*SLOW_PORTAL[2:], "--deals", "9000")
    svc = make_service(
        slow_portal,
        distributed=mode == "distributed",
        TOKEN_ENCRYPTION_KEY=old,
        SCAN_LEASE_SECONDS="3",
        HUBSPOT_BURST_LIMIT="60",
        HUBSPOT_SEARCH_RATE="2",
    )
    svc.start_scan("rotate-1", slow_portal.token, batchSize=50)
    svc.wait("rotate-1", until=lambda s: s["progress"]["processed_items"] > 0)

    def restart(keys: str) -> None:
        svc.stop(kill=True)  # mid-scan: the scans must resume under the new keys
        svc.env["TOKEN_ENCRYPTION_KEY"] = keys
        svc.start()

    restart(new)  # the old key forgotten too soon: the scan waits for it, it is not failed
    assert wait_for(lambda: "scan.token_undecryptable" in svc.logs(), timeout=30)
    assert svc.status("rotate-1")["status"] in ("pending", "running")
    restart(f"{new},{old}")
    svc.start_scan("rotate-2", slow_portal.token, batchSize=50)
    rotated = svc.cli("db", "rotate-tokens")
    assert "re-encrypted" in rotated
    for scan_id in ("rotate-1", "rotate-2"):
        assert svc.status(scan_id)["status"] in ("pending", "running"), "rotate under live scans"
    restart(new)
    for scan_id in ("rotate-1", "rotate-2"):
        assert svc.wait(scan_id, timeout=240)["status"] == "completed"
        exactly_once(svc, scan_id, live_ids(slow_portal))
    print(f"\nkey rotation ({mode}): {rotated}; both scans completed after the old key was dropped")
