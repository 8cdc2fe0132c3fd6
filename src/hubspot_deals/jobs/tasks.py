"""The task engine's wiring: the scan task and the broker the settings choose.

The task is declared once, on taskiq's shared broker; the runtime picks the broker that carries it:
the in-memory broker inside the service (embedded mode) or the Redis stream broker, read by
``hubspot-deals worker`` processes (distributed mode). The job's truth lives in the database, not
in the message: a message delivered twice, or re-sent after a restart, finds the job's lease there.
"""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker, TaskiqDepends
from taskiq.brokers.shared_broker import AsyncSharedBroker
from taskiq_redis import RedisStreamBroker

from hubspot_deals.config import Settings
from hubspot_deals.jobs.runner import ScanRunner

shared_broker = AsyncSharedBroker()

#: A message unacknowledged this long (its worker died, or its scan still runs) is delivered
#: again; the lease then decides. Recovery does not wait for it: the sweepers find stale leases.
REDELIVER_AFTER_MS = 15 * 60 * 1000


#: The process's runner, from the broker's dependency context (set by the runtime).
THIS_RUNNER: ScanRunner = TaskiqDepends()


@shared_broker.task(task_name="hubspot_deals.scan")
async def scan_task(job_id: str, runner: ScanRunner = THIS_RUNNER) -> None:
    """Acknowledged once the job's lease is taken (or found not ours); the scan runs on."""
    await runner.submit(job_id)


def make_broker(settings: Settings) -> AsyncBroker:
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
    shared_broker.default_broker(broker)
    return broker


async def dispatch(job_id: str) -> None:
    """Send a committed job to whoever runs scans."""
    await scan_task.kiq(job_id)
