"""``/metrics`` read with Prometheus's own text parser: the stored figures agree with ``/stats``, the
HubSpot figures with what the sandbox saw (from the workers' ports in the distributed mode), and no
label carries a raw path, an id or an organization."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hubspot_deals.metrics import API_BUCKETS, HUBSPOT_BUCKETS, SCAN_STATUSES, UNROUTED
from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess

BAD_TOKEN = "pat-na1-ffffffff-0000-0000-0000-000000000000"
#: Four HubSpot calls in ten fail (a 429, a 503 or a dropped connection), so every run meets each;
#: twenty attempts a call make running out of them (0.4 ** 20) practically impossible.
FAULTS = ("--fault-rate", "0.4", "--fault-kinds", "429,503,drop", "--retry-after", "0")
RETRY_ENOUGH = {"HUBSPOT_RETRY_ATTEMPTS": "20"}
WORKER_METRICS = {"WORKER_METRICS_PORT": "1"}  # any port: each worker gets a free one of its own


def scrape(url: str) -> list[Sample]:
    """Every sample of one /metrics, through the text parser (which fails on a malformed body)."""
    reply = httpx.get(url, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(reply.text) for s in family.samples]


def scrape_all(urls: Iterable[str]) -> list[Sample]:
    """Samples of several processes, waiting for each to serve (a worker's port opens after its
    start)."""
    samples: list[Sample] = []
    for url in urls:
        deadline = time.monotonic() + 30
        while True:
            try:
                samples += scrape(url)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{url} never answered"
                time.sleep(0.1)
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (summed over processes)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def by_label(samples: list[Sample], name: str, label: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for s in samples:
        if s.name == name:
            counts[s.labels[label]] += int(s.value)
    return counts


def hubspot_sources(svc: ServiceProcess) -> list[str]:
    """Where the HubSpot figures are served: by the workers that make the calls, when there are
    workers; else by the service itself."""
    return svc.worker_metrics_urls() if DISTRIBUTED else [f"{svc.url}/metrics"]


def assert_histogram(
    samples: list[Sample], name: str, buckets: tuple[float, ...], counts: Counter[Any]
) -> None:
    """Each series of ``name`` (summed over processes) has exactly ``buckets`` plus +Inf,
    cumulative, ending at its count; ``counts`` maps a series' labels (as a sorted tuple) to the
    observations it must hold."""
    series: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
    for s in samples:
        if s.name == f"{name}_bucket":
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            bound = float(s.labels["le"])
            series.setdefault(key, {})[bound] = series.get(key, {}).get(bound, 0) + s.value
    assert set(series) == set(counts)
    for key, rows in series.items():
        assert list(rows) == [*buckets, float("inf")]
        values = list(rows.values())
        assert values == sorted(values), "buckets are cumulative"
        assert values[-1] == counts[key] == total(samples, f"{name}_count", **dict(key))


class TestStoredFigures:
    def test_agree_with_stats_and_hubspot(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """After scans through faults and one rejected token: scans by status, deals and queue
        depth equal /stats; HubSpot requests by status equal what the sandbox answered, 429s and
        retries included; the latency histogram holds every attempt."""
        faulty = make_sandbox(
            "--deals", "1500", "--rate-limit", "100000", "--search-rate", "1000", *FAULTS
        )
        # no token check at start: the rejected token's scan must run, and fail, to be counted
        svc = make_service(faulty, **RETRY_ENOUGH, **WORKER_METRICS, START_TOKEN_CHECK_SECONDS="0")
        svc.start_scan("metrics-a", faulty.token, includeAssociations=True)
        svc.start_scan("metrics-b", faulty.token, properties=["dealname", "amount"])
        svc.start_scan("metrics-bad", BAD_TOKEN)
        ends = {
            scan: svc.wait(scan)["status"] for scan in ("metrics-a", "metrics-b", "metrics-bad")
        }
        assert ends == {"metrics-a": "completed", "metrics-b": "completed", "metrics-bad": "failed"}

        stats = svc.get("/api/v1/stats", params={"period": "24h"}).json()
        api = scrape(f"{svc.url}/metrics")
        scans = {s: int(total(api, "hubspot_deals_scans", status=s)) for s in SCAN_STATUSES}
        assert scans == stats["status_breakdown"]
        assert scans["completed"] == 2 and scans["failed"] == 1
        deals = total(api, "hubspot_deals_deals_extracted_total")
        assert deals == stats["summary"]["total_deals_extracted"] > 0
        assert total(api, "hubspot_deals_queue_depth") == stats["status_breakdown"]["pending"]

        # a call still in flight as its scan failed (a sibling of the call whose 401 ended it) is
        # counted by the sandbox when it arrives and by the client when it ends: allow it to end
        deadline = time.monotonic() + 10
        while True:
            hubspot = scrape_all(hubspot_sources(svc))
            statuses = by_label(hubspot, "hubspot_deals_hubspot_requests_total", "status")
            seen = faulty.stats()
            if statuses.total() >= seen["total"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        answered: Counter[str] = Counter()
        for codes in seen["requests"].values():
            answered.update(codes)
        dropped = seen["faults"].get("drop", 0)  # the sandbox logs these under 200
        # The rejected token's five lookups run at once; the first 401 ends the scan and closes
        # its client, so a sibling's 401 may never be read, or the sibling never sent (still
        # connecting): the client counts either as "error", and the sandbox never saw the second.
        unsent = statuses.total() - seen["total"]
        assert 0 <= unsent <= 4
        assert statuses["429"] == answered["429"] > 0
        assert statuses["503"] == answered["503"] > 0
        assert statuses["error"] >= dropped > 0
        assert statuses["error"] + statuses["401"] == dropped + answered["401"] + unsent
        assert statuses["401"] >= 1
        limited = by_label(hubspot, "hubspot_deals_hubspot_rate_limited_total", "policy")
        assert limited == {"TEN_SECONDLY_ROLLING": statuses["429"]}
        # the good scans completed, so each of their faulted attempts was tried again, but for a
        # list page's retry still waiting for a slot when a search worker took over its range: the
        # plan cancels it (engine/plan.py, _steal), which one CI run in many saw once
        retries = total(hubspot, "hubspot_deals_hubspot_retries_total")
        assert 0 <= statuses["429"] + statuses["503"] + dropped - retries <= 2

        per_endpoint = by_label(hubspot, "hubspot_deals_hubspot_requests_total", "endpoint")
        assert "GET /account-info/2026-09/details" in per_endpoint
        assert_histogram(
            hubspot,
            "hubspot_deals_hubspot_request_duration_seconds",
            HUBSPOT_BUCKETS,
            Counter({(("endpoint", e),): n for e, n in per_endpoint.items()}),
        )
        if DISTRIBUTED:  # the API replica calls no HubSpot, and workers serve no stored figure
            assert total(api, "hubspot_deals_hubspot_requests_total") == 0
            assert not [s for s in hubspot if s.name.startswith("hubspot_deals_scans")]
            assert len(svc.worker_metrics_urls()) == 2

    @pytest.mark.slow  # about 20 s: `make test` runs it, the edit loop (test-fast) does not
    def test_queue_depth_and_every_organization(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """With one scan at a time per organization and HubSpot holding every answer: running and
        pending scans of two organizations add up to the metrics, which need no key and name no
        organization; cancelled, they move to cancelled and the queue empties."""
        # every answer comes 3 s late: a scan needs several in a row, so it runs for far longer
        # than this test looks, while the sandbox, stopping, waits at most 3 s for its answers
        held = make_sandbox(
            "--deals", "50", "--fault-rate", "1", "--fault-kinds", "stall", "--stall-seconds", "3"
        )
        svc = make_service(held, MAX_CONCURRENT_SCANS_PER_ORG="1")
        keys = {org: svc.cli("keys", "create", "--org", org) for org in ("ops_a", "ops_b")}
        a, b = replace(svc, api_key=keys["ops_a"]), replace(svc, api_key=keys["ops_b"])
        a.start_scan("first", held.token)
        b.start_scan("other", held.token)
        for caller, scan in ((a, "first"), (b, "other")):
            caller.wait(scan, until=lambda s: s["status"] == "running")
        a.start_scan("second", held.token)
        assert a.status("second")["status"] == "pending"

        def agree(expected: dict[str, int]) -> None:
            reply = httpx.get(f"{svc.url}/metrics", timeout=30)  # no key
            assert "ops_a" not in reply.text and "ops_b" not in reply.text
            metrics = scrape(f"{svc.url}/metrics")
            scans = {s: int(total(metrics, "hubspot_deals_scans", status=s)) for s in SCAN_STATUSES}
            per_org = [c.get("/api/v1/stats").json()["status_breakdown"] for c in (a, b)]
            assert scans == {s: sum(o[s] for o in per_org) for s in SCAN_STATUSES}
            assert {s: n for s, n in scans.items() if n} == expected
            assert total(metrics, "hubspot_deals_queue_depth") == expected.get("pending", 0)

        agree({"running": 2, "pending": 1})
        for caller, scan in ((a, "first"), (a, "second"), (b, "other")):
            assert caller.post(f"/api/v1/scan/cancel/{scan}").status_code == 200
        agree({"cancelled": 3})


class TestApiLatency:
    def test_route_templates_only(self, service: ServiceProcess) -> None:
        """Requests are counted under their route's template and a known method: ids, unknown
        paths and odd methods never become label values."""
        ids = [f"latency-probe-{i}" for i in range(3)]
        route = "/api/v1/scan/status/{scan_id}"
        before = scrape(f"{service.url}/metrics")
        for scan_id in ids:
            assert service.get(f"/api/v1/scan/status/{scan_id}").status_code == 200
        assert service.get("/no/such/latency-probe").status_code == 404
        assert service.request("PROPFIND", "/health").status_code == 405
        after = scrape(f"{service.url}/metrics")

        name = "hubspot_deals_http_request_duration_seconds"

        def count(samples: list[Sample], **labels: str) -> float:
            return total(samples, f"{name}_count", **labels)

        assert count(after, method="GET", route=route, status="200") - count(
            before, method="GET", route=route, status="200"
        ) == len(ids)
        assert (
            count(after, route=UNROUTED, status="404") - count(before, route=UNROUTED, status="404")
            == 1
        )
        assert count(after, method="other", route="/health", status="405") >= 1
        assert count(after, method="GET", route="/metrics", status="200") >= 1  # `before`
        labels = {v for s in after if s.name.startswith(name) for k, v in s.labels.items()}
        assert not [v for v in labels if "probe" in v]
        routes = {s.labels["route"] for s in after if s.name == f"{name}_count"}
        assert all(r == UNROUTED or r.startswith("/") for r in routes)
        assert_histogram(
            after,
            name,
            API_BUCKETS,
            Counter(
                {
                    tuple(sorted(s.labels.items())): int(s.value)
                    for s in after
                    if s.name == f"{name}_count"
                }
            ),
        )
