"""The users of bench/load.py (and of its smoke test, tests/reliability/test_load.py), reading
the API as dashboards and exporters do, each at one request a second (a steady rate, whatever the
latency): scan status, the list of scans, and results by page number and by cursor. Scan ids come
from LOAD_SCANS (comma-separated; the first is a completed scan whose results are paged), the API
key (if any) from LOAD_API_KEY."""

from __future__ import annotations

import os
import random

from locust import HttpUser, constant_throughput, task

SCANS = os.environ.get("LOAD_SCANS", "load-done").split(",")
PAGES = int(os.environ.get("LOAD_RESULT_PAGES", "50"))
KEY = os.environ.get("LOAD_API_KEY")


class Reader(HttpUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        if KEY:
            self.client.headers["X-API-Key"] = KEY
        self.cursor: str | None = None

    @task(3)
    def status(self) -> None:
        self.client.get(f"/api/v1/scan/status/{random.choice(SCANS)}", name="status")

    @task(1)
    def scan_list(self) -> None:
        self.client.get(f"/api/v1/scan/list?page={random.randint(1, 3)}", name="list")

    @task(2)
    def results_page(self) -> None:
        page = random.randint(1, PAGES)
        self.client.get(
            f"/api/v1/scan/results/{SCANS[0]}?page={page}&page_size=100", name="results"
        )

    @task(2)
    def results_cursor(self) -> None:
        query = f"page_size=100&cursor={self.cursor}" if self.cursor else "page_size=100"
        with self.client.get(
            f"/api/v1/scan/results/{SCANS[0]}?{query}", name="results (cursor)", catch_response=True
        ) as reply:
            if reply.status_code == 200:
                self.cursor = reply.json()["pagination"]["next_cursor"]
