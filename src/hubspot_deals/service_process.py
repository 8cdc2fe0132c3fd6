"""The service in a child process on its own data directory, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hubspot_deals.sandbox.process import free_port, rss_mb


@dataclass
class ServiceProcess:
    """``hubspot-deals serve`` with its own data directory; restartable on the same data."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    api_key: str | None = None  # sent as X-API-Key with every call when set

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "service.log"

    def start(self) -> ServiceProcess:
        env = (
            os.environ
            | {
                "DATA_DIR": str(self.data_dir),
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "DEBUG",
                "PYTHONUNBUFFERED": "1",
            }
            | self.env
        )
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                [sys.executable, "-m", "hubspot_deals", "serve", "--port", str(self.port)],
                stdout=log,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited: {self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("service did not start")

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid) if self.process else 0.0

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    # -- the API ----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, headers=self._headers(), **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", json=body, timeout=30, headers=self._headers(), **kwargs
        )

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
            status = self.status(scan_id)
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
