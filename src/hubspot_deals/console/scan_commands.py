"""``hubspot-deals scan ...``: start (scan_start.py), follow, list, cancel, read and export scans
of a running service, over its REST API; ``scan schema`` is schema_commands.py.

Standard output carries the data (tables, or with ``--json`` the API's JSON and nothing else);
messages, progress bars and errors go to standard error. Every failure is one line and an exit
code from ``exit_codes.ExitCode`` (docs/cli.md has the table), never a traceback.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hubspot_deals.console import render
from hubspot_deals.console.api_client import DEFAULT_URL, DealFilter, ScanApi
from hubspot_deals.console.common import (
    ApiKey,
    AsJson,
    CancelOnInterrupt,
    Dealstage,
    Interval,
    OwnerId,
    PartialResults,
    Pipeline,
    ScanId,
    Timeout,
    Url,
    api_for,
    err,
    fail,
    note,
    out,
    print_json,
    reader_left,
    reported,
    scan_app,
)
from hubspot_deals.console.download import TargetExists, save
from hubspot_deals.console.exit_codes import ExitCode
from hubspot_deals.console.scan_start import finish, wait_for_end  # and registers `scan start`

__all__ = ["scan_app"]

# -- scan status, list, cancel -----------------------------------------------------------------------


@scan_app.command("status")
def status(
    scan_id: ScanId,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Follow the scan until it ends; exit by how it ended."),
    ] = False,
    interval: Interval = 0.5,
    cancel_on_interrupt: CancelOnInterrupt = False,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """A scan's newest run: status, progress, results or error. Exit 5 when there is none."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.status(scan_id)
        state = body.get("status")
        if state == "not_found":
            if as_json:
                print_json(body)
            fail(f"no scan {scan_id}", ExitCode.NOT_FOUND)
        if wait and state not in ("completed", "failed", "cancelled"):
            wait_for_end(
                api,
                scan_id,
                interval=interval,
                cancel_on_interrupt=cancel_on_interrupt,
                as_json=as_json,
            )
        if wait:
            finish(body, as_json)
        if as_json:
            print_json(body)
        else:
            out.print(render.status_table(body))


class ScanState(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class SortBy(StrEnum):
    created_at = "created_at"
    completed_at = "completed_at"


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


@scan_app.command("list")
def list_scans(
    state: Annotated[
        ScanState | None, typer.Option("--status", help="Only runs in this state.")
    ] = None,
    organization_id: Annotated[
        str | None, typer.Option("--organization-id", "--org", help="Only this organization's.")
    ] = None,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Runs per page.")] = 20,
    sort_by: Annotated[SortBy, typer.Option(help="Sort field.")] = SortBy.created_at,
    sort_order: Annotated[SortOrder, typer.Option(help="Sort order.")] = SortOrder.desc,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Every scan run (newest first), as a table."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.list_scans(
            status=state.value if state else None,
            organization_id=organization_id,
            page=page,
            page_size=page_size,
            sort_by=sort_by.value,
            sort_order=sort_order.value,
        )
    if as_json:
        print_json(body)
        return
    out.print(render.list_table(body, out.width))
    note(render.page_line(body))


@scan_app.command("cancel")
def cancel(
    scan_id: ScanId,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Cancel a pending or running scan; what it stored stays readable. Exit 8 if it had ended."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.cancel(scan_id)
    if as_json:
        print_json(body)
    note(
        f"cancelled scan {escape(str(body.get('scanId')))} after "
        f"{body.get('itemsProcessed', 0):,} deals"
    )


# -- scan results, export ----------------------------------------------------------------------------


@scan_app.command("results")
def results(
    scan_id: ScanId,
    page: Annotated[
        int | None, typer.Option(min=1, help="Page number (default 1).", show_default=False)
    ] = None,
    page_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=500, help="Deals per page (default 50; 500 with --all).", show_default=False
        ),
    ] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Start at this next_cursor of a previous page.")
    ] = None,
    every: Annotated[
        bool,
        typer.Option("--all", help="Every deal, following next_cursor (with --json or --ndjson)."),
    ] = False,
    ndjson: Annotated[
        bool, typer.Option("--ndjson", help="One deal per line as JSON on standard output.")
    ] = False,
    pipeline: Pipeline = None,
    dealstage: Dealstage = None,
    owner_id: OwnerId = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="The API's page JSON on standard output; with --all, a JSON array of every deal.",
        ),
    ] = False,
    partial: PartialResults = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """A page of a scan's deals as a table, or JSON. Exit 8 while the scan runs, or when it
    failed or was cancelled and --partial was not given."""
    if as_json and ndjson:
        fail("give --json or --ndjson, not both", ExitCode.USAGE)
    if every and not (as_json or ndjson):
        fail("--all needs --json or --ndjson (or use `scan export`)", ExitCode.USAGE)
    if every and page is not None:
        fail("--all follows cursors: give --cursor, not --page", ExitCode.USAGE)
    where = DealFilter(pipeline, dealstage, owner_id)
    with api_for(url, api_key, timeout) as api, reported():
        if every:
            try:
                _write_all(api, scan_id, page_size or 500, cursor, where, as_json, partial)
            except BrokenPipeError:
                reader_left()
            return
        body = api.results(
            scan_id, page=page, page_size=page_size, cursor=cursor, where=where, partial=partial
        )
    if as_json:
        print_json(body)
    elif ndjson:
        for deal in body.get("deals", []):
            sys.stdout.write(json.dumps(deal, ensure_ascii=False) + "\n")
    else:
        out.print(render.results_table(body, out.width))
    note(render.page_line(body))


def _write_all(
    api: ScanApi,
    scan_id: str,
    page_size: int,
    cursor: str | None,
    where: DealFilter,
    array: bool,
    partial: bool,
) -> None:
    """Every deal as NDJSON or one JSON array, a page in memory at a time."""
    count = 0
    if array:
        sys.stdout.write("[")
    pages = api.iter_pages(
        scan_id, page_size=page_size, cursor=cursor, where=where, partial=partial
    )
    for body in pages:
        for deal in body.get("deals", []):
            text = json.dumps(deal, ensure_ascii=False)
            sys.stdout.write((("," if count else "") + "\n" + text) if array else text + "\n")
            count += 1
        if body.get("partial") and count == len(body.get("deals", [])):
            note(f"partial results: the scan is {escape(str(body.get('status')))}")
    if array:
        sys.stdout.write("\n]\n")
    sys.stdout.flush()
    note(f"{count:,} deals")


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
    parquet = "parquet"


class ExportTable(StrEnum):
    deals = "deals"
    property_history = "property_history"


@scan_app.command("export")
def export(
    scan_id: ScanId,
    file_format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="The file's format.")
    ] = ExportFormat.csv,
    table: Annotated[
        ExportTable,
        typer.Option(
            "--table",
            help="deals, or property_history: a line per value each --history property took "
            "(SCAN_ID.property_history.csv, ...).",
        ),
    ] = ExportTable.deals,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help='The file to write ("-" for standard output); default: the name the service '
            "gives (SCAN_ID.csv, ...) in the working directory.",
            show_default=False,
        ),
    ] = None,
    bom: Annotated[
        bool, typer.Option("--bom", help="CSV only: start with a UTF-8 BOM (for spreadsheets).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    pipeline: Pipeline = None,
    dealstage: Dealstage = None,
    owner_id: OwnerId = None,
    partial: PartialResults = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Download a scan's deals (or their property history) as CSV, NDJSON or Parquet; prints
    the file's path."""
    if bom and file_format is not ExportFormat.csv:
        fail("--bom is for --format csv only", ExitCode.USAGE)
    to_stdout = output is not None and str(output) == "-"
    if output is not None and not to_stdout and output.exists() and not force:
        fail(f"{output} exists; give --force to replace it", ExitCode.USAGE)
    where = DealFilter(pipeline, dealstage, owner_id)
    with (
        api_for(url, api_key, timeout) as api,
        reported(),
        api.export(
            scan_id,
            file_format=file_format.value,
            table=table.value,
            where=where,
            bom=bom,
            partial=partial,
        ) as response,
    ):
        deals_table = table is ExportTable.deals
        stem = scan_id if deals_table else f"{scan_id}.{table.value}"  # as the service names it
        try:
            done = save(
                response,
                file_format=file_format.value,
                output=None if to_stdout else output,
                to_stdout=to_stdout,
                fallback_name=f"{stem}.{file_format.value}",
                force=force,
                console=err,
                lines_are_deals=deals_table,
            )
        except TargetExists as exc:
            fail(str(exc), ExitCode.USAGE)
        except BrokenPipeError:
            reader_left()
        except OSError as exc:
            fail(f"cannot write the export: {exc}", ExitCode.USAGE)
    deals = f"{done.deals:,} deals, " if done.deals is not None else ""
    if deals and not deals_table:
        deals = f"the history of {deals}"
    where_to = "standard output" if done.path is None else str(done.path)
    note(f"wrote {deals}{done.bytes:,} bytes to {escape(where_to)}")
    if done.path is not None:
        print(done.path, flush=True)


# registers `scan schema` and `scan changes` after the commands above, so help lists them after
from hubspot_deals.console import changes_commands, schema_commands  # noqa: E402, F401
