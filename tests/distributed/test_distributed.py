"""The distributed mode's own promises: workers that die, a portal shared by two workers, limits
shared by two API replicas, and outages of PostgreSQL and Redis. Real processes, real servers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hubspot_deals.config import Settings
from hubspot_deals.jobs.tasks import make_broker
from hubspot_deals.sandbox import DEMO_TOKEN
from hubspot_deals.sandbox.process import SandboxProcess, free_port
from hubspot_deals.service_process import ServiceProcess
from tests.distributed.proxy import Outage
from tests.e2e.conftest import POSTGRES, REDIS, new_backing, service_env

#: The distributed mode's own suite: `make test` runs it, `make test-fast` (embedded only) does not.
pytestmark = pytest.mark.slow
DONE = ("completed", "failed", "cancelled")


def live_ids(portal: SandboxProcess) -> set[str]:
    return {d["id"] for d in portal.truth() if not d["archived"]}


def exactly_once(svc: ServiceProcess, scan_id: str, expected: set[str]) -> None:
    stored = Counter(d["deal_id"] for d in svc.all_deals(scan_id))
    assert max(stored.values()) == 1, "a deal was stored twice"
    assert set(stored) == expected, "deals are missing or extra"


@pytest.fixture
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServiceProcess]]:
    """More API processes on a deployment's database and Redis (no workers of their own)."""
    started: list[ServiceProcess] = []

    def replica(of: ServiceProcess) -> ServiceProcess:
        running = ServiceProcess(tmp_path_factory.mktemp("replica"), dict(of.env)).start()
        started.append(running)
        return running

    yield replica
    for running in started:
        running.stop()


class TestWorkers:
    def test_killed_workers_lose_and_double_nothing(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """SIGKILL the worker running a scan, again and again: every scan completes on another
        worker, from its checkpoint, with every deal exactly once."""
        slow = make_sandbox(
            "--deals", "3000", "--rate-limit", "60", "--search-rate", "2", "--latency-ms", "20"
        )
        svc = make_service(slow, distributed=True, HUBSPOT_BURST_LIMIT="60")
        for scan_id in ("killed-a", "killed-b"):
            assert svc.start_scan(scan_id, slow.token, batchSize=50).status_code == 202
        kills = 0
        while kills < 6:
            owner = svc.scalar(
                "select coalesce(max(worker_id), '') from scan_jobs where status = 'running'"
            )
            victim = next(
                (w for w in svc.worker_processes if owner.split(":")[1:2] == [str(w.pid)]), None
            )
            if victim is None:
                if all(svc.status(s)["status"] in DONE for s in ("killed-a", "killed-b")):
                    break
                time.sleep(0.2)
                continue
            time.sleep(1.0)  # let it store a page or two under its lease
            svc.kill_worker(victim)
            svc.start_worker()
            kills += 1
        assert kills >= 4, f"the scans ended after {kills} kills: make them longer"
        expected = live_ids(slow)
        for scan_id in ("killed-a", "killed-b"):
            status = svc.wait(scan_id, timeout=240)
            assert status["status"] == "completed", status
            assert status["results"]["deals_extracted"] == len(expected)
            exactly_once(svc, scan_id, expected)
        claims = int(svc.scalar("select sum(lease_version) from scan_jobs"))
        assert claims > 2  # scans were taken over (a kill may land just after a scan's end)

    def test_a_message_delivered_twice_runs_once(
        self, portal: SandboxProcess, make_service: Callable[..., ServiceProcess]
    ) -> None:
        """Three more messages for one scan (as redeliveries would be): one claim, one run."""
        svc = make_service(portal, distributed=True)
        svc.start_scan("twice", portal.token)
        job_id = svc.status("twice")["id"]

        async def send_again() -> None:
            broker, scan_task = make_broker(Settings(**{k.lower(): v for k, v in svc.env.items()}))
            await broker.startup()
            for _ in range(3):
                await scan_task.kiq(job_id)
            await broker.shutdown()

        asyncio.run(send_again())
        status = svc.wait("twice")
        assert status["status"] == "completed"
        exactly_once(svc, "twice", live_ids(portal))
        assert svc.scalar("select max(lease_version) from scan_jobs") == "1"  # its only job


class TestSharedPortal:
    def test_two_workers_stay_under_one_portals_limit(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
    ) -> None:
        """Two workers scanning one portal at once split its budget: no 429 of their own making."""
        tight = make_sandbox(
            "--deals", "6000", "--rate-limit", "100", "--search-rate", "5", "--latency-ms", "30"
        )
        svc = make_service(
            tight,
            distributed=True,
            WORKER_CONCURRENCY="1",  # one scan per worker: both workers call the portal
            HUBSPOT_BURST_LIMIT="100",
            HUBSPOT_SEARCH_RATE="5",
        )
        for scan_id in ("shared-a", "shared-b"):
            svc.start_scan(scan_id, tight.token, includeAssociations=True)
        statuses = [svc.wait(s, timeout=240) for s in ("shared-a", "shared-b")]
        assert [s["status"] for s in statuses] == ["completed", "completed"]
        workers = svc.scalar("select count(distinct worker_id) from scan_jobs")
        assert workers == "2", "each worker ran one of the scans"
        a, b = statuses
        assert a["started_at"] < b["completed_at"] and b["started_at"] < a["completed_at"]
        stats = tight.stats()
        assert stats["rate_limited_total"] == 0, stats["rate_limited"]
        # two paces of 100 per 10 s each, unshared, would have sent this many in the first window
        assert stats["total"] > 150


class TestSharedLimits:
    def test_request_limit_counts_both_replicas(
        self,
        portal: SandboxProcess,
        make_service: Callable[..., ServiceProcess],
        replicas: Callable[..., ServiceProcess],
    ) -> None:
        """One budget of requests a minute per client, whichever replica answers."""
        first = make_service(portal, distributed=True, API_RATE_LIMIT_PER_MINUTE="20")
        second = replicas(first)
        answers = [(first if i % 2 else second).get("/api/v1/scan/list") for i in range(25)]
        resets = [int(a.headers["X-RateLimit-Reset"]) for a in answers]
        assert max(resets) - min(resets) <= 2  # one window (the first request opened it)
        assert [a.status_code for a in answers].count(200) <= 20
        refused = [a for a in answers if a.status_code == 429]
        assert refused and all(a.json()["error_code"] == "RATE_LIMIT_EXCEEDED" for a in refused)
        assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"20"}
        remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers[:5]]
        assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 5

    def test_download_limit_per_organization(
        self,
        portal: SandboxProcess,
        make_service: Callable[..., ServiceProcess],
        replicas: Callable[..., ServiceProcess],
    ) -> None:
        """Results bytes a minute per organization, across replicas: past it 429 + Retry-After;
        another organization still downloads."""
        first = make_service(portal, distributed=True, RESULTS_MB_PER_MINUTE_PER_ORG="0.3")
        second = replicas(first)
        for scan_id, org in (("dl-x", "org_x"), ("dl-y", "org_y")):
            first.start_scan(scan_id, portal.token, organizationId=org)
            assert first.wait(scan_id)["status"] == "completed"
        served, refused = 0, None
        for page in range(1, 40):
            reply = (first if page % 2 else second).get(
                f"/api/v1/scan/results/dl-x?page={page}&page_size=50"
            )
            if reply.status_code == 429:
                refused = reply
                break
            assert reply.status_code == 200
            served += len(reply.content)
        assert refused is not None, f"{served} bytes served without a refusal"
        assert served <= 300_000
        body = refused.json()
        assert body["error_code"] == "RATE_LIMIT_EXCEEDED"
        assert int(refused.headers["Retry-After"]) >= 1
        assert body["details"]["limit_mb"] == 0.3
        assert second.get("/api/v1/scan/results/dl-y?page_size=50").status_code == 200

    def test_running_scans_per_organization_wait_in_order(
        self,
        make_sandbox: Callable[..., SandboxProcess],
        make_service: Callable[..., ServiceProcess],
        replicas: Callable[..., ServiceProcess],
    ) -> None:
        """At most N scans of an organization run at once, whichever replica started them; the rest
        wait as pending, say why, and start in order; other organizations are not held up."""
        slow = make_sandbox(
            "--deals",
            "600",
            "--rate-limit",
            "100000",
            "--search-rate",
            "1000",
            "--latency-ms",
            "150",
        )
        first = make_service(slow, distributed=True, MAX_CONCURRENT_SCANS_PER_ORG="2")
        second = replicas(first)
        queued = [f"q-{i}" for i in range(5)]
        for i, scan_id in enumerate(queued):
            (first if i % 2 else second).start_scan(
                scan_id, slow.token, organizationId="org_q", batchSize=20
            )
            time.sleep(0.05)  # distinct creation times: the order is the test
        first.start_scan("other-org", slow.token, organizationId="org_r")
        seen_pending: dict[str, Any] = {}
        while True:
            statuses = {s: first.status(s) for s in queued}
            for scan_id, body in statuses.items():
                if body["status"] == "pending" and "queue" in body:
                    seen_pending.setdefault(scan_id, body["queue"])
            if all(b["status"] in DONE for b in statuses.values()):
                break
            time.sleep(0.1)
        # the most runs of org_q that overlapped, from the stored times (polling statuses one by
        # one could see a scan still running and its successor already started)
        peak = first.scalar(
            "select max((select count(*) from scan_jobs b where b.organization_id = 'org_q'"
            " and b.started_at <= a.started_at and b.completed_at > a.started_at))"
            " from scan_jobs a where a.organization_id = 'org_q'"
        )
        assert int(peak) <= 2
        assert first.status("other-org")["status"] == "completed"
        assert seen_pending, "no scan was seen waiting"
        place = seen_pending[queued[-1]]
        assert place["max_running_per_organization"] == 2 and place["position"] >= 1
        assert "2 scans" in place["message"] or "worker" in place["message"]
        started = [first.status(s)["started_at"] for s in queued]
        assert started == sorted(started), "pending scans started out of order"
        assert all(first.status(s)["status"] == "completed" for s in queued)


class TestOneMachine:
    def test_serve_demo_with_workers(self, tmp_path: Path) -> None:
        """`serve --demo --workers 2` (make run-distributed): its PostgreSQL database created,
        two workers given the sandbox's address run a scan; stopping the API stops them."""
        backing = new_backing()
        database = f"{backing.name}_one_machine"
        env = dict(os.environ) | backing.env | {"DATA_DIR": str(tmp_path), "LOG_LEVEL": "INFO"}
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}"
        port, demo_port = free_port(), free_port()
        command = [sys.executable, "-m", "hubspot_deals", "serve", "--port", str(port), "--demo"]
        command += ["--demo-port", str(demo_port), "--demo-deals", "300", "--workers", "2"]
        serve = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            assert wait_for(lambda: _answers(f"{url}/health"), timeout=60)
            workers = [p for p in psutil.Process(serve.pid).children() if "worker" in p.cmdline()]
            assert len(workers) == 2
            config = {
                "scanId": "one-machine",
                "type": ["hubspot_deals"],
                "auth": {"hubspot_access_token": DEMO_TOKEN},
            }
            assert (
                httpx.post(f"{url}/api/v1/scan/start", json={"config": config}).status_code == 202
            )
            assert wait_for(
                lambda: (
                    httpx.get(f"{url}/api/v1/scan/status/one-machine").json()["status"]
                    == "completed"
                ),
                timeout=60,
            )
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
            _, alive = psutil.wait_procs(workers, timeout=15)
            asyncio.run(backing._sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            backing.drop()
        assert not alive, "workers outlived the API"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class TestMisconfiguredWorker:
    def test_a_worker_for_another_hubspot_refuses_the_scan(
        self, portal: SandboxProcess, tmp_path: Path
    ) -> None:
        """The API runs against the sandbox, the only worker against another HubSpot: the scan
        fails saying so, and the token goes nowhere else (nothing listens there anyway)."""
        backing = new_backing()
        svc = ServiceProcess(tmp_path, service_env(portal) | backing.env)
        try:
            svc.start()
            svc.start_worker(HUBSPOT_BASE_URL="http://127.0.0.1:9")
            assert svc.start_scan("elsewhere", portal.token).status_code == 202
            status = svc.wait("elsewhere", timeout=60)
            assert status["status"] == "failed", status
            assert "http://127.0.0.1:9" in status["error_message"]
            assert portal.url in status["error_message"]
        finally:
            svc.stop()
            backing.drop()


class TestOutages:
    def test_health_and_recovery_when_redis_or_postgres_go_away(
        self, portal: SandboxProcess, tmp_path: Path
    ) -> None:
        """503 while PostgreSQL or Redis is unreachable; back to 200 on its own, and a scan
        accepted during the Redis outage completes after it."""
        backing = new_backing()
        pg_host, pg_port = POSTGRES.rsplit("@", 1)[1].split(":")
        redis_host, redis_port = REDIS.removeprefix("redis://").split("/")[0].split(":")
        postgres, redis = Outage(pg_host, int(pg_port)), Outage(redis_host, int(redis_port))
        env = backing.env | {
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/{backing.name}",
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        }
        svc = ServiceProcess(tmp_path, service_env(portal) | env, workers=2)
        try:
            svc.start()
            assert svc.get("/health").status_code == 200

            redis.cut()
            health = svc.get("/health")
            assert health.status_code == 503
            assert health.json()["dependencies"]["redis_cache"]["status"] == "unhealthy"
            accepted = svc.start_scan("during-outage", portal.token)
            assert accepted.status_code == 202, accepted.text
            redis.restore()
            assert wait_for(lambda: svc.get("/health").status_code == 200)
            assert svc.wait("during-outage", timeout=120)["status"] == "completed"
            exactly_once(svc, "during-outage", live_ids(portal))

            postgres.cut()
            health = svc.get("/health")
            assert health.status_code == 503
            assert health.json()["dependencies"]["database"]["status"] == "unhealthy"
            assert set(health.json()["metrics"].values()) == {None}  # unknown, not zeros
            postgres.restore()
            assert wait_for(lambda: svc.get("/health").status_code == 200)
            svc.start_scan("after-outage", portal.token)
            assert svc.wait("after-outage", timeout=120)["status"] == "completed"
        finally:
            svc.stop()
            postgres.close()
            redis.close()
            backing.drop()


def wait_for(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
