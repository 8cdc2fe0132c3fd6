"""``hubspot-deals scan start``: build the config, start the scan, and with ``--wait`` follow it
to its end with a progress bar (the exit code tells how it ended)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from hubspot_deals.console import render
from hubspot_deals.console.api_client import DEFAULT_URL, JSON, ClientError, ScanApi
from hubspot_deals.console.common import (
    ApiKey,
    AsJson,
    CancelOnInterrupt,
    Interval,
    Timeout,
    Url,
    api_for,
    err,
    fail,
    note,
    out,
    print_json,
    reported,
    scan_app,
)
from hubspot_deals.console.exit_codes import BY_SCAN_STATUS, ExitCode, exit_code_of
from hubspot_deals.console.follow import follow
from hubspot_deals.console.scan_config import (
    ScanMode,
    build_config,
    chosen_properties,
    from_command_line,
    read_config,
    split_list,
)

# -- following a scan --------------------------------------------------------------------------------


def finish(status: JSON, as_json: bool) -> NoReturn:
    """Show a finished scan and exit with its code (0 completed, 1 failed, 3 cancelled)."""
    state = str(status.get("status"))
    scan_id = escape(str(status.get("scanId")))
    if as_json:
        print_json(status)
    else:
        out.print(render.status_table(status))
    progress: JSON = status.get("progress") or {}
    if state == "completed":
        changes = render.compact_changes((status.get("results") or {}).get("changes"))
        how = f"; incremental: {escape(changes)}" if changes else ""
        note(f"scan {scan_id} completed: {render.progress_text(status)}{how}")
    elif state == "failed":
        reason = ": ".join(
            str(p) for p in (status.get("error_code"), status.get("error_message")) if p
        )
        note(f"[red]scan {scan_id} failed[/red]: {escape(reason)}")
    elif state == "cancelled":
        note(f"scan {scan_id} cancelled after {progress.get('processed_items', 0):,} deals")
    raise typer.Exit(BY_SCAN_STATUS.get(state, ExitCode.OK))


def wait_for_end(
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
            note(started)
        final = follow(api, scan_id, err, interval=interval)
    except KeyboardInterrupt:
        if not cancel_on_interrupt:
            note(
                f"interrupted: scan {escape(scan_id)} keeps running; follow it again with "
                f"`hubspot-deals scan status {escape(scan_id)} --wait` or stop it with "
                f"`hubspot-deals scan cancel {escape(scan_id)}`"
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        with reported():
            try:
                api.cancel(scan_id)
            except ClientError as error:  # it may have ended meanwhile: show how it ended
                if exit_code_of(error) != ExitCode.CONFLICT:
                    raise
            final = api.status(scan_id)
        note(f"interrupted: cancelled scan {escape(scan_id)}")
    finish(final, as_json)


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
    connection_id: Annotated[
        str | None,
        typer.Option(
            "--connection",
            show_default=False,
            help="A stored connection's id (hubspot-deals connection list) instead of a token.",
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            envvar="HUBSPOT_CLIENT_ID",
            show_default=False,
            help="An OAuth app's client id: with --client-secret and --refresh-token, the "
            "service renews access tokens itself (docs/api.md, HubSpot credentials).",
        ),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            "--client-secret",
            envvar="HUBSPOT_CLIENT_SECRET",
            show_default=False,
            help="The OAuth app's client secret (prefer the variable).",
        ),
    ] = None,
    refresh_token: Annotated[
        str | None,
        typer.Option(
            "--refresh-token",
            envvar="HUBSPOT_REFRESH_TOKEN",
            show_default=False,
            help="The portal's OAuth refresh token (prefer the variable).",
        ),
    ] = None,
    scan_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="config.type (repeatable); default hubspot_deals.",
            show_default=False,
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
            metavar="NAMES",
            help="Deal properties to extract, comma-separated or repeated; default: the nine "
            "standard ones.",
            show_default=False,
        ),
    ] = None,
    all_properties: Annotated[
        bool,
        typer.Option(
            "--all-properties",
            help='config.properties "all": every property the portal defines when the run '
            "starts (not with --properties).",
        ),
    ] = False,
    history: Annotated[
        list[str] | None,
        typer.Option(
            "--history",
            metavar="NAMES",
            help="config.propertiesWithHistory: properties whose every value each deal keeps "
            "(comma-separated or repeated; up to 50).",
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
            metavar="TYPES",
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
    base = read_config(config_file) if config_file is not None else {}
    config = build_config(
        base,
        token,
        from_command_line(ctx, "token"),
        scan_id=scan_id,
        scan_type=scan_type,
        organization_id=organization_id,
        properties=chosen_properties(split_list(properties), all_properties),
        properties_with_history=split_list(history),
        include_associations=include_associations,
        association_types=split_list(association_types),
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
        connection_id=connection_id,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        grant_from_flag=any(
            from_command_line(ctx, n) for n in ("client_id", "client_secret", "refresh_token")
        ),
    )
    if not config.get("scanId"):
        fail("no scan id: give SCAN_ID (or scanId in --config)", ExitCode.USAGE)
    auth = config.get("auth")
    if not (isinstance(auth, dict) and auth) and not config.get("connectionId"):
        fail(
            "no HubSpot credential: give --token or set HUBSPOT_ACCESS_TOKEN, an OAuth grant "
            "(--client-id, --client-secret, --refresh-token), --connection, or auth in --config",
            ExitCode.USAGE,
        )
    with api_for(url, api_key, timeout) as api, reported():
        started = api.start(config)
        scan = escape(str(started.get("scanId")))
        if not wait:
            if as_json:
                print_json(started)
            note(
                f"started scan {scan} (job {escape(str(started.get('jobId')))}, estimated "
                f"{escape(str(started.get('estimatedDuration')))}); follow it with "
                f"`hubspot-deals scan status {scan} --wait`"
            )
            return
        wait_for_end(
            api,
            str(started.get("scanId")),
            interval=interval,
            cancel_on_interrupt=cancel_on_interrupt,
            as_json=as_json,
            started=f"started scan {scan} (job {escape(str(started.get('jobId')))})",
        )
