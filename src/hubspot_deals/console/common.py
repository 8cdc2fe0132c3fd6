"""What every ``hubspot-deals scan`` command shares: the typer group, the two consoles (data on
standard output, everything else on standard error), the common options and one-line failures."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hubspot_deals.console import render
from hubspot_deals.console.api_client import ClientError, ScanApi
from hubspot_deals.console.exit_codes import ExitCode, exit_code_of

scan_app = typer.Typer(
    help="Start, follow, list, cancel, read and export scans of a running service (its REST API).",
    no_args_is_help=True,
    rich_markup_mode=None,  # click's plain help: no <bool> type column, clean at 80 columns
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
PartialResults = Annotated[
    bool,
    typer.Option(
        "--partial",
        help="The deals a failed or cancelled scan stored before it stopped (otherwise exit 8).",
    ),
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


def api_for(url: str, api_key: str | None, timeout: float) -> ScanApi:
    return ScanApi(url, api_key, timeout=timeout)


def fail(message: str, code: ExitCode) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Client errors become one line on standard error and their exit code; Ctrl-C exits 130."""
    try:
        yield
    except ClientError as error:
        fail(render.error_line(error), exit_code_of(error))
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def reader_left() -> NoReturn:
    """Standard output's reader closed it (``| head``): stop quietly, as Unix tools do. Standard
    output is pointed at /dev/null first, so Python's own flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(ExitCode.OK)


def print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    err.print(message, soft_wrap=True, highlight=False)
