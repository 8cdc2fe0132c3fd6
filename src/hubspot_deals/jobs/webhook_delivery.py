"""The delivery loop: in every process that runs scans (the embedded service, each worker), it
notices runs that ended and sends due deliveries, signed, retrying with backoff.

Noticing never touches the engine: the loop reads the runs' rows. Each round it reads which runs
are pending or running; the next round looks at those, and at the runs created since, for any
that ended (every run that ended in between is one of the two). Deliveries are inserted once per
webhook and event (the unique constraint), so processes noticing one end at once make one.

A due delivery is claimed with a guarded update of its ``next_attempt_at`` (to the attempt's
deadline) before it is sent: of two processes, one sends it. Each attempt is recorded (time,
HTTP status or error, duration); a failure (not 2xx, a timeout, no connection, an address
refused) is tried again after ``WEBHOOK_RETRY_SECONDS``, doubled each time up to
``WEBHOOK_RETRY_MAX_SECONDS``, until ``WEBHOOK_GIVE_UP_SECONDS`` after the event.

Signatures follow Standard Webhooks (the ``standardwebhooks`` library): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook as Signer

from hubspot_deals import __version__
from hubspot_deals.config import Settings
from hubspot_deals.jobs.service import iso
from hubspot_deals.jobs.status_body import status_body
from hubspot_deals.jobs.webhook_addresses import AddressRefused, checked
from hubspot_deals.jobs.webhooks import RUN_EVENTS, payload
from hubspot_deals.store.crypto import TokenCipher
from hubspot_deals.store.outages import report
from hubspot_deals.store.sync_tables import Webhook
from hubspot_deals.store.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    Ended,
    NewDelivery,
    WebhookRepository,
)

log = structlog.get_logger(__name__)

#: Attempts in flight at once in one process.
CAPACITY = 20
#: How long closing waits for the round and the attempts under way before it cancels them.
CLOSE_WITHIN_S = 5
#: Beyond its timeout, how long a claimed attempt stays another process's to leave alone.
CLAIM_MARGIN_S = 30.0
#: How far back each round looks again: clocks of processes differ, commits take time.
OVERLAP_S = 60.0


def signed_headers(secret: str, message_id: str, moment: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, moment, body),
    }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_try(settings: Settings, tried: int) -> timedelta:
    """The wait after the ``tried``-th failed attempt: the first delay, doubled each time."""
    first = settings.webhook_retry_seconds
    return timedelta(seconds=min(first * 2 ** (tried - 1), settings.webhook_retry_max_seconds))


class DeliveryLoop:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: TokenCipher,
        settings: Settings,
    ) -> None:
        self.sessions, self.cipher, self.settings = sessions, cipher, settings
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        #: the runs active at the last round, and its time (None: no round yet)
        self._watched: list[str] = []
        self._looked_at: datetime | None = None

    def start(self) -> None:
        """Run the loop in this process until ``close``."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self.run_forever(), name="webhook deliveries")

    async def close(self) -> None:
        """Stop after the round and the attempts under way (a while at most): a query cancelled
        halfway leaves the database adapter's connection half-closed and a task pending in the
        log; an attempt cut short is only tried again once its claim lapses."""
        self._stop.set()
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_WITHIN_S)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.notice()
                await self.send_due()
            except Exception as exc:  # the database is out of reach: the next round tries again
                report(log, "webhooks.round_failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.webhook_poll_seconds)

    # -- noticing run ends ------------------------------------------------------------------------

    async def notice(self) -> int:
        """Deliveries for the runs that ended since the last round; how many were made."""
        async with self.sessions() as db:
            repository = WebhookRepository(db)
            moment = await repository.now()
            active = await repository.active_runs()  # before the ends: none slips between
            hooks = await repository.everyone()
            since = (
                moment - timedelta(seconds=self.settings.webhook_give_up_seconds)
                if self._looked_at is None
                else self._looked_at - timedelta(seconds=OVERLAP_S)
            )
            made = 0
            if hooks:
                ended = await repository.ended(
                    created_since=since, watched=self._watched, ended_since=since
                )
                made = await self._deliveries_of(repository, hooks, ended, moment)
                await db.commit()
        self._watched, self._looked_at = active, moment
        if made:
            log.info("webhooks.noticed", deliveries=made)
        return made

    async def _deliveries_of(
        self,
        repository: WebhookRepository,
        hooks: Sequence[Webhook],
        ended: Sequence[Ended],
        moment: datetime,
    ) -> int:
        pairs = [
            (hook, run)
            for run in ended
            for hook in hooks
            if hook.organization_id == run.organization_id
            and RUN_EVENTS.get(run.status) in hook.events
            and run.completed_at >= hook.created_at
        ]
        if not pairs:
            return 0
        known = await repository.known([(hook.id, run.id) for hook, run in pairs])
        missing = [(hook, run) for hook, run in pairs if (hook.id, run.id) not in known]
        if not missing:
            return 0
        rows = await repository.runs(sorted({run.id for _, run in missing}))
        bodies: dict[str, dict[str, Any]] = {}
        new = []
        for hook, run in missing:
            job = rows[run.id]
            event = RUN_EVENTS[job.status]
            if run.id not in bodies:
                bodies[run.id] = payload(event, job.id, run.completed_at, status_body(job))
            new.append(NewDelivery(hook.id, event, job.id, bodies[run.id]))
        return await repository.add_deliveries(new, moment)

    # -- sending ----------------------------------------------------------------------------------

    async def send_due(self) -> int:
        """Claim the deliveries due now (as many as there is room for) and start their attempts."""
        room = CAPACITY - len(self._inflight)
        if room <= 0:
            return 0
        claimed: list[tuple[str, datetime]] = []
        async with self.sessions() as db:
            repository = WebhookRepository(db)
            moment = await repository.now()
            hold = timedelta(seconds=self.settings.webhook_timeout_seconds + CLAIM_MARGIN_S)
            for due in await repository.due(moment, room):
                until = moment + hold
                if await repository.claim(due, until):
                    claimed.append((due.id, until))
            await db.commit()
        for delivery_id, until in claimed:
            task = asyncio.create_task(self.attempt(delivery_id, until))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claimed)

    async def attempt(self, delivery_id: str, claimed_until: datetime) -> None:
        """One attempt of a claimed delivery, sent with no database connection held, then
        recorded (while the claim is still ours)."""
        try:
            async with self.sessions() as db:
                found = await WebhookRepository(db).claimed(delivery_id)
            if found is None:  # its webhook was deleted meanwhile
                return
            delivery, hook = found
            started = datetime.now(UTC)
            outcome = await self.send(
                hook.url, self.cipher.decrypt(hook.secret_encrypted), delivery.payload
            )
            attempts = [*delivery.attempts, _attempt_record(started, outcome)]
            async with self.sessions() as db:
                repository = WebhookRepository(db)
                moment = await repository.now()
                status, retry_at = DELIVERED, None
                if not outcome.delivered:
                    retry_at = moment + next_try(self.settings, len(attempts))
                    give_up = delivery.created_at + timedelta(
                        seconds=self.settings.webhook_give_up_seconds
                    )
                    status = PENDING if retry_at <= give_up else FAILED
                    retry_at = retry_at if status == PENDING else None
                await repository.record(
                    delivery_id,
                    claimed_until,
                    attempts=attempts,
                    status=status,
                    next_attempt_at=retry_at,
                    delivered_at=moment if status == DELIVERED else None,
                )
                await db.commit()
            log.info(
                "webhook.attempt",
                delivery=delivery_id,
                webhook=hook.id,
                attempt=len(attempts),
                status_code=outcome.status_code,
                error=outcome.error,
                outcome=status,
            )
        except Exception as exc:  # recorded next time: the claim lapses and it is due again
            report(log, "webhook.attempt_failed", exc, delivery=delivery_id)

    async def send(self, url: str, secret: str, body: dict[str, Any]) -> Outcome:
        """POST the event to ``url`` (resolved and checked now, connected to the checked
        address), signed; never reads the receiver's answer beyond its status."""
        started = time.monotonic()
        raw = orjson.dumps(body)
        try:
            target = await checked(url, allow_private=self.settings.webhook_allow_private_urls)
            headers = signed_headers(secret, str(body["id"]), datetime.now(UTC), raw.decode())
            headers |= {
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": f"hubspot-deals/{__version__} (webhooks)",
            }
            extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
            async with self._http().stream(
                "POST", target.url, content=raw, headers=headers, extensions=extensions
            ) as response:
                status: int | None = response.status_code
            error = None  # the status says how it went
        except AddressRefused as refused:
            status, error = None, f"refused: {refused}"
        except httpx.TimeoutException:
            status, error = None, f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            status, error = None, f"could not connect ({type(exc).__name__})"
        return Outcome(status, error, round((time.monotonic() - started) * 1000))

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,  # a redirect could lead anywhere, unchecked
                trust_env=False,  # no proxy from the environment: the checked address is the peer
            )
        return self._client


def _attempt_record(started: datetime, outcome: Outcome) -> dict[str, Any]:
    return {
        "at": iso(started),
        "status_code": outcome.status_code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
