"""``hubspot-deals connection ...``: HubSpot credentials stored in a running service (its REST
API), which scans then use by id (``scan start --connection ID``). Secrets go in by flag or, better,
by variable (flags show in process lists); nothing prints one back."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hubspot_deals.console.api_client import DEFAULT_URL
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

connection_app = typer.Typer(
    help="Store, list, test and delete HubSpot credentials (connections) in a running service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
ConnectionId = Annotated[
    str, typer.Argument(help="The connection's id (conn_...).", show_default=False)
]


def _secret(flag: str, envvar: str, what: str) -> Any:
    return typer.Option(flag, envvar=envvar, show_default=False, help=what)


def _show(body: dict[str, Any]) -> None:
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, key in (
        ("connection", "connectionId"),
        ("name", "name"),
        ("organization", "organizationId"),
        ("kind", "authType"),
        ("portal", "portalId"),
        ("UI host", "hubDomain"),
        ("may read", "scopes"),
        ("created", "createdAt"),
        ("checked", "checkedAt"),
    ):
        value = body.get(key)
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(field, escape("-" if shown in (None, "") else str(shown)))
    out.print(table)


@connection_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What to call it.", show_default=False)],
    token: Annotated[
        str | None,
        _secret("--token", "HUBSPOT_ACCESS_TOKEN", "A private-app token or service key."),
    ] = None,
    client_id: Annotated[
        str | None, _secret("--client-id", "HUBSPOT_CLIENT_ID", "An OAuth app's client id.")
    ] = None,
    client_secret: Annotated[
        str | None, _secret("--client-secret", "HUBSPOT_CLIENT_SECRET", "Its client secret.")
    ] = None,
    refresh_token: Annotated[
        str | None,
        _secret("--refresh-token", "HUBSPOT_REFRESH_TOKEN", "The portal's OAuth refresh token."),
    ] = None,
    organization_id: Annotated[
        str | None, typer.Option("--organization-id", "--org", help="Its organization.")
    ] = None,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Check a credential against HubSpot and store it: a token, or an OAuth grant."""
    grant = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}
    if any(grant.values()):
        auth: dict[str, Any] = {k: v for k, v in grant.items() if v}
    elif token:
        auth = {"hubspot_access_token": token}
    else:
        fail(
            "no credential: give --token (or HUBSPOT_ACCESS_TOKEN), or --client-id, "
            "--client-secret and --refresh-token",
            ExitCode.USAGE,
        )
    body: dict[str, Any] = {"name": name, "auth": auth}
    if organization_id is not None:
        body["organizationId"] = organization_id
    with api_for(url, api_key, timeout) as api, reported():
        made = api.create_connection(body)
    if as_json:
        print_json(made)
        return
    _show(made)
    note(f"use it with: hubspot-deals scan start SCAN_ID --connection {made['connectionId']}")


@connection_app.command("list")
def list_connections(
    as_json: AsJson = False, url: Url = DEFAULT_URL, api_key: ApiKey = None, timeout: Timeout = 30.0
) -> None:
    """The connections of your organization, newest first."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.connections()
    if as_json:
        print_json(body)
        return
    rows: list[dict[str, Any]] = body.get("connections", [])
    if not rows:
        note("no connections")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("connection", "name", "kind", "portal", "may read"):
        table.add_column(column, overflow="fold")
    for row in rows:
        reads = [s.removeprefix("crm.objects.").removesuffix(".read") for s in row["scopes"]]
        table.add_row(
            row["connectionId"],
            escape(row["name"]),
            row["authType"],
            str(row.get("portalId") or "-"),
            ", ".join(reads) or "-",
        )
    out.print(table)


def _one(
    connection_id: str, action: str, as_json: bool, url: str, api_key: str | None, timeout: float
) -> None:
    """``show`` and ``test``: one connection, as the service answers it."""
    with api_for(url, api_key, timeout) as api, reported():
        body = api.connection(connection_id, action)
    print_json(body) if as_json else _show(body)


@connection_app.command("show")
def show(
    connection_id: ConnectionId,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """One connection (never its secret)."""
    _one(connection_id, "", as_json, url, api_key, timeout)


@connection_app.command("test")
def check_connection(
    connection_id: ConnectionId,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Check it against HubSpot again. Exit 1 if HubSpot refuses it (reconnect the portal)."""
    _one(connection_id, "test", as_json, url, api_key, timeout)


@connection_app.command("delete")
def delete(
    connection_id: ConnectionId,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Forget a connection and its secrets. Exit 8 while a scan uses it."""
    with api_for(url, api_key, timeout) as api, reported():
        api.connection(connection_id, "delete")
    note(f"deleted connection {escape(connection_id)}")
