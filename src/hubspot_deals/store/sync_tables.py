"""The tables of continuous sync: schedules and their due times, webhooks and their deliveries,
and the changes feed. Apart from models.py (the scans' own tables) to keep each module small;
they share its ``Base``, so Alembic and ``create_all`` see them too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from hubspot_deals.store.models import Base, RowId, UTCDateTime


class Schedule(Base):
    """A scan run by the clock: every ``every_seconds``, or at the times of ``cron`` in
    ``timezone``. ``next_run_at`` is the next due time; a process that claims a due time records
    it in ``schedule_ticks`` (unique), which is what makes each due time start one run at most."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(String(255))
    scan_id: Mapped[str] = mapped_column(String(255))
    #: one schedule per scan id (and organization): models.run_slot's form
    slot: Mapped[str] = mapped_column(String(600), unique=True)
    #: the scan config as the API shows it back (no secret: it names a connectionId), and the
    #: typed spec each run gets (engine.spec.ScanSpec.to_stored)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the stored connection every run uses
    credential_id: Mapped[str] = mapped_column(String(40))
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_job_id: Mapped[str | None] = mapped_column(String(40))
    #: runs in a row that failed (the next due time backs off); 0 after a completed one. Only
    #: runs due since ``failures_since`` count (a resume forgives the ones before)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    runs_started: Mapped[int] = mapped_column(Integer, default=0)
    #: due times that found the previous run still going (skipped, not queued)
    ticks_skipped: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_schedules_due", "paused", "next_run_at"),)


class ScheduleTick(Base):
    """One due time of a schedule, claimed once: the primary key is the guarantee."""

    __tablename__ = "schedule_ticks"

    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # started, skipped
    job_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Webhook(Base):
    """A URL an organization is told of events at, signed with its own secret (encrypted)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_webhooks_org", "organization_id"),)


class WebhookDelivery(Base):
    """One event for one webhook, tried until it is delivered or a day has passed; ``attempts``
    lists each try's outcome."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    #: what the event is about (``job_<id>`` for a run's end, the schedule and its pause
    #: otherwise): unique per webhook, so processes that notice one event at once create one
    #: delivery
    event_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_key", name="uq_deliveries_event"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_webhook", "webhook_id", "created_at"),
    )


class DealChange(Base):
    """One change a completed run made to its scan id's results, in order (``seq``): the
    changes feed. Written with the rows it describes; served once its run completed."""

    __tablename__ = "deal_changes"

    seq: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    #: the scan id's results it changes: models.run_slot's form
    scan_key: Mapped[str] = mapped_column(String(600))
    job_id: Mapped[str] = mapped_column(ForeignKey("scan_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # added, updated, archived, removed, merged
    deal_id: Mapped[str] = mapped_column(String(32))
    #: the row after the change (the results entry's fields); None when the deal left, or when
    #: ``row_in_run``: the row is the run's own (its deal key's), kept with the run for the feed
    row: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    row_in_run: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_deal_changes_feed", "scan_key", "seq"),)
