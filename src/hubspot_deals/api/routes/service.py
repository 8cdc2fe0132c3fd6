"""Health and stats: answered under /api/v1 and at the root.

At the root ``/health`` stays open (load balancers and probes carry no key) and ``/stats`` asks for
a key like ``/api/v1/stats`` (the app mounts the two routers so): figures are an organization's."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hubspot_deals import __version__
from hubspot_deals.api.deps import requested_scope, runtime_dependency
from hubspot_deals.api.errors import timestamp
from hubspot_deals.api.schemas import HealthResponse, StatsResponse
from hubspot_deals.jobs import stats as stats_module
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.outages import report

log = structlog.get_logger(__name__)

health_router = APIRouter(tags=["service"])
stats_router = APIRouter(tags=["service"])
HUBSPOT_STALE_SECONDS = 600


async def _hubspot_block(rt: Runtime) -> dict[str, Any]:
    try:
        last, remaining = await rt.hubspot.latest()
    except Exception as exc:  # Redis is down: reported in its own block
        report(log, "health.hubspot_record_failed", exc)
        last, remaining = None, None
    if last is None or time.time() - last.at > HUBSPOT_STALE_SECONDS:
        return {"status": "unknown", "response_time_ms": None, "rate_limit_remaining": None}
    code = last.status_code  # None: the latest attempt got no answer
    healthy = code is not None and code < 500 and code != 429
    return {
        "status": "healthy" if healthy else "degraded",
        "response_time_ms": round(last.elapsed_ms),
        "rate_limit_remaining": remaining,
    }


async def _redis_block(rt: Runtime) -> dict[str, Any]:
    if rt.redis is None:
        return {"status": "not_configured", "response_time_ms": None}
    started = time.perf_counter()
    try:
        await rt.redis.ping()
    except Exception as exc:
        report(log, "health.redis_failed", exc)
        return {"status": "unhealthy", "response_time_ms": None, "error": type(exc).__name__}
    return {"status": "healthy", "response_time_ms": round((time.perf_counter() - started) * 1000)}


@health_router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The database or Redis is down"}},
)
async def health(rt: Annotated[Runtime, Depends(runtime_dependency)]) -> JSONResponse:
    """The service and its dependencies; 503 when the database (or Redis, when used) does not
    answer: without them nothing works. HubSpot failing marks the service ``degraded`` (200):
    it serves everything stored, and its scans retry. Nothing needs restarting after an outage:
    connections are checked before use."""
    body = await health_report(rt)
    return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)


async def health_report(rt: Runtime) -> dict[str, Any]:
    """The /health body; the dashboard's overview shows the same figures."""
    started = time.perf_counter()
    # unknown, not zero, while the database cannot say
    metrics: dict[str, int | None] = dict.fromkeys(
        ("active_scans", "completed_scans_today", "total_deals_extracted_today")
    )
    try:
        async with rt.sessions() as db:
            await stats_module.database_ping(db)
            database = {
                "status": "healthy",
                "response_time_ms": round((time.perf_counter() - started) * 1000),
            }
            metrics = dict(await stats_module.today(db))
    except Exception as exc:  # a bug is logged as one (report), and the probe still answers
        report(log, "health.database_failed", exc)
        database = {"status": "unhealthy", "response_time_ms": None, "error": type(exc).__name__}
    redis = await _redis_block(rt)
    hubspot = await _hubspot_block(rt)
    if database["status"] != "healthy" or redis["status"] == "unhealthy":
        status = "unhealthy"
    else:
        status = "degraded" if hubspot["status"] == "degraded" else "healthy"
    return {
        "status": status,
        "timestamp": timestamp(),
        "version": __version__,
        "uptime_seconds": int(time.monotonic() - rt.started),
        "dependencies": {
            "database": database,
            "hubspot_api": hubspot,
            "redis_cache": redis,
        },
        "metrics": metrics,
    }


@stats_router.get("/stats", response_model=StatsResponse)
async def stats(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime_dependency)],
    period: Literal["24h", "7d", "30d"] = "24h",
    organization_id: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """Aggregates over the scans created in the period."""
    async with rt.sessions() as db:
        return await stats_module.compute(db, period, requested_scope(request, organization_id))


router = APIRouter()
router.include_router(health_router)
router.include_router(stats_router)
