"""``hubspot-deals schedule ...``: scans a running service starts by the clock (its REST API), every
interval or at a cron's times, with a stored connection (``hubspot-deals connection``). The first
run reads every deal, the next ones what changed, unless ``--full``. The scan config is built as
``scan start`` builds it (scan_config.py): a ``--config`` file with the flags laid over it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hubspot_deals.console import render
from hubspot_deals.console.api_client import DEFAULT_URL, JSON
from hubspot_deals.console.columns import Column, fit_table
from hubspot_deals.console.common import (
    ApiKey,
    AsJson,
    Timeout,
    Url,
    api_for,
    fail,
    note,
    out,
    print_json,
    reported,
)
from hubspot_deals.console.exit_codes import ExitCode
from hubspot_deals.console.scan_config import (
    build_config,
    chosen_properties,
    read_config,
    split_list,
)

schedule_app = typer.Typer(
    help="Run scans by the clock: create, list, show, pause, resume, update and delete "
    "schedules of a running service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


# -- options ------------------------------------------------------------------------------------------


def _flag(*names: str, **settings: Any) -> Any:
    return typer.Option(*names, show_default=False, **settings)


ScheduleId = Annotated[str, typer.Argument(help="The schedule's id (sch_...).", show_default=False)]
Every = Annotated[
    str | None,
    _flag(
        "--every",
        metavar="INTERVAL",
        help='Run every interval: a whole number and s, m, h or d ("15m", "1h", "1d"); at '
        "least the service's minimum (a minute). Not with --cron.",
    ),
]
Cron = Annotated[
    str | None,
    _flag(
        "--cron",
        metavar="EXPRESSION",
        help='Run at a cron\'s times: minute hour day month weekday ("0 6 * * 1-5": 6:00 on '
        "weekdays). Not with --every.",
    ),
]
Timezone = Annotated[
    str | None, _flag("--timezone", metavar="ZONE", help="The cron's IANA time zone; UTC.")
]
Connection = Annotated[
    str | None, _flag("--connection", help="The stored connection its runs use (connection list).")
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        dir_okay=False,
        help='A scan config as JSON ("-" for standard input): {"config": {...}} or the bare '
        "config. Flags override it.",
    ),
]
Organization = Annotated[
    str | None, typer.Option("--organization-id", "--org", help="config.organizationId.")
]
Properties = Annotated[
    list[str] | None,
    _flag(
        "--properties",
        "-p",
        metavar="NAMES",
        help="Deal properties to extract, comma-separated or repeated; default: the nine "
        "standard ones.",
    ),
]
AllProperties = Annotated[
    bool, typer.Option("--all-properties", help="Every property the portal has at each run.")
]
Associations = Annotated[
    bool | None,
    _flag(
        "--include-associations/--no-include-associations",
        help="Also read associated contacts, companies, line items.",
    ),
]
AssociationTypes = Annotated[
    list[str] | None,
    _flag(
        "--association-types",
        metavar="TYPES",
        help="Which: contacts, companies, line_items (comma-separated or repeated).",
    ),
]
Full = Annotated[
    bool | None,
    _flag(
        "--full/--incremental",
        help="--full: every run reads every deal (config.mode full); --incremental (the "
        "default): after the first run, only what changed since the latest completed one.",
    ),
]
#: The options that make the scan config (the others say when, where and how to answer).
CONFIG_FLAGS = {"config_file", "connection_id", "organization_id", "properties", "all_properties"}
CONFIG_FLAGS |= {"include_associations", "association_types", "full"}
#: build_config's flags no schedule option sets: a --config file's values stand.
UNSET = {"scan_type", "properties_with_history", "include_archived", "pipeline_id", "dealstage"}
UNSET |= {"date_property", "start_date", "end_date", "batch_size", "refresh_associations"}
UNSET |= {"include_stage_history", "client_id", "client_secret", "refresh_token"}


def _config(base: JSON, scan_id: str | None, flags: dict[str, Any]) -> JSON:
    """The config to send: ``base`` (the file's, or the schedule's own), the flags over it; never
    a token or a grant (a schedule runs with its stored connection)."""
    full = flags["full"]
    return build_config(
        base,
        None,
        False,
        **dict.fromkeys(UNSET),
        scan_id=scan_id,
        organization_id=flags["organization_id"],
        properties=chosen_properties(split_list(flags["properties"]), flags["all_properties"]),
        include_associations=flags["include_associations"],
        association_types=split_list(flags["association_types"]),
        mode=None if full is None else "full" if full else "incremental",
        connection_id=flags["connection_id"],
    )


def _flags(ctx: typer.Context) -> dict[str, Any]:
    """The options as given: click keeps ``()`` for a list option left out (typer passes None)."""
    return {name: None if value == () else value for name, value in ctx.params.items()}


def _timing(every: str | None, cron: str | None, timezone: str | None) -> JSON:
    given = {"every": every, "cron": cron, "timezone": timezone}
    return {k: v for k, v in given.items() if v is not None}


# -- how a schedule reads -----------------------------------------------------------------------------


def _when(value: Any) -> str:
    """``2025-09-29 10:30`` of ``2025-09-29T10:30:00Z``, ``-`` of nothing."""
    return value[:16].replace("T", " ") if isinstance(value, str) else "-"


def timing_text(body: JSON) -> str:
    """``every 1h``, or a cron and its zone: ``0 6 * * 1-5 Europe/Paris``."""
    if body.get("every"):
        return f"every {body['every']}"
    return f"{body.get('cron')} {body.get('timezone') or 'UTC'}"


def _paused(body: JSON) -> str:
    return str(body.get("pauseReason") or "yes") if body.get("paused") else "no"


def _properties(config: JSON) -> str:
    names = config.get("properties")
    if not names:
        return "the standard ones"
    return "all" if names in (["*"], "*", "all") else ", ".join(map(str, names))


def _show(body: JSON) -> None:
    config: JSON = body.get("config") or {}
    last: JSON = body.get("lastRun") or {}
    ended = f"due {_when(last.get('dueAt'))}, ended {_when(last.get('completedAt'))}"
    last_run = f"{last.get('status')} (job {last.get('jobId')}, {ended})" if last else None
    associations = config.get("associationTypes") or "contacts, companies, line_items"
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in (
        ("schedule", body.get("scheduleId")),
        ("scan", body.get("scanId")),
        ("organization", body.get("organizationId")),
        ("timing", timing_text(body)),
        ("paused", _paused(body)),
        ("next run", _when(body.get("nextRunAt"))),
        ("last run", last_run),
        ("failures in a row", body.get("consecutiveFailures")),
        ("runs started", body.get("runsStarted")),
        ("due times skipped", body.get("ticksSkipped")),
        ("connection", config.get("connectionId")),
        ("mode", config.get("mode")),
        ("properties", _properties(config)),
        ("associations", associations if config.get("includeAssociations") else "no"),
        ("created", _when(body.get("createdAt"))),
        ("updated", _when(body.get("updatedAt"))),
    ):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        table.add_row(field, escape("-" if shown in (None, "") else str(shown)))
    out.print(table)


def list_table(rows: list[JSON], width: int) -> Table:
    """One line a schedule; at narrow widths skipped, failures and paused leave first (a paused
    schedule's next run says so anyway), then a long cron is cut; ``show`` says why it paused."""

    def cells(text: Any) -> list[Text]:
        return [Text(str(text(r))) for r in rows]

    statuses = [str((r.get("lastRun") or {}).get("status") or "-") for r in rows]
    return fit_table(
        [
            Column("schedule", cells(lambda r: r["scheduleId"]), fold=True),
            Column("scan", cells(lambda r: r["scanId"]), fold=True),
            Column("timing", cells(timing_text), ratio=1),
            Column(
                "next run",
                cells(lambda r: _when(r.get("nextRunAt")) if not r.get("paused") else "paused"),
            ),
            Column("last run", [Text(s, style=render.STATUS_STYLE.get(s, "")) for s in statuses]),
            Column(
                "failures", cells(lambda r: r.get("consecutiveFailures")), right=True, optional=3
            ),
            Column("skipped", cells(lambda r: r.get("ticksSkipped")), right=True, optional=4),
            Column("paused", cells(lambda r: "yes" if r.get("paused") else "no"), optional=2),
        ],
        width,
    )


# -- the commands ------------------------------------------------------------------------------------


@schedule_app.command("create")
def create(
    ctx: typer.Context,
    scan_id: Annotated[
        str | None,
        typer.Argument(
            help="The scan id its runs have (or scanId in --config).", show_default=False
        ),
    ] = None,
    connection_id: Connection = None,
    every: Every = None,
    cron: Cron = None,
    timezone: Timezone = None,
    config_file: ConfigFile = None,
    organization_id: Organization = None,
    properties: Properties = None,
    all_properties: AllProperties = False,
    include_associations: Associations = None,
    association_types: AssociationTypes = None,
    full: Full = None,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Run a scan by the clock: --every INTERVAL, or --cron EXPRESSION [--timezone ZONE]."""
    if (every is None) == (cron is None):
        fail("give --every INTERVAL or --cron EXPRESSION (one of them)", ExitCode.USAGE)
    config = _config(read_config(config_file) if config_file else {}, scan_id, _flags(ctx))
    scan = config.get("scanId")
    if not scan:
        fail("no scan id: give SCAN_ID (or scanId in --config)", ExitCode.USAGE)
    if not config.get("connectionId"):
        fail(
            "no connection: give --connection ID (hubspot-deals connection list), or "
            "connectionId in --config",
            ExitCode.USAGE,
        )
    body = {"scanId": scan, "config": config} | _timing(every, cron, timezone)
    with api_for(url, api_key, timeout) as api, reported():
        made = api.create_schedule(body)
    if as_json:
        print_json(made)
        return
    _show(made)
    first = "now" if made.get("every") else _when(made.get("nextRunAt"))
    note(
        f"first run {escape(first)}; follow it with "
        f"`hubspot-deals scan status {escape(str(scan))} --wait`"
    )


@schedule_app.command("list")
def list_schedules(
    as_json: AsJson = False, url: Url = DEFAULT_URL, api_key: ApiKey = None, timeout: Timeout = 30.0
) -> None:
    """The schedules of your organization, newest first."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.schedules()
    if as_json:
        print_json(body)
        return
    rows: list[JSON] = body.get("schedules", [])
    if not rows:
        note("no schedules")
        return
    out.print(list_table(rows, out.width))


def _one(action: str, doc: str) -> Any:
    """``show``, ``pause`` and ``resume``: the schedule as the service answers it."""

    def command(
        schedule_id: ScheduleId,
        as_json: AsJson = False,
        url: Url = DEFAULT_URL,
        api_key: ApiKey = None,
        timeout: Timeout = 30.0,
    ) -> None:
        with api_for(url, api_key, timeout) as api, reported():
            body = api.schedule(schedule_id, action)
        print_json(body) if as_json else _show(body)

    command.__doc__ = doc
    return command


schedule_app.command("show")(_one("", "One schedule: its timing, next run, last run, config."))
schedule_app.command("pause")(_one("pause", "No more runs until resumed (one going goes on)."))
schedule_app.command("resume")(
    _one("resume", "Run again: an interval's next run at once, a cron's at its next time.")
)


@schedule_app.command("update")
def update(
    ctx: typer.Context,
    schedule_id: ScheduleId,
    every: Every = None,
    cron: Cron = None,
    timezone: Timezone = None,
    connection_id: Connection = None,
    config_file: ConfigFile = None,
    organization_id: Organization = None,
    properties: Properties = None,
    all_properties: AllProperties = False,
    include_associations: Associations = None,
    association_types: AssociationTypes = None,
    full: Full = None,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """New timing (the next run follows it from now) or config flags laid over the schedule's
    config (--config: over the file's instead), from the next run on."""
    body: JSON = _timing(every, cron, timezone)
    flags = _flags(ctx)
    config_given = any(flags[name] not in (None, False) for name in CONFIG_FLAGS)
    if not (body or config_given):
        fail("nothing to change: give a new timing or config flags", ExitCode.USAGE)
    from_file = read_config(config_file) if config_file else None
    with api_for(url, api_key, timeout) as api, reported():
        if config_given:
            current: JSON = api.schedule(schedule_id).get("config") or {}
            base = current if from_file is None else from_file
            base.setdefault("connectionId", current.get("connectionId"))
            body["config"] = _config(base, None, flags)
        changed = api.update_schedule(schedule_id, body)
    print_json(changed) if as_json else _show(changed)


@schedule_app.command("delete")
def delete(
    schedule_id: ScheduleId,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Forget a schedule (the runs it started stay the scan id's)."""
    with api_for(url, api_key, timeout) as api, reported():
        api.schedule(schedule_id, "delete")
    note(f"deleted schedule {escape(schedule_id)}")
