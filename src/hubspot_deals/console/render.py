"""The API's JSON as rich tables and one-line messages, for people (``--json`` bypasses it).

Every value the service sends goes into a ``Text``, never into markup: a deal named ``[bold]``
prints as written.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from hubspot_deals.console.api_client import JSON, ApiError, ClientError
from hubspot_deals.console.columns import Column, fit_table

STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "pending": "yellow",
    "failed": "red",
    "cancelled": "magenta",
    "not_found": "dim",
}


#: A run that stopped before completing: its stored deals are served when asked for.
FINISHED_EARLY = ("failed", "cancelled")


def error_line(error: ClientError) -> str:
    """One line that says what went wrong and, where the service said so, what to change."""
    if not isinstance(error, ApiError):
        return str(error)
    parts = [str(error)]
    if error.errors:
        parts.append("; ".join(f"{field}: {why}" for field, why in error.errors.items()))
    scalars = {k: v for k, v in error.details.items() if isinstance(v, str | int | float | bool)}
    if scalars:
        parts.append(", ".join(f"{k}={v}" for k, v in scalars.items()))
    if error.retry_after is not None and "retry_after_seconds" not in error.details:
        parts.append(f"retry after {error.retry_after} s")
    if error.status >= 500 and error.request_id:
        parts.append(f"request {error.request_id}")
    if error.code == "SCAN_NOT_READY":
        if error.details.get("currentStatus") in FINISHED_EARLY:
            parts.append("give --partial for the deals it stored")
        else:  # still going: wait for it, or read what it has stored so far
            parts.append("follow it with `scan status --wait`, or give --partial")
    return " - ".join(parts)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-" if value is None else str(value)


def _status(value: Any) -> Text:
    text = str(value or "-")
    return Text(text, style=STATUS_STYLE.get(text, ""))


def _cell(value: Any) -> Text:
    return Text("-" if value is None or value == "" else str(value))


def _seconds(value: Any) -> str | None:
    if not isinstance(value, int | float):
        return None
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def progress_text(status: JSON) -> str:
    """``1,200 of 2,543 deals (47%)``; the total is unknown until the scan has counted. An
    incremental run reads changed deals only: ``57 of 57 changed deals (100%), 4,897 held``."""
    progress: JSON = status.get("progress") or {}
    done, total = progress.get("processed_items", 0), progress.get("total_items")
    incremental = (status.get("sync") or {}).get("mode") == "incremental"
    what = "changed deals" if incremental else "deals"
    if isinstance(total, int) and total > 0:
        text = f"{done:,} of {total:,} {what} ({100 * done // total}%)"
    else:
        text = f"{_count(done)} {what}"
    held = (status.get("results") or {}).get("deals_held")
    return f"{text}, {held:,} held" if incremental and isinstance(held, int) else text


def _changes(changes: Any) -> JSON | None:
    return changes if isinstance(changes, dict) else None


def compact_changes(changes: Any) -> str | None:
    """An incremental run's changes in a list cell: ``+12 ~40 -3 archived 5 merged 2`` is 12
    added, 40 updated, 3 removed (deleted, or no longer matching the filters), 5 archived and 2
    merged into other deals; the archived and merged parts only when there are some. None for
    full runs."""
    counts = _changes(changes)
    if not counts:
        return None
    text = (
        f"+{_count(counts.get('added'))} ~{_count(counts.get('updated'))} "
        f"-{_count(counts.get('removed'))}"
    )
    archived, merged = counts.get("archived"), counts.get("merged")
    text = f"{text} archived {_count(archived)}" if archived else text
    return f"{text} merged {_count(merged)}" if merged else text


def changes_text(changes: Any) -> str | None:
    """``12 added, 40 updated, 5 archived, 3 removed`` (and ``, 2 merged`` when some were):
    what ``scan status`` says of them."""
    counts = _changes(changes)
    if not counts:
        return None
    kinds = [
        "added",
        "updated",
        "archived",
        "removed",
        *(["merged"] if counts.get("merged") else []),
    ]
    return ", ".join(f"{_count(counts.get(k))} {k}" for k in kinds)


def mode_text(sync: JSON) -> str | None:
    """``incremental``; ``full (incremental requested)`` when an incremental run had to read
    everything; ``incremental (requested; not started yet)`` before the run starts."""
    asked, mode = sync.get("requested_mode"), sync.get("mode")
    if asked is None and mode is None:
        return None
    if mode is None:
        return f"{asked} (requested; not started yet)"
    if asked and asked != mode:
        return f"{mode} ({asked} requested)"
    return str(mode)


#: How many names a status row lists before it says how many more there are.
NAMES_SHOWN = 10


def _names(names: list[str]) -> str | None:
    if not names:
        return None
    more = len(names) - NAMES_SHOWN
    shown = ", ".join(names[:NAMES_SHOWN])
    return f"{shown} and {more:,} more" if more > 0 else shown


def _kind(side: Any) -> str:
    """``number/calculation_equation``: a definition's type and field type."""
    if not isinstance(side, dict):
        return "?"
    return f"{side.get('type')}/{side.get('fieldType')}"


def schema_change_rows(changes: Any) -> list[tuple[str, str | None]]:
    """How the portal's properties changed since the run served before: ``schema`` says ``1
    added, 1 retyped since the previous run`` and a row per kind names them. Nothing for a first
    run or when nothing changed: the rows are there to be noticed."""
    if not isinstance(changes, dict):
        return []
    kinds = {k: [e for e in changes.get(k) or [] if e] for k in ("added", "removed", "retyped")}
    said = ", ".join(f"{len(v):,} {k}" for k, v in kinds.items() if v)
    if not said:
        return []
    retyped = [
        f"{e.get('name')} ({_kind(e.get('from'))} → {_kind(e.get('to'))})"
        for e in kinds["retyped"]
        if isinstance(e, dict)
    ]
    return [
        ("schema", f"{said} since the previous run"),
        ("added properties", _names([str(n) for n in kinds["added"]])),
        ("removed properties", _names([str(n) for n in kinds["removed"]])),
        ("retyped properties", _names(retyped)),
    ]


def untyped_text(count: Any) -> str | None:
    """Values that do not fit their property's type (after a retype, say): the exports keep them
    as text, and a reader of typed columns should know. None when there are none."""
    return f"{count:,} (kept as text)" if isinstance(count, int) and count else None


def status_table(body: JSON) -> Table:
    """A scan's status as field/value rows: what ``scan status`` prints."""
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    progress: JSON = body.get("progress") or {}
    results: JSON = body.get("results") or {}
    queue: JSON = body.get("queue") or {}
    sync: JSON = body.get("sync") or {}
    batch = None
    if progress.get("current_batch") is not None:
        batch = f"{progress['current_batch']} of {_count(progress.get('total_batches') or None)}"
    error = None
    if body.get("error_message") or body.get("error_code"):
        error = ": ".join(str(p) for p in (body.get("error_code"), body.get("error_message")) if p)
    rows: list[tuple[str, Any]] = [
        ("scan", body.get("scanId")),
        ("status", _status(body.get("status"))),
        ("job", body.get("id")),
        ("organization", body.get("organizationId")),
        ("mode", mode_text(sync)),
        ("why full", sync.get("reason")),
        ("base run", sync.get("base_job_id")),
        ("modified since", sync.get("modified_since")),
        ("high-water mark", sync.get("high_water_mark")),
        ("created", body.get("created_at")),
        ("started", body.get("started_at")),
        ("completed", body.get("completed_at")),
        ("progress", progress_text(body) if progress else None),
        (
            "failed items",
            _count(progress["failed_items"]) if progress.get("failed_items") else None,
        ),
        ("success rate", progress.get("success_rate")),
        ("batch", batch),
        ("time remaining", progress.get("estimated_time_remaining")),
        ("duration", _seconds(progress.get("duration_seconds"))),
        ("queue", queue.get("message")),
        ("deals extracted", _count(results.get("deals_extracted")) if results else None),
        ("with associations", _count(results.get("with_associations")) if results else None),
        ("archived deals", _count(results.get("archived_deals")) if results else None),
        ("data size", f"{results['data_size_mb']} MB" if "data_size_mb" in results else None),
        ("deals held", _count(results.get("deals_held")) if "deals_held" in results else None),
        ("changes", changes_text(results.get("changes"))),
        *schema_change_rows(body.get("schema_changes")),
        ("untyped values", untyped_text(results.get("untyped_values"))),
        ("error", error),
        *(("warning", str(w)) for w in body.get("warnings") or []),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, value if isinstance(value, Text) else _cell(value))
    return table


def _moment(value: Any) -> Text:
    """``2025-09-29 10:30`` of ``2025-09-29T10:30:00Z``: tables have no room for seconds."""
    return _cell(value[:16].replace("T", " ") if isinstance(value, str) else None)


#: From this width on, the list also shows organizations, and the results table pipelines and
#: association counts.
WIDE = 140


def _deals(scan: JSON) -> str:
    done, total = scan.get("processed_items"), scan.get("total_items")
    return _count(done) if done == total else f"{_count(done)}/{_count(total)}"


def list_table(body: JSON, width: int = 80) -> Table:
    """One row per scan run: what ``scan list`` prints."""
    scans: list[JSON] = body.get("scans", [])
    notes = [s.get("error_message") or s.get("estimated_time_remaining") for s in scans]
    columns = [
        Column("scan", [_cell(s.get("scanId")) for s in scans], fold=True),
        Column("status", [_status(s.get("status")) for s in scans]),
        Column("mode", [_cell(s.get("mode")) for s in scans], optional=3),
        Column("org", [_cell(s.get("organizationId")) for s in scans], ratio=1),
        Column("started", [_moment(s.get("started_at")) for s in scans], optional=2),
        Column("deals", [Text(_deals(s)) for s in scans], right=True),
        Column(
            "duration",
            [_cell(_seconds(s.get("duration_seconds"))) for s in scans],
            right=True,
            optional=4,
        ),
        Column("changes", [_cell(compact_changes(s.get("changes"))) for s in scans], optional=5),
        Column("error / time left", [_cell(n) for n in notes], ratio=3, optional=1),
    ]
    if width < WIDE:
        columns = [c for c in columns if c.name != "org"]
    if not any(notes):
        columns = [c for c in columns if c.name != "error / time left"]
    return fit_table(columns, width)


def _amount(deal: JSON) -> str:
    amount = deal.get("amount")
    if not isinstance(amount, int | float):
        return "-"
    return f"{amount:,.2f} {deal.get('currency') or ''}".strip()


def _associations(deal: JSON) -> str:
    found = deal.get("associations")
    if not isinstance(found, dict):
        return "-"
    short = {"contacts": "ct", "companies": "co", "line_items": "li"}
    return " ".join(f"{short.get(kind, kind)} {len(ids)}" for kind, ids in found.items())


def results_table(body: JSON, width: int = 80) -> Table:
    """One row per deal of a results page: what ``scan results`` prints."""
    deals: list[JSON] = body.get("deals", [])
    names = []
    for deal in deals:
        name = _cell(deal.get("deal_name"))
        if deal.get("is_archived"):
            name.append(" (archived)", style="dim")
        names.append(name)
    close = [d.get("close_date") for d in deals]
    columns = [
        Column("deal id", [_cell(d.get("deal_id")) for d in deals], fold=True),
        Column("name", names, ratio=3),
        Column("amount", [Text(_amount(d)) for d in deals], right=True),
        Column(
            "stage", [_cell(d.get("deal_stage_label") or d.get("deal_stage")) for d in deals], 1
        ),
        Column(
            "pipeline", [_cell(d.get("pipeline_label") or d.get("pipeline_id")) for d in deals], 1
        ),
        Column(
            "close date", [_cell(c[:10] if isinstance(c, str) else None) for c in close], optional=1
        ),
        Column("owner", [_cell(d.get("owner_email") or d.get("owner_id")) for d in deals], 2),
        Column("associations", [Text(_associations(d)) for d in deals]),
    ]
    if width < WIDE:
        columns = [c for c in columns if c.name not in ("pipeline", "associations")]
    elif not any(d.get("associations") for d in deals):  # {} when none were asked for
        columns = columns[:-1]
    return fit_table(columns, width)


def page_line(body: JSON) -> str:
    """``page 1 of 30 (1,500 deals); next: --page 2, or --cursor`` and the cursor on a line of
    its own (it cannot be cut, and beside the rest would pass 80 columns), for standard error."""
    pagination: JSON = body.get("pagination") or {}
    total = pagination.get("total_items")
    noun = "deal" if "deals" in body else "scan"
    line = (
        f"page {pagination.get('current_page')} of {pagination.get('total_pages')} "
        f"({_count(total)} {noun}{'' if total == 1 else 's'})"
        if total
        else f"no {noun}s"
    )
    if body.get("partial"):
        line += f", partial: the scan is {body.get('status')}"
    if pagination.get("has_next"):
        line += f"; next: --page {pagination.get('next_page')}"
        if pagination.get("next_cursor"):
            line += f", or --cursor\n{pagination['next_cursor']}"
    return line


def _marks(definition: JSON) -> Text:
    return _cell(", ".join(m for m in ("hidden", "calculated") if definition.get(m)))


def schema_table(body: JSON, width: int = 80) -> Table:
    """One row per property definition of a run: what ``scan schema`` prints. Narrow, the label
    leaves first, then the group, the marks and the option count: the name and how it is typed
    stay."""
    props: list[JSON] = body.get("properties") or []
    options = [len(p.get("options") or []) or None for p in props]
    columns = [
        Column("name", [_cell(p.get("name")) for p in props], fold=True),
        Column("label", [_cell(p.get("label")) for p in props], ratio=2, optional=5),
        Column("type", [_cell(p.get("type")) for p in props]),
        Column("field type", [_cell(p.get("fieldType")) for p in props]),
        Column("group", [_cell(p.get("group")) for p in props], ratio=1, optional=4),
        Column("options", [_cell(n) for n in options], right=True, optional=2),
        Column("marks", [_marks(p) for p in props], optional=3),
    ]
    return fit_table(columns, width)


def schema_line(body: JSON) -> str:
    """``56 properties (29 custom, 2 hidden, 10 calculated) of run job_..., completed``, for
    standard error."""
    props: list[JSON] = body.get("properties") or []
    counts = {
        "custom": sum(1 for p in props if p.get("hubspotDefined") is False),
        "hidden": sum(1 for p in props if p.get("hidden")),
        "calculated": sum(1 for p in props if p.get("calculated")),
    }
    said = ", ".join(f"{n:,} {k}" for k, n in counts.items() if n)
    noun = "property" if len(props) == 1 else "properties"
    line = f"{len(props):,} {noun}{f' ({said})' if said else ''}" if props else "no properties"
    return f"{line} of run {body.get('runId')}, {body.get('status')}"
