"""The dashboard's webhooks page, read-only: the organization's webhooks (URL, events) and each
one's latest deliveries (event, status, attempts, the last attempt's outcome), as
``GET /api/v1/webhooks`` and ``GET /api/v1/webhooks/{id}/deliveries`` answer them."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.dashboard.pages import Session, Who, render, router
from hubspot_deals.api.deps import org_scope
from hubspot_deals.api.webhook_schemas import delivery_body, webhook_body
from hubspot_deals.jobs import webhooks
from hubspot_deals.store.sync_tables import WebhookDelivery

#: The deliveries each webhook shows, newest first (the API pages through all of them).
SHOWN_DELIVERIES = 10


def _delivery(row: WebhookDelivery) -> dict[str, Any]:
    """A delivery as the API shows it, plus its last attempt (None before the first)."""
    body = delivery_body(row)
    return body | {"last": body["attempts"][-1] if body["attempts"] else None}


async def _webhooks_view(request: Request, db: AsyncSession) -> dict[str, Any]:
    shown = []
    for row in await webhooks.listed(db, org_scope(request)):
        rows, total = await webhooks.deliveries(db, row, 1, SHOWN_DELIVERIES)
        deliveries = [_delivery(delivery) for delivery in rows]
        shown.append(webhook_body(row) | {"deliveries": deliveries, "total": total})
    pending = any(d["status"] == "pending" for hook in shown for d in hook["deliveries"])
    return {"webhooks": shown, "live": pending}


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, db: Session, who: Who) -> HTMLResponse:
    """The caller's webhooks, newest first, each with its latest deliveries."""
    view = await _webhooks_view(request, db)
    return render(request, "webhooks.html", view | {"caller": who, "shown": SHOWN_DELIVERIES})


@router.get("/fragments/webhooks", response_class=HTMLResponse)
async def webhooks_fragment(request: Request, db: Session, who: Who) -> HTMLResponse:
    """The page's live part, polled while a delivery is pending (its next attempt changes it)."""
    view = await _webhooks_view(request, db)
    return render(request, "_webhooks_live.html", view | {"caller": who, "shown": SHOWN_DELIVERIES})
