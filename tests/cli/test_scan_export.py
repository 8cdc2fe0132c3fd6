"""``hubspot-deals scan export``: the files it writes, read back with the csv module, json and
pyarrow, equal the sandbox's ground truth; a download that fails leaves no file behind."""

from __future__ import annotations

import csv
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from tests.cli.conftest import KINDS, PROPS, Cli, Run
from tests.cli.test_scan_commands import assert_error_line, json_out
from tests.e2e.test_extraction import Expectation, assert_rows_match, comparable, typed_amount

TIMES = ("close_date", "deal_created_at", "deal_updated_at")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}Z" if millis else "Z")


def from_csv(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV line in the results' shape. CSV writes null and "" alike: both sides go through
    ``blank`` before they are compared."""
    row: dict[str, Any] = {k: v for k, v in cells.items() if "." not in k}
    row["amount"] = float(cells["amount"]) if cells["amount"] else None
    row["is_archived"] = {"true": True, "false": False}[cells["is_archived"]]
    row["properties"] = {k[11:]: v for k, v in cells.items() if k.startswith("properties.")}
    row["associations"] = {
        k[13:]: [{"id": i} for i in v.split(";") if i]
        for k, v in cells.items()
        if k.startswith("associations.")
    }
    row["merged_from"] = [i for i in cells["merged_from"].split(";") if i]
    return row


def from_parquet(record: dict[str, Any]) -> dict[str, Any]:
    """A Parquet record in the results' shape: timestamps as ISO text, ids as references."""
    associations = {k: [{"id": i} for i in v] for k, v in record["associations"].items()}
    return record | {name: iso(record[name]) for name in TIMES} | {"associations": associations}


def blank(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: "" if v is None and k != "amount" else v for k, v in row.items()}
    out["properties"] = {k: v or "" for k, v in row["properties"].items()}
    return out


def assert_csv_matches(rows: list[dict[str, Any]], expect: Expectation, ids: list[str]) -> None:
    assert [r["deal_id"] for r in rows] == ids
    for row in rows:
        wanted = typed_amount(expect.row(row["deal_id"], PROPS, KINDS))
        assert blank(typed_amount(comparable(row))) == blank(wanted), row["deal_id"]


def read_back(path: Path, file_format: str) -> list[dict[str, Any]]:
    if file_format == "ndjson":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if file_format == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return [from_csv(cells) for cells in csv.DictReader(handle)]
    return [from_parquet(r) for r in pq.read_table(path).to_pylist()]


def exported(run: Run, path: Path, deals: int) -> None:
    """Exit 0, the path alone on standard output, the progress and a summary on standard error."""
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{path}\n"
    assert f"wrote {deals:,} deals, " in run.stderr and f"bytes to {path}" in run.stderr
    assert "━" in run.stderr and "Traceback" not in run.stderr


class TestFormats:
    @pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
    def test_every_deal_read_back(
        self,
        cli: Cli,
        flags_scan: Run,
        expect: Expectation,
        tmp_path: Path,
        file_format: str,
    ) -> None:
        """The file holds every deal of the scan, field for field the ground truth."""
        path = tmp_path / f"deals.{file_format}"
        run = cli("scan", "export", "cli-flags", "--format", file_format, "--output", str(path))
        exported(run, path, len(expect.truth))
        rows = read_back(path, file_format)
        if file_format == "csv":
            assert_csv_matches(rows, expect, sorted(expect.truth, key=int))
        else:
            assert_rows_match(rows, expect, set(expect.truth), PROPS, KINDS, typed=True)
        assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it

    @pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
    def test_filters(
        self,
        cli: Cli,
        flags_scan: Run,
        expect: Expectation,
        tmp_path: Path,
        file_format: str,
    ) -> None:
        """The results filters, the same deals."""
        path = tmp_path / f"won.{file_format}"
        run = cli(
            "scan",
            "export",
            "cli-flags",
            "-f",
            file_format,
            "-o",
            str(path),
            "--pipeline",
            "default",
            "--dealstage",
            "closedwon",
        )
        wanted = sorted(
            (
                i
                for i, d in expect.truth.items()
                if d["properties"]["pipeline"] == "default"
                and d["properties"]["dealstage"] == "closedwon"
            ),
            key=int,
        )
        exported(run, path, len(wanted))
        assert [r["deal_id"] for r in read_back(path, file_format)] == wanted


class TestFiles:
    def test_default_name_bom_and_force(self, cli: Cli, flags_scan: Run, tmp_path: Path) -> None:
        """The name the service gives, in the working directory; an existing file is kept
        unless --force; --bom starts the CSV with a UTF-8 BOM."""
        run = cli("scan", "export", "cli-flags", cwd=tmp_path)
        assert run.returncode == 0 and run.stdout == "cli-flags.csv\n", run.stderr
        path = tmp_path / "cli-flags.csv"
        plain = path.read_bytes()
        refused = cli("scan", "export", "cli-flags", "--bom", cwd=tmp_path)
        assert_error_line(refused, 2, "cli-flags.csv exists; give --force")
        assert path.read_bytes() == plain
        forced = cli("scan", "export", "cli-flags", "--bom", "--force", cwd=tmp_path)
        assert forced.returncode == 0, forced.stderr
        assert path.read_bytes() == b"\xef\xbb\xbf" + plain
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cli-flags.csv"]

    def test_standard_output(self, cli: Cli, flags_scan: Run, tmp_path: Path) -> None:
        """-o - streams the file to standard output, the same bytes."""
        path = tmp_path / "deals.ndjson"
        assert cli("scan", "export", "cli-flags", "-f", "ndjson", "-o", str(path)).returncode == 0
        piped = cli("scan", "export", "cli-flags", "-f", "ndjson", "-o", "-")
        assert piped.returncode == 0 and piped.stdout == path.read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        "command",
        [
            ("scan", "export", "cli-flags", "-f", "csv", "-o", "-"),
            ("scan", "results", "cli-flags", "--all", "--ndjson", "--page-size", "5"),
        ],
        ids=["export", "results-all"],
    )
    def test_a_reader_that_stops_early_is_no_error(
        self, cli: Cli, flags_scan: Run, command: tuple[str, ...]
    ) -> None:
        """``... | head -1``: the reader closes the pipe; the command stops quietly, exit 0."""
        process = cli.popen(*command)
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()
        process.stdout.close()
        assert process.wait(timeout=60) == 0
        errors = process.stderr.read()
        process.stderr.close()
        assert errors.strip() == "", errors  # no error, and no progress frame left behind

    def test_unknown_scan_exits_5_and_writes_nothing(self, cli: Cli, tmp_path: Path) -> None:
        run = cli("scan", "export", "cli-nothing", cwd=tmp_path)
        assert_error_line(run, 5, "SCAN_NOT_FOUND")
        assert list(tmp_path.iterdir()) == []

    def test_bom_is_for_csv_only(self, cli: Cli, tmp_path: Path) -> None:
        run = cli("scan", "export", "cli-flags", "-f", "parquet", "--bom", cwd=tmp_path)
        assert_error_line(run, 2, "--bom is for --format csv only")

    def test_running_scan_exits_8(self, slow_cli: Cli, slow_portal: SandboxProcess) -> None:
        assert (
            slow_cli("scan", "start", "cli-export-busy", "--token", slow_portal.token).returncode
            == 0
        )
        assert_error_line(slow_cli("scan", "export", "cli-export-busy"), 8, "SCAN_NOT_READY")
        assert slow_cli("scan", "cancel", "cli-export-busy").returncode == 0
        # cancelled: still exit 8, saying how to get what it stored; --partial gets it
        for command in ("export", "results"):
            run = slow_cli("scan", command, "cli-export-busy")
            assert_error_line(run, 8, "SCAN_NOT_READY", "cancelled", "give --partial")
        body = json_out(slow_cli("scan", "results", "cli-export-busy", "--partial", "--json"))
        assert body["partial"] is True and body["status"] == "cancelled"
        piped = slow_cli(
            "scan", "export", "cli-export-busy", "--partial", "-f", "ndjson", "-o", "-"
        )
        assert piped.returncode == 0, piped.stderr
        assert len(piped.stdout.splitlines()) == body["pagination"]["total_items"]


# -- a service that breaks mid-answer: a fake at the process boundary ---------------------------------

HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n"
    b'Content-Disposition: attachment; filename="broken.csv"\r\nX-Total-Count: 1000\r\n\r\n'
)
ANSWERS = {
    # headers and a first chunk, then the connection drops: the download must not be kept
    "dropped": HEADERS + b"9\r\ndeal_id\r\n\r\n",
    # a proxy's page instead of the service's envelope
    "proxy": b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 12\r\n"
    b"Connection: close\r\n\r\n<h1>502</h1>",
}


@pytest.fixture
def broken_service(request: pytest.FixtureRequest) -> Iterator[str]:
    """One connection answered with ``ANSWERS[param]``, then closed; its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    answer = ANSWERS[request.param]

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    thread.join(5)


class TestBrokenDownloads:
    @pytest.mark.parametrize("broken_service", ["dropped"], indirect=True)
    def test_dropped_connection_leaves_no_file(
        self, cli: Cli, broken_service: str, tmp_path: Path
    ) -> None:
        """The connection breaks mid-file: exit 4, and neither the file nor a part of it remains."""
        run = cli("scan", "export", "x", "--url", broken_service, cwd=tmp_path)
        assert_error_line(run, 4, "the connection broke", after_progress=True)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("broken_service", ["proxy"], indirect=True)
    def test_a_proxy_page_is_one_line(self, cli: Cli, broken_service: str, tmp_path: Path) -> None:
        """An answer that is not the service's envelope still gives one line and its code."""
        run = cli("scan", "export", "x", "--url", broken_service, cwd=tmp_path)
        assert_error_line(run, 4, "HTTP 502 Bad Gateway")
        assert list(tmp_path.iterdir()) == []
