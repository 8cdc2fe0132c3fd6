"""``hubspot-deals scan schema``: the property definitions a scan's run read when it started (its
exports are typed by them), so a user can see what a column will be before opening the file."""

from __future__ import annotations

from typing import Annotated

import typer

from hubspot_deals.console import render
from hubspot_deals.console.api_client import DEFAULT_URL
from hubspot_deals.console.common import (
    ApiKey,
    AsJson,
    ScanId,
    Timeout,
    Url,
    api_for,
    note,
    out,
    print_json,
    reported,
    scan_app,
)


@scan_app.command("schema")
def schema(
    scan_id: ScanId,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="The definitions of a run that did not complete (otherwise exit 8).",
        ),
    ] = False,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """The properties a scan read, and their types. The run's definitions as the portal gave
    them (name, label, type, field type, group, options, hidden, calculated): its exports are
    typed by them. Exit 8 while it runs, unless --partial."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.schema(scan_id, partial=partial)
    if as_json:
        print_json(body)
        return
    out.print(render.schema_table(body, out.width))
    note(render.schema_line(body))
