"""The webhook endpoints: URLs an organization is told of events at, signed, and what each
delivery went through."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api import presenters
from hubspot_deals.api.deps import (
    bound_organization,
    runtime_dependency,
    same_origin,
    scope_dependency,
    session,
)
from hubspot_deals.api.errors import ApiError, ValidationFailed
from hubspot_deals.api.schemas import ErrorResponse
from hubspot_deals.api.webhook_schemas import (
    CreatedWebhook,
    CreateWebhook,
    DeletedWebhook,
    DeliveryList,
    WebhookList,
    WebhookResponse,
    delivery_body,
    webhook_body,
)
from hubspot_deals.jobs import webhooks
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.jobs import OrgScope
from hubspot_deals.store.sync_tables import Webhook

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Session = Annotated[AsyncSession, Depends(session)]
Scope = Annotated[OrgScope, Depends(scope_dependency)]
Rt = Annotated[Runtime, Depends(runtime_dependency)]
WebhookId = Annotated[str, Path(max_length=64)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No webhook of this id (for the caller)"}
}


def not_found(webhook_id: str) -> ApiError:
    return ApiError(404, "WEBHOOK_NOT_FOUND", "Webhook not found", {"webhookId": webhook_id})


async def _find(db: AsyncSession, webhook_id: str, scope: OrgScope) -> Webhook:
    try:
        return await webhooks.find(db, webhook_id, scope)
    except webhooks.WebhookNotFound:
        raise not_found(webhook_id) from None


@router.post(
    "",
    status_code=201,
    response_model=CreatedWebhook,
    dependencies=[Depends(same_origin)],
    responses={
        403: {
            "model": ErrorResponse,
            "description": "organizationId is not the API key's, or another site's page sent it",
        }
    },
)
async def create(body: CreateWebhook, request: Request, db: Session, rt: Rt) -> dict[str, Any]:
    """Register a URL for events; the answer shows its signing secret, this once."""
    bound = bound_organization(request)
    if bound is not None and body.organizationId not in (None, bound):
        raise ApiError(
            403,
            "FORBIDDEN",
            "Your API key does not act for this organization",
            errors={"organizationId": "Must be the organization of your API key"},
        )
    try:
        made = await webhooks.create(
            db, rt, org=bound or body.organizationId, url=body.url, events=body.events
        )
    except webhooks.UrlRefused as refused:
        raise ValidationFailed({"url": str(refused)}) from None
    return webhook_body(made.webhook) | {"secret": made.secret}


@router.get("", response_model=WebhookList)
async def list_webhooks(db: Session, scope: Scope) -> dict[str, Any]:
    """The caller's webhooks, newest first."""
    return {"webhooks": [webhook_body(row) for row in await webhooks.listed(db, scope)]}


@router.get("/{webhook_id}", response_model=WebhookResponse, responses=NOT_FOUND)
async def show(webhook_id: WebhookId, db: Session, scope: Scope) -> dict[str, Any]:
    return webhook_body(await _find(db, webhook_id, scope))


@router.delete(
    "/{webhook_id}",
    response_model=DeletedWebhook,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND,
)
async def delete(webhook_id: WebhookId, db: Session, scope: Scope) -> dict[str, Any]:
    """Forget a webhook, its secret and its deliveries."""
    try:
        await webhooks.delete(db, webhook_id, scope)
    except webhooks.WebhookNotFound:
        raise not_found(webhook_id) from None
    return {"message": "Webhook deleted", "webhookId": webhook_id}


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    response_model_exclude_unset=True,
    responses=NOT_FOUND,
)
async def deliveries(
    webhook_id: WebhookId,
    db: Session,
    scope: Scope,
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The webhook's deliveries, newest first, each with every attempt's outcome."""
    row = await _find(db, webhook_id, scope)
    rows, total = await webhooks.deliveries(db, row, page, page_size)
    return {
        "pagination": presenters.pagination(page, page_size, total, with_cursor=False),
        "deliveries": [delivery_body(delivery) for delivery in rows],
    }
