"""The webhooks API's shapes: the registration request, the answers' models, and the stored rows
as those answers (apart from schemas.py and presenters.py, which the scans' shapes fill)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from hubspot_deals.api.requests import ORGANIZATION_PATTERN, ORGANIZATION_RE
from hubspot_deals.api.schemas import Pagination
from hubspot_deals.api.strict import Strict
from hubspot_deals.jobs.service import iso
from hubspot_deals.store.sync_tables import Webhook, WebhookDelivery

Event = Literal["scan.completed", "scan.failed", "scan.cancelled", "schedule.paused"]


class CreateWebhook(Strict):
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An http or https URL whose host resolves to public addresses only (unless "
        "the service allows private ones).",
    )
    events: list[Event] = Field(
        min_length=1,
        max_length=4,
        description="The events to be told of.",
        json_schema_extra={"uniqueItems": True},
    )
    organizationId: str | None = Field(
        None, min_length=1, max_length=255, json_schema_extra={"pattern": ORGANIZATION_PATTERN}
    )

    @field_validator("events")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("Must not repeat an event")
        return value

    @field_validator("organizationId")
    @classmethod
    def _visible(cls, value: str | None) -> str | None:
        if value is not None and not ORGANIZATION_RE.fullmatch(value):
            raise ValueError("Must be visible characters, nothing blank at either end")
        return value


class WebhookResponse(BaseModel):
    """A webhook, never its secret."""

    webhookId: str
    url: str
    events: list[Event]
    organizationId: str | None
    createdAt: str


class CreatedWebhook(WebhookResponse):
    secret: str = Field(
        description="The signing secret (whsec_...): shown this once, kept only encrypted."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookResponse]


class DeletedWebhook(BaseModel):
    message: str
    webhookId: str


class Attempt(BaseModel):
    at: str = Field(description="When the attempt was sent")
    statusCode: int | None = Field(description="The receiver's HTTP status; null: no answer")
    error: str | None = Field(description="Why no answer came (timeout, no connection, refused)")
    durationMs: int


class Delivery(BaseModel):
    deliveryId: str
    event: Event
    eventId: str = Field(description="The event's id: the webhook-id header of every attempt")
    eventKey: str = Field(description="What the event is about (job_... for a run's end)")
    status: Literal["pending", "delivered", "failed"]
    createdAt: str
    deliveredAt: str | None
    nextAttemptAt: str | None = Field(description="While pending: when it is tried next")
    attempts: list[Attempt] = Field(description="Every attempt, oldest first")


class DeliveryList(BaseModel):
    pagination: Pagination
    deliveries: list[Delivery]


def webhook_body(row: Webhook) -> dict[str, Any]:
    return {
        "webhookId": row.id,
        "url": row.url,
        "events": row.events,
        "organizationId": row.organization_id,
        "createdAt": iso(row.created_at),
    }


def delivery_body(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "deliveryId": row.id,
        "event": row.event,
        "eventId": row.payload.get("id"),
        "eventKey": row.event_key,
        "status": row.status,
        "createdAt": iso(row.created_at),
        "deliveredAt": iso(row.delivered_at),
        "nextAttemptAt": iso(row.next_attempt_at) if row.status == "pending" else None,
        "attempts": [
            {
                "at": attempt["at"],
                "statusCode": attempt["status_code"],
                "error": attempt["error"],
                "durationMs": attempt["duration_ms"],
            }
            for attempt in row.attempts
        ],
    }
