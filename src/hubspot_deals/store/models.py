"""The service's tables: one row per scan job, one row per extracted deal of a job."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC both ways: SQLite keeps no offset, so values read back are made aware here
    once, instead of by every reader."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class DatabaseNow(FunctionElement[datetime]):
    """The database's own clock, read where a statement runs: leases are written and judged by
    it, so workers whose clocks disagree still agree on which heartbeat is stale."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(DatabaseNow)
def _database_now(element: DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "clock_timestamp()"  # PostgreSQL: the moment itself, not the transaction's start


@compiles(DatabaseNow, "sqlite")
def _database_now_sqlite(element: DatabaseNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"  # the text form SQLAlchemy stores, in UTC


#: SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(StrEnum):
    """A run's status, as stored and as the API spells it."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The statuses of a run that holds its slot (``jobs.ACTIVE``), as the partial index's predicate.
ACTIVE_WHERE = "status IN ('pending', 'running')"


class Base(DeclarativeBase):
    pass


class ScanJob(Base):
    """One run of a scan. A scan id may be run again; the newest completed run is the one served."""

    __tablename__ = "scan_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scan_id: Mapped[str] = mapped_column(String(255))
    organization_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    #: what made a failed scan fail, for /stats: auth, rate_limit, network, hubspot or internal
    error_cause: Mapped[str | None] = mapped_column(String(16))
    total_items: Mapped[int | None] = mapped_column(Integer)
    processed_items: Mapped[int] = mapped_column(Integer, default=0)
    failed_items: Mapped[int] = mapped_column(Integer, default=0)
    current_batch: Mapped[int] = mapped_column(Integer, default=0)
    total_batches: Mapped[int | None] = mapped_column(Integer)
    with_associations: Mapped[int] = mapped_column(Integer, default=0)
    archived_deals: Mapped[int] = mapped_column(Integer, default=0)
    data_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The lease: the worker running the scan, renewed by its heartbeat. A claim bumps
    #: lease_version, so of two workers racing for one job exactly one wins.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_version: Mapped[int] = mapped_column(Integer, default=0)
    #: True on the newest run that completed (or on the only run so far): the one results serve.
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How the run fetches: "full", or "incremental" from ``base_job_id``'s deals, reading what
    #: changed since ``modified_since``; ``sync_reason`` says why an incremental ran as full.
    #: ``high_water_mark`` is when this run began reading: the next incremental's starting point.
    sync_mode: Mapped[str | None] = mapped_column(String(16))
    sync_reason: Mapped[str | None] = mapped_column(Text)
    base_job_id: Mapped[str | None] = mapped_column(String(40))
    modified_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    high_water_mark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the deals the run's result set holds, and how an incremental run changed it
    deals_held: Mapped[int] = mapped_column(Integer, default=0)
    changes_added: Mapped[int] = mapped_column(Integer, default=0)
    changes_updated: Mapped[int] = mapped_column(Integer, default=0)
    changes_archived: Mapped[int] = mapped_column(Integer, default=0)
    changes_removed: Mapped[int] = mapped_column(Integer, default=0)
    #: deals merged into another since the base run (their rows leave with the merge)
    changes_merged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: how the portal's properties changed since the scan id's previous run (added, removed,
    #: retyped); None for a first run
    schema_changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: property values that did not fit their declared type (kept as text; engine/typing.py)
    untyped_values: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Which scan ids this run excludes while it is pending or running (``run_slot``): the
    #: database holds "one active run per scan id", however many starts race (uq_scan_jobs_active_slot).
    run_slot: Mapped[str | None] = mapped_column(String(600))
    #: Takeovers of this run while running (its worker stopped answering, or the database broke
    #: off its writes) since its last written batch: past a bound the run fails instead.
    interruptions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: What the run does, typed (engine.spec.ScanSpec.to_stored); ``config`` is the request as the
    #: API shows it back. Null only on rows of tests that never run.
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: What the run found odd in its config against the portal (engine/config_check.py).
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    #: The stored credential the run uses (an OAuth grant), instead of ``token_encrypted``.
    credential_id: Mapped[str | None] = mapped_column(String(40))
    #: A first run's rows are its changes feed's record of them (``DealChange.row_in_run``):
    #: they stay when a later run supersedes it.
    feed_reads_rows: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_scan_jobs_scan", "organization_id", "scan_id", "created_at"),
        Index("ix_scan_jobs_created", "created_at"),
        Index("ix_scan_jobs_status", "status"),
        Index("ix_scan_jobs_org_status", "organization_id", "status", "created_at"),
        Index(
            "uq_scan_jobs_active_slot",
            "run_slot",
            unique=True,
            sqlite_where=text(ACTIVE_WHERE),
            postgresql_where=text(ACTIVE_WHERE),
        ),
    )


def run_slot(scan_id: str, org: str | None) -> str:
    """The slot a run of ``scan_id`` holds while active: the scan id alone for a service running
    open (scan ids are unique across it), else the organization's own (a scan id never holds "/",
    so the two forms never meet)."""
    return scan_id if org is None else f"{org}/{scan_id}"


class DealRow(Base):
    """One deal as a job extracted it, in the shape the results endpoint serves."""

    __tablename__ = "deals"

    row_id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("scan_jobs.id", ondelete="CASCADE"))
    deal_key: Mapped[int] = mapped_column(BigInteger)  # the numeric deal id: keyset order
    deal_id: Mapped[str] = mapped_column(String(32))
    deal_name: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    deal_stage: Mapped[str | None] = mapped_column(String(255))
    deal_stage_label: Mapped[str | None] = mapped_column(Text)
    pipeline_id: Mapped[str | None] = mapped_column(String(255))
    pipeline_label: Mapped[str | None] = mapped_column(Text)
    close_date: Mapped[str | None] = mapped_column(String(32))
    deal_created_at: Mapped[str | None] = mapped_column(String(32))
    deal_updated_at: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    owner_email: Mapped[str | None] = mapped_column(Text)
    deal_type: Mapped[str | None] = mapped_column(String(255))
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    deal_url: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    associations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stage_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: ids of the deals HubSpot merged into this one (``hs_merged_object_ids``)
    merged_from: Mapped[list[str] | None] = mapped_column(JSON)
    #: ``propertiesWithHistory``: per property, every value it took, oldest first
    property_history: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("job_id", "deal_key", name="uq_deals_job_deal"),
        Index("ix_deals_job_pipeline", "job_id", "pipeline_id", "deal_key"),
        Index("ix_deals_job_stage", "job_id", "deal_stage", "deal_key"),
        Index("ix_deals_job_owner", "job_id", "owner_id", "deal_key"),
    )


class RunSchema(Base):
    """The property definitions a run used (HubSpot's, as the run found them): what its exports
    are typed by and what ``/scan/schema`` answers. Apart from ``scan_jobs``, whose rows are read
    everywhere, because a portal's schema can run to hundreds of kilobytes."""

    __tablename__ = "run_schemas"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("scan_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class ApiKey(Base):
    """An API key binds its caller to one organization. Only a hash of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Credential(Base):
    """A stored HubSpot credential: an OAuth app's grant (client id, secret and refresh token) or
    a token, encrypted as one JSON document. A named one is a connection (the API's); an unnamed
    one was given inline in a scan config; for OAuth, the current access token and when it
    expires, renewed by whichever worker needs it first (under this row's lock). ``origin`` is
    what a scan config's inline grant is found again by: a digest of its organization and the
    grant as first given."""

    __tablename__ = "hubspot_credentials"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # "oauth" or "token"
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    origin: Mapped[str | None] = mapped_column(String(64))
    access_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    access_lifetime_s: Mapped[float | None] = mapped_column(Float)
    refreshes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rotations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: why HubSpot refused the grant, once it did: the credential is dead until reconnected
    refused: Mapped[str | None] = mapped_column(Text)
    #: what the last check found: the portal, its UI host, the scopes a scan can use
    portal_id: Mapped[int | None] = mapped_column(BigInteger)
    hub_domain: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("origin", name="uq_credentials_origin"),)
