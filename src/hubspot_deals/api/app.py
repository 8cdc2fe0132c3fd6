"""The FastAPI app: routers under /api/v1 (health and stats also at the root), errors, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from enum import Enum

import structlog
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from hubspot_deals import __version__
from hubspot_deals.api import dashboard, errors, middleware, openapi
from hubspot_deals.api.deps import authenticate
from hubspot_deals.api.routes import changes, connections, scans, service
from hubspot_deals.api.routes import schedules as schedule_routes
from hubspot_deals.api.routes import webhooks as webhook_routes
from hubspot_deals.api.routes.metrics import router as metrics_router
from hubspot_deals.config import Settings
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.metrics import Metrics

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()  # fed by the middleware and, embedded, by the scans the runtime runs

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, metrics)
        app.state.runtime = runtime
        await runtime.broker.startup()
        runtime.scheduler.start()  # every API replica claims due times too: one run each anyway
        sweeper = None
        if not settings.distributed:  # the service is its own (only) worker
            sweeper = asyncio.create_task(_run_embedded_worker(runtime))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await runtime.broker.shutdown()
            await runtime.close()

    # Swagger UI at /docs and ReDoc at /redoc from the package's own copies: no CDN, so they
    # work offline and behind firewalls
    app = FastAPIOffline(
        static_url="/static-docs",
        title="HubSpot Deal Extraction Service",
        version=__version__,
        description="Extract deals from HubSpot portals: start scans, follow them, page through results.",
        lifespan=lifespan,
    )
    errors.install(app)
    middleware.install(app, settings.api_rate_limit_per_minute, metrics)
    keyed = [Depends(authenticate)]
    app.include_router(scans.router, prefix=API_PREFIX, dependencies=keyed)
    app.include_router(changes.router, prefix=API_PREFIX, dependencies=keyed)
    app.include_router(connections.router, prefix=API_PREFIX, dependencies=keyed)
    app.include_router(webhook_routes.router, prefix=API_PREFIX, dependencies=keyed)
    app.include_router(schedule_routes.router, prefix=API_PREFIX, dependencies=keyed)
    app.include_router(service.router, prefix=API_PREFIX, dependencies=keyed)
    root: list[str | Enum] = ["service (at the root)"]
    app.include_router(service.health_router, tags=root)  # open: probes have no key
    app.include_router(service.stats_router, tags=root, dependencies=keyed)
    app.include_router(dashboard.router)  # the web dashboard at /: docs/dashboard.md
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.include_router(metrics_router)  # at the root only, keyless: docs/metrics.md
    openapi.install(app)
    return app


async def _run_embedded_worker(runtime: Runtime) -> None:
    """Resume the scans a stopped process left behind, then sweep like any worker (and send
    webhook deliveries, as every process that runs scans does)."""
    runtime.webhooks.start()
    await runtime.resume_unfinished()
    await runtime.runner.sweep_forever()
