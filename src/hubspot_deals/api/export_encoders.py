"""Rows to CSV, NDJSON or Parquet, one batch at a time.

Each encoder turns a batch into bytes and keeps nothing of it, so an export of any size streams in
the memory of one batch. The columns follow the run (its properties, typed by the definitions it
used; its association types; whether it asked for stage history), the same for every row, so a
spreadsheet or a warehouse table gets one stable layout. A property value that does not fit its
type stays text: as HubSpot sent it in CSV and NDJSON, in ``properties_untyped`` in Parquet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from hubspot_deals.api.presenters import deal_body
from hubspot_deals.engine.values import Kind, Misfit, ValueTypes, canonical_text, typed
from hubspot_deals.store.deals import StoredDeal

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
#: CSV cells of id lists (associations, merged_from): ids joined by this (ids are digits).
ID_SEPARATOR = ";"
#: The column of a scan that asked for ``includeStageHistory``, after every other.
STAGE_HISTORY = "stage_history"
MERGED_FROM = "merged_from"
#: Parquet: the values that did not fit their type, by property, as text.
UNTYPED = "properties_untyped"
#: The long-format history table: one line per value a property took.
HISTORY_COLUMNS = ("deal_id", "property", "value", "timestamp", "source", "source_id")


@dataclass(frozen=True)
class Layout:
    """What a run's exports hold: its properties and their kinds, association types, and
    whether it kept stage history."""

    properties: list[str]
    types: ValueTypes
    kinds: list[str]
    stage_history: bool


class Encoder(Protocol):
    def start(self) -> bytes: ...
    def encode(self, rows: Sequence[StoredDeal]) -> bytes: ...
    def finish(self) -> bytes: ...


def _ids(row: StoredDeal, kind: str) -> list[str]:
    return [entry["id"] for entry in (row.associations or {}).get(kind) or []]


def _csv(lines: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue().encode()


class CsvEncoder:
    """Flat: one column per property (``properties.NAME``, each value in its kind's canonical
    text: ISO dates, UTC moments, ``true``/``false``), per association type
    (``associations.TYPE``, ids joined by ``;``), ``merged_from`` (ids joined by ``;``), and
    ``stage_history`` (the results entry's list as JSON text) when the scan asked for it; an
    optional BOM so spreadsheets read UTF-8."""

    def __init__(self, layout: Layout, *, bom: bool) -> None:
        self.layout = layout
        self.bom = bom
        self.kinds_of = [(p, layout.types.kind(p)) for p in layout.properties]

    def start(self) -> bytes:
        layout = self.layout
        header = [
            *DEAL_COLUMNS,
            *(f"properties.{p}" for p in layout.properties),
            *(f"associations.{k}" for k in layout.kinds),
            MERGED_FROM,
            *([STAGE_HISTORY] if layout.stage_history else []),
        ]
        return (b"\xef\xbb\xbf" if self.bom else b"") + _csv([header])

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        return _csv([self._line(row) for row in rows])

    def _line(self, row: StoredDeal) -> list[Any]:
        cells: list[Any] = []
        for name in DEAL_COLUMNS:
            value = getattr(row, name)
            cells.append(("true" if value else "false") if name == "is_archived" else value)
        values = row.properties
        cells += [canonical_text(kind, values.get(p)) for p, kind in self.kinds_of]
        cells += [ID_SEPARATOR.join(_ids(row, k)) for k in self.layout.kinds]
        cells.append(ID_SEPARATOR.join(row.merged_from or ()))
        if self.layout.stage_history:
            history = row.stage_history
            cells.append(None if history is None else orjson.dumps(history).decode())
        return cells

    def finish(self) -> bytes:
        return b""


def _json_typed(kind: Kind, raw: str | None) -> Any:
    """A value for JSON: dates and moments as their ISO text, the rest as typed; misfits as sent."""
    if kind in (Kind.DATE, Kind.DATETIME):
        return canonical_text(kind, raw)
    try:
        return typed(kind, raw)
    except Misfit:
        return raw


class NdjsonEncoder:
    """One JSON object per line: a deal entry of the results endpoint, plus ``properties_typed``
    (each value as its type: numbers, booleans, lists, ISO dates)."""

    def __init__(self, layout: Layout) -> None:
        self.kinds_of = [(p, layout.types.kind(p)) for p in layout.properties]

    def start(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        lines = []
        for row in rows:
            body = deal_body(row)
            values = row.properties
            body["properties_typed"] = {
                p: _json_typed(kind, values.get(p)) for p, kind in self.kinds_of
            }
            lines.append(orjson.dumps(body) + b"\n")
        return b"".join(lines)

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


class _ParquetFile:
    """A Parquet stream of one schema, one row group a batch (pyarrow is imported here: it costs
    every process some 35 MB, and only Parquet exports need it)."""

    def __init__(self, fields: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = pa.schema(fields)
        self.sink = _Sink()
        self.writer = pq.ParquetWriter(self.sink, self.schema, compression="zstd")

    def write(self, columns: dict[str, list[Any]]) -> bytes:
        self.writer.write_table(self.pa.Table.from_pydict(columns, schema=self.schema))
        return self.sink.drain()

    def close(self, metadata: dict[str, str] | None = None) -> bytes:
        if metadata:
            self.writer.add_key_value_metadata(metadata)
        self.writer.close()
        return self.sink.drain()


def _arrow_type(pa: Any, kind: Kind) -> Any:
    return {
        Kind.NUMBER: pa.float64(),
        Kind.DATE: pa.date32(),
        Kind.DATETIME: pa.timestamp("ms", tz="UTC"),
        Kind.BOOL: pa.bool_(),
        Kind.MULTI: pa.list_(pa.string()),
    }.get(kind, pa.string())


class ParquetEncoder:
    """Typed: amount float64, the row's dates timestamp[ms, UTC], is_archived bool; properties a
    struct typed by their definitions (number float64, date date32, datetime timestamp[ms, UTC],
    bool bool, checkbox enumerations lists of strings, the rest strings), with the values that did
    not fit in ``properties_untyped`` (a map of text); associations a struct of id lists;
    merged_from a list; stage_history a list of stays. The file's metadata counts the misfits
    (``untyped_values``)."""

    def __init__(self, layout: Layout) -> None:
        import pyarrow as pa

        self.layout = layout
        self.kinds_of = [(p, layout.types.kind(p)) for p in layout.properties]
        self.untyped = 0
        moment = pa.timestamp("ms", tz="UTC")
        own = {"amount": pa.float64(), "is_archived": pa.bool_()} | dict.fromkeys(
            _TIMESTAMPS, moment
        )
        fields = [pa.field(n, own.get(n, pa.string())) for n in DEAL_COLUMNS]
        props = pa.struct([(p, _arrow_type(pa, kind)) for p, kind in self.kinds_of])
        fields += [
            pa.field("properties", props),
            pa.field(UNTYPED, pa.map_(pa.string(), pa.string())),
        ]
        if layout.kinds:
            ids = pa.list_(pa.string())
            fields.append(pa.field("associations", pa.struct([(k, ids) for k in layout.kinds])))
        fields.append(pa.field(MERGED_FROM, pa.list_(pa.string())))
        if layout.stage_history:
            stay = pa.struct(
                [
                    ("stage", pa.string()),
                    ("stage_label", pa.string()),
                    ("entered_at", moment),
                    ("left_at", moment),
                ]
            )
            fields.append(pa.field(STAGE_HISTORY, pa.list_(stay)))
        self.file = _ParquetFile(fields)

    def start(self) -> bytes:
        return b""

    def _properties(self, row: StoredDeal) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        out: dict[str, Any] = {}
        misfits: list[tuple[str, str]] | None = None
        values = row.properties
        for name, kind in self.kinds_of:
            raw = values.get(name)
            try:
                out[name] = typed(kind, raw)
            except Misfit:
                out[name] = None
                misfits = (misfits or []) + [(name, str(raw))]
        self.untyped += len(misfits or ())
        return out, misfits

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        columns: dict[str, list[Any]] = {
            name: [
                _timestamp(getattr(r, name)) if name in _TIMESTAMPS else getattr(r, name)
                for r in rows
            ]
            for name in DEAL_COLUMNS
        }
        typed_rows = [self._properties(r) for r in rows]
        columns["properties"] = [values for values, _ in typed_rows]
        columns[UNTYPED] = [misfits for _, misfits in typed_rows]
        if self.layout.kinds:
            columns["associations"] = [{k: _ids(r, k) for k in self.layout.kinds} for r in rows]
        columns[MERGED_FROM] = [r.merged_from or [] for r in rows]
        if self.layout.stage_history:
            columns[STAGE_HISTORY] = [_stays(r.stage_history) for r in rows]
        return self.file.write(columns)

    def finish(self) -> bytes:
        return self.file.close({"untyped_values": str(self.untyped)})


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


# -- the property history table ------------------------------------------------------------------


def history_lines(rows: Sequence[StoredDeal]) -> Iterator[tuple[Any, ...]]:
    """(deal_id, property, value, timestamp, source, source_id) per value each property took,
    deal by deal in id order, each property's values oldest first."""
    for row in rows:
        for name, values in (row.property_history or {}).items():
            for v in values:
                yield (row.deal_id, name, v["value"], v["timestamp"], v["source"], v["source_id"])


class HistoryCsvEncoder:
    def start(self) -> bytes:
        return _csv([HISTORY_COLUMNS])

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        return _csv(list(history_lines(rows)))

    def finish(self) -> bytes:
        return b""


class HistoryNdjsonEncoder:
    def start(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        return b"".join(
            orjson.dumps(dict(zip(HISTORY_COLUMNS, line, strict=True))) + b"\n"
            for line in history_lines(rows)
        )

    def finish(self) -> bytes:
        return b""


class HistoryParquetEncoder:
    """The history table with ``timestamp`` as timestamp[ms, UTC], the rest strings."""

    def __init__(self) -> None:
        import pyarrow as pa

        typed_columns = {"timestamp": pa.timestamp("ms", tz="UTC")}
        self.file = _ParquetFile(
            [pa.field(n, typed_columns.get(n, pa.string())) for n in HISTORY_COLUMNS]
        )

    def start(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[StoredDeal]) -> bytes:
        lines = list(history_lines(rows))
        columns = {name: [line[at] for line in lines] for at, name in enumerate(HISTORY_COLUMNS)}
        columns["timestamp"] = [_timestamp(t) for t in columns["timestamp"]]
        return self.file.write(columns)

    def finish(self) -> bytes:
        return self.file.close()
