"""What ``hubspot-deals serve`` runs around the API: the checks before it prints anything,
the demo's PostgreSQL database, and worker processes for the distributed mode on one machine.

``serve --demo --workers 2`` (``make run-distributed``) is the distributed mode from the docs
alone: the API, two ``worker`` processes and the demo sandbox, sharing PostgreSQL and Redis.
The workers get the API's HubSpot address explicitly, so none of them talks to the real HubSpot
while the API runs a demo.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from rich.console import Console
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import uvicorn

    from hubspot_deals.config import Settings


#: Where ``serve --demo`` runs its sandbox unless told.
DEMO_SANDBOX_PORT = 8090


@dataclass(frozen=True)
class Demo:
    """``serve --demo``: a sandbox portal of ``deals`` on ``port`` as the service's HubSpot."""

    deals: int
    port: int = DEMO_SANDBOX_PORT


class LaunchError(Exception):
    """Something to fix before the service can start; the message says what."""


def serve(
    console: Console,
    settings: Settings,
    host: str,
    port: int,
    demo: Demo | None,
    workers: int,
) -> None:
    """Check what can be checked, start the demo sandbox and ``workers``, then
    the API until it stops; everything started is stopped after it."""
    import uvicorn

    from hubspot_deals.api.app import create_app
    from hubspot_deals.api.coalescing import CoalescingHttpTools
    from hubspot_deals.interpreter import tune_for_service
    from hubspot_deals.sandbox.process import SandboxProcess

    if workers and not settings.distributed:
        raise LaunchError(
            "--workers needs the distributed mode: set REDIS_URL and DATABASE_URL (PostgreSQL)"
        )
    demo_flag = "--demo " if demo is not None else ""
    ensure_free(
        host, port, "the service's port", f"hubspot-deals serve {demo_flag}--port {port + 1}"
    )
    if demo is not None:
        ensure_free(
            "127.0.0.1",
            demo.port,
            "the demo sandbox's port",
            f"hubspot-deals serve --demo --demo-port {demo.port + 1}",
        )
    if workers:
        ensure_postgres_database(settings.sqlalchemy_url())
    portal = None
    started: list[subprocess.Popen[bytes]] = []
    if demo is not None:
        portal = SandboxProcess.start("--deals", str(demo.deals), port=demo.port)
        settings = settings.model_copy(update={"hubspot_base_url": portal.url})
        if not settings.oauth_app_configured:  # Connect HubSpot, with the sandbox's demo app
            settings = settings.model_copy(update=demo_oauth_app(host, port, portal.url))
    try:
        service = create_app(settings)
        started = start_workers(workers, {"HUBSPOT_BASE_URL": settings.hubspot_base_url})
        tune_for_service(serves_requests=True)
        config = uvicorn.Config(
            service,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=CoalescingHttpTools,  # a response in one write (api/coalescing.py)
        )

        def ready() -> None:
            if portal is not None:
                print_demo(console, host, port, portal.url, portal.token, workers)

        server = _announcing_server(config, ready)
        server.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's own exit code for a failed startup
    finally:
        stop_workers(started)
        if portal is not None:
            portal.stop()


def _announcing_server(config: uvicorn.Config, ready: Callable[[], None]) -> uvicorn.Server:
    """A uvicorn server that calls ``ready`` once the app has started: the demo's commands are
    printed only for a service that answers them (a failed startup prints its error alone)."""
    import uvicorn

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                ready()

    return Announcing(config)


def demo_oauth_app(host: str, port: int, sandbox_url: str) -> dict[str, object]:
    """The settings of the sandbox's demo OAuth app, its authorization page the sandbox's."""
    from pydantic import SecretStr

    from hubspot_deals.sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    return {
        "hubspot_client_id": DEMO_CLIENT_ID,
        "hubspot_client_secret": SecretStr(DEMO_CLIENT_SECRET),
        "hubspot_redirect_uri": f"{_base(host, port)}/connect/callback",
        "hubspot_authorize_url": f"{sandbox_url}/oauth/authorize",
    }


def _base(host: str, port: int) -> str:
    return f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"  # noqa: S104


def ensure_free(host: str, port: int, what: str, instead: str) -> None:
    """Fail before any banner when ``port`` is taken (a second ``make run``, say); ``instead``
    is the command line that would use another port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise LaunchError(
                f"port {port} on {host} is in use ({what}): another hubspot-deals serve is "
                f"probably running; stop it, or run this one on another port ({instead})"
            ) from None


def ensure_postgres_database(url: str) -> None:
    """Create the database ``url`` names if it is missing (a fresh machine's first run)."""
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("postgresql") or not database:
        return

    async def create() -> None:
        server = parsed.set(drivername="postgresql", database="postgres")
        connection = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", database
            )
            if not exists:
                name = database.replace('"', '""')
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as exc:
        host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        raise LaunchError(f"PostgreSQL at {host} cannot be used: {exc}") from None


def start_workers(count: int, env_overrides: Mapping[str, str]) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes with this process's environment and ``env_overrides``."""
    from hubspot_deals.sandbox.process import die_with_parent

    env = os.environ | dict(env_overrides)
    command = [sys.executable, "-m", "hubspot_deals", "worker"]
    # uvicorn ends the process by the signal it caught, past any `finally`: the workers must not
    # outlive it, so the kernel tells them when it goes
    return [
        subprocess.Popen(command, env=env, preexec_fn=die_with_parent)  # noqa: S603
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.terminate()
    for process in workers:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def print_demo(
    console: Console, host: str, port: int, sandbox_url: str, token: str, workers: int
) -> None:
    """The README's walk-through, ready to paste, with this run's addresses and token."""
    base = _base(host, port)
    config = {
        "scanId": "my-deals-extraction",
        "type": ["hubspot_deals"],
        "auth": {"hubspot_access_token": token},
        "properties": ["dealname", "amount", "dealstage", "closedate"],
        "includeAssociations": True,
        "batchSize": 100,
    }
    mode = f", {workers} worker processes" if workers else ""
    console.print(
        f"[bold]hubspot-deals[/bold] on {base}{mode} (Swagger UI: {base}/docs)", soft_wrap=True
    )
    console.print(
        f"demo HubSpot sandbox on {sandbox_url}; start a scan, follow it, read the deals, export "
        "them:",
        soft_wrap=True,
    )
    print(
        f"curl -X POST '{base}/api/v1/scan/start' -H 'Content-Type: application/json' "
        f"-d '{json.dumps({'config': config})}'"
    )
    print(f"curl '{base}/api/v1/scan/status/my-deals-extraction'")
    print(f"curl '{base}/api/v1/scan/results/my-deals-extraction?page=1&page_size=50'")
    print(f"curl -OJ '{base}/api/v1/scan/results/my-deals-extraction/export?format=csv'")
    console.print("or with the command line (.venv/bin/hubspot-deals, docs/cli.md):")
    url = "" if base == "http://localhost:8000" else f"export HUBSPOT_DEALS_URL={base}; "
    print(f"{url}export HUBSPOT_ACCESS_TOKEN={token}")
    print("hubspot-deals scan start my-deals-cli --include-associations --wait", flush=True)
