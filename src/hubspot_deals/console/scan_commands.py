"""``hubspot-deals scan ...``: start, follow, list, cancel, read and export scans of a running
service, over its REST API.

Standard output carries the data (tables, or with ``--json`` the API's JSON and nothing else);
messages, progress bars and errors go to standard error. Every failure is one line and an exit
code from ``exit_codes.ExitCode`` (docs/cli.md has the table), never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hubspot_deals.console import render
from hubspot_deals.console.api_client import DEFAULT_URL, JSON, ClientError, DealFilter, ScanApi
from hubspot_deals.console.download import TargetExists, save
from hubspot_deals.console.exit_codes import BY_SCAN_STATUS, ExitCode, exit_code_of
from hubspot_deals.console.follow import follow

scan_app = typer.Typer(
    help="Start, follow, list, cancel, read and export scans of a running service (its REST API).",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

# -- options every command shares -------------------------------------------------------------------


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise typer.BadParameter("must start with http:// or https://")
    return value


Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="HUBSPOT_DEALS_URL",
        callback=_check_url,
        help="The service's base URL.",
        rich_help_panel="Connection",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="HUBSPOT_DEALS_API_KEY",
        show_default=False,
        help="Sent as X-API-Key (needed once the service has keys).",
        rich_help_panel="Connection",
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        envvar="HUBSPOT_DEALS_TIMEOUT",
        min=0.1,
        help="Seconds to wait for each answer.",
        rich_help_panel="Connection",
    ),
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the API's JSON on standard output (and nothing else there)."
    ),
]
ScanId = Annotated[str, typer.Argument(help="The scan's id (its scanId).", show_default=False)]
Pipeline = Annotated[
    str | None,
    typer.Option(help="Only deals of this pipeline id.", rich_help_panel="Filters"),
]
Dealstage = Annotated[
    str | None, typer.Option(help="Only deals in this stage id.", rich_help_panel="Filters")
]
OwnerId = Annotated[
    str | None, typer.Option(help="Only deals of this owner id.", rich_help_panel="Filters")
]
Interval = Annotated[
    float, typer.Option(min=0.1, help="Seconds between status polls while waiting.")
]
CancelOnInterrupt = Annotated[
    bool,
    typer.Option(
        "--cancel-on-interrupt",
        help="On Ctrl-C while waiting, cancel the scan (otherwise it keeps running).",
    ),
]


def _api(url: str, api_key: str | None, timeout: float) -> ScanApi:
    return ScanApi(url, api_key, timeout=timeout)


def _fail(message: str, code: ExitCode) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def _reported() -> Iterator[None]:
    """Client errors become one line on standard error and their exit code; Ctrl-C exits 130."""
    try:
        yield
    except ClientError as error:
        _fail(render.error_line(error), exit_code_of(error))
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _note(message: str) -> None:
    err.print(message, soft_wrap=True, highlight=False)


# -- following a scan --------------------------------------------------------------------------------


def _finish(status: JSON, as_json: bool) -> NoReturn:
    """Show a finished scan and exit with its code (0 completed, 1 failed, 3 cancelled)."""
    state = str(status.get("status"))
    scan_id = escape(str(status.get("scanId")))
    if as_json:
        _print_json(status)
    else:
        out.print(render.status_table(status))
    progress: JSON = status.get("progress") or {}
    if state == "completed":
        changes = render.compact_changes((status.get("results") or {}).get("changes"))
        how = f"; incremental: {escape(changes)}" if changes else ""
        _note(f"scan {scan_id} completed: {render.progress_text(progress)}{how}")
    elif state == "failed":
        reason = ": ".join(
            str(p) for p in (status.get("error_code"), status.get("error_message")) if p
        )
        _note(f"[red]scan {scan_id} failed[/red]: {escape(reason)}")
    elif state == "cancelled":
        _note(f"scan {scan_id} cancelled after {progress.get('processed_items', 0):,} deals")
    raise typer.Exit(BY_SCAN_STATUS.get(state, ExitCode.OK))


def _wait(
    api: ScanApi,
    scan_id: str,
    *,
    interval: float,
    cancel_on_interrupt: bool,
    as_json: bool,
    started: str | None = None,
) -> NoReturn:
    """Follow the scan; ``started`` is noted inside the Ctrl-C handling, so a Ctrl-C right after
    the user reads it is handled like any later one."""
    try:
        if started:
            _note(started)
        final = follow(api, scan_id, err, interval=interval)
    except KeyboardInterrupt:
        if not cancel_on_interrupt:
            _note(
                f"interrupted: scan {escape(scan_id)} keeps running; follow it again with "
                f"`hubspot-deals scan status {escape(scan_id)} --wait` or stop it with "
                f"`hubspot-deals scan cancel {escape(scan_id)}`"
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        with _reported():
            try:
                api.cancel(scan_id)
            except ClientError as error:  # it may have ended meanwhile: show how it ended
                if exit_code_of(error) != ExitCode.CONFLICT:
                    raise
            final = api.status(scan_id)
        _note(f"interrupted: cancelled scan {escape(scan_id)}")
    _finish(final, as_json)


# -- scan start --------------------------------------------------------------------------------------


def _read_config(path: Path) -> JSON:
    """A config file: ``{"config": {...}}`` (a start request body) or the bare config."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read --config {path}: {exc}", ExitCode.USAGE)
    try:
        data = json.loads(text)
    except ValueError as exc:
        _fail(f"--config {path} is not JSON: {exc}", ExitCode.USAGE)
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if not isinstance(data, dict):
        _fail(f"--config {path} must hold a JSON object (a scan config)", ExitCode.USAGE)
    return data


def _split(values: list[str] | None) -> list[str] | None:
    """Repeatable options that also take comma-separated lists: ``-p a,b -p c`` is a, b, c."""
    if values is None:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was typed, not taken from its environment variable."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def build_config(base: JSON, token: str | None, token_from_flag: bool, **flags: Any) -> JSON:
    """The config to send: the file's, then each given flag over it (None means "not given").

    The token's order is ``--token`` over the file's ``auth`` over HUBSPOT_ACCESS_TOKEN: an
    explicit file beats an ambient variable, an explicit flag beats both."""
    config = dict(base)
    config.setdefault("type", ["hubspot_deals"])
    top = {
        "scanId": flags["scan_id"],
        "type": flags["scan_type"],
        "organizationId": flags["organization_id"],
        "properties": flags["properties"],
        "includeAssociations": flags["include_associations"],
        "associationTypes": flags["association_types"],
        "batchSize": flags["batch_size"],
        "mode": flags["mode"],
        "refreshAssociations": flags["refresh_associations"],
        "includeStageHistory": flags["include_stage_history"],
    }
    config |= {k: v for k, v in top.items() if v is not None}
    filters = {
        "includeArchived": flags["include_archived"],
        "pipelineId": flags["pipeline_id"],
        "dealstage": flags["dealstage"],
    }
    dates = {
        "property": flags["date_property"],
        "startDate": flags["start_date"],
        "endDate": flags["end_date"],
    }
    if any(v is not None for v in (*filters.values(), *dates.values())):
        merged = config.get("filters")
        merged = dict(merged) if isinstance(merged, dict) else {}
        merged |= {k: v for k, v in filters.items() if v is not None}
        if any(v is not None for v in dates.values()):
            date_filter = merged.get("dateFilter")
            date_filter = dict(date_filter) if isinstance(date_filter, dict) else {}
            merged["dateFilter"] = date_filter | {k: v for k, v in dates.items() if v is not None}
        config["filters"] = merged
    auth = config.get("auth")
    in_file = isinstance(auth, dict) and bool(auth.get("hubspot_access_token"))
    if token and (token_from_flag or not in_file):
        config["auth"] = (dict(auth) if isinstance(auth, dict) else {}) | {
            "hubspot_access_token": token
        }
    return config


class ScanMode(StrEnum):
    full = "full"
    incremental = "incremental"


@scan_app.command("start")
def start(
    ctx: typer.Context,
    scan_id: Annotated[
        str | None,
        typer.Argument(help="The scan's id (or scanId in --config).", show_default=False),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            dir_okay=False,
            help='A JSON file ("-" for standard input): {"config": {...}} or the bare config. '
            "Flags override it.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="HUBSPOT_ACCESS_TOKEN",
            show_default=False,
            help="The HubSpot access token (prefer the variable: flags show in process lists).",
        ),
    ] = None,
    scan_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="config.type (repeatable); default hubspot_deals.", show_default=False
        ),
    ] = None,
    organization_id: Annotated[
        str | None,
        typer.Option(
            "--organization-id",
            "--org",
            help="config.organizationId (with an API key: its organization, or leave it out).",
        ),
    ] = None,
    properties: Annotated[
        list[str] | None,
        typer.Option(
            "--properties",
            "-p",
            help="Deal properties to extract, comma-separated or repeated; default: the nine "
            "standard ones.",
            show_default=False,
        ),
    ] = None,
    include_associations: Annotated[
        bool | None,
        typer.Option(
            "--include-associations/--no-include-associations",
            help="Also read associated contacts, companies, line items.",
            show_default=False,
        ),
    ] = None,
    association_types: Annotated[
        list[str] | None,
        typer.Option(
            "--association-types",
            help="Which: contacts, companies, line_items (comma-separated or repeated); default "
            "all three.",
            show_default=False,
        ),
    ] = None,
    include_archived: Annotated[
        bool | None,
        typer.Option(
            "--include-archived/--no-include-archived",
            help="filters.includeArchived: archived deals too.",
            show_default=False,
            rich_help_panel="Filters",
        ),
    ] = None,
    pipeline_id: Annotated[
        str | None,
        typer.Option(help="filters.pipelineId: one pipeline's deals.", rich_help_panel="Filters"),
    ] = None,
    dealstage: Annotated[
        str | None,
        typer.Option(help="filters.dealstage: one stage's deals.", rich_help_panel="Filters"),
    ] = None,
    date_property: Annotated[
        str | None,
        typer.Option(
            help="filters.dateFilter.property (the service's default: createdate).",
            rich_help_panel="Filters",
        ),
    ] = None,
    start_date: Annotated[
        str | None,
        typer.Option(
            help="filters.dateFilter.startDate: YYYY-MM-DD or ISO-8601, inclusive.",
            rich_help_panel="Filters",
        ),
    ] = None,
    end_date: Annotated[
        str | None,
        typer.Option(
            help="filters.dateFilter.endDate: YYYY-MM-DD (the whole day) or ISO-8601, inclusive.",
            rich_help_panel="Filters",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="config.batchSize: 1 to 100 (default 100).", show_default=False),
    ] = None,
    mode: Annotated[
        ScanMode | None,
        typer.Option(
            "--mode",
            help="config.mode: full reads every deal (the default); incremental starts from the "
            "latest completed run of this scan id and reads only what changed since (a full scan "
            "when there is none).",
            show_default=False,
            rich_help_panel="Incremental scans",
        ),
    ] = None,
    refresh_associations: Annotated[
        bool | None,
        typer.Option(
            "--refresh-associations/--no-refresh-associations",
            help="config.refreshAssociations: in an incremental run, re-read every deal's "
            "associations, not only those of changed deals (needs --include-associations).",
            show_default=False,
            rich_help_panel="Incremental scans",
        ),
    ] = None,
    include_stage_history: Annotated[
        bool | None,
        typer.Option(
            "--include-stage-history/--no-include-stage-history",
            help="config.includeStageHistory: give each deal its stage history (stage, entered "
            "at, left at).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the scan with a progress bar until it ends.")
    ] = False,
    interval: Interval = 0.5,
    cancel_on_interrupt: CancelOnInterrupt = False,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Start a scan. With --wait, follow it and exit 0 completed, 1 failed, 3 cancelled."""
    base = _read_config(config_file) if config_file is not None else {}
    config = build_config(
        base,
        token,
        _from_command_line(ctx, "token"),
        scan_id=scan_id,
        scan_type=scan_type,
        organization_id=organization_id,
        properties=_split(properties),
        include_associations=include_associations,
        association_types=_split(association_types),
        include_archived=include_archived,
        pipeline_id=pipeline_id,
        dealstage=dealstage,
        date_property=date_property,
        start_date=start_date,
        end_date=end_date,
        batch_size=batch_size,
        mode=mode.value if mode else None,
        refresh_associations=refresh_associations,
        include_stage_history=include_stage_history,
    )
    if not config.get("scanId"):
        _fail("no scan id: give SCAN_ID (or scanId in --config)", ExitCode.USAGE)
    auth = config.get("auth")
    if not (isinstance(auth, dict) and auth.get("hubspot_access_token")):
        _fail(
            "no HubSpot token: give --token or set HUBSPOT_ACCESS_TOKEN "
            "(or auth.hubspot_access_token in --config)",
            ExitCode.USAGE,
        )
    with _api(url, api_key, timeout) as api, _reported():
        started = api.start(config)
        scan = escape(str(started.get("scanId")))
        if not wait:
            if as_json:
                _print_json(started)
            _note(
                f"started scan {scan} (job {escape(str(started.get('jobId')))}, estimated "
                f"{escape(str(started.get('estimatedDuration')))}); follow it with "
                f"`hubspot-deals scan status {scan} --wait`"
            )
            return
        _wait(
            api,
            str(started.get("scanId")),
            interval=interval,
            cancel_on_interrupt=cancel_on_interrupt,
            as_json=as_json,
            started=f"started scan {scan} (job {escape(str(started.get('jobId')))})",
        )


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
    with _api(url, api_key, timeout) as api, _reported():
        body = api.status(scan_id)
        state = body.get("status")
        if state == "not_found":
            if as_json:
                _print_json(body)
            _fail(f"no scan {scan_id}", ExitCode.NOT_FOUND)
        if wait and state not in ("completed", "failed", "cancelled"):
            _wait(
                api,
                scan_id,
                interval=interval,
                cancel_on_interrupt=cancel_on_interrupt,
                as_json=as_json,
            )
        if wait:
            _finish(body, as_json)
        if as_json:
            _print_json(body)
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
    with _api(url, api_key, timeout) as api, _reported():
        body = api.list_scans(
            status=state.value if state else None,
            organization_id=organization_id,
            page=page,
            page_size=page_size,
            sort_by=sort_by.value,
            sort_order=sort_order.value,
        )
    if as_json:
        _print_json(body)
        return
    out.print(render.list_table(body))
    _note(render.page_line(body))


@scan_app.command("cancel")
def cancel(
    scan_id: ScanId,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Cancel a pending or running scan; what it stored stays readable. Exit 8 if it had ended."""
    with _api(url, api_key, timeout) as api, _reported():
        body = api.cancel(scan_id)
    if as_json:
        _print_json(body)
    _note(
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
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """A page of a scan's deals as a table, or JSON. Exit 8 while the scan runs."""
    if as_json and ndjson:
        _fail("give --json or --ndjson, not both", ExitCode.USAGE)
    if every and not (as_json or ndjson):
        _fail("--all needs --json or --ndjson (or use `scan export`)", ExitCode.USAGE)
    if every and page is not None:
        _fail("--all follows cursors: give --cursor, not --page", ExitCode.USAGE)
    where = DealFilter(pipeline, dealstage, owner_id)
    with _api(url, api_key, timeout) as api, _reported():
        if every:
            _write_all(api, scan_id, page_size or 500, cursor, where, array=as_json)
            return
        body = api.results(scan_id, page=page, page_size=page_size, cursor=cursor, where=where)
    if as_json:
        _print_json(body)
    elif ndjson:
        for deal in body.get("deals", []):
            sys.stdout.write(json.dumps(deal, ensure_ascii=False) + "\n")
    else:
        out.print(render.results_table(body, out.width))
    _note(render.page_line(body))


def _write_all(
    api: ScanApi, scan_id: str, page_size: int, cursor: str | None, where: DealFilter, array: bool
) -> None:
    """Every deal as NDJSON or one JSON array, a page in memory at a time."""
    count = 0
    if array:
        sys.stdout.write("[")
    for body in api.iter_pages(scan_id, page_size=page_size, cursor=cursor, where=where):
        for deal in body.get("deals", []):
            text = json.dumps(deal, ensure_ascii=False)
            sys.stdout.write((("," if count else "") + "\n" + text) if array else text + "\n")
            count += 1
        if body.get("partial") and count == len(body.get("deals", [])):
            _note(f"partial results: the scan is {escape(str(body.get('status')))}")
    if array:
        sys.stdout.write("\n]\n")
    sys.stdout.flush()
    _note(f"{count:,} deals")


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
    parquet = "parquet"


@scan_app.command("export")
def export(
    scan_id: ScanId,
    file_format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="The file's format.")
    ] = ExportFormat.csv,
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
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Download a scan's deals as CSV, NDJSON or Parquet; prints the file's path."""
    if bom and file_format is not ExportFormat.csv:
        _fail("--bom is for --format csv only", ExitCode.USAGE)
    to_stdout = output is not None and str(output) == "-"
    if output is not None and not to_stdout and output.exists() and not force:
        _fail(f"{output} exists; give --force to replace it", ExitCode.USAGE)
    where = DealFilter(pipeline, dealstage, owner_id)
    with (
        _api(url, api_key, timeout) as api,
        _reported(),
        api.export(scan_id, file_format=file_format.value, where=where, bom=bom) as response,
    ):
        try:
            done = save(
                response,
                file_format=file_format.value,
                output=None if to_stdout else output,
                to_stdout=to_stdout,
                fallback_name=f"{scan_id}.{file_format.value}",
                force=force,
                console=err,
            )
        except TargetExists as exc:
            _fail(str(exc), ExitCode.USAGE)
        except OSError as exc:
            _fail(f"cannot write the export: {exc}", ExitCode.USAGE)
    deals = f"{done.deals:,} deals, " if done.deals is not None else ""
    where_to = "standard output" if done.path is None else str(done.path)
    _note(f"wrote {deals}{done.bytes:,} bytes to {escape(where_to)}")
    if done.path is not None:
        print(done.path, flush=True)
