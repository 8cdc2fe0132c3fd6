"""A sandbox in a child process, reached over real HTTP: what tests and benchmarks run against.

A separate process keeps the sandbox's CPU and event loop apart from the code under test, as a real
HubSpot is.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from hubspot_deals.sandbox.app import DEMO_TOKEN


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc (Linux); 0 elsewhere."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def local_http() -> httpx.Client:
    """A client for the plain HTTP of a process on this machine, made once per helper: making an
    httpx client loads the CA bundle (about 25 ms of CPU), which per request cost the test suite
    minutes. Like ``httpx.get``, it keeps no cookie between calls; and no connection (keep-alive):
    a process killed and restarted leaves none stale behind."""
    return httpx.Client(
        limits=httpx.Limits(max_keepalive_connections=0),
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """Linux: the sandbox gets SIGTERM when the process that started it dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the parent stops it as usual
        pass


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class SandboxProcess:
    url: str
    process: subprocess.Popen[bytes]
    started_in: float
    token: str = DEMO_TOKEN
    http: httpx.Client = field(default_factory=local_http, repr=False, compare=False)

    @classmethod
    def start(
        cls, *args: str, port: int | None = None, ready_within: float = 15.0
    ) -> SandboxProcess:
        """``hubspot-deals sandbox ARGS`` on ``port`` (if free) or a free one; returns once it answers."""
        port = port if port is not None and _is_free(port) else free_port()
        command = [sys.executable, "-m", "hubspot_deals", "sandbox", "--port", str(port), *args]
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=die_with_parent,  # one prctl call: safe between fork and exec
        )
        url, http = f"http://127.0.0.1:{port}", local_http()
        while time.monotonic() - started < ready_within:
            if process.poll() is not None:
                raise RuntimeError(f"sandbox exited with {process.returncode}")
            try:
                http.get(f"{url}/_sandbox/stats", timeout=1).raise_for_status()
                return cls(url, process, time.monotonic() - started, http=http)
            except httpx.HTTPError:
                time.sleep(0.02)
        process.kill()
        process.wait()
        raise RuntimeError(f"sandbox did not answer within {ready_within} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # -- the harness's side door ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/_sandbox/stats").json())

    def reset_stats(self) -> None:
        self.http.post(f"{self.url}/_sandbox/stats/reset").raise_for_status()

    def set_faults(self, rate: float, kinds: list[str] | None = None) -> None:
        body: dict[str, Any] = {"rate": rate} | ({"kinds": kinds} if kinds else {})
        self.http.post(f"{self.url}/_sandbox/faults", json=body).raise_for_status()

    def churn(self, at: int | None = None, **counts: int) -> dict[str, Any]:
        """``POST /_sandbox/churn``: exactly these changes (``create=``, ``update=``, ``archive=``,
        ``delete=``, ``relink=``, ``merge=``), dated ``at`` (epoch ms) if given; the reply's
        ``changed`` ids."""
        body: dict[str, Any] = dict(counts) | ({"at": at} if at is not None else {})
        reply = self.http.post(f"{self.url}/_sandbox/churn", json=body, timeout=120)
        reply.raise_for_status()
        return dict(reply.json())

    def set_churn_kinds(self, kinds: list[str]) -> None:
        """Which kinds ``--churn`` draws from, from now on."""
        self.http.post(f"{self.url}/_sandbox/churn/kinds", json={"kinds": kinds}).raise_for_status()

    def change_properties(
        self,
        create: list[dict[str, Any]] | None = None,
        archive: list[str] | None = None,
        retype: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``POST /_sandbox/properties``: the schema changed; the new definitions by operation."""
        body = {
            k: v
            for k, v in (("create", create), ("archive", archive), ("retype", retype))
            if v is not None
        }
        reply = self.http.post(f"{self.url}/_sandbox/properties", json=body)
        reply.raise_for_status()
        return dict(reply.json())

    def truth(self, history: list[str] | None = None) -> list[dict[str, Any]]:
        """``GET /_sandbox/deals``; ``history`` names properties whose histories to add."""
        params = {"history": ",".join(history)} if history else None
        with self.http.stream(
            "GET", f"{self.url}/_sandbox/deals", params=params, timeout=300
        ) as response:
            return [json.loads(line) for line in response.iter_lines() if line]

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    # -- plain HTTP with the token ----------------------------------------------------------------

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.get(f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def post(self, path: str, body: Any, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.post(f"{self.url}{path}", json=body, headers=headers, timeout=60, **kwargs)
