"""Secrets, in both modes: a canary token, used for scans that complete, are cancelled, fail,
conflict or are refused (by the API and by the dashboard's form), an OAuth grant's canary client
secret and refresh token (a scan that renews its access tokens, a start with a wrong secret), and a
webhook's signing secret (its attempts failing against a closed port) are searched for in every
response but the one that makes the webhook (exports of each format, Parquet decoded; dashboard
pages; /metrics), the logs at debug level (exceptions included), the database's bytes and every
Redis key and value: zero hits.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from hubspot_deals.api.dashboard.forms import TOKEN_FIELD
from hubspot_deals.sandbox.catalog import ALL_SCOPES
from hubspot_deals.sandbox.process import SandboxProcess, free_port
from hubspot_deals.service_process import ServiceProcess
from tests.reliability.test_tenancy import EXPORT, EXPORT_QUERIES, FORMATS, readable

#: The deals exports of the tenancy suite (these scans keep no property history to export).
DEAL_EXPORTS = tuple(q for q in EXPORT_QUERIES if "table=" not in q)


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
def test_canary_token_is_nowhere(
    mode: str,
    make_sandbox: Callable[..., SandboxProcess],
    make_service: Callable[..., ServiceProcess],
) -> None:
    canary = f"pat-na1-c4na7y00-{uuid.uuid4().hex[:4]}-4000-8000-{uuid.uuid4().hex[:12]}"
    refused = f"pat-na1-c4na7y99-{uuid.uuid4().hex[:4]}-4000-8000-{uuid.uuid4().hex[:12]}"
    client_id, client_secret = f"canary-app-{uuid.uuid4()}", f"c4na7y-secret-{uuid.uuid4().hex}"
    wrong_secret = f"c4na7y-wrong-{uuid.uuid4().hex}"
    portal = make_sandbox(
        "--deals", "2000", "--rate-limit", "200", "--latency-ms", "20",
        "--token", f"{canary}={','.join(ALL_SCOPES)}",
        "--oauth-app", f"{client_id}={client_secret}", "--token-lifetime", "1",
    )  # fmt: skip
    refresh_token = portal.http.post(
        f"{portal.url}/_sandbox/oauth/grant", json={"client_id": client_id}
    ).json()["refresh_token"]
    oauth = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}
    distributed = mode == "distributed"
    svc = make_service(
        portal,
        distributed=distributed,
        HUBSPOT_BURST_LIMIT="200",
        LOG_LEVEL="DEBUG",  # the most a log can hold: the token must be in none of it
        WEBHOOK_ALLOW_PRIVATE_URLS="true",  # a webhook to a closed port here: attempts that fail
        WEBHOOK_RETRY_SECONDS="0.5",
        **({"WORKER_METRICS_PORT": "1"} if distributed else {}),  # each worker's /metrics too
    )
    # a webhook told of every run's end: its secret is in the answer that makes it, nowhere else
    hook = svc.post(
        "/api/v1/webhooks",
        {"url": f"http://127.0.0.1:{free_port()}/hook", "events": ["scan.completed", "scan.failed", "scan.cancelled"]},
    ).json()  # fmt: skip
    webhook_secret = hook["secret"]
    form = {"config.scanId": "canary-form", TOKEN_FIELD: canary, "config.batchSize": "100"}
    replies = [
        svc.start_scan("canary-done", canary, includeAssociations=True),
        svc.start_scan("canary-cancelled", canary),
        svc.start_scan("canary-cancelled", canary),  # 409 while it runs
        svc.post("/api/v1/scan/cancel/canary-cancelled"),
        svc.start_scan("canary-refused", refused),  # HubSpot answers 401: so does the start
        svc.start_scan("canary-invalid", canary, batchSize=0),  # 400
        svc.start_scan("canary-spaced", f"{canary} x"),  # 400, the token itself invalid
        svc.start_scan("canary-long", canary * 20),  # 400
        # an OAuth grant: a scan that renews access tokens living a second; a wrong secret (401)
        svc.post("/api/v1/scan/start", {"config": {"scanId": "canary-oauth", "type": ["hubspot_deals"], "auth": oauth}}),
        svc.post("/api/v1/scan/start", {"config": {"scanId": "canary-oauth-bad", "type": ["hubspot_deals"], "auth": oauth | {"client_secret": wrong_secret}}}),
        # the dashboard's start form: a start, the same again (409 beside the scan id while it
        # runs), and forms shown again with their errors (their values back, the token not)
        svc.request("POST", "/start", data=form),
        svc.request("POST", "/start", data=form),
        svc.request("POST", "/start", data=form | {"config.scanId": "canary-form-bad", "config.batchSize": "0"}),
        svc.request("POST", "/start", data=form | {"config.scanId": "canary-form-x", TOKEN_FIELD: f"{canary} x"}),
    ]  # fmt: skip
    assert [r.status_code for r in replies[-4:]] in ([303, 409, 400, 400], [303, 303, 400, 400])
    finished = ("canary-done", "canary-cancelled", "canary-form", "canary-oauth")
    for scan_id in finished:
        svc.wait(scan_id, timeout=180)
    assert replies[4].status_code == 401
    assert replies[4].json()["error_code"] == "HUBSPOT_AUTH_FAILED"
    assert replies[8].status_code == 202 and replies[9].status_code == 401, replies[9].text
    assert svc.status("canary-oauth")["status"] == "completed"
    assert portal.stats()["oauth"]["refreshes"] >= 1
    for scan_id in (*finished, "canary-refused", "canary-invalid", "canary-oauth-bad"):
        replies += [
            svc.get(f"/api/v1/scan/status/{scan_id}"),
            svc.get(f"/api/v1/scan/results/{scan_id}?page_size=500"),
            svc.get(f"/api/v1/scan/results/{scan_id}?page_size=500&partial=true"),
            *(svc.get(EXPORT.format(scan_id) + f"{q}&partial=true") for q in DEAL_EXPORTS),
            svc.get(f"/scans/{scan_id}"),
            svc.get(f"/scans/{scan_id}?partial=true"),
            svc.get(f"/fragments/scans/{scan_id}"),
            *(
                svc.get(f"/scans/{scan_id}/export?format={fmt}&bom=true&partial=true")
                for fmt in FORMATS
            ),
        ]
    replies += [svc.get("/api/v1/scan/list"), svc.get("/api/v1/stats"), svc.get("/health")]
    hook_path = f"/api/v1/webhooks/{hook['webhookId']}"
    replies += [svc.get("/api/v1/webhooks"), svc.get(hook_path), svc.get(f"{hook_path}/deliveries")]
    assert any(d["attempts"] for d in replies[-1].json()["deliveries"]), replies[-1].text
    replies += [svc.get(path) for path in ("/", "/fragments/scans", "/start", "/key")]
    scrapes = [svc.get("/metrics")] + [httpx.get(url) for url in svc.worker_metrics_urls()]
    assert len(scrapes) == (3 if distributed else 1)
    assert all(r.status_code == 200 and "hubspot_deals_" in r.text for r in scrapes)
    replies += scrapes
    exports = [r for r in replies if r.url.path.endswith("/export")]
    assert len(exports) == 7 * 7  # 7 scan ids, each: 4 exports by the API, 3 by the dashboard
    # every export of a run there is answers its file (canary-invalid and -refused never ran: 404)
    never_ran = ("canary-invalid", "canary-refused", "canary-oauth-bad")
    assert {r.status_code for r in exports if r.url.path.split("/")[-2] not in never_ran} == {200}
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
        for token in (canary, refused, client_secret, wrong_secret, refresh_token)
        for form in (
            token.encode(),
            token.split("-", 2)[2].encode(),  # the token's own part, without its prefix
            base64.b64encode(token.encode()),
            base64.urlsafe_b64encode(token.encode()),
        )
    ]
    needles += [  # the webhook's signing secret, whole, its key's base64, and that encoded again
        form
        for text in (webhook_secret, webhook_secret.removeprefix("whsec_"))
        for form in (text.encode(), base64.b64encode(text.encode()))
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
