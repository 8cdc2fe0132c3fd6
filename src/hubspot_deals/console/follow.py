"""``--wait``: follow a scan until it ends, with a live progress bar on standard error.

The bar shows deals processed of the total, the rate, the service's estimate of the time left,
and the current batch; it is fed by polling ``/scan/status`` (the service pushes nothing). A
service that blips (restarts, 503, a 429) is polled again for a while instead of ending a long
wait.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from hubspot_deals.console.api_client import JSON, ClientError, ScanApi
from hubspot_deals.console.exit_codes import ExitCode, exit_code_of

FINISHED = ("completed", "failed", "cancelled", "not_found")
#: How long polling may keep failing with "retry later" answers before the wait gives up.
GRACE_SECONDS = 30.0


class RateColumn(ProgressColumn):
    """Deals a second: the service's own figure once the scan has ended (``rate``: its deals
    over its duration), rich's moving estimate from the polls before (a scan of a second or two
    gives that estimate two samples, too few to trust at the end)."""

    def render(self, task: Task) -> Text:
        speed = task.fields.get("rate") or task.finished_speed or task.speed
        return Text(f"{speed:,.0f} deals/s" if speed else "- deals/s", style="progress.data.speed")


class CountColumn(ProgressColumn):
    """``1,200/2,543 deals`` (the total is ``?`` until the scan has counted its deals)."""

    def render(self, task: Task) -> Text:
        total = f"{task.total:,.0f}" if task.total is not None else "?"
        return Text(f"{task.completed:,.0f}/{total} deals", style="progress.download")


#: Below this terminal width the line leaves out the rate and the batch, and shortens the bar.
NARROW = 100
#: The widest the columns besides the scan id get: spinner, state, bar, count (of up to
#: 999,999 deals) and time left; wide, also the rate and the batch.
NARROW_REST, WIDE_REST = 66, 108


def scan_progress(console: Console) -> Progress:
    """One line whatever the width: at 80 columns the spinner, the id, the state, a short bar,
    the count and the time left (the service's estimate, as ``scan status`` gives it); from 100
    on also the rate and the batch."""
    narrow = console.width < NARROW
    columns: list[ProgressColumn | str] = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[state]}"),
        BarColumn(bar_width=10 if narrow else 20),
        CountColumn(),
    ]
    if not narrow:
        columns.append(RateColumn())
    columns.append(TextColumn("{task.fields[left]}"))
    if not narrow:
        columns.append(TextColumn("{task.fields[batch]}"))
    return Progress(*columns, console=console, transient=False)


def _label(scan_id: str, console: Console) -> str:
    """The id on the progress line when it fits there whole; otherwise it is printed whole on a
    line of its own first, and the progress line says ``scan``."""
    rest = NARROW_REST if console.width < NARROW else WIDE_REST
    if len(scan_id) <= console.width - rest:
        return escape(scan_id)
    console.print(f"following [bold]{escape(scan_id)}[/bold]", soft_wrap=True, highlight=False)
    return "scan"


def _batch(status: JSON) -> str:
    progress: JSON = status.get("progress") or {}
    queue: JSON = status.get("queue") or {}
    if queue:
        return f"queued, position {queue.get('position')}"
    current, total = progress.get("current_batch"), progress.get("total_batches")
    if not current:
        return ""
    return f"batch {current}/{total or '?'}"


def _poll(api: ScanApi, scan_id: str, since_ok: float) -> JSON | float:
    """The status, or (on a "retry later" failure within the grace time) seconds to wait."""
    try:
        return api.status(scan_id)
    except ClientError as error:
        retryable = exit_code_of(error) in (ExitCode.UNREACHABLE, ExitCode.RATE_LIMITED)
        if not retryable or time.monotonic() - since_ok > GRACE_SECONDS:
            raise
        return float(getattr(error, "retry_after", None) or 1.0)


def follow(api: ScanApi, scan_id: str, console: Console, *, interval: float = 0.5) -> JSON:
    """Poll the scan until it is finished; its last status. Ctrl-C propagates (the caller decides
    whether the scan keeps running)."""
    label = _label(scan_id, console)
    with scan_progress(console) as progress:
        task = progress.add_task(label, total=None, state="pending", batch="", left="", rate=None)
        last_ok = time.monotonic()
        while True:
            polled = _poll(api, scan_id, last_ok)
            if isinstance(polled, float):
                progress.update(task, batch="(service busy, retrying)")
                time.sleep(polled)
                continue
            status, last_ok = polled, time.monotonic()
            state = str(status.get("status"))
            numbers: JSON = status.get("progress") or {}
            done = numbers.get("processed_items") or 0
            total = numbers.get("total_items")
            if state == "completed":
                total = done
            progress.update(
                task,
                completed=done,
                total=total if isinstance(total, int) and (total or state == "completed") else None,
                state=state,
                batch=_batch(status),
                left=numbers.get("estimated_time_remaining") or "",
            )
            if state in FINISHED:
                seconds = numbers.get("duration_seconds")
                if isinstance(seconds, int) and done:
                    progress.update(task, rate=done / max(seconds, 1))
                progress.stop_task(task)
                return status
            time.sleep(interval)
