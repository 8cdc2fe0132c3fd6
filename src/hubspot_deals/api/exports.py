"""A scan's deals as a download: CSV, NDJSON or Parquet, encoded one batch of rows at a time.

Each encoder turns a batch into bytes and keeps nothing of it, so an export of any size streams in
the memory of one batch. The columns follow the scan's config (its properties, association types
and whether it asked for stage history), the same for every row, so a spreadsheet or a warehouse
table gets one stable layout.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.presenters import deal_body
from hubspot_deals.api.quotas import open_download
from hubspot_deals.engine import spec_of
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.service import count_results, result_batches
from hubspot_deals.store.deals import DealFilter, StoredDeal, stored_deals
from hubspot_deals.store.models import ScanJob

#: The row's own columns, in the order of the results endpoint's deal entries.
DEAL_COLUMNS = (
    "deal_id",
    "deal_name",
    "amount",
    "currency",
    "deal_stage",
    "deal_stage_label",
    "pipeline_id",
    "pipeline_label",
    "close_date",
    "deal_created_at",
    "deal_updated_at",
    "owner_id",
    "owner_email",
    "deal_type",
    "is_archived",
    "deal_url",
)
_TIMESTAMPS = {"close_date", "deal_created_at", "deal_updated_at"}
#: CSV cells of association id lists: ids joined by this (ids are digits, never contain it).
ID_SEPARATOR = ";"
#: The column of a scan that asked for ``includeStageHistory``, after every other.
STAGE_HISTORY = "stage_history"


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"
    PARQUET = "parquet"


#: Rows read and encoded at once: a Parquet row group each, so larger there.
BATCH_ROWS = {ExportFormat.CSV: 1000, ExportFormat.NDJSON: 1000, ExportFormat.PARQUET: 2000}
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


class Encoder(Protocol):
    def start(self) -> bytes: ...
    def encode(self, rows: Sequence[StoredDeal]) -> bytes: ...
    def finish(self) -> bytes: ...


def _encode(encoder: Encoder, rows: Sequence[Row[Any]]) -> bytes:
    """Decode and encode a batch: one trip to a thread, so neither holds the event loop."""
    return encoder.encode(stored_deals(rows))


def _ids(row: StoredDeal, kind: str) -> list[str]:
    return [entry["id"] for entry in (row.associations or {}).get(kind) or []]


class CsvEncoder:
    """Flat: one column per property (``properties.NAME``) and per association type
    (``associations.TYPE``, ids joined by ``;``), and ``stage_history`` (the results entry's list
    as JSON text) when the scan asked for it; dates as ISO 8601 UTC; an optional BOM so
    spreadsheets read UTF-8."""

    def __init__(
        self,
        properties: Sequence[str],
        kinds: Sequence[str],
        *,
        bom: bool,
        history: bool = False,
    ) -> None:
        self.properties = list(properties)
        self.kinds = list(kinds)
        self.bom = bom
        self.history = history

    def _text(self, lines: Sequence[Sequence[Any]]) -> bytes:
        out = io.StringIO()
        csv.writer(out).writerows(lines)
        return out.getvalue().encode()

    def start(self) -> bytes:
        header = [
            *DEAL_COLUMNS,
            *(f"properties.{p}" for p in self.properties),
            *(f"associations.{k}" for k in self.kinds),
            *([STAGE_HISTORY] if self.history else []),
        ]
        return (b"\xef\xbb\xbf" if self.bom else b"") + self._text([header])

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        return self._text([self._line(row) for row in rows])

    def _line(self, row: StoredDeal) -> list[Any]:
        cells: list[Any] = []
        for name in DEAL_COLUMNS:
            value = getattr(row, name)
            cells.append(("true" if value else "false") if name == "is_archived" else value)
        cells += [row.properties.get(p) for p in self.properties]
        cells += [ID_SEPARATOR.join(_ids(row, k)) for k in self.kinds]
        if self.history:
            history = row.stage_history
            cells.append(None if history is None else orjson.dumps(history).decode())
        return cells

    def finish(self) -> bytes:
        return b""


class NdjsonEncoder:
    """One JSON object per line, each exactly a deal entry of the results endpoint."""

    def start(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        return b"".join(orjson.dumps(deal_body(row)) + b"\n" for row in rows)

    def finish(self) -> bytes:
        return b""


class _Sink(io.RawIOBase):
    """A write-only file the Parquet writer writes into, emptied after every row group."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        return len(data)

    def drain(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class ParquetEncoder:
    """Typed: amount float64, dates timestamp[ms, UTC], is_archived bool, properties a struct of
    strings (as HubSpot sends them), associations a struct of id lists, stage_history a list of
    stays (stage, stage_label, entered_at, left_at); one row group a batch."""

    def __init__(
        self, properties: Sequence[str], kinds: Sequence[str], *, history: bool = False
    ) -> None:
        self.properties = list(properties)
        self.kinds = list(kinds)
        self.history = history
        # imported here: pyarrow costs every process some 35 MB, and only Parquet exports need it
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.table = pa.Table
        typed = {"amount": pa.float64(), "is_archived": pa.bool_()}
        typed |= {name: pa.timestamp("ms", tz="UTC") for name in _TIMESTAMPS}
        fields = [pa.field(n, typed.get(n, pa.string())) for n in DEAL_COLUMNS]
        fields.append(pa.field("properties", pa.struct([(p, pa.string()) for p in properties])))
        if kinds:
            fields.append(
                pa.field("associations", pa.struct([(k, pa.list_(pa.string())) for k in kinds]))
            )
        if history:
            moment = pa.timestamp("ms", tz="UTC")
            stay = pa.struct(
                [
                    ("stage", pa.string()),
                    ("stage_label", pa.string()),
                    ("entered_at", moment),
                    ("left_at", moment),
                ]
            )
            fields.append(pa.field(STAGE_HISTORY, pa.list_(stay)))
        self.schema = pa.schema(fields)
        self.sink = _Sink()
        self.writer = pq.ParquetWriter(self.sink, self.schema, compression="zstd")

    def start(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        columns: dict[str, list[Any]] = {
            name: [
                _timestamp(getattr(r, name)) if name in _TIMESTAMPS else getattr(r, name)
                for r in rows
            ]
            for name in DEAL_COLUMNS
        }
        columns["properties"] = [{p: r.properties.get(p) for p in self.properties} for r in rows]
        if self.kinds:
            columns["associations"] = [{k: _ids(r, k) for k in self.kinds} for r in rows]
        if self.history:
            columns[STAGE_HISTORY] = [_stays(r.stage_history) for r in rows]
        self.writer.write_table(self.table.from_pydict(columns, schema=self.schema))
        return self.sink.drain()

    def finish(self) -> bytes:
        self.writer.close()
        return self.sink.drain()


def _timestamp(value: str | None) -> datetime | None:
    """Stored ISO text back to a moment; text HubSpot sent that is no date stays out (null)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _stays(history: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A row's stage history with its times as moments, for Parquet."""
    if history is None:
        return None
    return [
        {
            "stage": stay.get("stage"),
            "stage_label": stay.get("stage_label"),
            "entered_at": _timestamp(stay.get("entered_at")),
            "left_at": _timestamp(stay.get("left_at")),
        }
        for stay in history
    ]


def encoder_for(fmt: ExportFormat, job: ScanJob, *, bom: bool = False) -> Encoder:
    spec = spec_of(job)
    properties, kinds, history = spec.properties, spec.association_types, spec.stage_history
    if fmt is ExportFormat.CSV:
        return CsvEncoder(properties, kinds, bom=bom, history=history)
    if fmt is ExportFormat.NDJSON:
        return NdjsonEncoder()
    return ParquetEncoder(properties, kinds, history=history)


async def export_response(
    request: Request,
    db: AsyncSession,
    job: ScanJob,
    where: DealFilter,
    fmt: ExportFormat,
    *,
    bom: bool = False,
) -> StreamingResponse:
    """The download of a job's rows (those ``where`` admits), metered against its organization's
    download limit. ``X-Total-Count`` tells a progress bar how many deals will come;
    ``X-Scan-Status`` whose run the file holds (anything but ``completed`` is a partial file)."""
    runtime: Runtime = request.app.state.runtime
    total = await count_results(db, runtime.results, job, where)
    meter = await open_download(request, job.organization_id)
    # Decoding rows and encoding them is CPU work (some 60 ms a 2,000-row Parquet batch): it runs
    # in a thread, so the event loop, which embedded also runs the scans and every other request,
    # only fetches.
    encoder = await asyncio.to_thread(encoder_for, fmt, job, bom=bom)

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

    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{job.scan_id}.{fmt.value}"',
            "X-Total-Count": str(total),
            "X-Scan-Status": job.status,
            "Cache-Control": "no-store",
        },
    )
