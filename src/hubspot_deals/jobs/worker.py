"""``hubspot-deals worker``: reads scan messages from Redis and runs scans, on any machine.

Messages are read with taskiq's receiver (acknowledged once the job's lease is taken); the
sweeper resumes scans whose worker died and starts pending ones whose message was lost. On
SIGTERM the worker stops reading, stops its scans and exits; their leases lapse and the other
workers resume them from their checkpoints. With ``WORKER_METRICS_PORT`` it serves its own
``/metrics`` there: the HubSpot calls it makes, which no API replica sees (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from prometheus_client import start_http_server
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from hubspot_deals.config import Settings
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.outages import report

log = structlog.get_logger(__name__)
#: Pause before reading again after Redis went away.
RECONNECT_S = 1.0


async def run_worker(settings: Settings) -> None:
    if not settings.distributed:
        raise SystemExit(
            "hubspot-deals worker needs REDIS_URL (and PostgreSQL): without them the service "
            "runs its scans itself"
        )
    runtime = await Runtime.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = runtime.broker
    broker.is_worker_process = True
    sweeper = asyncio.create_task(runtime.runner.sweep_forever())
    runtime.webhooks.start()  # webhook deliveries: stopped by runtime.close()
    runtime.scheduler.start()  # schedules' due times: stopped by runtime.close()
    metrics_server = None
    if settings.worker_metrics_port:  # a thread of prometheus_client's; the registry is thread-safe
        metrics_server, _ = start_http_server(
            settings.worker_metrics_port,
            settings.worker_metrics_host,
            registry=runtime.metrics.registry,
        )
    log.info(
        "worker.started",
        worker=runtime.worker_id,
        capacity=settings.worker_concurrency,
        metrics_port=settings.worker_metrics_port or None,
    )
    try:
        while not stop.is_set():
            try:
                await broker.startup()
                receiver = Receiver(
                    broker,
                    max_async_tasks=settings.worker_concurrency,
                    ack_type=AcknowledgeType.WHEN_EXECUTED,
                    run_startup=False,
                    propagate_exceptions=False,
                )
                await receiver.listen(stop)
            except Exception as exc:  # Redis went away: running scans go on, reading resumes
                report(log, "worker.broker_unavailable", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_S)
    finally:
        log.info("worker.stopping", running=runtime.runner.busy)
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        with contextlib.suppress(Exception):
            await broker.shutdown()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await runtime.close()
