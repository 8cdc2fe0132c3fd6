"""The task engine's wiring: the scan task and the broker the settings choose.

The runtime makes the broker (the in-memory one inside the service, embedded; the Redis stream
broker read by ``hubspot-deals worker`` processes, distributed) and registers the scan task on it:
no broker lives in a module. The job's truth lives in the database, not in the message: a message
delivered twice, or re-sent after a restart, finds the job's lease there.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from taskiq import AsyncBroker, InMemoryBroker, TaskiqDepends
from taskiq.decor import AsyncTaskiqDecoratedTask
from taskiq_redis import RedisStreamBroker

from hubspot_deals.config import Settings
from hubspot_deals.jobs.runner import ScanRunner

SCAN_TASK = "hubspot_deals.scan"

#: A message unacknowledged this long (its worker died, or its scan still runs) is delivered
#: again; the lease then decides. Recovery does not wait for it: the sweepers find stale leases.
REDELIVER_AFTER_MS = 15 * 60 * 1000


#: The process's runner, from the broker's dependency context (set by the runtime).
THIS_RUNNER: ScanRunner = TaskiqDepends()


#: the scan task as registered (its runner parameter is filled by the broker, not the sender)
ScanTask = AsyncTaskiqDecoratedTask[..., Coroutine[Any, Any, None]]


async def scan_task(job_id: str, runner: ScanRunner = THIS_RUNNER) -> None:
    """Acknowledged once the job's lease is taken (or found not ours); the scan runs on."""
    await runner.submit(job_id)


def make_broker(settings: Settings) -> tuple[AsyncBroker, ScanTask]:
    """The broker and the scan task registered on it (``.kiq(job_id)`` sends a job)."""
    if settings.redis_url is None:
        broker: AsyncBroker = InMemoryBroker(max_async_tasks=settings.worker_concurrency * 10)
    else:
        broker = RedisStreamBroker(
            settings.redis_url,
            queue_name=f"{settings.redis_namespace}:scans",
            consumer_group_name=f"{settings.redis_namespace}:workers",
            consumer_id="0",  # a group created after messages were sent still reads them
            idle_timeout=REDELIVER_AFTER_MS,
            unacknowledged_lock_timeout=10,  # a worker killed holding it must not block the rest
            maxlen=100_000,
        )
    return broker, broker.register_task(scan_task, task_name=SCAN_TASK)
