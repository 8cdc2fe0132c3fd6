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
        async with runtime.sessions() as session:  # its own: the request's closes before the body
            if runtime.engine.dialect.name == "postgresql":  # one snapshot for every batch
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            chunk = encoder.start()
            async for rows in result_batches(session, job, where, BATCH_ROWS[fmt]):
                async for piece in meter.pace(
                    chunk + await asyncio.to_thread(_encode, encoder, rows)
                ):
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
