"""Exports end to end: every deal of a scan in CSV, NDJSON and Parquet, read back with the csv
module, json and pyarrow, equal to the sandbox's ground truth and typed."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.conftest import LATEST_ONLY
from tests.e2e.conftest import ServiceProcess
from tests.e2e.test_extraction import (
    DEFAULT_PROPERTIES,
    KINDS,
    Expectation,
    assert_rows_match,
    comparable,
    typed_amount,
)

PROPS = ["dealname", "amount", "dealstage", "contract_tier", "region_notes"]
SCAN = "export-everything"
HISTORY_SCAN = "export-stage-history"
MOMENT = pa.timestamp("ms", tz="UTC")
STAY = pa.struct(
    [
        ("stage", pa.string()),
        ("stage_label", pa.string()),
        ("entered_at", MOMENT),
        ("left_at", MOMENT),
    ]
)
DEAL_COLUMNS = [
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
]


@pytest.fixture(scope="module")
def expect(portal: SandboxProcess) -> Expectation:
    return Expectation(portal)


@pytest.fixture(scope="module")
def scanned(service: ServiceProcess, portal: SandboxProcess) -> ServiceProcess:
    """One scan with custom properties, every association type and archived deals."""
    reply = service.start_scan(
        SCAN,
        portal.token,
        properties=PROPS,
        includeAssociations=True,
        associationTypes=list(KINDS),
        filters={"includeArchived": True},
    )
    assert reply.status_code == 202, reply.text
    assert service.wait(SCAN)["status"] == "completed"
    return service


@pytest.fixture(scope="module")
def history_rows(service: ServiceProcess, portal: SandboxProcess) -> list[dict[str, Any]]:
    """A scan that asked for stage history (archived deals too): its rows as results serves them."""
    reply = service.start_scan(
        HISTORY_SCAN, portal.token, includeStageHistory=True, filters={"includeArchived": True}
    )
    assert reply.status_code == 202, reply.text
    assert service.wait(HISTORY_SCAN)["status"] == "completed"
    return service.all_deals(HISTORY_SCAN)


def export(service: ServiceProcess, scan_id: str = SCAN, **params: Any) -> httpx.Response:
    return service.get(f"/api/v1/scan/results/{scan_id}/export", params=params)


def from_csv(
    cells: dict[str, str], props: list[str] = PROPS, kinds: tuple[str, ...] = KINDS
) -> dict[str, Any]:
    """A CSV line back in the results endpoint's shape, but for nulls: CSV writes a null and an
    empty string alike, so both sides are compared with ``blank``. Numbers read back as floats
    (CSV writes them without trailing zeros)."""
    row: dict[str, Any] = {name: cells[name] for name in DEAL_COLUMNS}
    row["amount"] = float(cells["amount"]) if cells["amount"] else None
    row["is_archived"] = {"true": True, "false": False}[cells["is_archived"]]
    row["properties"] = {p: cells[f"properties.{p}"] for p in props}
    row["associations"] = {
        k: [{"id": i} for i in cells[f"associations.{k}"].split(";") if i] for k in kinds
    }
    row["merged_from"] = [i for i in cells["merged_from"].split(";") if i]
    return row


def as_number(text: str | None) -> float | None:
    return float(text) if text else None


def with_typed_amount(row: dict[str, Any]) -> dict[str, Any]:
    """The expected row with its amount property as a number (number properties are typed)."""
    return row | {
        "properties": row["properties"] | {"amount": as_number(row["properties"]["amount"])}
    }


def blank(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: "" if v is None and k != "amount" else v for k, v in row.items()}
    out["properties"] = {k: v or "" for k, v in row["properties"].items()}
    return out


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}Z" if millis else "Z")


def from_parquet(record: dict[str, Any], kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    row = {name: record[name] for name in DEAL_COLUMNS}
    for name in ("close_date", "deal_created_at", "deal_updated_at"):
        row[name] = iso(record[name])
    row["properties"] = record["properties"]
    row["associations"] = {k: [{"id": i} for i in record["associations"][k]] for k in kinds}
    row["merged_from"] = record["merged_from"]
    return row


class TestFormats:
    def test_ndjson_lines_are_the_results_entries(
        self, scanned: ServiceProcess, expect: Expectation
    ) -> None:
        reply = export(scanned, format="ndjson")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "application/x-ndjson"
        assert reply.headers["content-disposition"] == f'attachment; filename="{SCAN}.ndjson"'
        assert int(reply.headers["x-total-count"]) == len(expect.truth)
        lines = [json.loads(line) for line in reply.text.splitlines()]
        typed = [line.pop("properties_typed") for line in lines]
        assert lines == scanned.all_deals(SCAN)  # same entries, same order (deal id)
        assert_rows_match(lines, expect, set(expect.truth), PROPS, KINDS)
        for line, values in zip(lines, typed, strict=True):  # amount is a number property
            assert values == line["properties"] | {
                "amount": as_number(line["properties"]["amount"])
            }

    def test_csv_reads_back_with_the_csv_module(
        self, scanned: ServiceProcess, expect: Expectation
    ) -> None:
        reply = export(scanned)  # csv is the default
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/csv; charset=utf-8"
        assert reply.headers["content-disposition"] == f'attachment; filename="{SCAN}.csv"'
        assert not reply.content.startswith(b"\xef\xbb\xbf")
        lines = list(csv.DictReader(io.StringIO(reply.content.decode("utf-8"), newline="")))
        assert list(lines[0]) == [
            *DEAL_COLUMNS,
            *(f"properties.{p}" for p in PROPS),
            *(f"associations.{k}" for k in KINDS),
            "merged_from",
        ]
        rows = [from_csv(cells) for cells in lines]
        assert [r["deal_id"] for r in rows] == sorted(expect.truth, key=int)
        for row in rows:
            wanted = typed_amount(expect.row(row["deal_id"], PROPS, KINDS))
            assert blank(typed_amount(comparable(row))) == blank(wanted), row["deal_id"]
        # unicode, commas, quotes and line breaks in names survive the round trip
        assert any(r["deal_name"] and not r["deal_name"].isascii() for r in rows)

    def test_csv_bom_for_spreadsheets(self, scanned: ServiceProcess) -> None:
        plain = export(scanned, format="csv").content
        with_bom = export(scanned, format="csv", bom="true").content
        assert with_bom == b"\xef\xbb\xbf" + plain
        assert with_bom.decode("utf-8-sig") == plain.decode("utf-8")

    def test_parquet_is_typed(self, scanned: ServiceProcess, expect: Expectation) -> None:
        reply = export(scanned, format="parquet")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "application/vnd.apache.parquet"
        assert reply.headers["content-disposition"] == f'attachment; filename="{SCAN}.parquet"'
        table = pq.read_table(io.BytesIO(reply.content))
        schema = table.schema
        assert schema.field("amount").type == pa.float64()
        assert schema.field("is_archived").type == pa.bool_()
        for name in ("close_date", "deal_created_at", "deal_updated_at"):
            assert schema.field(name).type == pa.timestamp("ms", tz="UTC")
        assert schema.field("deal_id").type == pa.string()
        assert schema.field("properties").type == pa.struct(
            [(p, pa.float64() if p == "amount" else pa.string()) for p in PROPS]
        )
        assert schema.field("associations").type == pa.struct(
            [(k, pa.list_(pa.string())) for k in KINDS]
        )
        assert "stage_history" not in schema.names  # the scan did not ask for it
        rows = [from_parquet(record) for record in table.to_pylist()]
        assert_rows_match(rows, expect, set(expect.truth), PROPS, KINDS, typed=True)
        dates = table.column("deal_created_at").to_pylist()
        assert all(isinstance(d, datetime) and d.tzinfo is not None for d in dates)
        assert pq.ParquetFile(io.BytesIO(reply.content)).metadata.num_rows == len(expect.truth)

    @pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
    def test_result_filters_apply(
        self, scanned: ServiceProcess, expect: Expectation, fmt: str
    ) -> None:
        """The results endpoint's filters, the same rows."""
        params = {"pipeline": "default", "dealstage": "closedwon"}
        wanted = [r["deal_id"] for r in scanned.all_deals(SCAN, **params)]
        assert wanted
        reply = export(scanned, format=fmt, **params)
        assert int(reply.headers["x-total-count"]) == len(wanted)
        if fmt == "csv":
            got = [r["deal_id"] for r in csv.DictReader(io.StringIO(reply.text, newline=""))]
        elif fmt == "ndjson":
            got = [json.loads(line)["deal_id"] for line in reply.text.splitlines()]
        else:
            got = pq.read_table(io.BytesIO(reply.content)).column("deal_id").to_pylist()
        assert got == wanted

    def test_no_association_columns_without_associations(
        self, service: ServiceProcess, portal: SandboxProcess, expect: Expectation
    ) -> None:
        """A scan without associations: the default properties, no association columns."""
        service.start_scan("export-plain", portal.token)
        assert service.wait("export-plain")["status"] == "completed"
        table = pq.read_table(io.BytesIO(export(service, "export-plain", format="parquet").content))
        assert "associations" not in table.schema.names
        assert table.num_rows == sum(1 for d in expect.truth.values() if not d["archived"])
        header = next(csv.reader(io.StringIO(export(service, "export-plain").text)))
        assert not any(h.startswith("associations.") for h in header)
        assert "properties.hs_lastmodifieddate" in header
        assert "stage_history" not in header and "stage_history" not in table.schema.names


class TestStageHistory:
    """A scan with ``includeStageHistory``: each format carries every row's stays, equal to the
    results endpoint's ``stage_history``."""

    def test_ndjson(self, service: ServiceProcess, history_rows: list[dict[str, Any]]) -> None:
        lines = export(service, HISTORY_SCAN, format="ndjson").text.splitlines()
        got = [json.loads(line) for line in lines]
        assert [
            {k: v for k, v in g.items() if k != "properties_typed"} for g in got
        ] == history_rows
        assert all(isinstance(r["stage_history"], list) for r in history_rows)
        assert any(len(r["stage_history"]) > 1 for r in history_rows)
        assert any(
            r["stage_history"] and r["stage_history"][-1]["left_at"] is None for r in history_rows
        )

    def test_csv_holds_json_text(
        self, service: ServiceProcess, history_rows: list[dict[str, Any]]
    ) -> None:
        reply = export(service, HISTORY_SCAN)
        assert reply.status_code == 200, reply.text
        lines = list(csv.DictReader(io.StringIO(reply.text, newline="")))
        assert list(lines[0])[-1] == "stage_history"
        assert [(c["deal_id"], json.loads(c["stage_history"])) for c in lines] == [
            (r["deal_id"], r["stage_history"]) for r in history_rows
        ]

    def test_parquet_is_a_typed_list(
        self, service: ServiceProcess, history_rows: list[dict[str, Any]]
    ) -> None:
        reply = export(service, HISTORY_SCAN, format="parquet")
        assert reply.status_code == 200, reply.text
        table = pq.read_table(io.BytesIO(reply.content))
        assert table.schema.field("stage_history").type == pa.list_(STAY)
        got = [
            (
                record["deal_id"],
                [
                    stay | {"entered_at": iso(stay["entered_at"]), "left_at": iso(stay["left_at"])}
                    for stay in record["stage_history"]
                ],
            )
            for record in table.to_pylist()
        ]
        assert got == [(r["deal_id"], r["stage_history"]) for r in history_rows]


class TestRefusals:
    def test_unknown_format(self, scanned: ServiceProcess) -> None:
        reply = export(scanned, format="xlsx")
        assert reply.status_code == 400
        body = reply.json()
        assert body["error_code"] == "VALIDATION_ERROR" and "format" in body["errors"]

    def test_unknown_scan(self, service: ServiceProcess) -> None:
        reply = export(service, "no-such-export")
        assert reply.status_code == 404 and reply.json()["error_code"] == "SCAN_NOT_FOUND"

    def test_running_scan(
        self,
        make_service: Callable[..., ServiceProcess],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        slow = SandboxProcess.start("--deals", "3000", "--latency-ms", "300", *LATEST_ONLY)
        try:
            service = make_service(slow)
            service.start_scan("export-early", slow.token)
            service.wait("export-early", until=lambda s: s["status"] == "running")
            reply = export(service, "export-early")
            assert reply.status_code == 404
            assert reply.json()["error_code"] == "SCAN_NOT_READY"
        finally:
            slow.stop()


def results_until_refused(
    service: ServiceProcess, scan_id: str
) -> tuple[list[int], httpx.Response]:
    """Small results pages until the download limit refuses one: the sizes served, the refusal."""
    sizes: list[int] = []
    for page in range(1, 1000):
        reply = service.get(
            f"/api/v1/scan/results/{scan_id}", params={"page": page, "page_size": 20}
        )
        if reply.status_code != 200:
            return sizes, reply
        assert reply.json()["deals"], "ran out of pages before the limit"
        sizes.append(len(reply.content))
    raise AssertionError("never refused")


class TestDownloadLimit:
    def test_exports_count_against_the_download_limit(
        self, make_service: Callable[..., ServiceProcess], portal: SandboxProcess
    ) -> None:
        """An export spends the organization's bytes a minute like results pages do."""
        limit = 300_000
        service = make_service(portal, RESULTS_MB_PER_MINUTE_PER_ORG=str(limit / 1e6))
        service.start_scan("export-limited", portal.token)
        assert service.wait("export-limited")["status"] == "completed"
        exported = len(
            export(service, "export-limited", format="ndjson", dealstage="closedwon").content
        )
        sizes, refused = results_until_refused(service, "export-limited")
        assert refused.status_code == 429 and refused.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
        # the window really was full, and the export's bytes were in it: without them the
        # refused page (about the size of those before it) would have fitted
        assert exported + sum(sizes) <= limit < exported + sum(sizes) + 2 * max(sizes)
        assert exported > 2 * max(sizes)

    @pytest.mark.slow
    def test_an_export_larger_than_the_limit_is_slowed_not_cut(
        self,
        make_service: Callable[..., ServiceProcess],
        portal: SandboxProcess,
        expect: Expectation,
    ) -> None:
        """Past the limit an export waits for the next window and every deal still arrives; while
        the window is spent, new exports are refused with Retry-After. The window is 5 s instead
        of a minute (QUOTA_WINDOW_SECONDS): the same waits, a twelfth of the time."""
        limit, window = 500_000, 5
        service = make_service(
            portal,
            RESULTS_MB_PER_MINUTE_PER_ORG=str(limit / 1e6),
            QUOTA_WINDOW_SECONDS=str(window),
        )
        service.start_scan("export-throttled", portal.token, filters={"pipelineId": "default"})
        assert service.wait("export-throttled")["status"] == "completed"
        started = time.monotonic()
        with httpx.stream(
            "GET",
            f"{service.url}/api/v1/scan/results/export-throttled/export",
            params={"format": "ndjson"},
            timeout=180,
        ) as download:
            assert download.status_code == 200
            body = bytearray()
            chunks = download.iter_bytes()
            while len(body) < limit:  # the first window's worth
                body += next(chunks)
            refused = export(service, "export-throttled", format="csv")
            assert refused.status_code == 429, refused.text
            assert refused.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
            assert int(refused.headers["retry-after"]) >= 1
            for chunk in chunks:
                body += chunk
            total = int(download.headers["x-total-count"])
        took = time.monotonic() - started
        rows = [json.loads(line) for line in body.decode().splitlines()]
        for row in rows:
            del row["properties_typed"]
        assert len(body) > limit
        assert len(rows) == total == len({r["deal_id"] for r in rows})
        wanted = {
            i
            for i, d in expect.truth.items()
            if d["properties"]["pipeline"] == "default" and not d["archived"]
        }
        assert_rows_match(rows, expect, wanted, DEFAULT_PROPERTIES, None)
        assert took > window * 0.8, "the rest must have waited for the next window"
