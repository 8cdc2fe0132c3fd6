"""``GET /metrics``: Prometheus's view of the service (docs/metrics.md).

At the root, outside ``/api/v1`` and its API keys: it is the operator's, carries no organization's
data (no organization labels, no ids), and is restricted at the network like a load balancer's
probe.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.exposition import choose_encoder

from hubspot_deals.api.deps import runtime_dependency
from hubspot_deals.jobs import stats
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.metrics import StoredFigures
from hubspot_deals.store.outages import is_outage

router = APIRouter(tags=["service"])
log = structlog.get_logger(__name__)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus's text format (OpenMetrics when the Accept header asks)",
            "content": {"text/plain": {}, "application/openmetrics-text": {}},
        }
    },
)
async def metrics(
    request: Request, rt: Annotated[Runtime, Depends(runtime_dependency)]
) -> Response:
    """This process's metrics and the stored figures, read now: collectors are synchronous, so
    the database is asked first and the answer rendered after. With the database out of reach
    the process's own metrics are still served (the stored families are absent), since that is
    when request latency matters most."""
    figures: StoredFigures | None = None
    try:
        async with rt.sessions() as db:
            figures = await stats.stored_figures(db)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("metrics.database_unavailable", error=type(exc).__name__)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(rt.metrics.render(figures, encoder), media_type=content_type)
