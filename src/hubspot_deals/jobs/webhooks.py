"""Webhooks: URLs an organization is told of events at (a run's end, a schedule paused), each
with its own signing secret, shown once when it is made and kept only encrypted.

An event becomes one delivery per subscribed webhook, a row (``webhook_deliveries``) that the
delivery loop of any process sends and retries (jobs/webhook_delivery.py): nothing here talks to
a receiver, so no scan and no request ever waits for one. Run ends are noticed by that loop from
the runs' own rows; other events are handed over with ``enqueue_event``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.jobs.service import iso
from hubspot_deals.jobs.webhook_addresses import AddressRefused, checked, parse
from hubspot_deals.store.jobs import OrgScope
from hubspot_deals.store.sync_tables import Webhook, WebhookDelivery
from hubspot_deals.store.webhooks import NewDelivery, WebhookRepository

if TYPE_CHECKING:  # the runtime starts the delivery loop, which builds payloads here
    from hubspot_deals.jobs.runtime import Runtime

#: What a webhook may ask to hear of, in the order the docs list them.
EVENTS = ("scan.completed", "scan.failed", "scan.cancelled", "schedule.paused")
#: A run's final status -> the event its end is.
RUN_EVENTS = {
    "completed": "scan.completed",
    "failed": "scan.failed",
    "cancelled": "scan.cancelled",
}
#: Random bytes of a signing secret (Standard Webhooks asks for 24 to 64).
SECRET_BYTES = 32


class WebhookNotFound(Exception):
    """No webhook of this id for the caller (another organization's looks the same)."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__("Webhook not found")
        self.webhook_id = webhook_id


class UrlRefused(Exception):
    """The URL may not be a webhook's: ``str()`` is the sentence for the ``url`` field."""


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    #: the signing secret, in clear this once (the caller shows it, nothing keeps it)
    secret: str


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def event_id(event: str, key: str) -> str:
    """An event's id, the same for every webhook it goes to and every attempt of it (the
    ``webhook-id`` receivers deduplicate by)."""
    digest = hashlib.blake2b(f"{event}\0{key}".encode(), digest_size=10).hexdigest()
    return f"evt_{digest}"


def payload(event: str, key: str, moment: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """What a delivery posts: the event's type, id, time and data."""
    return {"type": event, "id": event_id(event, key), "createdAt": iso(moment), "data": data}


async def create(
    session: AsyncSession, rt: Runtime, *, org: str | None, url: str, events: Sequence[str]
) -> Created:
    """Register a webhook: its URL checked (the form, and where its host resolves now), its
    secret made and sealed. Commits."""
    try:
        parse(url)
        await checked(url, allow_private=rt.settings.webhook_allow_private_urls)
    except AddressRefused as refused:
        raise UrlRefused(str(refused)) from None
    repository = WebhookRepository(session)
    secret = new_secret()
    row = repository.add(
        rt.cipher,
        org=org,
        url=url,
        events=[event for event in EVENTS if event in events],
        secret=secret,
        moment=await repository.now(),
    )
    await session.commit()
    return Created(row, secret)


async def listed(session: AsyncSession, scope: OrgScope) -> list[Webhook]:
    return list(await WebhookRepository(session).listed(scope))


async def find(session: AsyncSession, webhook_id: str, scope: OrgScope) -> Webhook:
    row = await WebhookRepository(session).get(webhook_id, scope)
    if row is None:
        raise WebhookNotFound(webhook_id)
    return row


async def delete(session: AsyncSession, webhook_id: str, scope: OrgScope) -> None:
    """Forget a webhook, its secret and its deliveries (those in flight are not recorded)."""
    repository = WebhookRepository(session)
    row = await repository.get(webhook_id, scope)
    if row is None:
        raise WebhookNotFound(webhook_id)
    await repository.delete(row)
    await session.commit()


async def deliveries(
    session: AsyncSession, webhook: Webhook, page: int, page_size: int
) -> tuple[Sequence[WebhookDelivery], int]:
    """A page of the webhook's deliveries, newest first, and how many there are."""
    return await WebhookRepository(session).page(webhook.id, page, page_size)


async def enqueue_event(
    session: AsyncSession, org: str | None, event: str, key: str, data: dict[str, Any]
) -> int:
    """Deliveries of ``event`` for the organization's webhooks that asked for it; ``key`` names
    what the event is about, once (``schedule_<id>_<moment>``, say): the same event enqueued
    twice, by one process or several, makes one delivery a webhook. Returns how many were new.

    The caller commits, with the change that is the event (a schedule's pause and its
    notification land together, or neither does)."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    repository = WebhookRepository(session)
    hooks = await repository.subscribed(org, event)
    if not hooks:
        return 0
    moment = await repository.now()
    body = payload(event, key, moment, data)
    return await repository.add_deliveries(
        [NewDelivery(hook.id, event, key, body) for hook in hooks], moment
    )
