"""Tenancy, in both modes: OWASP API1 (object level) and API5 (function level). Over a thousand
requests by another organization, by callers without a key, with a wrong or revoked key, with every
kind of the first organization's identifiers, on every endpoint (the exports in each format included)
and method, and on the dashboard's routes that take a scan id under its key cookie: each answer is the
one for an id that never existed, and none carries anything of the first organization.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from hubspot_deals.api.dashboard import KEY_COOKIE
from hubspot_deals.api.exports import MEDIA_TYPES, ExportFormat
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

PATHS = (
    "/api/v1/scan/status/{}",
    "/api/v1/scan/results/{}",
    "/api/v1/scan/cancel/{}",
    "/api/v1/scan/schema/{}",
    "/api/v1/scan/changes/{}",
)
EXPORT = "/api/v1/scan/results/{}/export"
CONNECTION_PATHS = (
    ("GET", "/api/v1/connections/{}"),
    ("POST", "/api/v1/connections/{}/test"),
    ("DELETE", "/api/v1/connections/{}"),
)
#: A schedule's operations, each answered for another organization's id as for none.
SCHEDULE_PATHS = (
    ("GET", "/api/v1/schedules/{}"),
    ("PATCH", "/api/v1/schedules/{}"),
    ("POST", "/api/v1/schedules/{}/pause"),
    ("POST", "/api/v1/schedules/{}/resume"),
    ("DELETE", "/api/v1/schedules/{}"),
)
FORMATS = tuple(f.value for f in ExportFormat)
#: Each format, and a CSV with its byte order mark under a filter.
EXPORT_QUERIES = (
    *(f"?format={f}" for f in FORMATS),
    "?format=csv&bom=true&pipeline=default",
    "?format=ndjson&table=property_history",
)
#: The dashboard's routes that take a scan id, each with its variants (docs/dashboard.md).
DASHBOARD: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/scans/{}"): ("", "?page=2&page_size=50", "?pipeline=default&notice=started"),
    ("GET", "/fragments/scans/{}"): ("", "?dealstage=closedwon"),
    ("GET", "/scans/{}/export"): tuple(f"?format={f}&bom=true" for f in FORMATS),
    ("GET", "/scans/{}/columns"): ("?column.dealname=on",),
    ("GET", "/fragments/scans/{}/columns"): ("", "?find=deal"),
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
    return svc.http.request(method, f"{svc.url}{path}", headers=headers, timeout=60, **kw)


def dashboard_cookie(svc: ServiceProcess, key: str) -> str:
    """The dashboard's key cookie, got as a browser gets it: the key form's answer sets it."""
    reply = svc.http.post(f"{svc.url}/key", data={"api_key": key}, timeout=30)
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
    connection = alice.post(
        "/api/v1/connections",
        {"name": "alice's portal", "auth": {"hubspot_access_token": portal.token}},
    ).json()["connectionId"]
    yearly = {"scanId": "alpha-yearly", "cron": "0 0 1 1 *", "config": {"connectionId": connection}}
    schedule = alice.post("/api/v1/schedules", yearly).json()["scheduleId"]
    secrets = {
        "connection ids": [connection],
        "schedule ids": [schedule],
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
    # ... and every identifier as a connection's, on the connection endpoints and as a scan's
    # connectionId: answered as for a connection that never was
    for guess in guesses:
        for method, template in CONNECTION_PATHS:
            reply = call(svc, method, template.format(guess), key_b)
            replies.append(reply)
            if reply.status_code != 400:
                assert normalized(reply, guess) == never(method, template, key_b), (template, guess)
        body = {"config": {"scanId": "stolen", "type": ["hubspot_deals"], "connectionId": guess}}
        reply = call(svc, "POST", "/api/v1/scan/start", key_b, json=body)
        replies.append(reply)
        if reply.status_code != 400:  # a guess that is no connection id's form: refused as such
            body["config"]["connectionId"] = "conn_0000000000000000"
            expected = normalized(
                call(svc, "POST", "/api/v1/scan/start", key_b, json=body), "conn_0000000000000000"
            )
            assert normalized(reply, guess) == expected, guess
    listed = call(svc, "GET", "/api/v1/connections", key_b)
    replies.append(listed)
    assert listed.json() == {"connections": []}
    # ... and as a schedule's, on the schedule operations and the dashboard's buttons
    for guess in guesses:
        for method, template in SCHEDULE_PATHS:
            body = {"every": "1h"} if method == "PATCH" else None
            reply = call(svc, method, template.format(guess), key_b, json=body)
            replies.append(reply)
            if reply.status_code != 400:
                expected = never(method, template, key_b, json=body)
                assert normalized(reply, guess) == expected, (template, guess)
        for action in ("pause", "resume"):
            reply = call(svc, "POST", f"/schedules/{guess}/{action}", None, cookie=cookie_b)
            replies.append(reply)
            assert reply.status_code in (303, 400, 404), reply.status_code
    schedules = call(svc, "GET", "/api/v1/schedules", key_b)
    replies.append(schedules)
    assert schedules.json() == {"schedules": []}
    assert alice.get(f"/api/v1/schedules/{schedule}").json()["paused"] is False
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
            lines = [json.loads(line) for line in by_api.text.splitlines()]
            assert [{k: v for k, v in x.items() if k != "properties_typed"} for x in lines] == bobs
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
