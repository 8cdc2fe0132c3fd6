"""The service in a child process on its own data directory, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis
from cryptography.fernet import Fernet

from hubspot_deals.sandbox.process import free_port, local_http, rss_mb


class DistributedBacking:
    """A PostgreSQL database and a Redis namespace of their own for one distributed deployment
    (tests, benchmarks), with the settings that point a service at them; ``drop`` removes both."""

    def __init__(self, postgres: str, redis_url: str, *, lease_seconds: float = 3) -> None:
        self.postgres, self.redis_url = postgres.rstrip("/"), redis_url
        self.name = f"hsd_test_{uuid.uuid4().hex[:12]}"
        self.lease_seconds = lease_seconds
        asyncio.run(self._sql(f'CREATE DATABASE "{self.name}"'))

    @property
    def env(self) -> dict[str, str]:
        host = self.postgres.removeprefix("postgresql://")
        return {
            "DATABASE_URL": f"postgresql+asyncpg://{host}/{self.name}",
            "REDIS_URL": self.redis_url,
            "REDIS_NAMESPACE": self.name,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SCAN_LEASE_SECONDS": str(self.lease_seconds),
        }

    async def _sql(self, statement: str) -> None:
        connection = await asyncpg.connect(f"{self.postgres}/postgres")
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def drop(self) -> None:
        asyncio.run(self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(match=f"{self.name}:*", count=1000):
            client.delete(key)
        client.close()


@dataclass
class ServiceProcess:
    """``hubspot-deals serve`` with its own data directory; restartable on the same data.

    With ``workers`` (the distributed mode: ``env`` names PostgreSQL and Redis) it also runs that
    many ``hubspot-deals worker`` processes, which can be killed and started one by one. A
    ``WORKER_METRICS_PORT`` other than 0 in ``env`` gives each worker a free port of its own
    instead (one environment cannot hold one port per worker): see ``worker_metrics_urls``.
    """

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    api_key: str | None = None  # sent as X-API-Key with every call when set
    workers: int = 0
    worker_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _spawned: int = 0
    _metrics_ports: dict[int, int] = field(default_factory=dict)  # worker pid -> its port
    http: httpx.Client = field(default_factory=local_http, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "service.log"

    def logs(self) -> str:
        """Everything the service and its workers wrote."""
        return "".join(p.read_text() for p in sorted(self.data_dir.glob("*.log")))

    def child_env(self) -> dict[str, str]:
        return (
            dict(os.environ)
            | {
                "DATA_DIR": str(self.data_dir),
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "INFO",  # DEBUG (httpx's every request) where a test reads it
                "PYTHONUNBUFFERED": "1",
            }
            | self.env
        )

    def _spawn(
        self, *args: str, log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.data_dir / log_name).open("ab") as log:  # the child keeps its own descriptor
            return subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                [sys.executable, "-m", "hubspot_deals", *args],
                stdout=log,
                stderr=log,
                env=self.child_env() | (env or {}),
            )

    def cli(self, *args: str) -> str:
        """``hubspot-deals ARGS`` on the service's configuration; its standard output."""
        done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-m", "hubspot_deals", *args],
            capture_output=True,
            text=True,
            env=self.child_env(),
            check=True,
        )
        return done.stdout.strip()

    def start_worker(self, **overrides: str) -> subprocess.Popen[bytes]:
        """One more worker; ``overrides`` in its environment only (a misconfigured one, say)."""
        self._spawned += 1
        env: dict[str, str] = dict(overrides)
        if self.env.get("WORKER_METRICS_PORT", "0") != "0":
            port = free_port()
            while port in self._metrics_ports.values():
                port = free_port()
            env["WORKER_METRICS_PORT"] = str(port)
        worker = self._spawn("worker", log_name=f"worker-{self._spawned}.log", env=env)
        if "WORKER_METRICS_PORT" in env:
            self._metrics_ports[worker.pid] = int(env["WORKER_METRICS_PORT"])
        self.worker_processes.append(worker)
        return worker

    def worker_metrics_urls(self) -> list[str]:
        """The /metrics of each running worker (see the class's docstring)."""
        return [
            f"http://127.0.0.1:{self._metrics_ports[w.pid]}/metrics"
            for w in self.worker_processes
            if w.pid in self._metrics_ports
        ]

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no goodbye, the lease is left to go stale."""
        worker.kill()
        worker.wait()
        self.worker_processes.remove(worker)
        self._metrics_ports.pop(worker.pid, None)

    def _postgres(self) -> str | None:
        url = self.env.get("DATABASE_URL")
        return url.replace("postgresql+asyncpg://", "postgresql://") if url else None

    def database_dump(self) -> bytes:
        """Every byte the database holds: the SQLite files, or pg_dump of PostgreSQL."""
        postgres = self._postgres()
        if postgres is None:
            return b"".join(p.read_bytes() for p in self.data_dir.glob("hubspot_deals.db*"))
        return subprocess.run(  # noqa: S603 - fixed arguments
            ["pg_dump", "--data-only", postgres],  # noqa: S607 - the PostgreSQL client on PATH
            capture_output=True,
            check=True,
        ).stdout

    def scalar(self, query: str) -> str:
        """The first column of the first row of ``query``, as text, from the service's database."""
        postgres = self._postgres()
        if postgres is None:
            with sqlite3.connect(self.data_dir / "hubspot_deals.db") as db:
                return str(db.execute(query).fetchone()[0])
        return subprocess.run(  # noqa: S603 - fixed arguments
            ["psql", "-tAc", query, postgres],  # noqa: S607 - the PostgreSQL client on PATH
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def execute(self, statement: str) -> None:
        """Run ``statement`` on the service's database, behind its back (tests break it so)."""
        postgres = self._postgres()
        if postgres is None:
            with sqlite3.connect(self.data_dir / "hubspot_deals.db") as db:
                db.execute(statement)
            return
        subprocess.run(  # noqa: S603 - fixed arguments
            ["psql", "-c", statement, postgres],  # noqa: S607 - the PostgreSQL client on PATH
            capture_output=True,
            check=True,
        )

    def start(self) -> ServiceProcess:
        self.process = self._spawn("serve", "--port", str(self.port), log_name="service.log")
        for _ in range(self.workers - len(self.worker_processes)):
            self.start_worker()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_path.read_text()[-2000:]
                self.stop()  # its workers, which would otherwise outlive the failed start
                raise RuntimeError(f"service exited: {log}")
            try:
                self.http.get(f"{self.url}/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("service did not start")

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid) if self.process else 0.0

    def stop(self, *, kill: bool = False) -> None:
        """Stop the service and its workers (SIGTERM, or SIGKILL with ``kill``)."""
        children = [p for p in (self.process, *self.worker_processes) if p is not None]
        for child in children:
            child.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.process = None
        self.worker_processes.clear()
        self._metrics_ports.clear()

    # -- the API ----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Any call, with the service's API key (when it has one) added to ``headers``."""
        return self.http.request(
            method,
            f"{self.url}{path}",
            timeout=60,
            headers=self._headers() | (headers or {}),
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def start_scan(self, scan_id: str, token: str, **config: Any) -> httpx.Response:
        body = {
            "config": {
                "scanId": scan_id,
                "type": ["hubspot_deals"],
                "auth": {"hubspot_access_token": token},
            }
            | config
        }
        return self.post("/api/v1/scan/start", body)

    def status(self, scan_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/scan/status/{scan_id}").json())

    def wait(
        self,
        scan_id: str,
        timeout: float = 120,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        finished = until or (lambda s: s["status"] in ("completed", "failed", "cancelled"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = self.status(scan_id)
            except httpx.TransportError as exc:  # say why: the service's state and last words
                exited = None if self.process is None else self.process.poll()
                raise AssertionError(
                    f"service unreachable ({exc!r}; exit code {exited}): {self.logs()[-3000:]}"
                ) from exc
            if finished(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"scan {scan_id} did not finish: {self.status(scan_id)}")

    def all_deals(self, scan_id: str, page_size: int = 500, **params: Any) -> list[dict[str, Any]]:
        """Every result row, walked with the keyset cursor."""
        deals: list[dict[str, Any]] = []
        query: dict[str, Any] = {"page_size": page_size} | params
        while True:
            body = self.get(f"/api/v1/scan/results/{scan_id}", params=query).json()
            deals += body["deals"]
            cursor = body["pagination"]["next_cursor"]
            if cursor is None:
                return deals
            query["cursor"] = cursor
