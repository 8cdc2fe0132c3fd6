"""The service's Prometheus metrics, defined in one place (docs/metrics.md lists them and says why).

Two kinds of figures, kept apart on purpose:

- measured by this process (``Metrics``): HubSpot calls as the client reports them through its
  ``on_call`` hook, and the API's request latency. Each process counts its own; Prometheus sums
  processes.
- stored (``StoredFigures``): scans by status, deals extracted, queue depth. They are read from the
  database at scrape time, so they agree with ``/stats`` and every API replica answers the same; a
  worker never serves them, or a sum over processes would count them twice.

No metric has an organization label: ``/metrics`` is the operator's, and one series per tenant
would be both unbounded and a view across tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from hubspot_deals.hubspot import CallRecord
from hubspot_deals.store.models import JobStatus

#: A HubSpot round trip is 50 ms to a few seconds; a timeout is HUBSPOT_TIMEOUT_SECONDS (30 s).
HUBSPOT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The API answers in milliseconds; a large results page or a slow database takes seconds.
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCAN_STATUSES = (
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
#: The label of an attempt that got no answer (timeout, refused or dropped connection).
NO_ANSWER = "error"
#: The route label of a request no route answered: unknown paths, and requests the middleware
#: answered before routing (the service's own 429s, repeated parameters).
UNROUTED = "(unrouted)"
#: Label values must stay few: anything a client or HubSpot could vary becomes "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_POLICIES = frozenset({"TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"})

Encoder = Callable[[Collector], bytes]


@dataclass(frozen=True)
class StoredFigures:
    """What the database says at scrape time: scans by status and the deals they extracted."""

    scans: Mapping[str, int]
    deals_extracted: int


class _Stored(Collector):
    """Renders one ``StoredFigures``: a collector per scrape, so concurrent scrapes never share
    mutable state."""

    def __init__(self, figures: StoredFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Metric]:
        scans = GaugeMetricFamily(
            "hubspot_deals_scans",
            "Scan runs stored, by status (all time; /stats shows the same per period).",
            labels=["status"],
        )
        for status in (*SCAN_STATUSES, *sorted(set(self.figures.scans) - set(SCAN_STATUSES))):
            scans.add_metric([status], self.figures.scans.get(status, 0))
        yield scans
        yield CounterMetricFamily(
            "hubspot_deals_deals_extracted",
            "Deals stored by every scan run (all time; /stats' total_deals_extracted per period).",
            value=self.figures.deals_extracted,
        )
        yield GaugeMetricFamily(
            "hubspot_deals_queue_depth",
            "Scans accepted and waiting to run (pending).",
            value=self.figures.scans.get(JobStatus.PENDING, 0),
        )


class Metrics:
    """This process's instruments, in a registry of its own (so that two apps in one process, as
    in tests, never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hubspot_requests = Counter(
            "hubspot_deals_hubspot_requests",
            "HubSpot API attempts by endpoint and HTTP status ('error': no answer).",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.hubspot_rate_limited = Counter(
            "hubspot_deals_hubspot_rate_limited",
            "HubSpot 429 answers by endpoint and rate-limit policy.",
            ["endpoint", "policy"],
            registry=self.registry,
        )
        self.hubspot_retries = Counter(
            "hubspot_deals_hubspot_retries",
            "HubSpot attempts that repeated a failed one, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.hubspot_duration = Histogram(
            "hubspot_deals_hubspot_request_duration_seconds",
            "HubSpot round trips (every attempt, answered or not), by endpoint.",
            ["endpoint"],
            buckets=HUBSPOT_BUCKETS,
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "hubspot_deals_http_request_duration_seconds",
            "API requests until their response headers, by method, route template and status.",
            ["method", "route", "status"],
            buckets=API_BUCKETS,
            registry=self.registry,
        )

    def observe_hubspot(self, record: CallRecord) -> None:
        """The HubSpot client's ``on_call`` hook."""
        endpoint = record.endpoint
        status = NO_ANSWER if record.status_code is None else str(record.status_code)
        self.hubspot_requests.labels(endpoint, status).inc()
        self.hubspot_duration.labels(endpoint).observe(record.elapsed_ms / 1000)
        if record.attempt > 1:
            self.hubspot_retries.labels(endpoint).inc()
        if record.status_code == 429:
            policy = record.rate_limit_policy
            self.hubspot_rate_limited.labels(
                endpoint, policy if policy in _POLICIES else "other"
            ).inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One API request; ``route`` is its template (``/api/v1/scan/status/{scan_id}``)."""
        self.api_duration.labels(
            method if method in _METHODS else "other", route, str(status)
        ).observe(seconds)

    def render(
        self, stored: StoredFigures | None = None, encoder: Encoder = generate_latest
    ) -> bytes:
        """This process's metrics, plus the stored figures when given (the API serves them, a
        worker does not)."""
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(self.registry)
        if stored is not None:
            scrape.register(_Stored(stored))
        return encoder(scrape)
