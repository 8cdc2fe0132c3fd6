"""A run's status body: what ``GET /scan/status`` answers for it, and what a webhook's delivery
carries as the event's ``data``. Here, under jobs/, so the API and the delivery loop (which never
imports the API) build it with one function; api/presenters.py re-exports it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hubspot_deals.engine import DEFAULT_PROPERTIES, ScanSpec, spec_of
from hubspot_deals.jobs.service import Queue, iso
from hubspot_deals.jobs.stats import percent
from hubspot_deals.store.models import JobStatus, ScanJob


def success_rate(job: ScanJob) -> str:
    """``0%`` before anything was processed (the spec's failed example); a completed run that
    had nothing to read (an incremental run without changes) failed at nothing: ``100%``."""
    if job.status == JobStatus.COMPLETED and not job.processed_items + job.failed_items:
        return "100%"
    return percent(job.processed_items, job.processed_items + job.failed_items)


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds()), 0)


def humanize(seconds: float) -> str:
    if seconds < 60:
        whole = max(int(seconds), 1)
        return f"{whole} second{'s' if whole != 1 else ''}"
    if seconds < 3600:
        minutes = round(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:.1f} hours"


def time_remaining(job: ScanJob) -> str | None:
    if (
        job.status != JobStatus.RUNNING
        or job.started_at is None
        or not job.processed_items
        or not job.total_items
    ):
        return None
    elapsed = max((datetime.now(UTC) - job.started_at).total_seconds(), 0.001)
    left = max(job.total_items - job.processed_items - job.failed_items, 0)
    return humanize(left / (job.processed_items / elapsed)) if left else "under a minute"


def data_mb(job: ScanJob) -> float:
    return round(job.data_bytes / 1_000_000, 2)


def identity(job: ScanJob) -> dict[str, Any]:
    """The fields status and list entries open with, in the spec's order."""
    return {
        "id": job.id,
        "scanId": job.scan_id,
        "status": job.status,
        "scanType": "hubspot_deals",
        "organizationId": job.organization_id,
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
    }


def queue_block(queue: Queue) -> dict[str, Any]:
    position = queue.ahead + 1
    if queue.running + queue.ahead < queue.limit:
        message = "Waiting for a worker to start it"
    else:
        message = (
            f"Waiting: the organization runs {queue.running} of its {queue.limit} scans at "
            f"once; {queue.ahead} queued before this one"
        )
    return {
        "position": position,
        "running_in_organization": queue.running,
        "max_running_per_organization": queue.limit,
        "message": message,
    }


def status_body(job: ScanJob, queue: Queue | None = None) -> dict[str, Any]:
    body = identity(job) | {"error_message": job.error_message}
    if job.error_code:
        body["error_code"] = job.error_code
    body |= {"created_at": iso(job.created_at), "updated_at": iso(job.updated_at)}
    progress: dict[str, Any] = {
        "total_items": job.total_items or 0,
        "processed_items": job.processed_items,
        "failed_items": job.failed_items,
        "success_rate": success_rate(job),
    }
    if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
        progress |= {
            "current_batch": job.current_batch,
            "total_batches": job.total_batches or 0,
            "estimated_time_remaining": time_remaining(job),
        }
        body["config"] = config_block(job)
    else:
        duration = seconds_between(job.started_at, job.completed_at)
        if duration is not None:
            progress["duration_seconds"] = duration
    body["progress"] = progress
    body["warnings"] = job.warnings or []
    body["sync"] = sync_block(job)
    body["schema_changes"] = schema_changes_body(job.schema_changes)
    if queue is not None:
        body["queue"] = queue_block(queue)
    if job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED) or (
        job.status == JobStatus.FAILED and job.processed_items
    ):
        body["results"] = results_block(job)
    return body


def config_block(job: ScanJob) -> dict[str, Any]:
    """What the scan uses, the defaults filled in: its stored spec, the config resolved and typed
    (below the API nothing reads the request's dict; a run without one shows the defaults)."""
    spec = spec_of(job) if job.spec is not None else ScanSpec(job.scan_id)
    return {
        "properties": "all" if spec.all_properties else list(spec.properties or DEFAULT_PROPERTIES),
        "includeAssociations": bool(spec.association_types),
        "batchSize": spec.batch_size,
    }


def requested_mode(job: ScanJob) -> str:
    return str(job.config.get("mode") or "full")


def sync_block(job: ScanJob) -> dict[str, Any]:
    return {
        "requested_mode": requested_mode(job),
        "mode": job.sync_mode,
        "reason": job.sync_reason,
        "base_job_id": job.base_job_id,
        "modified_since": iso(job.modified_since),
        "high_water_mark": iso(job.high_water_mark),
    }


def changes_block(job: ScanJob) -> dict[str, int] | None:
    if job.sync_mode != "incremental":
        return None
    return {
        "added": job.changes_added,
        "updated": job.changes_updated,
        "archived": job.changes_archived,
        "removed": job.changes_removed,
        "merged": job.changes_merged,
    }


def results_block(job: ScanJob) -> dict[str, Any]:
    """The spec's figures, the size of the result set, and an incremental run's changes."""
    block: dict[str, Any] = {
        "deals_extracted": job.processed_items,
        "with_associations": job.with_associations,
        "archived_deals": job.archived_deals,
        "data_size_mb": data_mb(job),
        "deals_held": job.deals_held,
        "untyped_values": job.untyped_values,
    }
    changes = changes_block(job)
    if changes is not None:
        block["changes"] = changes
    return block


def schema_changes_body(changes: dict[str, Any] | None) -> dict[str, Any] | None:
    if changes is None:
        return None

    def typed(kind: dict[str, str]) -> dict[str, str]:
        return {"type": kind["type"], "fieldType": kind["field_type"]}

    return {
        "added": changes["added"],
        "removed": changes["removed"],
        "retyped": [
            {"name": r["name"], "from": typed(r["from"]), "to": typed(r["to"])}
            for r in changes["retyped"]
        ],
    }
