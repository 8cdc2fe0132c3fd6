"""The task engine's wiring: the broker (in-memory in the embedded mode) and the scan task.

The job's truth lives in the database, not in the message: a message delivered twice, or a job
re-sent after a restart, finds the job's state and checkpoint there.
"""

from __future__ import annotations

from taskiq import InMemoryBroker

from hubspot_deals.engine import run_scan
from hubspot_deals.jobs.runtime import get_runtime

broker = InMemoryBroker(max_async_tasks=100)


@broker.task(task_name="hubspot_deals.scan")
async def scan_task(job_id: str) -> None:
    await run_scan(get_runtime().scan_context(), job_id)


async def dispatch(job_id: str) -> None:
    """Send a committed job to the workers."""
    await scan_task.kiq(job_id)
