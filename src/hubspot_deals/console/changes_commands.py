"""``hubspot-deals scan changes``: a scan id's changes feed as NDJSON, once or followed.

Each event is printed as the API gives it, one per line, a page at a time; the cursor to resume
from is kept after each page (``--cursor-file``, replaced whole so it is never half written) and
printed on standard error at the end. A page interrupted while it prints is printed again on
resume: delivery is at least once, and applying the events in order again changes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from hubspot_deals.console.api_client import DEFAULT_URL, JSON, ClientError, ScanApi
from hubspot_deals.console.common import (
    ApiKey,
    ScanId,
    Timeout,
    Url,
    api_for,
    fail,
    note,
    reader_left,
    reported,
    scan_app,
)
from hubspot_deals.console.exit_codes import ExitCode, exit_code_of

#: Failures a follower waits out (the service restarting, busy, rate limiting): it is long-lived.
TRANSIENT = (ExitCode.UNREACHABLE, ExitCode.RATE_LIMITED)


class Stopped(Exception):
    """SIGTERM (or Ctrl-C) while following: the normal way a follower ends."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped


def read_cursor(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        fail(f"cannot read the cursor file: {exc}", ExitCode.USAGE)


def keep_cursor(path: Path, cursor: str) -> None:
    """Replace the file whole (a temporary file renamed over it): a stop at any moment leaves the
    old cursor or the new one, never a part."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        fail(f"cannot write the cursor file: {exc}", ExitCode.USAGE)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(cursor + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        fail(f"cannot write the cursor file: {exc}", ExitCode.USAGE)
    finally:  # gone once renamed; otherwise (a failure, a stop) not left behind
        Path(temporary).unlink(missing_ok=True)


def print_page(body: JSON) -> int:
    """The page's events on standard output, one write for the page; how many."""
    events = body.get("changes") or []
    if events:
        lines = "".join(
            json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events
        )
        try:
            sys.stdout.write(lines)
            sys.stdout.flush()
        except BrokenPipeError:
            reader_left()
    return len(events)


@scan_app.command("changes")
def changes(
    scan_id: ScanId,
    cursor: Annotated[
        str | None,
        typer.Option(help="Start after this cursor (a next_cursor printed or kept before)."),
    ] = None,
    cursor_file: Annotated[
        Path | None,
        typer.Option(
            "--cursor-file",
            dir_okay=False,
            help="Start after the cursor this file holds (if it exists), and keep the new one "
            "in it after each page.",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Keep polling and print new events as runs add them, until stopped."
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between polls once caught up (--follow).")
    ] = 2.0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events a request.")] = 1000,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """A scan's changes feed as NDJSON: every deal added, updated, archived, removed or merged by
    its completed runs, in order. The cursor to resume from goes to standard error at the end."""
    position = cursor or read_cursor(cursor_file)
    printed = 0
    if follow:
        signal.signal(signal.SIGTERM, _stop)
    with api_for(url, api_key, timeout) as api, reported():
        try:
            while True:
                body = _page(api, scan_id, position, limit, follow)
                if body is None:  # the service is away: wait it out
                    time.sleep(interval)
                    continue
                printed += print_page(body)
                position = str(body["next_cursor"])
                if cursor_file is not None:
                    keep_cursor(cursor_file, position)
                if body.get("has_more"):
                    continue
                if not follow:
                    break
                time.sleep(interval)
        except (Stopped, KeyboardInterrupt):
            if not follow:
                raise KeyboardInterrupt from None  # `reported` says "interrupted", exit 130
        note(f"{printed:,} changes; resume with --cursor")
        if position is not None:
            note(escape(position))


def _page(api: ScanApi, scan_id: str, cursor: str | None, limit: int, follow: bool) -> JSON | None:
    """One page; None when following and the failure is one to wait out."""
    try:
        return api.changes(scan_id, cursor=cursor, limit=limit)
    except ClientError as error:
        if not follow or exit_code_of(error) not in TRANSIENT:
            raise
        note(f"service unavailable ({error}); retrying")
        return None
