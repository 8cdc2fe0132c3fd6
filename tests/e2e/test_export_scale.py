"""Exports at 100,000 deals: every deal read back in each format, typed, while the service's
memory stays flat (it grows by far less than the size of any file it streams)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench.exports import percentile, status_latencies

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import DistributedBacking
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import DISTRIBUTED, ServiceProcess, new_service, service_env
from tests.e2e.test_export import blank, from_csv, from_parquet
from tests.e2e.test_extraction import Expectation, comparable, typed_amount

pytestmark = pytest.mark.slow
DEALS = 100_000
PROPS = ["dealname", "amount", "dealstage", "contract_tier", "region_notes"]
KINDS = ("companies",)
#: What the service may grow by while it streams a file of 40-80 MB (CSV, NDJSON) or of 6 MB
#: (Parquet, whose writer keeps a row group's column buffers and pyarrow's memory pool keeps what
#: it freed for reuse: a distributed CI run saw +42 MB, most runs +14 to +30).
FLAT_MB = {"csv": 40, "ndjson": 40, "parquet": 60}


@pytest.fixture(scope="module")
def big_portal() -> Iterator[SandboxProcess]:
    portal = SandboxProcess.start(
        "--deals", str(DEALS), "--rate-limit", "100000", "--search-rate", "1000", *LATEST_ONLY
    )
    yield portal
    portal.stop()


@pytest.fixture(scope="module")
def expect(big_portal: SandboxProcess) -> Expectation:
    return Expectation(big_portal)


@pytest.fixture(scope="module")
def scanned(
    big_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    backings: list[DistributedBacking] = []
    service = new_service(
        tmp_path_factory.mktemp("service"),
        # the download limit is tested in test_export.py; here it would only make the test wait
        service_env(big_portal, RESULTS_MB_PER_MINUTE_PER_ORG="100000"),
        backings,
        distributed=DISTRIBUTED,
    ).start()
    service.start_scan(
        "export-100k",
        big_portal.token,
        properties=PROPS,
        includeAssociations=True,
        associationTypes=list(KINDS),
        batchSize=100,
    )
    status = service.wait("export-100k", timeout=600)
    assert status["status"] == "completed", status
    yield service
    service.stop()
    for backing in backings:
        backing.drop()


class PeakRss:
    """The service's resident memory, sampled every 50 ms while a download runs."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.service.rss_mb())
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def download(service: ServiceProcess, fmt: str, path: Path) -> tuple[int, float, float]:
    """Stream the export into ``path``: its row count header, the RSS before and the peak. An
    empty export of the format goes first: what loads once (pyarrow) is no growth with size."""
    url = f"{service.url}/api/v1/scan/results/export-100k/export"
    empty = httpx.get(url, params={"format": fmt, "owner_id": "nobody"}, timeout=60)
    assert empty.status_code == 200 and empty.headers["x-total-count"] == "0"
    before = service.rss_mb()
    with (
        PeakRss(service) as rss,
        httpx.stream(
            "GET",
            url,
            params={"format": fmt},
            timeout=300,
        ) as reply,
        path.open("wb") as out,
    ):
        assert reply.status_code == 200, reply.read()
        for chunk in reply.iter_bytes():
            out.write(chunk)
    return int(reply.headers["x-total-count"]), before, rss.peak


def check(rows: Iterator[dict[str, object]], expect: Expectation, *, loose: bool) -> int:
    """Every row equal to the ground truth, in deal id order, each deal once; returns the count."""
    previous = -1
    seen = 0
    for row in rows:
        key = int(str(row["deal_id"]))
        assert key > previous, "out of order or repeated"
        previous = key
        got = typed_amount(comparable(row))  # type: ignore[arg-type]
        wanted = typed_amount(expect.row(str(row["deal_id"]), PROPS, KINDS))
        assert (blank(got) == blank(wanted)) if loose else (got == wanted), row["deal_id"]
        seen += 1
    return seen


def live(expect: Expectation) -> int:
    return sum(1 for d in expect.truth.values() if not d["archived"])


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_export_100k_in_flat_memory(
    scanned: ServiceProcess, expect: Expectation, fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / f"deals.{fmt}"
    total, before, peak = download(scanned, fmt, path)
    size_mb = path.stat().st_size / 1e6
    print(f"{fmt}: {total} deals, {size_mb:.1f} MB, service RSS {before:.0f} -> peak {peak:.0f} MB")
    assert total == live(expect) > 95_000
    assert peak - before < FLAT_MB[fmt], (before, peak, size_mb)
    if fmt == "ndjson":
        assert size_mb > 35  # more than the service could hold without showing it
        with path.open() as lines:
            seen = check((json.loads(line) for line in lines), expect, loose=False)
    elif fmt == "csv":
        assert size_mb > 35  # more than the service could hold without showing it
        with path.open(newline="", encoding="utf-8") as text:
            seen = check(
                (from_csv(cells, PROPS, KINDS) for cells in csv.DictReader(text)),
                expect,
                loose=True,
            )
    else:
        parquet = pq.ParquetFile(path)
        assert parquet.metadata.num_row_groups >= DEALS // 2000 - 2  # written a batch at a time
        assert parquet.schema_arrow.field("amount").type == pa.float64()
        assert parquet.schema_arrow.field("close_date").type == pa.timestamp("ms", tz="UTC")
        seen = check(
            (
                from_parquet(record, KINDS)
                for batch in parquet.iter_batches(batch_size=10_000)
                for record in batch.to_pylist()
            ),
            expect,
            loose=False,
        )
    assert seen == total


def test_memory_does_not_grow_with_repeated_exports(
    scanned: ServiceProcess, tmp_path: Path
) -> None:
    """Three more exports back to back: the service ends where it started, give or take. During
    the Parquet one, the same service goes on answering status requests: encoding runs off the
    event loop. (The latency figure, a p99 under 100 ms alone on the machine, is the benchmark's,
    ``python -m bench exports``; beside the suite's other test processes this holds the loop
    unblocked: no request waits out whole batches.)"""
    start = scanned.rss_mb()
    peaks = [download(scanned, fmt, tmp_path / f"again.{fmt}")[2] for fmt in ("csv", "ndjson")]
    with PeakRss(scanned) as rss:
        latencies = status_latencies(scanned, "export-100k")
    peaks.append(rss.peak)
    assert max(peaks) - start < FLAT_MB["parquet"], (start, peaks)  # the last one is Parquet
    p99 = percentile(latencies, 0.99)
    print(f"status during a Parquet export: {len(latencies)} requests, p99 {p99 * 1000:.0f} ms")
    assert len(latencies) >= 20 and p99 < 1.0, (len(latencies), latencies[-5:])
