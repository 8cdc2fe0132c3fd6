"""What the dashboard's templates see: the Jinja2 environment, its globals and its filters
(numbers, durations, times and stage histories written for reading)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from hubspot_deals import __version__
from hubspot_deals.store.models import JobStatus

PACKAGE_DIR = Path(__file__).resolve().parents[1]
RESULTS_PAGE_SIZES = (25, 50, 100)
STATUSES = (
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
ASSOCIATION_TYPES = ("contacts", "companies", "line_items")
#: The export buttons: the export endpoint's formats.
EXPORT_FORMATS = (("csv", "CSV"), ("ndjson", "NDJSON"), ("parquet", "Parquet"))
#: The start form's mode choices: the config's values and what each does.
SCAN_MODES = (
    ("full", "Full: read every deal"),
    ("incremental", "Incremental: only what changed since the last completed run"),
)

#: What a table shows for a figure there is none of yet.
NOTHING = "\N{EN DASH}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _number(value: float | None) -> str:
    return NOTHING if value is None else f"{value:,}"


def _when(moment: str | None) -> str:
    """The API's UTC times, shortened for reading (the ``<time>`` element keeps the full one)."""
    return NOTHING if not moment else moment.replace("T", " ").removesuffix("Z") + " UTC"


CHANGE_KINDS = ("added", "updated", "archived", "removed", "merged")
#: Kinds the compact form names only when there are some (the words leave out no merges only).
RARE_CHANGES = ("archived", "merged")


def _changes(changes: dict[str, int] | None) -> str:
    """An incremental run's changes, compact as ``scan list`` prints them: ``+12 ~40 -3 archived
    5 merged 2`` (added, updated, removed; archived and merged only when there are some)."""
    if not changes:
        return NOTHING
    text = f"+{changes['added']:,} ~{changes['updated']:,} -{changes['removed']:,}"
    rare = (f" {kind} {changes[kind]:,}" for kind in RARE_CHANGES if changes.get(kind))
    return text + "".join(rare)


def _changes_in_words(changes: dict[str, int] | None) -> str:
    if not changes:
        return ""
    kinds = [kind for kind in CHANGE_KINDS if kind != "merged" or changes.get(kind)]
    return ", ".join(f"{changes[kind]:,} {kind}" for kind in kinds)


#: A results cell names this many stays at most; longer histories show the first and the last.
HISTORY_SHOWN = 3


def _stage_path(history: list[dict[str, Any]] | None) -> str:
    """``Appointment scheduled → Qualified to buy → Closed won``: a deal's stays, oldest first."""
    if not history:
        return NOTHING
    labels = [span.get("stage_label") or span.get("stage") or "?" for span in history]
    if len(labels) > HISTORY_SHOWN:
        labels = [labels[0], "\N{HORIZONTAL ELLIPSIS}", labels[-1]]
    return " \N{RIGHTWARDS ARROW} ".join(labels)


def _stage_dates(history: list[dict[str, Any]] | None) -> str:
    """One line a stay, with when the deal entered and left it: the cell's title."""
    return "\n".join(
        f"{span.get('stage_label') or span.get('stage')}: {_when(span.get('entered_at'))}"
        f" \N{EN DASH} {_when(span.get('left_at')) if span.get('left_at') else 'now'}"
        for span in history or []
    )


templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
templates.env.globals |= {
    "version": __version__,
    "statuses": STATUSES,
    "association_types": ASSOCIATION_TYPES,
    "page_sizes": RESULTS_PAGE_SIZES,
    "change_kinds": CHANGE_KINDS,
    "scan_modes": SCAN_MODES,
    "export_formats": EXPORT_FORMATS,
}
templates.env.filters |= {
    "duration": _duration,
    "number": _number,
    "when": _when,
    "changes": _changes,
    "changes_in_words": _changes_in_words,
    "stage_path": _stage_path,
    "stage_dates": _stage_dates,
}
