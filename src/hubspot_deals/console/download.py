"""``scan export``: stream an export to a file in constant memory, with a progress bar.

The body is written chunk by chunk to a temporary file beside the target and renamed over it only
once the last byte arrived, so a download that fails (or is interrupted) leaves no half file and
never clobbers an older complete one. The export has no Content-Length (it is streamed as it is
made); ``X-Total-Count`` gives the deals, so CSV and NDJSON progress counts rows (line ends: exact
for NDJSON, and for CSV unless a value holds a line break) and Parquet's shows bytes only.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import BinaryIO

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hubspot_deals.console.follow import CountColumn, RateColumn

#: What a file name taken from the service may hold: no directories, no hidden files.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,250}$")


class TargetExists(Exception):
    """The output file exists and ``--force`` was not given."""


@dataclass
class Downloaded:
    path: Path | None  #: None when written to standard output
    bytes: int
    deals: int | None  #: X-Total-Count, when the service sent it


def attachment_name(response: httpx.Response, fallback: str) -> str:
    """The file name of ``Content-Disposition`` if it is a plain one (never a path: the service
    does not choose where files go), else ``fallback`` if that is, else ``export``."""
    message = Message()
    message["Content-Disposition"] = response.headers.get("Content-Disposition", "")
    for name in (message.get_filename(), fallback):
        if name and SAFE_NAME.match(name):
            return name
    return "export"


def total_count(response: httpx.Response) -> int | None:
    raw = response.headers.get("X-Total-Count", "")
    return int(raw) if raw.isdigit() else None


def _progress(console: Console, rows: bool) -> Progress:
    if rows:
        return Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            CountColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
        )
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _open_beside(target: Path) -> tuple[Path, BinaryIO]:
    """A new file next to ``target`` (same file system, so the rename is atomic); created with
    the usual permissions (the umask's), as the final file will have."""
    part = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    return part, part.open("xb")


def save(
    response: httpx.Response,
    *,
    file_format: str,
    output: Path | None,
    to_stdout: bool,
    fallback_name: str,
    force: bool,
    console: Console,
    lines_are_deals: bool = True,
) -> Downloaded:
    """Write the export's body to ``output`` (or the attachment's name in the working directory,
    or standard output); the rows or bytes it took. ``lines_are_deals`` false (a property history
    file, many lines a deal) shows bytes: ``X-Total-Count`` counts deals, not its lines."""
    deals = total_count(response)
    target: Path | None = None
    if not to_stdout:
        target = output or Path(attachment_name(response, fallback_name))
        if target.exists() and not force:
            raise TargetExists(f"{target} exists; give --force to replace it")
    counts_rows = lines_are_deals and file_format in ("csv", "ndjson") and deals is not None
    part: Path | None = None
    sink: BinaryIO
    if target is None:
        sink = sys.stdout.buffer
    else:
        part, sink = _open_beside(target)
    written = rows = 0
    header_line = file_format == "csv"
    try:
        with _progress(console, counts_rows) as progress:
            name = "standard output" if target is None else str(target)
            task = progress.add_task(escape(name), total=deals if counts_rows else None)
            try:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                    if counts_rows:
                        rows += chunk.count(b"\n")
                        shown = max(rows - (1 if header_line else 0), 0)
                        progress.update(task, completed=min(shown, deals or 0))
                    else:
                        progress.update(task, completed=written)
                sink.flush()
            except BrokenPipeError:
                progress.live.transient = True  # the reader left (`| head`): leave no bar behind
                raise
            if counts_rows:
                progress.update(task, completed=deals)
            else:
                progress.update(task, total=written, completed=written)
        if part is not None and target is not None:
            os.fsync(sink.fileno())
            sink.close()
            part.replace(target)
            part = None
    finally:
        if part is not None:  # the download failed: no half file is left behind
            sink.close()
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
    return Downloaded(target, written, deals)
