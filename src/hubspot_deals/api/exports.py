"""A scan's deals (or its property history) as a download: CSV, NDJSON or Parquet, streamed a
batch of rows at a time (api/export_encoders.py encodes them), metered against the organization's
download limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.errors import ValidationFailed
from hubspot_deals.api.export_encoders import (
    CsvEncoder,
    Encoder,
    HistoryCsvEncoder,
    HistoryNdjsonEncoder,
    HistoryParquetEncoder,
    Layout,
    NdjsonEncoder,
    ParquetEncoder,
)
from hubspot_deals.api.quotas import open_download
from hubspot_deals.engine import spec_of
from hubspot_deals.engine.values import ValueTypes
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.service import count_results, result_batches, run_schema
from hubspot_deals.store.deals import DealFilter, stored_deals
from hubspot_deals.store.models import ScanJob


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"
    PARQUET = "parquet"


class ExportTable(StrEnum):
    """Which table of a scan: its deals, or the long-format history of propertiesWithHistory."""

    DEALS = "deals"
    PROPERTY_HISTORY = "property_history"


#: Rows read and encoded at once: a Parquet row group each, so larger there.
BATCH_ROWS = {ExportFormat.CSV: 1000, ExportFormat.NDJSON: 1000, ExportFormat.PARQUET: 2000}
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


def _encode(encoder: Encoder, rows: Sequence[Row[Any]]) -> bytes:
    """Decode and encode a batch: one trip to a thread, so neither holds the event loop."""
    return encoder.encode(stored_deals(rows))


def layout_of(job: ScanJob, definitions: list[dict[str, Any]]) -> Layout:
    """A run's columns: its properties (for ``"all"``, those its definitions list), typed by them."""
    spec = spec_of(job).resolved([d["name"] for d in definitions])
    return Layout(
        properties=list(spec.properties),
        types=ValueTypes.of(definitions),
        kinds=list(spec.association_types),
        stage_history=spec.stage_history,
    )


def encoder_for(
    fmt: ExportFormat, table: ExportTable, layout: Layout, *, bom: bool = False
) -> Encoder:
    if table is ExportTable.PROPERTY_HISTORY:
        if fmt is ExportFormat.CSV:
            return HistoryCsvEncoder()
        return HistoryNdjsonEncoder() if fmt is ExportFormat.NDJSON else HistoryParquetEncoder()
    if fmt is ExportFormat.CSV:
        return CsvEncoder(layout, bom=bom)
    if fmt is ExportFormat.NDJSON:
        return NdjsonEncoder(layout)
    return ParquetEncoder(layout)


async def _read_ahead(
    runtime: Runtime, job: ScanJob, where: DealFilter, size: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """The run's rows a batch at a time, read by a task of their own with a session of their
    own (the request's closes before the body is sent). A client that goes away cancels the
    response, never a query in flight: SQLAlchemy's aiosqlite adapter, cancelled mid-query,
    drops the connection and leaves a task pending (an error line in the log). The reader
    stops between two queries instead and closes its session itself."""
    ready: asyncio.Queue[Sequence[Row[Any]] | BaseException | None] = asyncio.Queue(maxsize=1)
    stop = asyncio.Event()

    async def hand_over(item: Sequence[Row[Any]] | BaseException | None) -> bool:
        """False once the response has gone: after it, at most the put it left pending goes
        through (its finally frees the slot), so no put waits for ever."""
        if stop.is_set():
            return False
        await ready.put(item)
        return True

    async def read() -> None:
        try:
            async with runtime.sessions() as session:
                if runtime.engine.dialect.name == "postgresql":  # one snapshot for every batch
                    await session.connection(
                        execution_options={"isolation_level": "REPEATABLE READ"}
                    )
                async for rows in result_batches(session, job, where, size):
                    if not await hand_over(rows):
                        return
            await hand_over(None)
        except Exception as exc:  # handed to the response, which fails with it
            await hand_over(exc)

    reader = asyncio.create_task(read())
    runtime.detach(reader)
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not ready.empty():  # a reader waiting to hand a batch over goes on to stop
            ready.get_nowait()


async def export_response(
    request: Request,
    db: AsyncSession,
    job: ScanJob,
    where: DealFilter,
    fmt: ExportFormat,
    *,
    table: ExportTable = ExportTable.DEALS,
    bom: bool = False,
) -> StreamingResponse:
    """The download of a job's rows (those ``where`` admits), metered against its organization's
    download limit. ``X-Total-Count`` tells a progress bar how many deals will come;
    ``X-Scan-Status`` whose run the file holds (anything but ``completed`` is a partial file)."""
    runtime: Runtime = request.app.state.runtime
    layout = layout_of(job, await run_schema(db, job))
    if table is ExportTable.PROPERTY_HISTORY and not spec_of(job).history_properties:
        raise ValidationFailed(
            {"table": "This scan asked for no propertiesWithHistory: it has no property history"}
        )
    total = await count_results(db, runtime.results, job, where)
    meter = await open_download(request, job.organization_id)
    # Decoding rows and encoding them is CPU work (some 60 ms a 2,000-row Parquet batch): it runs
    # in a thread, so the event loop, which embedded also runs the scans and every other request,
    # only fetches.
    encoder = await asyncio.to_thread(encoder_for, fmt, table, layout, bom=bom)

    async def body() -> AsyncIterator[bytes]:
        chunk = encoder.start()
        async for rows in _read_ahead(runtime, job, where, BATCH_ROWS[fmt]):
            async for piece in meter.pace(chunk + await asyncio.to_thread(_encode, encoder, rows)):
                yield piece
            chunk = b""
        async for piece in meter.pace(chunk + await asyncio.to_thread(encoder.finish)):
            yield piece

    name = job.scan_id if table is ExportTable.DEALS else f"{job.scan_id}.{table.value}"
    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt.value}"',
            "X-Total-Count": str(total),
            "X-Scan-Status": job.status,
            "Cache-Control": "no-store",
        },
    )
